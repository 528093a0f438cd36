/// Float32 transcendental functions eight lanes at a time, where a hot op calls one per element:
/// glibc's scalar `tanhf` cost ~15 ns per element on the generator's output (100k pixels a step,
/// 1% of a T = 32 meta-iteration); these run at about a nanosecond. Accuracy: within 3 ulp of
/// the correctly rounded value over the whole line (1.5 ulp at worst on a dense sweep; tested
/// against Float64 in `KernelReferenceTests`).
enum VectorMath {
    typealias F8 = SIMD8<Float>

    /// e^y for y in [-87, 0] (callers clamp): y = n ln 2 + r with |r| <= ln 2 / 2, e^r by its
    /// Taylor polynomial to r^7 (truncation below 1e-8 relative there), 2^n built in the exponent
    /// bits. ln 2 is split in two (Cody and Waite) so that n ln 2 is subtracted without rounding.
    @inline(__always)
    static func expNonPositive(_ y: F8) -> F8 {
        // n = round(y / ln 2) by the 1.5 x 2^23 trick: the sum's low mantissa bits hold n, so the
        // integer comes out by a bit cast (Swift's SIMD float-to-int conversion runs per lane).
        let magic = F8(repeating: 12_582_912)
        let shifted = y * 1.442_695_04 + magic
        let n = shifted - magic
        let r = (y - n * 0.693_145_75) - n * 1.428_606_8e-6
        var p: F8 = F8(repeating: 1.0 / 5040)
        p = p * r + 1.0 / 720
        p = p * r + 1.0 / 120
        p = p * r + 1.0 / 24
        p = p * r + 1.0 / 6
        p = p * r + 0.5
        p = p * r + 1
        p = p * r + 1
        let integer = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- unsafeBitCast(magic, to: SIMD8<Int32>.self)
        let bits = (integer &+ 127) &<< 23
        return p * unsafeBitCast(bits, to: F8.self)
    }

    /// tanh, odd: for |x| < 0.625 its Taylor series to x^17 (the terms fall by ~0.16 each there,
    /// so the first one dropped is below 1e-8 relative); beyond, (1 - t) / (1 + t) with
    /// t = e^-2|x| <= 0.29, which has no cancellation. NaN stays NaN.
    @inline(__always)
    static func tanh(_ x: F8) -> F8 {
        let a = x.replacing(with: -x, where: x .< 0)
        let a2 = a * a
        var s: F8 = F8(repeating: 6_404_582.0 / 10_854_718_875)
        s = s * a2 - 929_569.0 / 638_512_875
        s = s * a2 + 21844.0 / 6_081_075
        s = s * a2 - 1382.0 / 155_925
        s = s * a2 + 62.0 / 2835
        s = s * a2 - 17.0 / 315
        s = s * a2 + 2.0 / 15
        s = s * a2 - 1.0 / 3
        let small = a + a * a2 * s
        let t = expNonPositive(pointwiseMax(-2 * a, F8(repeating: -87)))
        var r = small.replacing(with: (1 - t) / (1 + t), where: a .>= 0.625)
        r.replace(with: -r, where: x .< 0)
        r.replace(with: x, where: x .!= x)
        return r
    }

    /// dst[i] = tanh(src[i]) for i < count.
    static func tanh(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 8 <= count {
            UnsafeMutableRawPointer(dst + i).storeBytes(
                of: tanh(UnsafeRawPointer(src + i).loadUnaligned(as: F8.self)), as: F8.self)
            i += 8
        }
        if i < count {
            var tail = F8()
            for k in 0..<(count - i) { tail[k] = src[i + k] }
            let r = tanh(tail)
            for k in 0..<(count - i) { dst[i + k] = r[k] }
        }
    }
}
