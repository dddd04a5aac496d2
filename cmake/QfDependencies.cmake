# Every dependency is a Debian 12 package (scripts/bootstrap installs them);
# a missing one is a configure error that names the package.
find_package(Threads REQUIRED)

find_path(QF_HANA_INCLUDE boost/hana.hpp)
if(NOT QF_HANA_INCLUDE)
  message(FATAL_ERROR "Boost.Hana not found: run scripts/bootstrap (Debian package libboost-dev)")
endif()
add_library(qf_hana INTERFACE)
add_library(qf::hana ALIAS qf_hana)
target_include_directories(qf_hana SYSTEM INTERFACE ${QF_HANA_INCLUDE})

if(QF_BUILD_TESTS)
  find_package(Catch2 2 REQUIRED)   # Debian package catch2
endif()
if(QF_BUILD_BENCH)
  find_package(benchmark REQUIRED)  # Debian package libbenchmark-dev
endif()
find_program(QF_NASM nasm)
if(NOT QF_NASM)
  message(FATAL_ERROR "nasm not found: run scripts/bootstrap (Debian package nasm)")
endif()
