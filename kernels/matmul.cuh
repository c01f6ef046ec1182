// matmul: the linear layers of the CUDA backend: cuBLASLt GEMM plans, forward and backward.
#ifndef DS_MATMUL_CUH
#define DS_MATMUL_CUH

#include "cuda_common.cuh"
#include "precision.cuh"
#include "reduce.cuh"

// linear layers: cuBLAS is column-major, so a row-major [N][C] matrix is its
// [C][N] column-major transpose (the llm.c formulation), strided over R.

// A GEMM shape's cuBLASLt algorithm (gemm_plan, cuda_common.cuh) is chosen
// once per (shape, alignment) and then used for every batch count, so a
// replica's arithmetic (tiles, split-K, reduction scheme, vector width) never
// depends on R. cuBLAS's own heuristic chooses per call: with R = 1 a stride
// that is not a multiple of 16 bytes does not matter and it takes a
// vectorized kernel, with R > 1 it must take another, so a replica alone and
// in a pack got different bits. Here the alignment the algorithm may assume
// is that of the base pointer AND the stride, whatever R is, and the
// heuristic is asked for a batched algorithm (batch count 2), which then runs
// for any batch count.

// Lt descriptors of one call (cheap host objects, made per call).
typedef struct {
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t a, b, c;
} lt_descs;

// The operand element type of every GEMM of a backend: bf16 elements at bf16,
// floats otherwise (precision.cuh, gemm_operand_of).
static cudaDataType_t gemm_ab_type(const cuda_impl *im) {
    return im->prec == DS_PREC_BF16 ? CUDA_R_16BF : CUDA_R_32F;
}

static void lt_descs_make(cuda_impl *im, lt_descs *d, cublasOperation_t opa, cublasOperation_t opb,
                          int m, int n, int k, int lda, long long sa, int ldb, long long sb, int ldc,
                          long long sc, int batch) {
    // the operands arrive rounded (precision.cuh): tf32 as floats, which TF32
    // tensor cores take exactly; bf16 as bf16 elements, which bf16 tensor
    // cores multiply with fp32 accumulation (compute type 32F); C is fp32
    cublasComputeType_t ct = im->prec == DS_PREC_TF32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    cudaDataType_t ab = gemm_ab_type(im);
    CKB(cublasLtMatmulDescCreate(&d->op, ct, CUDA_R_32F));
    CKB(cublasLtMatmulDescSetAttribute(d->op, CUBLASLT_MATMUL_DESC_TRANSA, &opa, sizeof opa));
    CKB(cublasLtMatmulDescSetAttribute(d->op, CUBLASLT_MATMUL_DESC_TRANSB, &opb, sizeof opb));
    CKB(cublasLtMatrixLayoutCreate(&d->a, ab, opa == CUBLAS_OP_N ? m : k,
                                   opa == CUBLAS_OP_N ? k : m, lda));
    CKB(cublasLtMatrixLayoutCreate(&d->b, ab, opb == CUBLAS_OP_N ? k : n,
                                   opb == CUBLAS_OP_N ? n : k, ldb));
    CKB(cublasLtMatrixLayoutCreate(&d->c, CUDA_R_32F, m, n, ldc));
    cublasLtMatrixLayout_t L[3] = {d->a, d->b, d->c};
    long long st[3] = {sa, sb, sc};
    for (int i = 0; i < 3; i++) {
        CKB(cublasLtMatrixLayoutSetAttribute(L[i], CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &batch,
                                             sizeof batch));
        int64_t s64 = st[i];
        CKB(cublasLtMatrixLayoutSetAttribute(L[i], CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                                             &s64, sizeof s64));
    }
}
static void lt_descs_free(lt_descs *d) {
    cublasLtMatrixLayoutDestroy(d->a);
    cublasLtMatrixLayoutDestroy(d->b);
    cublasLtMatrixLayoutDestroy(d->c);
    cublasLtMatmulDescDestroy(d->op);
}

// The cuBLASLt workspace is one buffer of DS_DEVMEM_LT_WS bytes (src/devmem.h):
// a plan is chosen among the algorithms whose batch of two fits it, and a
// call whose split-K partials (the plan's figure per matrix, times the batch)
// would not fit runs in sub-batches (ds_devmem_gemm_subbatch). A sub-batch is
// a batch count only: every matrix runs the same algorithm, so no bit changes.

