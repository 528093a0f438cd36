import Foundation
import GTNTensor

/// Finds and loads a data set from a directory, with the official GTN splits.
///
/// - MNIST / Fashion-MNIST (IDX files `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
///   `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`, each optionally `.gz`): the training file
///   gives train (its first 5/6: 50000 of 60000) and validation (its last 1/6: 10000); the t10k files
///   give test. Normalised with MNIST's constants for both (as the official code does).
/// - CIFAR-10 (`data_batch_1.bin` ... `data_batch_5.bin`, `test_batch.bin`, directly in the directory
///   or in its `cifar-10-batches-bin` subdirectory): the training batches give train (first 9/10:
///   45000) and validation (last 1/10: 5000); `test_batch.bin` gives test. Per-channel normalisation.
///
/// Compressed files are recognised by the gzip magic bytes, whatever their names.
public enum DataSource {
    /// Debian's dataset-fashion-mnist package installs the four gzipped IDX files here.
    public static let defaultDirectory = "/usr/share/datasets/fashion-mnist"

    public enum Format: String, Sendable, CaseIterable {
        case idx, cifar10
    }

    public static let idxFiles = [
        "train-images-idx3-ubyte", "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
    ]

    /// Loads the data set in `directory`, detecting its format from the files present. `name`
    /// overrides the data set's name (otherwise: "fashion-mnist" when the directory's name contains
    /// "fashion", else "mnist", for IDX files; "cifar10" for CIFAR-10 batches).
    public static func load(directory: String = defaultDirectory, name: String? = nil) throws -> DataSplits {
        switch try detectFormat(directory: directory) {
        case .idx: return try loadIDX(directory: directory, name: name)
        case .cifar10: return try loadCIFAR10(directory: directory, name: name)
        }
    }

    /// Which format `directory` holds: IDX when any IDX file is present, else CIFAR-10 when any
    /// batch file is; an error listing both sets of names when neither is.
    public static func detectFormat(directory: String) throws -> Format {
        try checkDirectory(directory)
        if idxFiles.contains(where: { findIDX(directory, $0) != nil }) { return .idx }
        if cifarDirectory(directory) != nil { return .cifar10 }
        throw DataError.missingFiles(
            directory: directory, format: "MNIST-style IDX or CIFAR-10",
            lookedFor: idxFiles.map { "\($0)[.gz]" } + CIFAR10.trainFiles + [CIFAR10.testFile]
                + ["(CIFAR-10 also in \(CIFAR10.subdirectory)/)"])
    }

    /// The data set name implied by a directory of IDX files.
    public static func idxDatasetName(directory: String) -> String {
        let last = URL(fileURLWithPath: directory).standardizedFileURL.lastPathComponent
        return last.lowercased().contains("fashion") ? "fashion-mnist" : "mnist"
    }

    /// Loads MNIST or Fashion-MNIST IDX files.
    public static func loadIDX(directory: String, name: String? = nil) throws -> DataSplits {
        try checkDirectory(directory)
        let found = idxFiles.map { findIDX(directory, $0) }
        let missing = zip(idxFiles, found).filter { $0.1 == nil }.map { "\($0.0)[.gz]" }
        if !missing.isEmpty {
            throw DataError.missingFiles(directory: directory, format: "MNIST-style IDX", lookedFor: missing)
        }
        let paths = found.map { $0! }
        let name = name ?? idxDatasetName(directory: directory)
        let classes = 10

        // The four files are independent: read and decompress them on all cores, the large images
        // files first.
        var images = [Result<ImageRecords, Error>?](repeating: nil, count: 2)
        var labels = [Result<[Int], Error>?](repeating: nil, count: 2)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: 4) { k in
            let part = k % 2  // 0: train, 1: test
            if k < 2 {
                let r = Result { try IDX.readImages(paths[2 * part]) }
                lock.lock()
                images[part] = r
                lock.unlock()
            } else {
                let r = Result { try IDX.readLabels(paths[2 * part + 1], classes: classes) }
                lock.lock()
                labels[part] = r
                lock.unlock()
            }
        }
        // The first failure in file order, so that errors do not depend on thread timing.
        let trainImages = try images[0]!.get()
        let trainLabels = try labels[0]!.get()
        let testImages = try images[1]!.get()
        let testLabels = try labels[1]!.get()

