# Every dependency is a Debian 12 package (scripts/bootstrap installs them);
# a missing one is a configure error that names the package.
find_package(Threads REQUIRED)
find_package(nlohmann_json 3 REQUIRED)  # Debian package nlohmann-json3-dev: QMP

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

# The JIT emitter (header-only) and the disassembler behind -d out_asm/in_asm.
find_path(QF_XBYAK_INCLUDE xbyak/xbyak.h)
if(NOT QF_XBYAK_INCLUDE)
  message(FATAL_ERROR "Xbyak not found: run scripts/bootstrap (Debian package libxbyak-dev)")
endif()
add_library(qf_xbyak INTERFACE)
add_library(qf::xbyak ALIAS qf_xbyak)
target_include_directories(qf_xbyak SYSTEM INTERFACE ${QF_XBYAK_INCLUDE})

find_library(QF_ZYDIS_LIB Zydis)
find_path(QF_ZYDIS_INCLUDE Zydis/Zydis.h)
if(NOT QF_ZYDIS_LIB OR NOT QF_ZYDIS_INCLUDE)
  message(FATAL_ERROR "Zydis not found: run scripts/bootstrap (Debian package libzydis-dev)")
endif()
add_library(qf_zydis INTERFACE)
add_library(qf::zydis ALIAS qf_zydis)
target_include_directories(qf_zydis SYSTEM INTERFACE ${QF_ZYDIS_INCLUDE})
target_link_libraries(qf_zydis INTERFACE ${QF_ZYDIS_LIB})
