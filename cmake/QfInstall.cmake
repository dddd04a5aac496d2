# cmake --install: the headers, the static libraries with CMake package
# files (find_package(qforge CONFIG): qforge::core, qforge::tcg,
# qforge::kvm, qforge::x86), a pkg-config file, and the system emulator
# with its firmware. cpack -G DEB packs the same tree for Debian 12.
include(CMakePackageConfigHelpers)

set(QF_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/qforge)
foreach(lib core tcg kvm x86)
  set_target_properties(qforge_${lib} PROPERTIES EXPORT_NAME ${lib})
endforeach()
install(TARGETS qforge_core qforge_tcg qforge_kvm qforge_x86 EXPORT qforgeTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY include/qf DESTINATION ${QF_INSTALL_INCLUDEDIR})
install(DIRECTORY targets machines DESTINATION ${QF_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.hpp")
install(EXPORT qforgeTargets NAMESPACE qforge:: DESTINATION ${QF_INSTALL_CMAKEDIR})
configure_package_config_file(cmake/qforgeConfig.cmake.in ${CMAKE_BINARY_DIR}/qforgeConfig.cmake
                              INSTALL_DESTINATION ${QF_INSTALL_CMAKEDIR})
write_basic_package_version_file(${CMAKE_BINARY_DIR}/qforgeConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/qforgeConfig.cmake ${CMAKE_BINARY_DIR}/qforgeConfigVersion.cmake
        DESTINATION ${QF_INSTALL_CMAKEDIR})
configure_file(cmake/qforge.pc.in ${CMAKE_BINARY_DIR}/qforge.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/qforge.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# The emulator finds its firmware in ../share/qforge beside its binary, as
# QEMU finds pc-bios; SeaBIOS comes from Debian's seabios package.
install(TARGETS qforge-system-x86_64 qforge-fuzz RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${CMAKE_BINARY_DIR}/firmware/qforge-demo.bin DESTINATION ${CMAKE_INSTALL_DATADIR}/qforge)

set(CPACK_PACKAGE_NAME qforge)
set(CPACK_PACKAGE_VENDOR "qforge")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "x86 PC emulators as statically wired C++ types (TCG and KVM)")
set(CPACK_PACKAGE_CONTACT "qforge maintainers <qforge@localhost>")
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
# The binary's own libraries (from dpkg-shlibdeps), and what building
# against the headers and libraries needs.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libboost-dev, libzydis-dev, seabios")
set(CPACK_GENERATOR DEB)
include(CPack)