        try checkCount(trainImages, paths[0], trainLabels, paths[1])
        try checkCount(testImages, paths[2], testLabels, paths[3])
        if testImages.imageShape != trainImages.imageShape {
            throw DataError.shapeMismatch(file: paths[2], expected: trainImages.imageShape, got: testImages.imageShape)
        }
        let n = trainImages.count
        return split(
            name: name, train: trainImages, trainLabels: trainLabels, validationCount: n / 6,
            test: testImages, testLabels: testLabels, classes: classes, normalization: .mnist)
    }

    /// Loads the CIFAR-10 binary batches.
    public static func loadCIFAR10(directory: String, name: String? = nil) throws -> DataSplits {
        try checkDirectory(directory)
        let dir = cifarDirectory(directory) ?? directory
        let needed = CIFAR10.trainFiles + [CIFAR10.testFile]
        let missing = needed.filter { !isFile((dir as NSString).appendingPathComponent($0)) }
        if !missing.isEmpty {
            throw DataError.missingFiles(directory: dir, format: "CIFAR-10", lookedFor: missing)
        }
        let path = { (dir as NSString).appendingPathComponent($0) }
        let (train, trainLabels) = try CIFAR10.read(CIFAR10.trainFiles.map(path))
        let (test, testLabels) = try CIFAR10.read([path(CIFAR10.testFile)])
        return split(
            name: name ?? "cifar10", train: train, trainLabels: trainLabels,
            validationCount: train.count / 10, test: test, testLabels: testLabels,
            classes: 10, normalization: .cifar10)
    }

    // MARK: - Helpers

    private static func split(
        name: String, train: ImageRecords, trainLabels: [Int], validationCount: Int,
        test: ImageRecords, testLabels: [Int], classes: Int,
        normalization: Normalization
    ) -> DataSplits {
        let n = train.count
        let cut = n - validationCount
        func dataset(_ records: ImageRecords, _ labels: [Int], _ range: Range<Int>) -> Dataset {
            Dataset(
                name: name, images: records.decode(range, normalization), labels: Array(labels[range]),
                classes: classes, normalization: normalization)
        }
        return DataSplits(
            name: name,
            train: dataset(train, trainLabels, 0..<cut),
            validation: dataset(train, trainLabels, cut..<n),
            test: dataset(test, testLabels, 0..<test.count))
    }

    private static func checkCount(_ images: ImageRecords, _ imagesFile: String, _ labels: [Int], _ labelsFile: String)
        throws
    {
        if images.count != labels.count {
            throw DataError.countMismatch(
                imagesFile: imagesFile, images: images.count,
                labelsFile: labelsFile, labels: labels.count)
        }
    }

    private static func checkDirectory(_ directory: String) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue else {
            throw DataError.directoryNotFound(path: directory)
        }
    }

    private static func isFile(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && !isDir.boolValue
    }

    /// `base` or `base.gz` in `directory` (the plain file when both exist).
    private static func findIDX(_ directory: String, _ base: String) -> String? {
        let plain = (directory as NSString).appendingPathComponent(base)
        if isFile(plain) { return plain }
        if isFile(plain + ".gz") { return plain + ".gz" }
        return nil
    }

    /// The directory holding CIFAR-10 batch files: `directory` itself or its `cifar-10-batches-bin`
    /// subdirectory, whichever has any of them (nil when neither has).
    private static func cifarDirectory(_ directory: String) -> String? {
        let names = CIFAR10.trainFiles + [CIFAR10.testFile]
        for dir in [directory, (directory as NSString).appendingPathComponent(CIFAR10.subdirectory)] {
            if names.contains(where: { isFile((dir as NSString).appendingPathComponent($0)) }) { return dir }
        }
        return nil
    }
}