// Largest power of two <= 16 dividing both the address and the stride (in
// elements of `size` bytes), at least the element size.
static int align_of(const void *p, long long stride, int size) {
    uintptr_t x = (uintptr_t)p | (uintptr_t)(stride * size);
    int a = 16;
    while (a > size && (x & (uintptr_t)(a - 1))) a >>= 1;
    return a;
}

static const gemm_plan *gemm_plan_for(cuda_impl *im, cublasOperation_t opa, cublasOperation_t opb,
                                      int m, int n, int k, int lda, long long sa, int ldb,
                                      long long sb, int ldc, long long sc, const int align[3]) {
    for (int i = 0; i < im->nplans; i++) {
        const gemm_plan *p = &im->plans[i];
        if (p->opa == opa && p->opb == opb && p->m == m && p->n == n && p->k == k &&
            p->lda == lda && p->ldb == ldb && p->ldc == ldc && p->align[0] == align[0] &&
            p->align[1] == align[1] && p->align[2] == align[2])
            return p;
    }
    if (im->nplans == im->cap_plans) { // growable: one plan per shape met, no limit
        int cap = im->cap_plans ? 2 * im->cap_plans : 64;
        im->plans = (gemm_plan *)DS_REALLOC(im->plans, sizeof *im->plans * (size_t)cap);
        im->cap_plans = cap;
    }
    gemm_plan *p = &im->plans[im->nplans];
    lt_descs d;
    lt_descs_make(im, &d, opa, opb, m, n, k, lda, sa, ldb, sb, ldc, sc, 2); // a batched algorithm
    cublasLtMatmulPreference_t pref;
    CKB(cublasLtMatmulPreferenceCreate(&pref));
    size_t maxws = DS_DEVMEM_LT_WS; // for the batch of two: a sub-batch of >= 1 always fits
    uint32_t al[4] = {(uint32_t)align[0], (uint32_t)align[1], (uint32_t)align[2], (uint32_t)align[2]};
    CKB(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &maxws,
                                             sizeof maxws));
    CKB(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al[0],
                                             sizeof al[0]));
    CKB(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al[1],
                                             sizeof al[1]));
    CKB(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al[2],
                                             sizeof al[2]));
    CKB(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al[3],
                                             sizeof al[3]));
    cublasLtMatmulHeuristicResult_t res;
    int found = 0;
    CKB(cublasLtMatmulAlgoGetHeuristic(im->lt, d.op, d.a, d.b, d.c, d.c, pref, 1, &res, &found));
    if (!found)
        ds_die(DS_EXIT_ERROR, "%s:%d: cuBLASLt has no algorithm for a %dx%dx%d %s GEMM", __FILE__,
               __LINE__, m, n, k, ds_precision_name(im->prec));
    cublasLtMatmulPreferenceDestroy(pref);
    lt_descs_free(&d);
    p->opa = opa; p->opb = opb; p->m = m; p->n = n; p->k = k;
    p->lda = lda; p->ldb = ldb; p->ldc = ldc;
    for (int i = 0; i < 3; i++) p->align[i] = align[i];
    p->algo = res.algo;
    p->ws = res.workspaceSize; // for a batch of 2
    DS_ASSERT(p->ws <= DS_DEVMEM_LT_WS);
    im->nplans++;
    return p;
}

// The cuBLASLt workspace, DS_DEVMEM_LT_WS bytes: reserve() (backend_cuda.cu)
// allocates it with the pack; without a reservation, at the first GEMM.
static void *lt_workspace(cuda_impl *im) {
    if (!im->lt_ws) {
        forbid_in_capture(im, "the cuBLASLt workspace was allocated");
        CK(cudaMalloc(&im->lt_ws, DS_DEVMEM_LT_WS));
        im->lt_ws_bytes = DS_DEVMEM_LT_WS;
    }
    return im->lt_ws;
}

