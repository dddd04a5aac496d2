#pragma once
// -kernel with a multiboot (version 1) image, as QEMU 7.2's load_multiboot
// (hw/i386/multiboot.c, called from x86_load_linux in hw/i386/x86.c) does
// it on pc: the kernel (an ELF through QEMU's load_elf, or the a.out kludge
// from the header's address fields), the -initrd modules and every string
// go into one blob, FW_CFG_KERNEL_DATA, to be copied to the load address;
// the multiboot information structure goes into FW_CFG_INITRD_DATA. The
// option ROM multiboot_dma.bin (QEMU's pc-bios/optionrom/multiboot_dma.S)
// copies both into guest memory, fills in what only the firmware knows
// (mem_lower from INT 12h, the e820 map at mmap_addr and its length,
// mem_upper from that map) and jumps to the entry point with EAX=0x2BADB002
// and EBX=the structure's address.
//
// What the board does around load_multiboot, in QEMU's order:
//   - read the -kernel file (QEMU's "qemu: could not open kernel file",
//     "qemu: could not load kernel" errors are the caller's) and call
//     load_multiboot first: it answers false for a Linux bzImage ("HdrS" at
//     0x202, which x86_load_linux tests before multiboot) and for a file
//     with no multiboot header, and the caller goes on with the Linux boot
//     protocol;
//   - when it answers true, add the option ROM's bytes as fw_cfg file
//     "genroms/multiboot_dma.bin" (multiboot_rom_name; QEMU loads it from
//     its data directory, /usr/share/qemu on Debian; it uses the DMA
//     flavour because pc's fw_cfg has DMA) and put multiboot_boot_device
//     first in "bootorder" (QEMU adds it with bootindex 0, so SeaBIOS boots
//     it before any disk). The numbered entries added here are no others'
//     on pc, so the order relative to add_pc_entries does not matter; the
//     file goes in by name like the rest.
//
// Where this departs from QEMU (each where QEMU would read out of bounds,
// crash, hang, or leave the bytes uninitialised):
//   - bytes of the 8 KiB header window past the end of a short file read
//     as zero (QEMU's stack buffer holds whatever was there);
//   - gaps in the blob (between ELF segments, after each command line and
//     module up to the next page) are zero (QEMU's g_malloc/g_realloc
//     leave them uninitialised);
//   - an ELF program header whose file range runs past the end of the
//     file through 32-bit wrap-around that QEMU's check misses, or a
//     loaded one whose p_filesz exceeds a nonzero p_memsz where QEMU gets
//     through rom_copy (it then hangs at reset, zero-filling 2^64 bytes),
//     is "Error while loading elf kernel";
//   - where QEMU's rom_copy would memcpy with an underflowed length (an
//     ELF whose segments, cut to 32 bits, straddle the copied range, or
//     reach the BIOS ROM), "Error while fetching elf kernel from rom";
//   - a blob that would pass 4 GiB (QEMU's 32-bit size wraps, and it then
//     writes past its buffer): "kernel does not fit in address space", or
//     for a module "Error loading file 'NAME'";
//   - the ELF symbol table is not read (QEMU keeps it for the
//     disassembler only), and the ELF segments are not also written into
//     guest RAM at reset as QEMU's ROM blobs are (the option ROM copies the
//     same bytes there before the kernel runs);
//   - QEMU's check that ROM blobs do not overlap runs when the machine is
//     complete; here it runs at the end of load_multiboot, over the ELF
//     segments and the board's ROMs given in multiboot_config::roms.
#include "qf/devices/fw_cfg.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace qf::x86 {

// The option ROM, as a "genroms/" file, and its boot device path.
inline constexpr std::string_view multiboot_rom_name = "multiboot_dma.bin";
inline constexpr std::string_view multiboot_boot_device = "/rom@genroms/multiboot_dma.bin";

// Where the ROM writes the e820 map and the information structure
// (QEMU's ADDR_E820_MAP and ADDR_MBI), and the structure's size.
inline constexpr std::uint32_t multiboot_mmap_addr = 0x9000, multiboot_info_addr = 0x9500,
                               multiboot_info_size = 88;

// A ROM blob of the board's at a fixed guest address (QEMU's
// rom_add_file_fixed: pc's BIOS, named as given to -bios or
// "bios-256k.bin", its bytes at 4 GiB minus their size). QEMU copies an
// ELF kernel back out of the list of such blobs, and refuses overlapping
// ones.
struct multiboot_fixed_rom {
    std::string name;
    std::uint64_t addr = 0;
    std::span<const std::byte> data;
};

struct multiboot_config {
    std::string kernel_path;             // -kernel as given: ROM names, and the start of the command line
    std::span<const std::byte> kernel;   // the file's bytes
    std::string append;                  // -append ("" without one)
    std::optional<std::string> initrd;   // -initrd as given: "FILE[ ARGS][,FILE[ ARGS]]...", ",," a comma
    std::vector<multiboot_fixed_rom> roms;
};

// What goes into fw_cfg.
struct multiboot_image {
    std::uint32_t entry = 0;        // FW_CFG_KERNEL_ENTRY
    std::uint32_t load_addr = 0;    // FW_CFG_KERNEL_ADDR
    std::vector<std::byte> data;    // FW_CFG_KERNEL_DATA (FW_CFG_KERNEL_SIZE is its size)
    std::array<std::byte, multiboot_info_size> info{};  // FW_CFG_INITRD_DATA, for FW_CFG_INITRD_ADDR
};

// The image, or nullopt when the kernel is a Linux bzImage or has no
// multiboot header. Bad images and modules are qf::error worded as QEMU's;
// a header asking for a video mode gets QEMU's warning on stderr.
std::optional<multiboot_image> build_multiboot(const multiboot_config& c);

// build_multiboot, then FW_CFG_KERNEL_ENTRY/ADDR/SIZE/DATA and
// FW_CFG_INITRD_ADDR/SIZE/DATA as QEMU adds them. False (nothing added)
// when the kernel is not a multiboot image.
bool load_multiboot(dev::fw_cfg_io& fw, const multiboot_config& c);

} // namespace qf::x86
