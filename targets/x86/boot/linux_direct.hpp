#pragma once
// -kernel with no firmware (microvm): the board itself loads a bzImage as
// a boot loader does and enters it through the Linux boot protocol
// (Documentation/arch/x86/boot.rst): the protected-mode kernel at 1 MiB,
// a zero page (struct boot_params) holding the setup header, the e820
// map, the command line and the initrd, and a CPU already in 64-bit mode
// on identity-mapped page tables at startup_64 (load address + 0x200) - or
// for a kernel without XLF_KERNEL_64, in flat 32-bit protected mode at its
// code32_start. What is written where is fixed here, as Firecracker lays
// it out: the GDT at 0x500, the zero page at 0x7000, the page tables at
// 0x9000-0xefff, the command line at 0x20000.
#include "targets/x86/boot/e820.hpp"
#include "targets/x86/boot/linux.hpp"
#include "targets/x86/cpu_state.hpp"

#include <cstdint>
#include <vector>

namespace qf::x86 {

struct guest_blob {
    std::uint64_t addr;
    std::vector<std::byte> bytes;
};

struct linux_direct_boot {
    std::vector<guest_blob> blobs;  // what goes into RAM before the kernel runs (at every reset)
    bool long_mode = true;          // the 64-bit entry (or the 32-bit one)
    std::uint64_t entry = 0;
    std::uint64_t boot_params = 0;  // the zero page, in RSI
    std::uint64_t page_tables = 0;  // CR3 for the 64-bit entry
    std::uint64_t gdt = 0;
};

inline constexpr std::uint64_t linux_direct_gdt = 0x500, linux_direct_zero_page = 0x7000,
                               linux_direct_page_tables = 0x9000;

// The kernel, initrd and command line of c, the board's e820 map: what to
// write and how to enter. A file that is no bzImage, or one too old for
// the 32-bit boot protocol (2.02), is a qf::error.
linux_direct_boot build_linux_direct(linux_boot_config c, const std::vector<e820_entry>& e820);

// The bootstrap processor's state at the entry: after reset_state.
void enter_linux_direct(state& s, const linux_direct_boot& b);

} // namespace qf::x86
