// cuda_common: what every op family of the CUDA backend shares (one
// translation unit, kernels/backend_cuda.cu, includes the families in order,
// as karpathy/llm.c's llmc/*.cuh): the backend's private state (cuda_impl),
// the per-op timer, the device scratch buffer, the warp reductions and the
// host<->device transfers. The checks are kernels/cuda_check.h.
#ifndef DS_CUDA_COMMON_CUH
#define DS_CUDA_COMMON_CUH


#include <cublasLt.h>
#include <cublas_v2.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_check.h"
#include "ds_cuda.h"

extern "C" {
#include "backend.h"
#include "devmem.h" // the sizes of everything below (src/devmem.h)
}

// A GEMM shape's cuBLASLt algorithm, chosen once per (shape, alignment) and
// then used for every batch count (kernels/matmul.cuh says why).
typedef struct {
    int opa, opb, m, n, k, lda, ldb, ldc;
    int align[3]; // bytes: A, B, C
    cublasLtMatmulAlgo_t algo;
    size_t ws; // workspace bytes for a batch of two (at most DS_DEVMEM_LT_WS)
} gemm_plan;

enum { DS_CUDA_RND_SLOTS = 3 }; // operand rounding buffers (precision.cuh)

// Pinned host buffers that upload_async copies its source into: the caller
// may reuse its memory at once, and the copy to the device runs in stream
// order. A slot is reused after its event says its copy is done; with 8
// slots the host can be two steps (4 uploads each: src/model.c) ahead.
enum { DS_CUDA_STAGE_SLOTS = 8 };
typedef struct {
    void *host;
    size_t bytes;
    cudaEvent_t done;
    int used;
} stage_slot;

typedef struct {
    int device;
    ds_precision prec; // train.precision: the rounding of every product's operands
    cudaStream_t stream;
    cublasHandle_t blas;
    cublasLtHandle_t lt;
    gemm_plan *plans; // growable (host memory): one per (shape, alignment) met
    int nplans, cap_plans;
    void *lt_ws; // cuBLASLt workspace, DS_DEVMEM_LT_WS bytes (src/devmem.h)
    size_t lt_ws_bytes;
    void *scratch; // device scratch for two-stage reductions and per-call arrays
    size_t scratch_bytes;
    int reserved;     // reserve() has sized the buffers for a pack (src/devmem.h)
    int strict_mem;   // DISTSWEEP_CUDA_STRICT_MEM=1: growing past a reservation ends the process
    int warned_grow;  // growing past a reservation was said
    void *rnd[DS_CUDA_RND_SLOTS]; // rounded copies of product operands (tf32, bf16)
    size_t rnd_bytes[DS_CUDA_RND_SLOTS];
    int warned_batch; // gemm's batch fallback was said (matmul.cuh)
    stage_slot stage[DS_CUDA_STAGE_SLOTS];
    int stage_next;
    int graphs;    // DISTSWEEP_CUDA_GRAPHS=1: the step is captured (src/step.c)
    int att_gemm;  // attention by tensor-core GEMMs (attention_gemm.cuh), else CUDA-core kernels
    int capturing; // between capture_begin and capture_end
    // DISTSWEEP_CUDA_OPTIMES=1: every op synchronizes and its wall time is
    // summed here; printed to stderr by destroy (a profiling aid: the
    // synchronizations slow the step down)
    ds_op_times optimes;
} cuda_impl;

#define IM(be) ((cuda_impl *)(be)->impl)
#define ST(be) (IM(be)->stream)

static inline unsigned cdiv(size_t a, size_t b) { return (unsigned)((a + b - 1) / b); }

