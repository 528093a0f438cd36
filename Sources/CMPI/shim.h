// Open MPI's C API (Debian's libopenmpi-dev). Its handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, ...)
// are macros over addresses of library globals, which Swift cannot import: these inline functions
// hand them over.
#include <mpi.h>

static inline MPI_Comm gtn_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype gtn_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype gtn_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype gtn_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Datatype gtn_mpi_long_long(void) { return MPI_LONG_LONG; }
static inline MPI_Op gtn_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Op gtn_mpi_min(void) { return MPI_MIN; }
static inline void *gtn_mpi_in_place(void) { return MPI_IN_PLACE; }
