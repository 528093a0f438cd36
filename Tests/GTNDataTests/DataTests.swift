import Foundation
import GTNData
import GTNTensor
import Testing

// Tiny IDX and CIFAR-10 files are written to fresh temporary directories (plain and gzip, the
// latter through the library's zlib-backed `Gzip.compress`) and loaded back; every value, split
// and error message is checked. One test loads the real Fashion-MNIST when it is installed.

// MARK: - Fixtures

/// A fresh directory `<tmp>/gtn-data-<uuid>/<name>`; `cleanup` removes it with its parent.
private struct TempDir {
    let root: String
    let path: String

    init(_ name: String) throws {
        root = (NSTemporaryDirectory() as NSString).appendingPathComponent("gtn-data-\(UUID().uuidString)")
        path = (root as NSString).appendingPathComponent(name)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    func write(_ name: String, _ bytes: [UInt8]) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: file(name)))
    }

    /// A subdirectory view (same cleanup root).
    init(root: String, path: String) {
        self.root = root
        self.path = path
    }

    func cleanup() { try? FileManager.default.removeItem(atPath: root) }
}

/// Deterministic byte pixels for `count` images of `size` bytes, with seed `salt`.
private func pixels(_ count: Int, _ size: Int, salt: Int) -> [UInt8] {
    (0..<(count * size)).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ salt &* 101 &+ ($0 / size) &* 11) }
}

private struct IDXFixture {
    static let rows = 4, cols = 3, nTrain = 12, nTest = 5
    var trainPixels = pixels(nTrain, rows * cols, salt: 1)
    var trainLabels = (0..<nTrain).map { UInt8(($0 * 3) % 10) }
    var testPixels = pixels(nTest, rows * cols, salt: 2)
    var testLabels = (0..<nTest).map { UInt8(($0 * 7) % 10) }

    var files: [(String, [UInt8])] {
        [("train-images-idx3-ubyte", IDX.encodeImages(trainPixels, count: trainLabels.count, rows: Self.rows, cols: Self.cols)),
         ("train-labels-idx1-ubyte", IDX.encodeLabels(trainLabels)),
         ("t10k-images-idx3-ubyte", IDX.encodeImages(testPixels, count: testPixels.count / (Self.rows * Self.cols), rows: Self.rows, cols: Self.cols)),
         ("t10k-labels-idx1-ubyte", IDX.encodeLabels(testLabels))]
    }

    /// Writes the four files; `gzip` compresses them, `suffix` is appended to their names.
    func write(to dir: TempDir, gzip: Bool, suffix: String = "", except: Set<String> = []) throws {
        for (name, bytes) in files where !except.contains(name) {
            try dir.write(name + suffix, gzip ? Gzip.compress(bytes) : bytes)
        }
    }
}

private struct CIFARFixture {
    static let perFile = 4, nTest = 3
    var trainPixels = (0..<5).map { pixels(perFile, 3072, salt: 10 + $0) }
    var trainLabels = (0..<5).map { f in (0..<perFile).map { UInt8((f * perFile + $0) % 10) } }
    var testPixels = pixels(nTest, 3072, salt: 20)
    var testLabels: [UInt8] = [9, 0, 4]

    func write(to dir: TempDir, subdirectory: String? = nil, except: Set<String> = []) throws {
        var target = dir
        if let sub = subdirectory {
            try FileManager.default.createDirectory(atPath: dir.file(sub), withIntermediateDirectories: true)
            target = TempDir(root: dir.root, path: dir.file(sub))
        }
        for f in 0..<5 where !except.contains(CIFAR10.trainFiles[f]) {
            try target.write(CIFAR10.trainFiles[f], CIFAR10.encodeBatch(labels: trainLabels[f], pixels: trainPixels[f]))
        }
        if !except.contains(CIFAR10.testFile) {
            try target.write(CIFAR10.testFile, CIFAR10.encodeBatch(labels: testLabels, pixels: testPixels))
        }
    }
}


/// Expected normalised value, computed as the loader documents it.
private func norm(_ b: UInt8, _ mean: Float, _ std: Float) -> Float { (Float(b) / 255 - mean) / std }

