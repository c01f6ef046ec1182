// backend_cuda: the op table of backend.h on an NVIDIA GPU (cuBLASLt + kernels),
// created by ds_backend_cuda_create (kernels/ds_cuda.h) for src/backend.c's factory.
//
// Owns device memory (cudaMalloc), one stream, one cuBLAS handle (its math
// mode follows the precision; the GEMMs themselves go through the cuBLASLt
// handle and the per-shape algorithm plans below), a cuBLASLt workspace, a
// device scratch buffer (both sized by reserve() at model creation from
// src/devmem.h) and pinned staging for upload_async per
// backend. Every op is enqueued on the backend's stream; upload/download
// synchronize it, so host code sees the results of every op enqueued before
// a download; the _async transfers and graphs (DISTSWEEP_CUDA_GRAPHS=1) let a
// training step run without the host waiting (src/step.c).
//
// Determinism: no float atomics anywhere. Every reduction has a fixed order
// (warp shuffles in a fixed tree, per-chunk partial sums added in order by a
// second kernel); chunk, segment and tile sizes come from the shapes, never
// from R; and every GEMM shape runs one cuBLASLt algorithm whatever the batch
// count (gemm_plan). So a GPU run is bit-identical from run to run and a
// replica in a pack equals the same seed alone (tests/gpu checks both).
// Results are not bit-identical to the CPU backend (different summation
// orders, FMA contraction, CUDA's expf/erff): tests/gpu states the
// tolerances.
//
// Errors: the ops return void, so a failing CUDA or cuBLAS call inside an op
// reports file, line and the error string and ends the process via ds_die
// (docs/cuda.md). Creation reports through ds_error instead.
//
// The op families live in the headers below (one translation unit, as
// karpathy/llm.c's llmc/*.cuh), forward and backward side by side; this file
// holds the rest of the memory ops, destroy and creation.
#include "cuda_common.cuh"
#include "precision.cuh"
#include "reduce.cuh"
#include "encoder.cuh"
#include "layernorm.cuh"
#include "matmul.cuh"
#include "rope.cuh"
#include "attention.cuh" // and attention_gemm.cuh
#include "gelu.cuh"
#include "rmsnorm.cuh"
#include "swiglu.cuh"
#include "kv_repeat.cuh"
#include "crossentropy.cuh"
#include "adamw.cuh"

// ---------------------------------------------------------------------------
// memory (the transfers are in cuda_common.cuh)

// Out of device memory returns NULL (the caller reports the pack's failure,
// backend.h); any other error is not the pack's size and stays fatal, as in
// the ops (a sticky error would fail every later call anyway).
static void *cu_alloc(ds_backend *be, size_t bytes) {
    void *p = NULL;
    cudaError_t cudaMalloc_result = cudaMalloc(&p, bytes ? bytes : 1);
    if (cudaMalloc_result == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError(); // clears it, so that the next checked call does not see it
        return NULL;
    }
    CK(cudaMalloc_result); // reported as "in cudaMalloc_result"
    CK(cudaMemsetAsync(p, 0, bytes ? bytes : 1, ST(be)));
    return p;
}
static void cu_free(ds_backend *be, void *p) {
    if (p) CK(cudaFree(p));
}
static void cu_zero(ds_backend *be, void *p, size_t n) {
    if (n) CK(cudaMemsetAsync(p, 0, n, ST(be)));
}
static void cu_copy(ds_backend *be, void *dst, const void *src, size_t n) {
    if (n) CK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToDevice, ST(be)));
}

// upload_async: the source is copied into a pinned staging slot (its
// previous copy waited for), so the caller may reuse it on return
static void cu_upload_async(ds_backend *be, void *dst, const void *src, size_t n) {
    cuda_impl *im = IM(be);
    if (!n) return;
    forbid_in_capture(im, "upload_async was called"); // its slot would be baked in
    stage_slot *sl = &im->stage[im->stage_next];
    im->stage_next = (im->stage_next + 1) % DS_CUDA_STAGE_SLOTS;
    if (sl->used) CK(cudaEventSynchronize(sl->done));
    if (sl->bytes < n) {
        if (sl->host) CK(cudaFreeHost(sl->host));
        sl->host = NULL;
        CK(cudaMallocHost(&sl->host, n));
        sl->bytes = n;
    }
    memcpy(sl->host, src, n);
    CK(cudaMemcpyAsync(dst, sl->host, n, cudaMemcpyHostToDevice, ST(be)));
    CK(cudaEventRecord(sl->done, ST(be)));
    sl->used = 1;
}
// download_async: into pinned memory from host_alloc, done at the next sync
static void cu_download_async(ds_backend *be, void *dst, const void *src, size_t n) {
    if (n) CK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, ST(be)));
}
static void cu_sync(ds_backend *be) { CK(cudaStreamSynchronize(ST(be))); }
static void *cu_host_alloc(ds_backend *be, size_t bytes) {
    (void)be;
    void *p = NULL;
    cudaError_t cudaMallocHost_result = cudaMallocHost(&p, bytes ? bytes : 1);
    if (cudaMallocHost_result == cudaErrorMemoryAllocation) { // as cu_alloc
        (void)cudaGetLastError();
        return NULL;
    }
    CK(cudaMallocHost_result);
    memset(p, 0, bytes ? bytes : 1);
    return p;
}
static void cu_host_free(ds_backend *be, void *p) {
    (void)be;
    if (p) CK(cudaFreeHost(p));
}

