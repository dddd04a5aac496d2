#pragma once
// The guest memory layout the CPU fuzz targets share: where the descriptor
// tables, page tables, stacks and code lie, and the tables themselves for
// each CPU mode. The bare-CPU rig (cpu_rig.cpp) writes them straight into
// RAM; the firmware generator (firmware_image.cpp) puts the same bytes in
// its image, for its prologue to copy to RAM before it switches mode.
//
// An input's first three bytes are its configuration (cpu_config::from).
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace qf::fuzz {

enum class cpu_mode : std::uint8_t { real, prot16, prot32, prot32_ring3, prot32_paging, v86, long64, long64_ring3, compat32, count };

struct cpu_config {
    cpu_mode mode = cpu_mode::prot32;
    // CPU: EFLAGS and control-register bits the code starts with.
    bool iflag = false, tflag = false, ac = false, ts = false, em = false, wp_tsd = false;
    unsigned iopl = 0;
    // Engine: QEMU's -accel tcg properties and -d nochain.
    bool one_insn_per_tb = false, nochain = false, small_buffer = false, split_wx = true;
    unsigned max_insns = 512;
    // How the run goes on after an exception: through the guest's IDT into
    // a handler (delivery, task and stack switches), or by resuming one byte
    // on (every byte of the input gets decoded). The firmware target always
    // delivers.
    bool deliver = false;
    // No instruction hook: the generated code is what a normal run gets,
    // and the run is bounded by exceptions and a wall-clock limit instead
    // (an outcome that limit ends is not compared).
    bool unhooked = false;
    bool watchpoints = false;

    static cpu_config from(std::uint8_t mode, std::uint8_t cpu, std::uint8_t engine);
    std::string describe() const;
    bool long_mode() const { return mode == cpu_mode::long64 || mode == cpu_mode::long64_ring3 || mode == cpu_mode::compat32; }
    bool sixteen_bit() const { return mode == cpu_mode::real || mode == cpu_mode::v86 || mode == cpu_mode::prot16; }
};

namespace layout {
// Physical addresses. Tables below the stacks, the code at 64 KiB, the
// data the registers point at above it.
inline constexpr std::uint64_t gdt = 0x800, ldt = 0x900, idt = 0x1000, tss = 0x2000;
inline constexpr std::uint64_t pd32 = 0x3000, pt32 = 0x4000, pml4 = 0x5000, pdpt = 0x6000, pd64 = 0x7000, pt64 = 0x8000;
inline constexpr std::uint64_t stack3_top = 0xc000, stack0_top = 0xf000;
inline constexpr std::uint64_t code = 0x10000;
inline constexpr std::size_t max_code = 4096;
inline constexpr std::uint16_t gdt_limit = 0x9f;
// Register values the code starts with: addresses in the data area
// (relative to DS in the 16-bit modes).
std::uint64_t initial_gpr(unsigned reg, bool sixteen_bit);
} // namespace layout

// Selectors of the GDT every mode shares.
namespace sel {
inline constexpr std::uint16_t code32 = 0x08, data32 = 0x10, code32_r3 = 0x1b, data32_r3 = 0x23, code64_r3 = 0x2b,
                               code64 = 0x30, data64 = 0x38, code16 = 0x40, data16 = 0x48, tss = 0x50, ldt = 0x60;
}

// Where vector (or MSR entry point) n leads: a place in the code, spread
// over it, so that a handler runs more of the input.
std::uint64_t handler_address(unsigned n, std::size_t code_len);

// Writes the IVT, GDT, LDT, IDT, TSS and both sets of page tables into
// mem (at least 64 KiB, the physical addresses from 0). tss_busy: the
// TSS descriptor as TR holds it (the rig sets TR itself), else available
// for the code's own LTR (the firmware prologue's).
void write_tables(std::span<std::uint8_t> mem, const cpu_config& cfg, std::size_t code_len, bool tss_busy);

// The same hash the rigs use for device answers and register patterns.
inline std::uint64_t mix(std::uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

} // namespace qf::fuzz
