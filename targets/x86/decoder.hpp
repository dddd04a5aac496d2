#pragma once
// The x86 instruction decoder: prefixes, REX, VEX, the one-byte, 0F, 0F38
// and 0F3A maps, ModRM/SIB/displacement and immediates, in 16-, 32- and
// 64-bit modes. It finds an instruction's length and whether its encoding
// is valid; what it does is the translator's business. The opcode tables
// are built at compile time (decoder.cpp).
#include <cstdint>

namespace qf::x86 {

// real16: real and virtual-8086 mode, where the protection instructions
// (LAR, LSL, ARPL, SLDT, ...) do not exist; m16: 16-bit protected mode.
enum class cpu_mode : std::uint8_t { real16, m16, m32, m64 };

enum class decode_status : std::uint8_t {
    ok,
    invalid,   // #UD
    too_long,  // more than 15 bytes: #GP(0)
};

struct insn {
    decode_status status = decode_status::ok;
    std::uint8_t len = 0;
    std::uint8_t map = 0;      // 0: one-byte, 1: 0F, 2: 0F38, 3: 0F3A
    std::uint8_t op = 0;       // the opcode byte within its map
    bool has_modrm = false;
    std::uint8_t modrm = 0;
    bool has_sib = false;
    std::uint8_t sib = 0;
    std::uint8_t disp_size = 0;
    std::int64_t disp = 0;
    std::uint8_t imm_size = 0;   // bytes of the first immediate
    std::uint8_t imm2_size = 0;  // ENTER's second, a far pointer's selector
    std::uint64_t imm = 0;
    std::uint64_t imm2 = 0;
    // Prefixes.
    bool lock = false, rep = false, repne = false, opsize = false, addrsize = false;
    std::int8_t seg = -1;        // segment override, or -1
    std::uint8_t rex = 0;        // 0x40-0x4f when present, else 0
    std::uint8_t mandatory = 0;  // 0, 0x66, 0xf2 or 0xf3: selects an SSE form
    // VEX (map from the VEX prefix, vvvv inverted back, L, W).
    bool vex = false;
    std::uint8_t vex_vvvv = 0, vex_l = 0, vex_w = 0;
    // Sizes, log2 bytes: 1 = 16-bit, 2 = 32-bit, 3 = 64-bit.
    std::uint8_t osize = 2, asize = 2;
    cpu_mode mode = cpu_mode::m32;

    unsigned mod() const { return modrm >> 6; }
    unsigned reg() const { return ((modrm >> 3) & 7) | ((rex & 4) << 1); }
    unsigned rm() const { return (modrm & 7) | ((rex & 1) << 3); }
    unsigned reg_low3() const { return (modrm >> 3) & 7; }
    bool rex_w() const { return (rex & 8) != 0; }
    // The low three opcode bits with REX.B (PUSH r, MOV r, imm, ...).
    unsigned opreg() const { return (op & 7) | ((rex & 1) << 3); }
};

// Bytes come from fetch(ctx, offset) one at a time and only as far as the
// instruction reaches, so a fetch past a page boundary happens only when
// the instruction really crosses it.
using fetch_fn = std::uint8_t (*)(void* ctx, unsigned offset);

insn decode(cpu_mode mode, fetch_fn fetch, void* ctx);
// Convenience for buffers; bytes past `size` read as a fault would
// (decode_status::invalid with len 0).
insn decode(cpu_mode mode, const std::uint8_t* bytes, unsigned size);

} // namespace qf::x86