// reserve (backend.h): the ops' own memory for every shape of a pack within
// capacity s, allocated before the first step, from src/devmem.h's formulas
// (the ops ask for what the same formulas say): the scratch buffer, the
// cuBLASLt workspace and, at tf32/bf16, the three rounding buffers. Grows
// only. Out of memory returns the bytes that failed (the pack's failure,
// err.nomem, src/model.c); any other CUDA error stays fatal, as in cu_alloc.
static int reserve_buf(void **buf, size_t *have, size_t want) {
    if (*have >= want) return 0;
    if (*buf) CK(cudaFree(*buf));
    *buf = NULL;
    *have = 0;
    cudaError_t cudaMalloc_result = cudaMalloc(buf, want);
    if (cudaMalloc_result == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();
        *buf = NULL;
        return 1;
    }
    CK(cudaMalloc_result);
    *have = want;
    return 0;
}
static size_t cu_reserve(ds_backend *be, const ds_devmem_shape *s, const char **what) {
    cuda_impl *im = IM(be);
    forbid_in_capture(im, "reserve was called");
    ds_devmem_opts o = {im->prec == DS_PREC_BF16 ? 2 : 4, im->prec != DS_PREC_FP32, im->att_gemm};
    size_t sb = ds_devmem_scratch_bytes(s, &o), rb[3];
    ds_devmem_round_bytes(s, &o, rb);
    CK(cudaStreamSynchronize(ST(be))); // nothing enqueued still uses a buffer freed below
    if (reserve_buf(&im->scratch, &im->scratch_bytes, sb)) {
        *what = "the cuda backend's scratch (attention scores, partial sums)";
        return sb;
    }
    if (reserve_buf(&im->lt_ws, &im->lt_ws_bytes, DS_DEVMEM_LT_WS)) {
        *what = "the cuBLASLt workspace";
        return DS_DEVMEM_LT_WS;
    }
    for (int i = 0; i < DS_CUDA_RND_SLOTS; i++)
        if (rb[i] && reserve_buf(&im->rnd[i], &im->rnd_bytes[i], rb[i])) {
            *what = "an operand rounding buffer (tf32/bf16)";
            return rb[i];
        }
    im->reserved = 1;
    return 0;
}

// ---------------------------------------------------------------------------
// graphs: stream capture of what src/step.c records (thread-local mode: other
// threads' CUDA calls are not affected). The graph keeps the kernels'
// arguments, so what it records must be the same at every replay.

static void cu_capture_begin(ds_backend *be) {
    cuda_impl *im = IM(be);
    DS_ASSERT(!im->capturing);
    CK(cudaStreamBeginCapture(ST(be), cudaStreamCaptureModeThreadLocal));
    im->capturing = 1;
}
static void *cu_capture_end(ds_backend *be) {
    cuda_impl *im = IM(be);
    DS_ASSERT(im->capturing);
    cudaGraph_t g = NULL;
    cudaGraphExec_t e = NULL;
    CK(cudaStreamEndCapture(ST(be), &g));
    im->capturing = 0;
    CK(cudaGraphInstantiate(&e, g, 0));
    CK(cudaGraphDestroy(g));
    return (void *)e;
}
static void cu_graph_launch(ds_backend *be, void *graph) {
    CK(cudaGraphLaunch((cudaGraphExec_t)graph, ST(be)));
}
static void cu_graph_free(ds_backend *be, void *graph) {
    (void)be;
    if (graph) CK(cudaGraphExecDestroy((cudaGraphExec_t)graph));
}

static void cu_destroy(ds_backend *be) {
    if (!be) return;
    cuda_impl *im = IM(be);
    if (im) {
        if (im->stream) cudaStreamSynchronize(im->stream);
        ds_op_times_print(&im->optimes, "cuda op times (DISTSWEEP_CUDA_OPTIMES, synchronized per op):");
        if (im->scratch) cudaFree(im->scratch);
        for (int i = 0; i < DS_CUDA_STAGE_SLOTS; i++) {
            if (im->stage[i].host) cudaFreeHost(im->stage[i].host);
            if (im->stage[i].done) cudaEventDestroy(im->stage[i].done);
        }
        for (int i = 0; i < DS_CUDA_RND_SLOTS; i++)
            if (im->rnd[i]) cudaFree(im->rnd[i]);
        if (im->lt_ws) cudaFree(im->lt_ws);
        free(im->plans);
        if (im->lt) cublasLtDestroy(im->lt);
        if (im->blas) cublasDestroy(im->blas);
        if (im->stream) cudaStreamDestroy(im->stream);
        free(im);
    }
    free(be);
}

