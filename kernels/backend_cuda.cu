// backend_cuda: the op table of backend.h on an NVIDIA GPU (cuBLASLt + kernels),
// created by ds_backend_cuda_create (kernels/ds_cuda.h) for src/backend.c's factory.
//
// Owns device memory (cudaMalloc), one stream, one cuBLAS handle (its math
// mode follows the precision; the GEMMs themselves go through the cuBLASLt
// handle and the per-shape algorithm plans below), a cuBLASLt workspace and a
// growable device scratch buffer per backend. Every op is enqueued on the
// backend's stream; upload/download synchronize it, so host code sees the
// results of every op enqueued before a download.
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
#include "attention.cuh"
#include "gelu.cuh"
#include "crossentropy.cuh"
#include "adamw.cuh"

// ---------------------------------------------------------------------------
// memory (the transfers are in cuda_common.cuh)

static void *cu_alloc(ds_backend *be, size_t bytes) {
    void *p = NULL;
    if (cudaMalloc(&p, bytes ? bytes : 1) != cudaSuccess) {
        (void)cudaGetLastError(); // out of memory is reported by the caller, not fatal here
        return NULL;
    }
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
static void cu_destroy(ds_backend *be) {
    if (!be) return;
    cuda_impl *im = IM(be);
    if (im) {
        if (im->stream) cudaStreamSynchronize(im->stream);
        ds_op_times_print(&im->optimes, "cuda op times (DISTSWEEP_CUDA_OPTIMES, synchronized per op):");
        if (im->scratch) cudaFree(im->scratch);
        for (int i = 0; i < DS_CUDA_RND_SLOTS; i++)
            if (im->rnd[i]) cudaFree(im->rnd[i]);
        if (im->lt_ws) cudaFree(im->lt_ws);
        if (im->lt) cublasLtDestroy(im->lt);
        if (im->blas) cublasDestroy(im->blas);
        if (im->stream) cudaStreamDestroy(im->stream);
        free(im);
    }
    free(be);
}

// ---------------------------------------------------------------------------

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
    im->prec = precision;
    ds_op_times_init(&im->optimes, "DISTSWEEP_CUDA_OPTIMES");
    be->name = precision == DS_PREC_TF32 ? "cuda-tf32" : precision == DS_PREC_BF16 ? "cuda-bf16" : "cuda";
    be->alloc = cu_alloc;
    be->free = cu_free;
    be->upload = cu_upload;
    be->download = cu_download;
    be->zero = cu_zero;
    be->copy = cu_copy;
    be->destroy = cu_destroy;
    DS_BACKEND_SET_OPS(be);
    *out = be;
    return 0;
fail:
    cu_destroy(be);
    return err ? err->code : DS_EXIT_ERROR;
}
