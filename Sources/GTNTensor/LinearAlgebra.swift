import CBLAS

/// Dense linear algebra through LAPACK (OpenBLAS's), in Float64.
public enum LinearAlgebra {
    public struct LAPACKError: Error, CustomStringConvertible {
        public var routine: String
        public var info: Int32
        public var description: String { "LAPACK \(routine) failed (info \(info))" }
    }

    /// Eigenvalues (ascending) and, when `vectors` is set, orthonormal eigenvectors (column k of
    /// the row-major n x n result is the k-th vector) of the symmetric n x n matrix `a` (row-major;
    /// only its lower triangle is read).
    public static func symmetricEigen(_ a: [Double], n: Int, vectors: Bool = true) throws -> (
        values: [Double], vectors: [Double]
    ) {
        precondition(a.count == n * n, "symmetricEigen: \(a.count) entries for a \(n) x \(n) matrix")
        if n == 0 { return ([], []) }
        // Row-major lower = column-major upper: LAPACK sees the transpose, which is the same matrix.
        var m = a
        var w = [Double](repeating: 0, count: n)
        var (nn, lda, info) = (Int32(n), Int32(n), Int32(0))
        let jobz: CChar = vectors ? 86 : 78  // "V" or "N"
        let uplo: CChar = 85  // "U"
        var query = 0.0
        var lwork: Int32 = -1
        withUnsafePointer(to: jobz) { j in
            withUnsafePointer(to: uplo) { u in
                dsyev_(j, u, &nn, &m, &lda, &w, &query, &lwork, &info, 1, 1)
            }
        }
        guard info == 0 else { throw LAPACKError(routine: "dsyev (workspace query)", info: info) }
        lwork = Int32(query)
        var work = [Double](repeating: 0, count: Int(lwork))
        withUnsafePointer(to: jobz) { j in
            withUnsafePointer(to: uplo) { u in
                dsyev_(j, u, &nn, &m, &lda, &w, &work, &lwork, &info, 1, 1)
            }
        }
        guard info == 0 else { throw LAPACKError(routine: "dsyev", info: info) }
        guard vectors else { return (w, []) }
        // LAPACK returns the vectors as the columns of a column-major matrix, i.e. as the rows
        // of `m` read row-major; transpose so that column k (row-major) is vector k.
        var v = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n { v[j * n + i] = m[i * n + j] } }
        return (w, v)
    }

    /// The trace of the square root of A B for symmetric positive semi-definite A and B (the cross
    /// term of the Fréchet distance): tr sqrt(A B) = sum of sqrt(eigenvalues of sqrt(A) B sqrt(A)).
    /// Tiny negative eigenvalues from rounding count as zero.
    public static func traceSqrtProduct(_ a: [Double], _ b: [Double], n: Int) throws -> Double {
        let (values, vectors) = try symmetricEigen(a, n: n)
        // sqrt(A) = V diag(sqrt(max(λ, 0))) V^T
        var root = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0...i {
                var s = 0.0
                for k in 0..<n { s += vectors[i * n + k] * max(values[k], 0).squareRoot() * vectors[j * n + k] }
                (root[i * n + j], root[j * n + i]) = (s, s)
            }
        }
        let m = multiply(multiply(root, b, n), root, n)
        return try symmetricEigen(m, n: n, vectors: false).values.reduce(0) { $0 + max($1, 0).squareRoot() }
    }

    /// scale * Xᵀ X for the row-major rows x columns matrix X, into the columns x columns `c` (row-major).
    public static func gramMatrix(
        _ x: UnsafePointer<Double>, rows: Int, columns: Int, scale: Double, into c: UnsafeMutablePointer<Double>
    ) {
        let (n, d) = (Int32(rows), Int32(columns))
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d, d, n, scale, x, d, x, d, 0, c, d)
    }

    /// The Cholesky factor of the symmetric positive-definite n x n matrix `a` (row-major): the
    /// lower-triangular L with L Lᵀ = a, row-major, zeros above the diagonal (LAPACK dpotrf).
    /// Throws when `a` is not positive definite.
    public static func cholesky(_ a: [Double], n: Int) throws -> [Double] {
        precondition(a.count == n * n, "cholesky: \(a.count) entries for a \(n) x \(n) matrix")
        // Row-major lower is column-major upper: ask LAPACK for "U" and read the result back row-major.
        var m = a
        var (nn, lda, info) = (Int32(n), Int32(n), Int32(0))
        let uplo: CChar = 85  // "U"
        withUnsafePointer(to: uplo) { u in dpotrf_(u, &nn, &m, &lda, &info, 1) }
        guard info == 0 else { throw LAPACKError(routine: "dpotrf (not positive definite)", info: info) }
        for i in 0..<n { for j in (i + 1)..<max(i + 1, n) { m[i * n + j] = 0 } }
        return m
    }

    /// Solves a x = b for x given a's Cholesky factor `l` (from `cholesky`), b with `columns` right-hand
    /// sides (row-major n x columns) (LAPACK dpotrs).
    public static func choleskySolve(_ l: [Double], n: Int, _ b: [Double], columns: Int = 1) throws -> [Double] {
        precondition(l.count == n * n && b.count == n * columns, "choleskySolve: shapes")
        // LAPACK wants B column-major: transpose in and out.
        var x = [Double](repeating: 0, count: n * columns)
        for i in 0..<n { for j in 0..<columns { x[j * n + i] = b[i * columns + j] } }
        var (nn, nrhs, lda, ldb, info) = (Int32(n), Int32(columns), Int32(n), Int32(n), Int32(0))
        let uplo: CChar = 85  // "U": column-major upper = our row-major lower factor
        withUnsafePointer(to: uplo) { u in dpotrs_(u, &nn, &nrhs, l, &lda, &x, &ldb, &info, 1) }
        guard info == 0 else { throw LAPACKError(routine: "dpotrs", info: info) }
        var out = [Double](repeating: 0, count: n * columns)
        for i in 0..<n { for j in 0..<columns { out[i * columns + j] = x[j * n + i] } }
        return out
    }

    /// Row-major n x n product through BLAS.
    public static func multiply(_ a: [Double], _ b: [Double], _ n: Int) -> [Double] {
        var c = [Double](repeating: 0, count: n * n)
        let k = Int32(n)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, k, k, k, 1, a, k, b, k, 0, &c, k)
        return c
    }
}
