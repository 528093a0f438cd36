#include <libxsmm.h>

// libxsmm (Debian's libxsmm-dev) generates a matrix-product kernel for one shape at run time, for
// the CPU it runs on. Its kernels are C function pointers with a variadic tail, which Swift cannot
// call, so they cross into Swift as opaque pointers and are called through gtn_xsmm_call.

// Row-major C (m x n) = A (m x k) B (k x n), or C += A B when `accumulate`; NULL where libxsmm
// has no kernel for the shape. libxsmm is column-major: the row-major product is the
// column-major C^T = B^T A^T, so the shapes and operands swap.
static inline const void *gtn_xsmm_dispatch(int m, int n, int k, int lda, int ldb, int ldc, int accumulate) {
    const float alpha = 1, beta = accumulate ? 1 : 0;
    const int flags = LIBXSMM_GEMM_FLAG_NONE;
    const libxsmm_blasint ldA = ldb, ldB = lda, ldC = ldc;
    libxsmm_smmfunction kernel = libxsmm_smmdispatch(n, m, k, &ldA, &ldB, &ldC, &alpha, &beta, &flags, NULL);
    return (const void *)kernel;
}

// Runs a kernel of gtn_xsmm_dispatch on row-major A, B and C.
static inline void gtn_xsmm_call(const void *kernel, const float *a, const float *b, float *c) {
    ((libxsmm_smmfunction)kernel)(b, a, c);
}