// Per-op timing (DISTSWEEP_CUDA_OPTIMES=1): a scope guard that synchronizes
// the stream at both ends and adds the elapsed wall time to op `id`.
struct op_timer {
    ds_backend *be;
    int id;
    double t0;
    op_timer(ds_backend *b, int i) : be(b), id(i), t0(0) {
        if (IM(be)->optimes.on) {
            CK(cudaStreamSynchronize(ST(be)));
            t0 = ds_now();
        }
    }
    ~op_timer() {
        if (IM(be)->optimes.on) {
            CK(cudaStreamSynchronize(ST(be)));
            ds_op_times_add(&IM(be)->optimes, id, t0);
        }
    }
};
// OP_TIME(name): times the rest of the enclosing op as DS_OP_<name> (backend.h).
#define OP_TIME(name) op_timer op_timer_(be, DS_OP_##name)

// What a graph capture must not meet (`what` names it): a buffer that grows
// would leave the graph with the freed address, and a synchronous or staged
// transfer would stall the capture or bake a staging slot into the graph.
// src/step.c runs a step before it captures one so that every buffer has its
// final size, and keeps the transfers outside; this says so if that ever
// stops holding.
static void forbid_in_capture(const cuda_impl *im, const char *what) {
    if (im->capturing)
        ds_die(DS_EXIT_ERROR, "cuda: %s during a graph capture (a bug: the step before the "
               "capture sizes every buffer, src/step.c)", what);
}

// A buffer grows after reserve() sized it for a pack: a sizing bug (every
// request is one of src/devmem.h's formulas, which reserve() takes the
// maximum of). Said once; fatal with DISTSWEEP_CUDA_STRICT_MEM=1 (the GPU
// tests). Without a reservation (ops called directly, as tests/gpu's op
// tests do) buffers grow on demand as before.
static void grew_past_reserve(cuda_impl *im, const char *what, size_t had, size_t bytes) {
    if (!im->reserved) return;
    if (im->strict_mem)
        ds_die(DS_EXIT_ERROR, "cuda: the %s grew from %zu to %zu bytes past its reservation "
               "(a sizing bug: src/devmem.h)", what, had, bytes);
    if (!im->warned_grow)
        fprintf(stderr, "distsweep: cuda: the %s grew from %zu to %zu bytes past its reservation "
                        "(a sizing bug: src/devmem.h)\n", what, had, bytes);
    im->warned_grow = 1;
}

// Device scratch of at least `bytes` bytes. reserve() (backend_cuda.cu) sizes
// it for a pack at model creation (ds_devmem_scratch_bytes), so during a step
// it does not grow; if it must (no reservation, or a sizing bug), growing
// frees the old buffer (cudaFree waits for the device, so no enqueued kernel
// still uses it) and a failure ends the process.
static void *scratch(ds_backend *be, size_t bytes) {
    cuda_impl *im = IM(be);
    if (im->scratch_bytes < bytes) {
        forbid_in_capture(im, "the scratch buffer grew");
        grew_past_reserve(im, "scratch buffer", im->scratch_bytes, bytes);
        if (im->scratch) CK(cudaFree(im->scratch));
        im->scratch = NULL;
        size_t n = bytes < DS_DEVMEM_SCRATCH_MIN ? DS_DEVMEM_SCRATCH_MIN : bytes;
        CK(cudaMalloc(&im->scratch, n));
        im->scratch_bytes = n;
    }
    return im->scratch;
}

// ---------------------------------------------------------------------------
// warp reductions: a fixed butterfly, so every lane ends with the same bits

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ double warp_sum_d(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// ---------------------------------------------------------------------------
// memory: the transfers (the reductions and AdamW call them; the rest of the
// memory ops are in kernels/backend_cuda.cu)

static void cu_upload(ds_backend *be, void *dst, const void *src, size_t n) {
    OP_TIME(upload);
    forbid_in_capture(IM(be), "a synchronous upload was called");
    if (!n) return;
    CK(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, ST(be)));
    CK(cudaStreamSynchronize(ST(be)));
}
static void cu_download(ds_backend *be, void *dst, const void *src, size_t n) {
    OP_TIME(download);
    forbid_in_capture(IM(be), "a synchronous download was called");
    if (!n) return;
    CK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, ST(be)));
    CK(cudaStreamSynchronize(ST(be)));
}

#endif
