# Cross build for aarch64 Linux with Debian 12's gcc-aarch64-linux-gnu against
# a sysroot of Debian's arm64 packages unpacked by tools/check_aarch64.sh
# (Open MPI, HDF5, OpenBLAS and libyaml for arm64 cannot be installed beside
# the x86-64 development packages: libopenmpi-dev, libhdf5-dev and libpmix-dev
# are not co-installable across architectures, and apt removes the x86 ones).
#
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=tools/aarch64-toolchain.cmake \
#         -DDS_AARCH64_SYSROOT=/path/to/sysroot -DDISTSWEEP_CUDA=OFF
#
# Tests added with a target as their command run under qemu-aarch64
# (CMAKE_CROSSCOMPILING_EMULATOR), with the sysroot as qemu's library prefix.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)

if(NOT DS_AARCH64_SYSROOT)
  set(DS_AARCH64_SYSROOT "$ENV{DS_AARCH64_SYSROOT}")
endif()
if(NOT DS_AARCH64_SYSROOT OR NOT EXISTS "${DS_AARCH64_SYSROOT}/usr/include")
  message(FATAL_ERROR "aarch64: DS_AARCH64_SYSROOT (${DS_AARCH64_SYSROOT}) is not an unpacked "
    "arm64 sysroot; tools/check_aarch64.sh makes one")
endif()
# try_compile projects see the cache, not this file's variables
set(DS_AARCH64_SYSROOT "${DS_AARCH64_SYSROOT}" CACHE PATH "unpacked arm64 sysroot")
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES DS_AARCH64_SYSROOT)

set(CMAKE_SYSROOT "${DS_AARCH64_SYSROOT}")
set(CMAKE_FIND_ROOT_PATH "${DS_AARCH64_SYSROOT}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(ENV{PKG_CONFIG_SYSROOT_DIR} "${DS_AARCH64_SYSROOT}")
set(ENV{PKG_CONFIG_LIBDIR}
  "${DS_AARCH64_SYSROOT}/usr/lib/aarch64-linux-gnu/pkgconfig:${DS_AARCH64_SYSROOT}/usr/share/pkgconfig")

# The arm64 mpicc wrapper cannot run here: name Open MPI's header and library
# (FindMPI's documented inputs when there is no usable wrapper).
set(MPI_SKIP_COMPILER_WRAPPER ON)
set(MPI_C_COMPILER "${CMAKE_C_COMPILER}")
set(MPI_C_HEADER_DIR "${DS_AARCH64_SYSROOT}/usr/lib/aarch64-linux-gnu/openmpi/include")
# as cache entries: FindMPI unsets plain variables of these names on a fresh
# build directory and then finds nothing
set(MPI_C_LIB_NAMES mpi CACHE STRING "")
set(MPI_mpi_LIBRARY "${DS_AARCH64_SYSROOT}/usr/lib/aarch64-linux-gnu/openmpi/lib/libmpi.so"
  CACHE FILEPATH "")
# Debian's serial HDF5 for arm64 (h5cc is an arm64 wrapper too)
set(HDF5_C_INCLUDE_DIR "${DS_AARCH64_SYSROOT}/usr/include/hdf5/serial")
set(HDF5_C_LIBRARY_hdf5 "${DS_AARCH64_SYSROOT}/usr/lib/aarch64-linux-gnu/hdf5/serial/libhdf5.so")

find_program(DS_QEMU_AARCH64 NAMES qemu-aarch64 qemu-aarch64-static)
if(DS_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR "${DS_QEMU_AARCH64};-L;${DS_AARCH64_SYSROOT}")
endif()