/// The error `DataSource.load` throws for `dir` (recording an issue when it throws none).
private func loadError(_ dir: String, sourceLocation: SourceLocation = #_sourceLocation) -> DataError? {
    do {
        _ = try DataSource.load(directory: dir)
        Issue.record("expected DataSource.load(\(dir)) to fail", sourceLocation: sourceLocation)
        return nil
    } catch let e as DataError {
        return e
    } catch {
        Issue.record("unexpected error type: \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

// MARK: - IDX

@Suite struct IDXTests {
    private func checkSplits(_ s: DataSplits, _ fx: IDXFixture) {
        let (r, c) = (IDXFixture.rows, IDXFixture.cols), per = r * c
        // Validation is the last 1/6 of the training file: 12 -> 10 train + 2 validation.
        #expect(s.train.count == 10)
        #expect(s.validation.count == 2)
        #expect(s.test.count == 5)
        #expect(s.train.images.shape == [10, 1, r, c])
        #expect(s.validation.images.shape == [2, 1, r, c])
        #expect(s.test.images.shape == [5, 1, r, c])
        #expect(s.classes == 10 && s.imageShape == [1, r, c])
        #expect(s.normalization == .mnist)
        let expectTrain = fx.trainPixels.map { norm($0, 0.1307, 0.3081) }
        #expect(s.train.images.scalars == Array(expectTrain[0..<(10 * per)]))
        #expect(s.validation.images.scalars == Array(expectTrain[(10 * per)...]))
        #expect(s.test.images.scalars == fx.testPixels.map { norm($0, 0.1307, 0.3081) })
        #expect(s.train.labels == fx.trainLabels[0..<10].map(Int.init))
        #expect(s.validation.labels == fx.trainLabels[10...].map(Int.init))
        #expect(s.test.labels == fx.testLabels.map(Int.init))
    }

    @Test func plainFiles() throws {
        let dir = try TempDir("mnist")
        defer { dir.cleanup() }
        let fx = IDXFixture()
        try fx.write(to: dir, gzip: false)
        let s = try DataSource.load(directory: dir.path)
        #expect(s.name == "mnist" && s.train.name == "mnist")
        checkSplits(s, fx)
        #expect(try DataSource.detectFormat(directory: dir.path) == .idx)
        #expect(try DataSource.load(directory: dir.path, name: "custom").name == "custom")
    }

    @Test func gzipFiles() throws {
        let dir = try TempDir("Fashion-MNIST-small")
        defer { dir.cleanup() }
        let fx = IDXFixture()
        try fx.write(to: dir, gzip: true, suffix: ".gz")
        let s = try DataSource.load(directory: dir.path + "/")
        #expect(s.name == "fashion-mnist")
        #expect(s.train.classNames.first == "T-shirt/top")
        checkSplits(s, fx)
    }

    @Test func compressionIsDetectedByMagicNotExtension() throws {
        // gzip data under plain names, and plain data under .gz names.
        let a = try TempDir("a"), b = try TempDir("b")
        defer { a.cleanup(); b.cleanup() }
        let fx = IDXFixture()
        try fx.write(to: a, gzip: true)
        try fx.write(to: b, gzip: false, suffix: ".gz")
        checkSplits(try DataSource.load(directory: a.path), fx)
        checkSplits(try DataSource.load(directory: b.path), fx)
    }

    @Test func gzipRoundTripAndMultiMember() throws {
        let data = pixels(1, 100_000, salt: 3)
        let z = Gzip.compress(data)
        #expect(Gzip.isCompressed(z) && !Gzip.isCompressed(data))
        #expect(z.count < data.count)
        #expect(try Gzip.decompress(z) == data)
        // Two concatenated members read as one stream, like gzip -d.
        #expect(try Gzip.decompress(Gzip.compress([1, 2, 3]) + Gzip.compress([4, 5])) == [1, 2, 3, 4, 5])
        #expect(try Gzip.decompress(Gzip.compress([])) == [])
    }
}

// MARK: - CIFAR-10

@Suite struct CIFARTests {
    private func check(_ s: DataSplits, _ fx: CIFARFixture) {
        // 5 files x 4 records = 20 training records -> last 1/10 (2) is validation.
        #expect(s.name == "cifar10")
        #expect(s.train.images.shape == [18, 3, 32, 32])
        #expect(s.validation.images.shape == [2, 3, 32, 32])
        #expect(s.test.images.shape == [3, 3, 32, 32])
        #expect(s.normalization == .cifar10)
        let mean: [Float] = [0.4914, 0.4822, 0.4465], std: [Float] = [0.2470, 0.2435, 0.2616]
        func expected(_ px: [UInt8]) -> [Float] {
            px.enumerated().map { i, b in let c = (i % 3072) / 1024; return norm(b, mean[c], std[c]) }
        }
        let all = expected(fx.trainPixels.flatMap { $0 })
        #expect(s.train.images.scalars == Array(all[0..<(18 * 3072)]))
        #expect(s.validation.images.scalars == Array(all[(18 * 3072)...]))
        #expect(s.test.images.scalars == expected(fx.testPixels))
        let labels = fx.trainLabels.flatMap { $0 }.map(Int.init)
        #expect(s.train.labels == Array(labels[0..<18]))
        #expect(s.validation.labels == Array(labels[18...]))
        #expect(s.test.labels == [9, 0, 4])
        // Spot check: record 5 (file 2, record 1), green channel, pixel (2, 3).
        let offset: Int = 1024 + 2 * 32 + 3
        let b: UInt8 = fx.trainPixels[1][3072 + offset]
        let want: Float = (Float(b) / 255 - 0.4822) / 0.2435
        #expect(s.train.images.scalars[5 * 3072 + offset] == want)
    }

    @Test func batchesInSubdirectory() throws {
        let dir = try TempDir("data")
        defer { dir.cleanup() }
        let fx = CIFARFixture()
        try fx.write(to: dir, subdirectory: CIFAR10.subdirectory)
        #expect(try DataSource.detectFormat(directory: dir.path) == .cifar10)
        check(try DataSource.load(directory: dir.path), fx)
    }

    @Test func batchesDirectlyInDirectory() throws {
        let dir = try TempDir("cifar")
        defer { dir.cleanup() }
        let fx = CIFARFixture()
        try fx.write(to: dir)
        let s = try DataSource.load(directory: dir.path)
        check(s, fx)
        #expect(s.train.classNames[0] == "airplane")
    }

    @Test func denormalizationRoundTrip() throws {
        let dir = try TempDir("cifar")
        defer { dir.cleanup() }
        let fx = CIFARFixture()
        try fx.write(to: dir)
        let s = try DataSource.load(directory: dir.path)
        let back = s.test.normalization.denormalize(s.test.images)
        let want = fx.testPixels.map { Float($0) / 255 }
        #expect(back.shape == s.test.images.shape)
        #expect(back.maxAbsDifference(Tensor(shape: back.shape, scalars: want)) < 1e-6)
        #expect(s.test.normalization.pixelBytes(s.test.images) == fx.testPixels)

        let m = Normalization.mnist
        let x = Tensor<Float>(shape: [2, 1, 1, 3], scalars: [0, 1, 128, 255, 7, 200].map { m.normalize($0) })
        #expect(m.pixelBytes(x) == [0, 1, 128, 255, 7, 200])
        #expect(m.denormalize(Tensor<Float>(shape: [1, 2, 2], scalars: [0, 0, 0, 0])).scalars.allSatisfy { abs($0 - 0.1307) < 1e-7 })
    }
}

// MARK: - Batching

@Suite struct BatchingTests {
    /// n examples of 1x2x2 whose label is their index (mod `classes`) and whose pixels encode it.
    private func dataset(_ n: Int, classes: Int = 1000) -> Dataset {
        let x = Tensor<Float>(shape: [n, 1, 2, 2], scalars: (0..<(n * 4)).map { Float($0 / 4) })
        return Dataset(name: "toy", images: x, labels: (0..<n).map { $0 % classes }, classes: classes,
                       normalization: .mnist)
    }

    private func stream(_ d: Dataset, batch: Int, seed: UInt64, epochs: Int, dropLast: Bool = true) -> [[Int]] {
        var s = d.sampler(batchSize: batch, seed: seed, dropLast: dropLast)
        return (0..<(epochs * s.batchesPerEpoch)).map { _ in s.nextBatch().labels }
    }

    @Test func shuffledEpochsAreDeterministicPerSeed() {
        let d = dataset(23)
        let a = stream(d, batch: 5, seed: 1, epochs: 3)
        #expect(a == stream(d, batch: 5, seed: 1, epochs: 3))
        #expect(a != stream(d, batch: 5, seed: 2, epochs: 3))
        #expect(a.count == 12 && a.allSatisfy { $0.count == 5 })
        // Each epoch: 4 batches of distinct examples, and the orders differ across epochs.
        let epochs = (0..<3).map { Array(a[(4 * $0)..<(4 * $0 + 4)].joined()) }
        for e in epochs { #expect(Set(e).count == 20) }
        #expect(epochs[0] != epochs[1] && epochs[1] != epochs[2])
        #expect(epochs[0] != Array(0..<20))
    }

    @Test func epochsWithoutDropLastArePermutations() {
        let d = dataset(23)
        var s = d.sampler(batchSize: 5, seed: 7, dropLast: false)
        #expect(s.batchesPerEpoch == 5)
        for e in 0..<3 {
            var seen: [Int] = []
            for k in 0..<5 {
                let b = s.nextBatch()
                #expect(s.epoch == e)
                #expect(b.labels.count == (k == 4 ? 3 : 5))
                #expect(b.images.shape == [b.labels.count, 1, 2, 2])
                // Images travel with their labels.
                for (j, l) in b.labels.enumerated() { #expect(b.images.scalars[4 * j ..< 4 * j + 4].allSatisfy { $0 == Float(l) }) }
                seen += b.labels
            }
            #expect(s.batchesLeftInEpoch == 0)
            #expect(seen.sorted() == Array(0..<23))
        }
        _ = s.next()
        #expect(s.epoch == 3)
    }

    @Test func randomAndFixedBatches() {
        let d = dataset(100)
        for size in [5, 60, 100] {  // sparse (rejection) and dense (partial shuffle) paths
            let b = d.fixedBatch(size: size, seed: 3)
            #expect(b.labels.count == size && Set(b.labels).count == size)
            #expect(b.labels == d.fixedBatch(size: size, seed: 3).labels)
            #expect(b.labels != d.fixedBatch(size: size, seed: 4).labels)
            #expect(b.images == d.batch(b.labels).images)
        }
        var rng = RandomSource(seed: 9)
        let first = d.randomBatch(size: 8, using: &rng), second = d.randomBatch(size: 8, using: &rng)
        #expect(first.labels != second.labels)
    }

    @Test func oneHotSliceAndInOrderBatches() {
        let t = oneHotLabels([2, 0, 1], classes: 3)
        #expect(t.shape == [3, 3])
        #expect(t.scalars == [0, 0, 1, 1, 0, 0, 0, 1, 0])
        let d = dataset(10, classes: 4)
        #expect(d.oneHot([3]).scalars == [0, 0, 0, 1])
        let s = d.slice(3..<6)
        #expect(s.count == 3 && s.labels == [3, 0, 1] && s.images.scalars.first == 3)
        let sizes: [Int] = Array(d.batchesInOrder(size: 4)).map { $0.labels.count }
        #expect(sizes == [4, 4, 2])
        #expect(Array(d.batchesInOrder(size: 4))[2].images.scalars.first == 8)
    }
}

// MARK: - Errors: every one names the file (or directory) and what is wrong

@Suite struct ErrorTests {
    @Test func directoryNotFound() {
        let path = "/nonexistent/gtn-data-\(UUID().uuidString)"
        let e = loadError(path)
        #expect(e == .directoryNotFound(path: path))
        #expect("\(e!)".contains(path))
    }

    @Test func missingFiles() throws {
        let empty = try TempDir("empty")
        defer { empty.cleanup() }
        let e = loadError(empty.path).map { "\($0)" } ?? ""
        #expect(e.contains(empty.path))
        for name in DataSource.idxFiles + CIFAR10.trainFiles + [CIFAR10.testFile] { #expect(e.contains(name)) }

        let partial = try TempDir("partial")
        defer { partial.cleanup() }
        try IDXFixture().write(to: partial, gzip: false, except: ["train-labels-idx1-ubyte", "t10k-images-idx3-ubyte"])
        let p = loadError(partial.path)
        #expect(p == .missingFiles(directory: partial.path, format: "MNIST-style IDX",
                                   lookedFor: ["train-labels-idx1-ubyte[.gz]", "t10k-images-idx3-ubyte[.gz]"]))
        #expect("\(p!)".contains("train-labels-idx1-ubyte[.gz]"))

        let cifar = try TempDir("cifar")
        defer { cifar.cleanup() }
        try CIFARFixture().write(to: cifar, except: ["data_batch_5.bin", "test_batch.bin"])
        let c = "\(loadError(cifar.path)!)"
        #expect(c.contains("data_batch_5.bin") && c.contains("test_batch.bin") && !c.contains("data_batch_1"))
    }

    @Test func truncatedAndTrailingIDX() throws {
        let fx = IDXFixture()
        let images = fx.files[0].1  // 16 + 12 * 12 = 160 bytes
        for (gzip, suffix) in [(false, ""), (true, ".gz")] {
            let dir = try TempDir("t")
            defer { dir.cleanup() }
            try fx.write(to: dir, gzip: gzip, suffix: suffix)
            let name = "train-images-idx3-ubyte" + suffix
            let cut = Array(images[0..<155])
            try dir.write(name, gzip ? Gzip.compress(cut) : cut)
            let e = loadError(dir.path)
            #expect(e == .truncated(file: dir.file(name), expected: 160, got: 155, decompressed: gzip))
            #expect("\(e!)".contains(dir.file(name)) && "\(e!)".contains("expected 160 bytes, got 155"))
            // Header cut short.
            try dir.write(name, gzip ? Gzip.compress(Array(images[0..<10])) : Array(images[0..<10]))
            #expect(loadError(dir.path) == .truncated(file: dir.file(name), expected: 16, got: 10, decompressed: gzip))
            // Extra bytes.
            try dir.write(name, gzip ? Gzip.compress(images + [1, 2]) : images + [1, 2])
            let t = loadError(dir.path)
            #expect(t == .trailingBytes(file: dir.file(name), expected: 160, got: 162, decompressed: gzip))
            #expect("\(t!)".contains(dir.file(name)))
        }
    }

    @Test func badMagic() throws {
        let dir = try TempDir("m")
        defer { dir.cleanup() }
        let fx = IDXFixture()
        try fx.write(to: dir, gzip: false)
        try dir.write("t10k-images-idx3-ubyte", fx.files[3].1)  // a labels file where images belong
        let e = loadError(dir.path)
        #expect(e == .badMagic(file: dir.file("t10k-images-idx3-ubyte"), expected: 0x803, got: 0x801))
        let msg = "\(e!)"
        #expect(msg.contains(dir.file("t10k-images-idx3-ubyte")) && msg.contains("0x00000803") && msg.contains("0x00000801"))
    }

    @Test func countMismatch() throws {
        let dir = try TempDir("c")
        defer { dir.cleanup() }
        var fx = IDXFixture()
        fx.testLabels.removeLast()
        try fx.write(to: dir, gzip: false)
        let e = loadError(dir.path)
        #expect(e == .countMismatch(imagesFile: dir.file("t10k-images-idx3-ubyte"), images: 5,
                                    labelsFile: dir.file("t10k-labels-idx1-ubyte"), labels: 4))
        #expect("\(e!)".contains(dir.file("t10k-images-idx3-ubyte")) && "\(e!)".contains(dir.file("t10k-labels-idx1-ubyte")))
    }

    @Test func shapeMismatch() throws {
        let dir = try TempDir("s")
        defer { dir.cleanup() }
        let fx = IDXFixture()
        try fx.write(to: dir, gzip: false)
        try dir.write("t10k-images-idx3-ubyte", IDX.encodeImages(pixels(5, 15, salt: 0), count: 5, rows: 5, cols: 3))
        let e = loadError(dir.path)
        #expect(e == .shapeMismatch(file: dir.file("t10k-images-idx3-ubyte"), expected: [1, 4, 3], got: [1, 5, 3]))
    }

    @Test func corruptGzip() throws {
        let fx = IDXFixture()
        let good = Gzip.compress(fx.files[1].1)
        var badCRC = good
        badCRC[badCRC.count - 6] ^= 0xff  // CRC-32 in the trailer
        var badMethod = good
        badMethod[2] = 7  // compression method: only 8 (deflate) exists
        let cases: [(String, [UInt8], String)] = [
            ("crc", badCRC, "incorrect data check"),
            ("method", badMethod, "unknown compression method"),
            ("cut", Array(good[0..<(good.count / 2)]), "ends early"),
        ]
        for (label, bytes, reason) in cases {
            let dir = try TempDir(label)
            defer { dir.cleanup() }
            try fx.write(to: dir, gzip: true, suffix: ".gz")
            try dir.write("train-labels-idx1-ubyte.gz", bytes)
            let e = loadError(dir.path)
            guard case let .corruptGzip(file, why)? = e else {
                Issue.record("\(label): expected corruptGzip, got \(String(describing: e))")
                continue
            }
            #expect(file == dir.file("train-labels-idx1-ubyte.gz"))
            #expect(why.contains(reason), "\(label): \(why)")
            #expect("\(e!)".contains(dir.file("train-labels-idx1-ubyte.gz")) && "\(e!)".contains("corrupt gzip"))
        }
    }

    @Test func labelsOutOfRange() throws {
        let dir = try TempDir("l")
        defer { dir.cleanup() }
        var fx = IDXFixture()
        fx.trainLabels[7] = 10
        try fx.write(to: dir, gzip: true, suffix: ".gz")
        let e = loadError(dir.path)
        #expect(e == .labelOutOfRange(file: dir.file("train-labels-idx1-ubyte.gz"), index: 7, label: 10, classes: 10))
        #expect("\(e!)".contains(dir.file("train-labels-idx1-ubyte.gz")) && "\(e!)".contains("label 10"))

        let cdir = try TempDir("cl")
        defer { cdir.cleanup() }
        var cfx = CIFARFixture()
        cfx.testLabels[2] = 12
        try cfx.write(to: cdir)
        #expect(loadError(cdir.path) == .labelOutOfRange(file: cdir.file("test_batch.bin"), index: 2, label: 12, classes: 10))
    }

    @Test func truncatedCIFAR() throws {
        let dir = try TempDir("ct")
        defer { dir.cleanup() }
        let fx = CIFARFixture()
        try fx.write(to: dir)
        let full = CIFAR10.encodeBatch(labels: fx.trainLabels[2], pixels: fx.trainPixels[2])
        try dir.write("data_batch_3.bin", Array(full.dropLast(100)))
        let e = loadError(dir.path)
        #expect(e == .truncated(file: dir.file("data_batch_3.bin"), expected: 4 * 3073, got: 4 * 3073 - 100, decompressed: false))
        #expect("\(e!)".contains(dir.file("data_batch_3.bin")) && "\(e!)".contains("expected 12292 bytes, got 12192"))
        try dir.write("data_batch_3.bin", [])
        #expect(loadError(dir.path) == .truncated(file: dir.file("data_batch_3.bin"), expected: 3073, got: 0, decompressed: false))
    }
}

// MARK: - The real data set

@Test(.enabled(if: FileManager.default.fileExists(atPath: DataSource.defaultDirectory),
               "Fashion-MNIST is not installed at /usr/share/datasets/fashion-mnist (apt-get install dataset-fashion-mnist)"))
func realFashionMNIST() throws {
    let clock = ContinuousClock()
    let start = clock.now
    let s = try DataSource.load()
    let elapsed = clock.now - start
    print("GTNData: loaded Fashion-MNIST (gzip IDX) from \(DataSource.defaultDirectory) in \(elapsed)")
    #expect(s.name == "fashion-mnist")
    #expect(s.train.count == 50000 && s.validation.count == 10000 && s.test.count == 10000)
    #expect(s.train.images.shape == [50000, 1, 28, 28])
    #expect(s.validation.images.shape == [10000, 1, 28, 28])
    #expect(s.test.images.shape == [10000, 1, 28, 28])
    // The test set is balanced: 1000 per class.
    var perClass = [Int](repeating: 0, count: 10)
    for l in s.test.labels { perClass[l] += 1 }
    #expect(perClass == [Int](repeating: 1000, count: 10))
    // Fashion-MNIST's pixel mean is about 0.286, i.e. about 0.50 after MNIST normalisation; pixels
    // span the whole byte range. (One pass over raw memory: the test builds in debug mode.)
    let (sum, lo, hi) = s.test.images.scalars.withUnsafeBufferPointer { b -> (Double, Float, Float) in
        var (sum, lo, hi) = (0.0, Float.infinity, -Float.infinity)
        for v in b { sum += Double(v); lo = min(lo, v); hi = max(hi, v) }
        return (sum, lo, hi)
    }
    #expect(abs(sum / Double(s.test.images.count) - (0.286 - 0.1307) / 0.3081) < 0.02)
    #expect(lo == Normalization.mnist.normalize(0) && hi == Normalization.mnist.normalize(255))
}
