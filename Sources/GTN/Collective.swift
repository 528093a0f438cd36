import Foundation
import GTNTensor

/// The workers of a distributed meta-training run (MPI ranks): each computes the meta-gradients of
/// its own learners, and the meta-trainer sums them across workers before its outer step, as the
/// official code does with Horovod's allreduce. Rank 0 leads: it alone writes the run and decides
/// when the run ends; the others follow it iteration by iteration.
public protocol Collective: AnyObject {
    var rank: Int { get }
    var size: Int { get }
    /// Element-wise sum over all workers, in place.
    func allReduceSum(_ values: inout [Float])
    func allReduceSum(_ values: inout [Double])
    /// True on every worker when all of them say `go`: the leader's way of saying "another
    /// meta-iteration" (true) or "the run is over" (false), once per iteration.
    func agree(_ go: Bool) -> Bool
    /// The leader's `data` on every worker.
    func broadcast(_ data: Data?) -> Data
}

extension MetaTrainer {
    /// The learners this worker computes at each meta-iteration: learner indices are global (rank r
    /// takes r*L ..< (r+1)*L for L learners per iteration), so N ranks with L learners each draw the
    /// same learners as one process with N*L, and their averaged meta-gradient is the same.
    var localLearners: Range<Int> {
        let l = config.learnersPerIteration
        let r = collective?.rank ?? 0
        return (r * l)..<((r + 1) * l)
    }

    /// Learners per meta-iteration over all workers.
    public var totalLearners: Int { config.learnersPerIteration * (collective?.size ?? 1) }

    /// A follower's meta-iteration: waits for the leader's word, then steps with it. False when
    /// the leader has ended the run.
    public mutating func followerStep(realBatch: RealBatchSource) -> Bool {
        guard collective?.agree(true) ?? false else { return false }
        _ = stepAfterAgreement(realBatch: realBatch)
        return true
    }

    /// The leader's word that the run is over (it stopped or finished): the followers return.
    public func releaseFollowers() {
        if let c = collective, c.rank == 0 { _ = c.agree(false) }
    }
}
