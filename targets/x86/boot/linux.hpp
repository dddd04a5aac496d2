#pragma once
// -kernel with a Linux bzImage on pc, as QEMU 7.2's x86_load_linux
// (hw/i386/x86.c) does it: the real-mode setup (with its header filled in
// as a boot loader must, Documentation/arch/x86/boot.rst), the protected-
// mode kernel, the initrd and the command line go into fw_cfg with their
// load addresses, and QEMU's option ROM linuxboot_dma.bin (package
// qemu-system-data), run by SeaBIOS as the first boot device, copies them
// into place and jumps to the setup code. The guest sees what it sees
// under QEMU: the same header fields, addresses and initrd placement.
#include "qf/devices/fw_cfg.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace qf::x86 {

inline constexpr std::string_view linuxboot_rom_name = "linuxboot_dma.bin";
inline constexpr std::string_view linuxboot_boot_device = "/rom@genroms/linuxboot_dma.bin";

// The bzImage signature "HdrS" at 0x202: what x86_load_linux tests first.
bool is_linux_kernel(std::span<const std::byte> file);

struct linux_boot_config {
    std::string kernel_path;            // for messages
    std::span<const std::byte> kernel;  // the file's bytes
    std::string append;                 // -append ("" without one)
    std::string initrd_path;            // "" without -initrd
    std::vector<std::byte> initrd;      // its bytes
    std::uint64_t below_4g_mem_size = 0;
    std::uint32_t acpi_data_size = 0x20000 + 0x8000;  // pc's pcmc->acpi_data_size
};

// What goes into fw_cfg.
struct linux_boot_image {
    std::uint32_t real_addr = 0, cmdline_addr = 0, prot_addr = 0;
    bool has_initrd = false;
    std::uint32_t initrd_addr = 0;
    std::vector<std::byte> setup;    // FW_CFG_SETUP_DATA: the setup sectors, header filled in
    std::vector<std::byte> kernel;   // FW_CFG_KERNEL_DATA: the protected-mode part
    std::vector<std::byte> initrd;   // FW_CFG_INITRD_DATA
    std::string cmdline;             // FW_CFG_CMDLINE_DATA (a string with its NUL)
};

// The image for a kernel with the Linux boot header (or none: QEMU then
// takes it for an ancient one). Bad kernels and initrds are qf::error
// worded as QEMU's messages.
linux_boot_image build_linux_boot(linux_boot_config c);

// build_linux_boot, then QEMU's FW_CFG_CMDLINE_*, FW_CFG_INITRD_*,
// FW_CFG_KERNEL_* and FW_CFG_SETUP_* entries.
void load_linux(dev::fw_cfg_io& fw, linux_boot_config c);

} // namespace qf::x86