// One cuBLASLt call of `batch` matrices with plan p (see gemm).
static void gemm_call(ds_backend *be, const gemm_plan *p, cublasOperation_t opa,
                      cublasOperation_t opb, int m, int n, int k, float alpha, const void *A, int lda,
                      long long sa, const void *B, int ldb, long long sb, float beta, float *C,
                      int ldc, long long sc, int batch) {
    cuda_impl *im = IM(be);
    void *ws = lt_workspace(im);
    lt_descs d;
    lt_descs_make(im, &d, opa, opb, m, n, k, lda, sa, ldb, sb, ldc, sc, batch);
    cublasStatus_t st = cublasLtMatmul(im->lt, d.op, &alpha, A, d.a, B, d.b, &beta, C, d.c, C,
                                       d.c, &p->algo, ws, DS_DEVMEM_LT_WS, ST(be));
    if (st == CUBLAS_STATUS_NOT_SUPPORTED) {
        // The batch-of-one algorithm refuses this batch: let cuBLAS choose for
        // the batch (still deterministic run to run, but a replica's bits may
        // then depend on R). Said once per backend.
        if (!im->warned_batch) {
            fprintf(stderr, "distsweep: cuda: the %dx%dx%d GEMM algorithm of a single replica does "
                            "not run batched (%d); replicas of this pack may differ in the last bits "
                            "from the same seeds run alone\n", m, n, k, batch);
            im->warned_batch = 1;
        }
        cublasLtMatmulPreference_t pref;
        CKB(cublasLtMatmulPreferenceCreate(&pref));
        size_t maxws = DS_DEVMEM_LT_WS;
        CKB(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                 &maxws, sizeof maxws));
        cublasLtMatmulHeuristicResult_t res;
        int found = 0;
        CKB(cublasLtMatmulAlgoGetHeuristic(im->lt, d.op, d.a, d.b, d.c, d.c, pref, 1, &res, &found));
        cublasLtMatmulPreferenceDestroy(pref);
        DS_ASSERT(found);
        st = cublasLtMatmul(im->lt, d.op, &alpha, A, d.a, B, d.b, &beta, C, d.c, C, d.c,
                            &res.algo, ws, DS_DEVMEM_LT_WS, ST(be));
    }
    CKB(st);
    lt_descs_free(&d);
}

// C[b] = alpha op(A[b]) op(B[b]) + beta C[b] for b < batch (column-major, as
// cuBLAS), with the batch-of-one algorithm of the shape (alpha and beta are
// arguments of the call, not of the plan). A and B are of the
// backend's operand type (gemm_ab_type), strides in elements; C is fp32.
// Runs in sub-batches whose split-K workspace fits DS_DEVMEM_LT_WS.
static void gemm(ds_backend *be, cublasOperation_t opa, cublasOperation_t opb, int m, int n, int k,
                 float alpha, gemm_operand A, int lda, long long sa, gemm_operand B, int ldb,
                 long long sb, float beta, float *C, int ldc, long long sc, int batch) {
    cuda_impl *im = IM(be);
    DS_ASSERT(A.type == gemm_ab_type(im) && B.type == gemm_ab_type(im));
    if (batch < 1) return;
    int esz = gemm_operand_bytes(A);
    int align[3] = {align_of(A.p, sa, esz), align_of(B.p, sb, esz), align_of(C, sc, 4)};
    const gemm_plan *p = gemm_plan_for(im, opa, opb, m, n, k, lda, sa, ldb, sb, ldc, sc, align);
    int sub = ds_devmem_gemm_subbatch(p->ws, batch);
    for (int b0 = 0; b0 < batch; b0 += sub) {
        int nb = batch - b0 < sub ? batch - b0 : sub;
        gemm_call(be, p, opa, opb, m, n, k, alpha, (const char *)A.p + (size_t)b0 * sa * esz, lda,
                  sa, (const char *)B.p + (size_t)b0 * sb * esz, ldb, sb, beta,
                  C + (size_t)b0 * sc, ldc, sc, nb);
    }
}

__global__ void bias_add_k(float *out, const float *b, size_t ws, int N, int OC, long total) {
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total) return;
    int o = (int)(i % OC);
    int r = (int)(i / ((long)N * OC));
    out[i] += b[(size_t)r * ws + o];
}

