import CMPI
import Foundation
import GTN

/// `Collective` over Open MPI's world communicator. Errors are fatal (MPI's default handler): a
/// rank that fails ends the job, and mpirun names it.
public final class MPICollective: Collective {
    public let rank: Int
    public let size: Int

    /// True when this process was started by mpirun with more than one rank.
    public static var isLaunchedByMPI: Bool {
        (Int(ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"] ?? "") ?? 1) > 1
    }

    /// Initialises MPI; call once, and `finish()` before the process exits.
    public init() {
        MPI_Init(nil, nil)
        var r: Int32 = 0
        var s: Int32 = 0
        MPI_Comm_rank(gtn_mpi_comm_world(), &r)
        MPI_Comm_size(gtn_mpi_comm_world(), &s)
        (rank, size) = (Int(r), Int(s))
    }

    public func finish() { MPI_Finalize() }

    /// Ends every rank's job at once (after an error on one of them).
    public func abort(_ code: Int32) { MPI_Abort(gtn_mpi_comm_world(), code) }

    public func allReduceSum(_ values: inout [Float]) {
        let n = Int32(values.count)
        values.withUnsafeMutableBufferPointer { b in
            _ = MPI_Allreduce(
                gtn_mpi_in_place(), b.baseAddress, n, gtn_mpi_float(), gtn_mpi_sum(), gtn_mpi_comm_world())
        }
    }

    public func allReduceSum(_ values: inout [Double]) {
        let n = Int32(values.count)
        values.withUnsafeMutableBufferPointer { b in
            _ = MPI_Allreduce(
                gtn_mpi_in_place(), b.baseAddress, n, gtn_mpi_double(), gtn_mpi_sum(), gtn_mpi_comm_world())
        }
    }

    public func agree(_ go: Bool) -> Bool {
        var v: [Double] = [go ? 1 : 0]
        v.withUnsafeMutableBufferPointer { b in
            _ = MPI_Allreduce(
                gtn_mpi_in_place(), b.baseAddress, 1, gtn_mpi_double(), gtn_mpi_min(), gtn_mpi_comm_world())
        }
        return v[0] > 0
    }

    public func broadcast(_ data: Data?) -> Data {
        var count: [Int64] = [Int64(data?.count ?? 0)]
        count.withUnsafeMutableBufferPointer { b in
            _ = MPI_Bcast(b.baseAddress, 1, gtn_mpi_long_long(), 0, gtn_mpi_comm_world())
        }
        var bytes = [UInt8](rank == 0 ? (data ?? Data()) : Data(count: Int(count[0])))
        bytes.withUnsafeMutableBufferPointer { b in
            _ = MPI_Bcast(b.baseAddress, Int32(count[0]), gtn_mpi_byte(), 0, gtn_mpi_comm_world())
        }
        return Data(bytes)
    }
}
