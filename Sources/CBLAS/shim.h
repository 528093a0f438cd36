#include <cblas.h>
#include <stddef.h>

// LAPACK from OpenBLAS (Debian's libopenblas ships it; there is no lapacke.h in libopenblas-dev).
// Fortran calling convention: every argument by pointer, and the lengths of character arguments
// appended as hidden trailing size_t parameters (gfortran).
void dsyev_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
            double *work, const int *lwork, int *info, size_t jobz_len, size_t uplo_len);
void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info, size_t uplo_len);
void dpotrs_(const char *uplo, const int *n, const int *nrhs, const double *a, const int *lda, double *b,
             const int *ldb, int *info, size_t uplo_len);