static void matmul_fwd(ds_backend *be, float *out, const float *inp, const float *w,
                       const float *b, size_t ws, int R, int N, int C, int OC) {
    OP_TIME(matmul_fwd);
    if (!R || !N) return;
    // the product's operands rounded to the precision (none at fp32); the bias stays fp32
    gemm_operand wr = gemm_operand_of(be, 0, w, ws, (size_t)OC * C, R);
    gemm_operand xr = gemm_operand_flat(be, 1, inp, (size_t)R * N * C);
    // out^T [OC][N] = W [OC][C] (col-major view of row-major W^T) x inp^T [C][N]
    gemm(be, CUBLAS_OP_T, CUBLAS_OP_N, OC, N, C, 1.0f, wr, C, (long long)wr.ws, xr, C, (long long)N * C,
         0.0f, out, OC, (long long)N * OC, R);
    if (b) {
        long total = (long)R * N * OC;
        bias_add_k<<<cdiv(total, 256), 256, 0, ST(be)>>>(out, b, ws, N, OC, total);
        CK_LAUNCH();
    }
}

// Row split of a weight gradient over N rows: a lone replica's dW is an
// OC x C output with a long reduction (N = 32,640 in the count sweep), which
// a GEMM without split-K runs on a handful of blocks. nk equal chunks of
// kc = N/nk >= 256 rows (nk divides N, nk <= 64, nk * OC * C <= 4M floats)
// give nk independent products; their sum in chunk order is the gradient.
// nk depends on N and the weight's size only, never on R.
static int dw_split(int N, size_t E) { return ds_devmem_dw_split(N, E); } // src/devmem.h

__global__ void dw_sum_k(float *dw, size_t ws, const float *part, int R, int nk, size_t E) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; // over R*E
    if (i >= E * R) return;
    size_t r = i / E, e = i % E;
    const float *p = part + r * nk * E + e;
    float acc = p[0];
    for (int k = 1; k < nk; k++) acc += p[(size_t)k * E];
    dw[r * ws + e] += acc;
}

static void matmul_bwd(ds_backend *be, float *dinp, float *dw, float *db, size_t ws,
                       const float *dout, const float *inp, const float *w, int R, int N, int C,
                       int OC) {
    OP_TIME(matmul_bwd);
    if (!R || !N) return;
    // the products' operands rounded (none at fp32); the bias gradient sums the fp32 dout
    gemm_operand xr = gemm_operand_flat(be, 1, inp, (size_t)R * N * C);
    gemm_operand dr = gemm_operand_flat(be, 2, dout, (size_t)R * N * OC);
    if (dinp) { // dinp^T [C][N] = W^T x dout^T
        gemm_operand wr = gemm_operand_of(be, 0, w, ws, (size_t)OC * C, R);
        gemm(be, CUBLAS_OP_N, CUBLAS_OP_N, C, N, OC, 1.0f, wr, C, (long long)wr.ws, dr, OC,
             (long long)N * OC, 0.0f, dinp, C, (long long)N * C, R);
    }
    // dW^T [C][OC] += inp^T [C][N] x dout [N][OC]
    size_t E = (size_t)OC * C;
    int nk = dw_split(N, E);
    if (nk > 1) {
        // nk partial products over equal row chunks (kc*nk == N, so one stride
        // walks both the chunks and the replicas), then added in chunk order
        int kc = N / nk;
        float *part = (float *)scratch(be, sizeof(float) * E * nk * R);
        gemm(be, CUBLAS_OP_N, CUBLAS_OP_T, C, OC, kc, 1.0f, xr, C, (long long)kc * C, dr, OC,
             (long long)kc * OC, 0.0f, part, C, (long long)E, R * nk);
        dw_sum_k<<<cdiv(E * R, 256), 256, 0, ST(be)>>>(dw, ws, part, R, nk, E);
        CK_LAUNCH();
    } else {
        gemm(be, CUBLAS_OP_N, CUBLAS_OP_T, C, OC, N, 1.0f, xr, C, (long long)N * C, dr, OC,
             (long long)N * OC, 1.0f, dw, C, (long long)ws, R);
    }
    if (db) {
        int nch = (int)cdiv(N, COL_ROWS);
        float *part = (float *)scratch(be, (size_t)R * nch * OC * sizeof(float));
        dim3 grid(cdiv(OC, 64), nch, R);
        colsum_partial_k<0><<<grid, 64, 0, ST(be)>>>(part, NULL, dout, NULL, NULL, NULL, N, OC, nch);
        CK_LAUNCH();
        colsum_final_k<<<cdiv((size_t)R * OC, 128), 128, 0, ST(be)>>>(db, ws, part, R, OC, nch);
        CK_LAUNCH();
    }
}

#endif
