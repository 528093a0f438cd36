/// The version `gtn --version` prints. Raised by hand with each change a user would notice in
/// the command line, the files a run writes, or the results of a default run.
public enum GTNVersion {
    public static let string = "0.9.0"
}