// ---------------------------------------------------------------------------

extern "C" int ds_cuda_check_env(ds_error *err) {
    const char *a = getenv("DISTSWEEP_CUDA_ATTENTION");
    if (a && *a && strcmp(a, "gemm") && strcmp(a, "tiled"))
        return ds_error_set(err, DS_EXIT_USAGE,
                            "DISTSWEEP_CUDA_ATTENTION='%s' is not gemm or tiled (docs/cuda.md)", a);
    return 0;
}

extern "C" int ds_backend_cuda_create(int device, ds_precision precision, ds_backend **out,
                                      ds_error *err) {
    *out = NULL;
    ds_backend *be = NULL;
    cuda_impl *im = NULL;
    if (ds_cuda_device_count() <= device)
        return ds_error_set(err, DS_EXIT_ERROR,
                            "the cuda backend needs a visible GPU (device %d), and %d are visible",
                            device, ds_cuda_device_count());
    be = (ds_backend *)DS_CALLOC(1, sizeof *be);
    im = (cuda_impl *)DS_CALLOC(1, sizeof *im);
    be->impl = im;
    im->device = device;
    DS_CUDA_TRY(cudaSetDevice(device));
    DS_CUDA_TRY(cudaStreamCreateWithFlags(&im->stream, cudaStreamNonBlocking));
    DS_CUBLAS_TRY(cublasCreate(&im->blas));
    DS_CUBLAS_TRY(cublasSetStream(im->blas, im->stream));
    // CUBLAS_DEFAULT_MATH never uses TF32 tensor cores; the products go
    // through cuBLASLt, whose compute type follows the precision (matmul.cuh)
    DS_CUBLAS_TRY(cublasSetMathMode(im->blas, CUBLAS_DEFAULT_MATH));
    DS_CUBLAS_TRY(cublasLtCreate(&im->lt));
    for (int i = 0; i < DS_CUDA_STAGE_SLOTS; i++)
        DS_CUDA_TRY(cudaEventCreateWithFlags(&im->stage[i].done, cudaEventDisableTiming));
    im->prec = precision;
    ds_op_times_init(&im->optimes, "DISTSWEEP_CUDA_OPTIMES");
    {
        // graphs stay opt-in until tests/gpu has checked them on a GPU
        // (docs/cuda.md); the per-op timers synchronize, which a capture forbids
        const char *g = getenv("DISTSWEEP_CUDA_GRAPHS");
        im->graphs = g && !strcmp(g, "1") && !im->optimes.on;
        const char *sm = getenv("DISTSWEEP_CUDA_STRICT_MEM"); // tests/gpu: a sizing bug is fatal
        im->strict_mem = sm && !strcmp(sm, "1");
        // attention: tensor-core GEMMs at tf32 and bf16, the CUDA-core
        // kernels at fp32 (measured and verified on an H100), unless
        // DISTSWEEP_CUDA_ATTENTION says gemm or tiled (docs/cuda.md)
        if (ds_cuda_check_env(err)) goto fail;
        const char *a = getenv("DISTSWEEP_CUDA_ATTENTION");
        im->att_gemm = a && *a ? !strcmp(a, "gemm") : precision != DS_PREC_FP32;
    }
    be->name = precision == DS_PREC_TF32 ? "cuda-tf32" : precision == DS_PREC_BF16 ? "cuda-bf16" : "cuda";
    be->alloc = cu_alloc;
    be->free = cu_free;
    be->upload = cu_upload;
    be->download = cu_download;
    be->upload_async = cu_upload_async;
    be->download_async = cu_download_async;
    be->sync = cu_sync;
    be->host_alloc = cu_host_alloc;
    be->host_free = cu_host_free;
    be->zero = cu_zero;
    be->copy = cu_copy;
    be->destroy = cu_destroy;
    be->reserve = cu_reserve;
    if (im->graphs) {
        be->capture_begin = cu_capture_begin;
        be->capture_end = cu_capture_end;
        be->graph_launch = cu_graph_launch;
        be->graph_free = cu_graph_free;
    }
    DS_BACKEND_SET_OPS(be);
    *out = be;
    return 0;
fail:
    cu_destroy(be);
    return err ? err->code : DS_EXIT_ERROR;
}
