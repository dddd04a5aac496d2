#include "targets/x86/decoder.hpp"

#include <array>

namespace qf::x86 {

namespace {

// Opcode attributes.
namespace at {
inline constexpr std::uint16_t m = 1u << 0;         // ModRM follows
inline constexpr std::uint16_t inv = 1u << 1;       // undefined
inline constexpr std::uint16_t i64 = 1u << 2;       // undefined in 64-bit mode
inline constexpr std::uint16_t d64 = 1u << 3;       // 64-bit default operand size in 64-bit mode
inline constexpr std::uint16_t f64 = 1u << 4;       // 64-bit operand size in 64-bit mode, 66 ignored
inline constexpr std::uint16_t pfx = 1u << 5;       // a prefix
inline constexpr std::uint16_t memonly = 1u << 6;   // ModRM must name memory
inline constexpr std::uint16_t lockable = 1u << 7;  // LOCK allowed with a memory operand
inline constexpr std::uint16_t grp = 1u << 8;       // validity by ModRM (group_valid)
inline constexpr std::uint16_t mod3 = 1u << 9;      // ModRM read as a register form (MOV CR/DR)
} // namespace at

enum imm_kind : std::uint8_t {
    i_none,
    i_b,     // imm8
    i_w,     // imm16
    i_z,     // 16 or 32 by operand size
    i_v,     // 16, 32 or 64 by operand size
    i_a,     // moffs: by address size
    i_p,     // far pointer: 16:16 or 16:32
    i_wb,    // ENTER: imm16, imm8
    i_grp3,  // F6/F7: /0 and /1 take an immediate (b or z)
};

struct attr {
    std::uint16_t f = 0;
    imm_kind imm = i_none;
};

using table = std::array<attr, 256>;

constexpr table one_byte_map() {
    table t{};
    using namespace at;
    for (unsigned op = 0; op < 0x40; ++op) {
        const unsigned lo = op & 7;
        if (lo < 4) t[op] = {static_cast<std::uint16_t>(m | (lo < 2 && (op & 0xf8) != 0x38 ? lockable : 0)), i_none};
        else if (lo == 4) t[op] = {0, i_b};
        else if (lo == 5) t[op] = {0, i_z};
    }
    for (unsigned op : {0x06, 0x07, 0x0e, 0x16, 0x17, 0x1e, 0x1f, 0x27, 0x2f, 0x37, 0x3f}) t[op] = {i64, i_none};
    t[0x0f] = {0, i_none};  // escape, handled by the decoder
    for (unsigned op : {0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3}) t[op] = {pfx, i_none};
    for (unsigned op = 0x40; op < 0x50; ++op) t[op] = {0, i_none};  // INC/DEC, or REX in 64-bit mode
    for (unsigned op = 0x50; op < 0x60; ++op) t[op] = {d64, i_none};
    t[0x60] = {i64, i_none};
    t[0x61] = {i64, i_none};
    t[0x62] = {static_cast<std::uint16_t>(i64 | m | memonly), i_none};  // BOUND (EVEX in 64-bit mode)
    t[0x63] = {m, i_none};                                             // ARPL / MOVSXD
    t[0x68] = {d64, i_z};
    t[0x69] = {m, i_z};
    t[0x6a] = {d64, i_b};
    t[0x6b] = {m, i_b};
    for (unsigned op = 0x70; op < 0x80; ++op) t[op] = {f64, i_b};
    t[0x80] = {static_cast<std::uint16_t>(m | lockable), i_b};
    t[0x81] = {static_cast<std::uint16_t>(m | lockable), i_z};
    t[0x82] = {static_cast<std::uint16_t>(m | lockable | i64), i_b};
    t[0x83] = {static_cast<std::uint16_t>(m | lockable), i_b};
    for (unsigned op = 0x84; op < 0x8c; ++op) t[op] = {static_cast<std::uint16_t>(m | (op == 0x86 || op == 0x87 ? lockable : 0)), i_none};
    t[0x8c] = {static_cast<std::uint16_t>(m | grp), i_none};
    t[0x8d] = {static_cast<std::uint16_t>(m | memonly), i_none};
    t[0x8e] = {static_cast<std::uint16_t>(m | grp), i_none};
    t[0x8f] = {static_cast<std::uint16_t>(m | d64 | grp), i_none};
    t[0x9a] = {i64, i_p};
    t[0x9c] = {d64, i_none};
    t[0x9d] = {d64, i_none};
    for (unsigned op = 0xa0; op < 0xa4; ++op) t[op] = {0, i_a};
    t[0xa8] = {0, i_b};
    t[0xa9] = {0, i_z};
    for (unsigned op = 0xb0; op < 0xb8; ++op) t[op] = {0, i_b};
    for (unsigned op = 0xb8; op < 0xc0; ++op) t[op] = {0, i_v};
    t[0xc0] = {m, i_b};
    t[0xc1] = {m, i_b};
    t[0xc2] = {f64, i_w};
    t[0xc3] = {f64, i_none};
    t[0xc4] = {static_cast<std::uint16_t>(i64 | m | memonly), i_none};  // LES (VEX)
    t[0xc5] = {static_cast<std::uint16_t>(i64 | m | memonly), i_none};  // LDS (VEX)
    t[0xc6] = {static_cast<std::uint16_t>(m | grp), i_b};
    t[0xc7] = {static_cast<std::uint16_t>(m | grp), i_z};
    t[0xc8] = {d64, i_wb};
    t[0xc9] = {d64, i_none};
    t[0xca] = {0, i_w};
    t[0xcd] = {0, i_b};
    t[0xce] = {i64, i_none};
    for (unsigned op = 0xd0; op < 0xd4; ++op) t[op] = {m, i_none};
    t[0xd4] = {i64, i_b};
    t[0xd5] = {i64, i_b};
    t[0xd6] = {i64, i_none};
    for (unsigned op = 0xd8; op < 0xe0; ++op) t[op] = {static_cast<std::uint16_t>(m | grp), i_none};
    for (unsigned op = 0xe0; op < 0xe4; ++op) t[op] = {f64, i_b};
    for (unsigned op = 0xe4; op < 0xe8; ++op) t[op] = {0, i_b};
    t[0xe8] = {f64, i_z};
    t[0xe9] = {f64, i_z};
    t[0xea] = {i64, i_p};
    t[0xeb] = {f64, i_b};
    t[0xf6] = {static_cast<std::uint16_t>(m | grp | lockable), i_grp3};
    t[0xf7] = {static_cast<std::uint16_t>(m | grp | lockable), i_grp3};
    t[0xfe] = {static_cast<std::uint16_t>(m | grp | lockable), i_none};
    t[0xff] = {static_cast<std::uint16_t>(m | grp | lockable), i_none};
    return t;
}

constexpr table two_byte_map() {
    table t{};
    using namespace at;
    for (auto& a : t) a = {m, i_none};  // most of the map is ModRM forms
    t[0x00] = {static_cast<std::uint16_t>(m | grp), i_none};
    t[0x01] = {static_cast<std::uint16_t>(m | grp), i_none};
    for (unsigned op : {0x04, 0x0a, 0x0c, 0x24, 0x25, 0x26, 0x27, 0x36, 0x39, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f, 0x7a, 0x7b})
        t[op] = {inv, i_none};
    for (unsigned op : {0x05, 0x06, 0x07, 0x08, 0x09, 0x0b, 0x0e, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x37, 0x77, 0xa2,
                        0xaa})
        t[op] = {0, i_none};
    t[0x0f] = {static_cast<std::uint16_t>(m | inv), i_b};  // 3DNow!: not on our CPUs
    for (unsigned op = 0x20; op < 0x24; ++op) t[op] = {static_cast<std::uint16_t>(m | mod3 | grp), i_none};
    t[0x1a] = {static_cast<std::uint16_t>(m | grp), i_none};
    t[0x1b] = {static_cast<std::uint16_t>(m | grp), i_none};
    t[0xa6] = {static_cast<std::uint16_t>(m | grp), i_none};  // VIA PadLock
    t[0xa7] = {static_cast<std::uint16_t>(m | grp), i_none};
    t[0x38] = {0, i_none};  // escapes
    t[0x3a] = {0, i_none};
    t[0x70] = {m, i_b};
    for (unsigned op = 0x71; op < 0x74; ++op) t[op] = {static_cast<std::uint16_t>(m | grp), i_b};
    for (unsigned op = 0x80; op < 0x90; ++op) t[op] = {f64, i_z};
    t[0xa0] = {d64, i_none};
    t[0xa1] = {d64, i_none};
    t[0xa8] = {d64, i_none};
    t[0xa9] = {d64, i_none};
    t[0xa4] = {m, i_b};
    t[0xac] = {m, i_b};
    for (unsigned op : {0xab, 0xb3, 0xbb, 0xb0, 0xb1, 0xc0, 0xc1}) t[op] = {static_cast<std::uint16_t>(m | lockable), i_none};
    t[0xae] = {static_cast<std::uint16_t>(m | grp), i_none};
    for (unsigned op : {0xb2, 0xb4, 0xb5, 0xc3}) t[op] = {static_cast<std::uint16_t>(m | memonly), i_none};
    t[0xba] = {static_cast<std::uint16_t>(m | grp | lockable), i_b};
    t[0xc2] = {m, i_b};
    t[0xc4] = {m, i_b};
    t[0xc5] = {m, i_b};
    t[0xc6] = {m, i_b};
    t[0xc7] = {static_cast<std::uint16_t>(m | grp | lockable), i_none};
    for (unsigned op = 0xc8; op < 0xd0; ++op) t[op] = {0, i_none};
    return t;
}

constexpr table three_byte_38() {
    table t{};
    for (auto& a : t) a = {at::m, i_none};
    return t;
}
constexpr table three_byte_3a() {
    table t{};
    for (auto& a : t) a = {at::m, i_b};
    return t;
}

// Which mandatory prefixes give an opcode of the 0F, 0F38 and 0F3A maps a
// meaning (SDM vol. 2, appendix A). Bits: none, 66, F3, F2; `any` marks
// the non-SSE opcodes where 66/F2/F3 are ordinary prefixes.
namespace pf {
inline constexpr std::uint8_t none = 1, p66 = 2, f3 = 4, f2 = 8, all4 = 15, np66 = 3, any = 0x80;
}
using prefix_table = std::array<std::uint8_t, 256>;

constexpr prefix_table map1_prefixes() {
    prefix_table t{};
    using namespace pf;
    auto set = [&](unsigned lo, unsigned hi, std::uint8_t v) {
        for (unsigned op = lo; op <= hi; ++op) t[op] = v;
    };
    set(0x00, 0x0f, any);
    set(0x18, 0x1f, any);
    set(0x20, 0x23, any);
    set(0x30, 0x37, any);
    set(0x40, 0x4f, any);
    set(0x80, 0xbf, any);
    set(0xc0, 0xc1, any);
    set(0xc7, 0xcf, any);
    t[0xff] = any;
    set(0x10, 0x11, all4);
    t[0x12] = all4;
    t[0x13] = np66;
    set(0x14, 0x15, np66);
    t[0x16] = none | p66 | f3;
    t[0x17] = np66;
    set(0x28, 0x29, np66);
    t[0x2a] = all4;
    t[0x2b] = all4;  // F3/F2: AMD's MOVNTSS/MOVNTSD
    set(0x2c, 0x2d, all4);
    set(0x2e, 0x2f, np66);
    t[0x50] = np66;
    t[0x51] = all4;
    set(0x52, 0x53, none | f3);
    set(0x54, 0x57, np66);
    set(0x58, 0x5a, all4);
    t[0x5b] = none | p66 | f3;
    set(0x5c, 0x5f, all4);
    set(0x60, 0x6b, np66);
    set(0x6c, 0x6d, p66);
    t[0x6e] = np66;
    t[0x6f] = none | p66 | f3;
    t[0x70] = all4;
    set(0x71, 0x76, np66);
    t[0x77] = none;
    t[0x37] = none;  // GETSEC
    t[0x78] = none | p66 | f2;
    t[0x79] = none | p66 | f2;
    set(0x7c, 0x7d, p66 | f2);
    t[0x7e] = none | p66 | f3;
    t[0x7f] = none | p66 | f3;
    t[0xb8] = f3;  // POPCNT; JMPE (none) is IA-64's
    t[0xc2] = all4;
    t[0xc3] = none;
    set(0xc4, 0xc6, np66);
    t[0xd0] = p66 | f2;
    set(0xd1, 0xd5, np66);
    t[0xd6] = p66 | f3 | f2;
    set(0xd7, 0xe5, np66);
    t[0xe6] = p66 | f3 | f2;
    set(0xe7, 0xef, np66);
    t[0xf0] = f2;
    set(0xf1, 0xfe, np66);
    return t;
}

constexpr prefix_table map2_prefixes() {
    prefix_table t{};
    using namespace pf;
    auto set = [&](unsigned lo, unsigned hi, std::uint8_t v) {
        for (unsigned op = lo; op <= hi; ++op) t[op] = v;
    };
    set(0x00, 0x0b, np66);
    set(0x1c, 0x1e, np66);
    t[0x10] = p66;
    set(0x14, 0x15, p66);
    t[0x17] = p66;
    set(0x20, 0x25, p66);
    set(0x28, 0x2b, p66);
    set(0x30, 0x35, p66);
    set(0x37, 0x41, p66);
    set(0x80, 0x82, p66);
    set(0xc8, 0xcd, none);
    t[0xcf] = p66;
    set(0xdb, 0xdf, p66);
    t[0xd8] = f3;  // Key Locker: AESENCWIDE and friends, AESENC128KL...
    set(0xdc, 0xdf, p66 | f3);
    set(0xfa, 0xfb, f3);
    t[0xf0] = none | p66 | f2;  // MOVBE, CRC32
    t[0xf1] = none | p66 | f2;
    t[0xf5] = p66;              // WRUSS
    t[0xf6] = none | p66 | f3;  // WRSS, ADCX, ADOX
    t[0xf8] = p66 | f3 | f2;    // MOVDIR64B, ENQCMDS, ENQCMD
    t[0xf9] = none;             // MOVDIRI
    return t;
}

constexpr prefix_table map3_prefixes() {
    prefix_table t{};
    using namespace pf;
    auto set = [&](unsigned lo, unsigned hi, std::uint8_t v) {
        for (unsigned op = lo; op <= hi; ++op) t[op] = v;
    };
    set(0x08, 0x0e, p66);
    t[0x0f] = np66;
    set(0x14, 0x17, p66);
    set(0x20, 0x22, p66);
    set(0x40, 0x42, p66);
    t[0x44] = p66;
    set(0x60, 0x63, p66);
    t[0xcc] = none;
    set(0xce, 0xcf, p66);
    t[0xdf] = p66;
    return t;
}

constexpr prefix_table map1_pfx = map1_prefixes();
constexpr prefix_table map2_pfx = map2_prefixes();
constexpr prefix_table map3_pfx = map3_prefixes();

std::uint8_t prefix_bit(const insn& d) {
    switch (d.mandatory) {
    case 0x66: return pf::p66;
    case 0xf3: return pf::f3;
    case 0xf2: return pf::f2;
    default: return pf::none;
    }
}

// SSE forms whose ModRM must (or must not) name memory.
bool sse_form_valid(const insn& d) {
    const bool reg = d.mod() == 3;
    const std::uint8_t p = d.mandatory;
    if (d.map == 1) {
        switch (d.op) {
        case 0x12: return !(p == 0x66 && reg);
        case 0x13: case 0x17: case 0x2b: case 0xc3: case 0xe7: case 0xf0: return !reg;
        case 0x16: return !(p == 0x66 && reg);
        case 0x50: case 0xc5: case 0xd7: case 0xf7: return reg;
        case 0xd6: return p == 0x66 || reg;
        case 0x78: return p == 0 || (reg && (p == 0xf2 || d.reg_low3() == 0));  // EXTRQ/INSERTQ imm
        case 0x79: return p == 0 || reg;
        default: return true;
        }
    }
    if (d.map == 2) {
        switch (d.op) {
        case 0x2a: case 0x80: case 0x81: case 0x82: case 0xf5: case 0xf8: case 0xf9: return !reg;
        case 0xf0: case 0xf1: return p == 0xf2 || !reg;  // MOVBE takes memory
        case 0xf6: return p != 0 || !reg;                // WRSS takes memory
        // Key Locker (F3): AESENCWIDE & co. /0-/3 and AES*KL take memory, LOADIWKEY registers.
        case 0xd8: return p != 0xf3 || (!reg && d.reg_low3() <= 3);
        case 0xdd: case 0xde: case 0xdf: return p != 0xf3 || !reg;
        case 0xfa: case 0xfb: return reg;
        default: return true;
        }
    }
    return true;
}

constexpr table map0 = one_byte_map();
constexpr table map1 = two_byte_map();
constexpr table map2 = three_byte_38();
constexpr table map3 = three_byte_3a();

// The x87 escapes D8-DF: undefined memory forms and register forms.
bool x87_valid(const insn& d) {
    const unsigned r = d.reg_low3();
    if (d.mod() != 3) {
        switch (d.op) {
        case 0xd9: return r != 1;
        case 0xdb: return r != 4 && r != 6;
        case 0xdd: return r != 5;
        default: return true;
        }
    }
    const std::uint8_t m = d.modrm;
    switch (d.op) {
    case 0xd9:
        if (m >= 0xd1 && m <= 0xd7) return false;
        return !(m == 0xe2 || m == 0xe3 || m == 0xe6 || m == 0xe7 || m == 0xef);
    case 0xda: return m < 0xe0 || m == 0xe9;
    case 0xdb: return m < 0xe5 || (m >= 0xe8 && m < 0xf8);  // E0/E1/E4: 8087/287 leftovers, no-ops
    case 0xdd: return m < 0xf0;                             // C8-CF: FXCH's alias
    case 0xde: return !(m == 0xd8 || (m >= 0xda && m <= 0xdf));
    case 0xdf: return m < 0xe1 || (m >= 0xe8 && m < 0xf8);  // C0-DF: FFREEP and aliases
    default: return true;
    }
}

// The VEX-encoded BMI1/BMI2 instructions (VEX.L 0): ANDN, BLSR/BLSMSK/BLSI,
// BZHI, PEXT, PDEP, MULX, BEXTR, SHLX, SARX, SHRX (0F38) and RORX (0F3A).
bool bmi_valid(const insn& d) {
    if (d.vex_l) return false;
    const std::uint8_t pp = d.mandatory;
    if (d.map == 3) return d.op == 0xf0 && pp == 0xf2 && d.vex_vvvv == 0;  // RORX: no vvvv operand
    if (d.map != 2) return false;
    switch (d.op) {
    case 0xf2: return pp == 0;
    case 0xf3: return pp == 0 && d.reg_low3() >= 1 && d.reg_low3() <= 3;
    case 0xf5: return pp != 0x66;
    case 0xf6: return pp == 0xf2;
    case 0xf7: return true;
    default: return false;
    }
}

// 0F 01 with a register-form ModRM: each encoding is its own instruction.
bool group7_reg_valid(const insn& d) {
    const std::uint8_t m = d.modrm;
    const bool smsw_lmsw = (m >= 0xe0 && m <= 0xe7) || (m >= 0xf0 && m <= 0xf7);  // prefixes are ignored
    const bool svm = m >= 0xd8 && m <= 0xdf;
    const bool real = d.mode == cpu_mode::real16;
    if (svm) return !real || m == 0xd9;  // VMMCALL works anywhere
    // VMX and ENCLU need protected mode; so do a few forms Zydis ties to it.
    if (real && (m == 0xc0 || (m >= 0xc2 && m <= 0xc4) || m == 0xd7 || (d.mandatory == 0x66 && (m == 0xe8 || m == 0xd6)))) return false;
    if (d.mandatory == 0x66 && m == 0xcc) return true;
    if (d.mandatory == 0xf2 && m == 0xff) return true;
    switch (d.mandatory) {
    case 0xf3: return smsw_lmsw || m == 0xe8 || m == 0xea || m == 0xec || m == 0xed || m == 0xf9 || m == 0xfa || m == 0xfc || m == 0xfd;
    case 0xf2: return smsw_lmsw || m == 0xe8 || m == 0xf9 || m == 0xfc || m == 0xfe;
    default: break;
    }
    if (d.mandatory == 0x66 && (m == 0xd0 || m == 0xd1 || m == 0xdd || m == 0xde || m == 0xce || (real && (m == 0xca || m == 0xd5))))
        return false;
    if (smsw_lmsw) return true;
    switch (m) {
    case 0xc0: case 0xc1: case 0xc2: case 0xc3: case 0xc4: case 0xc5: case 0xc8: case 0xc9: case 0xca: case 0xcb:
    case 0xd0: case 0xd1: case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xe8: case 0xee: case 0xef:
    case 0xf9: case 0xfa: case 0xfb: case 0xfc: case 0xfd: case 0xfe: case 0xff: return true;
    case 0xcf: return d.mode != cpu_mode::real16;  // ENCLS
    case 0xf8: return d.mode == cpu_mode::m64;      // SWAPGS
    default: return false;
    }
}

// Validity that depends on ModRM (and prefixes) within a group.
bool group_valid(const insn& d) {
    const unsigned r = d.reg_low3(), mod = d.mod();
    if (d.map == 0) {
        switch (d.op) {
        case 0x8f: return r == 0;
        case 0x8c: return r <= 5;
        case 0x8e: return r <= 5 && r != 1;  // no MOV to CS
        case 0xc6: return r == 0 || d.modrm == 0xf8;  // MOV, XABORT
        case 0xc7: return r == 0 || d.modrm == 0xf8;  // MOV, XBEGIN
        case 0xfe: return r <= 1;
        case 0xff: return r != 7 && !((r == 3 || r == 5) && mod == 3);
        case 0xd8: case 0xd9: case 0xda: case 0xdb: case 0xdc: case 0xdd: case 0xde: case 0xdf: return x87_valid(d);
        default: return true;  // F6/F7 (/1 is TEST's alias)
        }
    }
    if (d.map == 1) {
        switch (d.op) {
        case 0x00: return r <= 5;
        case 0x01:
            if (mod != 3) return r != 5 || d.rep;
            return group7_reg_valid(d);
        case 0x71:
        case 0x72: return mod == 3 && (r == 2 || r == 4 || r == 6);
        case 0x73: return mod == 3 && (r == 2 || r == 6 || ((r == 3 || r == 7) && d.mandatory == 0x66));
        case 0xae:
            switch (d.mandatory) {
            case 0: return mod != 3 || r >= 5;                // FXSAVE...CLFLUSH; fences
            case 0x66: return r == 6 || (r == 7 && mod != 3);  // CLWB/TPAUSE, CLFLUSHOPT
            case 0xf3:
                if (mod == 3) return r == 4 || r == 5 || r == 6 || (r <= 3 && d.mode == cpu_mode::m64);
                return r == 4 || r == 6;                       // PTWRITE, CLRSSBSY
            default: return mod == 3 && r == 6;               // UMWAIT
            }
        case 0xba: return r >= 4;
        case 0x20:
        case 0x22: {
            const unsigned cr = d.reg();
            return cr == 0 || cr == 2 || cr == 3 || cr == 4 || (cr == 8 && d.mode == cpu_mode::m64);
        }
        case 0x21:
        case 0x23: return d.reg() < 8;
        // VIA PadLock: REP forms, and XSTORE without REP.
        case 0xa6: return d.mandatory == 0xf3 && (d.modrm == 0xc0 || d.modrm == 0xc8 || d.modrm == 0xd0);
        case 0xa7:
            if (d.mandatory == 0 || d.mandatory == 0x66) return d.modrm == 0xc0;
            return d.mandatory == 0xf3 && mod == 3 && (d.modrm & 7) == 0 && d.modrm <= 0xe8;
        case 0x1a:
        case 0x1b: {
            // MPX: bound registers 0-3, no 16-bit addressing; the forms that
            // are not MPX are the reserved-NOP space.
            const std::uint8_t p = d.mandatory;
            const bool rip = d.mode == cpu_mode::m64 && mod == 0 && (d.modrm & 7) == 5;
            if (p == 0 || (p == 0xf3 && d.op == 0x1b)) {  // BNDLDX/BNDSTX, BNDMK: memory forms
                if (mod == 3) return true;
                return d.reg() <= 3 && d.asize != 1 && !rip;
            }
            if (d.reg() > 3) return false;
            if (mod == 3) return p != 0x66 || d.rm() <= 3;  // BNDMOV names bound registers
            return d.asize != 1;
        }
        case 0xc7:
            switch (d.mandatory) {
            case 0:
                if (mod == 3) return r == 6 || r == 7;  // RDRAND, RDSEED
                return r == 1 || r >= 3;
            case 0x66: return mod == 3 ? (r == 6 || r == 7) : (r == 1 || r == 6);
            case 0xf3: return mod == 3 ? (r == 7 || (r == 6 && d.mode == cpu_mode::m64)) : (r == 1 || r == 6);  // RDPID, SENDUIPI; VMXON
            default: return mod != 3 && r == 1;
            }
        default: return true;
        }
    }
    return true;
}

// Which opcodes accept LOCK (with a memory operand), by group member.
bool lock_ok(const insn& d, std::uint16_t f) {
    if (!(f & at::lockable) || !d.has_modrm || d.mod() == 3) return false;
    const unsigned r = d.reg_low3();
    if (d.map == 0) {
        switch (d.op) {
        case 0x80: case 0x81: case 0x82: case 0x83: return r != 7;
        case 0xf6: case 0xf7: return r == 2 || r == 3;
        case 0xfe: case 0xff: return r <= 1;
        default: return true;
        }
    }
    if (d.map == 1) {
        if (d.op == 0xba) return r >= 5;
        if (d.op == 0xc7) return r == 1;
    }
    return true;
}

// Protection and virtualisation instructions raise #UD in real mode.
bool not_in_real_mode(const insn& d) {
    if (d.map == 0) return d.op == 0x63;  // ARPL
    if (d.map == 1) {
        switch (d.op) {
        case 0x00: case 0x02: case 0x03: case 0x07: case 0x34: case 0x35: case 0x37: return true;
        case 0x78: return d.mandatory == 0;                  // VMREAD (not INSERTQ/EXTRQ)
        case 0x01: return d.mod() != 3 && d.reg_low3() == 5;  // RSTORSSP
        case 0xae:  // CLRSSBSY, INCSSP
            return d.mandatory == 0xf3 && ((d.mod() != 3 && d.reg_low3() == 6) || (d.mod() == 3 && d.reg_low3() == 5));
        case 0x79: return d.mandatory == 0 && d.mod() != 3;  // VMWRITE's memory form
        case 0xc7: return d.mod() != 3 && d.reg_low3() >= 6;  // VMPTRLD, VMCLEAR, VMXON, VMPTRST
        default: return false;
        }
    }
    if (d.map == 2) return d.op == 0xf5 || (d.op == 0xf6 && d.mandatory == 0) || d.op == 0x80 || d.op == 0x81;
    return false;
}

struct reader {
    fetch_fn fetch;
    void* ctx;
    unsigned pos = 0;
    bool too_long = false;
    std::uint8_t byte() {
        if (pos >= 15) {
            too_long = true;
            return 0;
        }
        return fetch(ctx, pos++);
    }
    std::uint64_t le(unsigned n) {
        std::uint64_t v = 0;
        for (unsigned i = 0; i < n; ++i) v |= std::uint64_t{byte()} << (8 * i);
        return v;
    }
};

std::int64_t sign_extend(std::uint64_t v, unsigned bytes) {
    const unsigned sh = 64 - 8 * bytes;
    return static_cast<std::int64_t>(v << sh) >> sh;
}

void read_modrm(reader& in, insn& d, bool force_reg) {
    d.has_modrm = true;
    d.modrm = in.byte();
    if (force_reg) return;
    const unsigned mod = d.mod(), rm = d.modrm & 7;
    if (mod == 3) return;
    if (d.asize == 1) {  // 16-bit addressing: no SIB
        if (mod == 1) d.disp_size = 1;
        else if (mod == 2 || (mod == 0 && rm == 6)) d.disp_size = 2;
    } else {
        if (rm == 4) {
            d.has_sib = true;
            d.sib = in.byte();
        }
        if (mod == 1) d.disp_size = 1;
        else if (mod == 2 || (mod == 0 && rm == 5) || (mod == 0 && rm == 4 && (d.sib & 7) == 5)) d.disp_size = 4;
    }
    if (d.disp_size) d.disp = sign_extend(in.le(d.disp_size), d.disp_size);
}

} // namespace

insn decode(cpu_mode mode, fetch_fn fetch, void* ctx) {
    insn d;
    d.mode = mode;
    reader in{fetch, ctx};
    const bool m64 = mode == cpu_mode::m64;
    std::uint8_t b;
    bool last_f2f3_rep = false;
    // Prefixes, and REX right before the opcode.
    for (;;) {
        b = in.byte();
        if (in.too_long) break;
        const attr a = map0[b];
        if (a.f & at::pfx) {
            switch (b) {
            case 0xf0: d.lock = true; break;
            case 0xf2: d.repne = true; last_f2f3_rep = false; break;
            case 0xf3: d.rep = true; last_f2f3_rep = true; break;
            case 0x66: d.opsize = true; break;
            case 0x67: d.addrsize = true; break;
            case 0x26: d.seg = 0; break;
            case 0x2e: d.seg = 1; break;
            case 0x36: d.seg = 2; break;
            case 0x3e: d.seg = 3; break;
            case 0x64: d.seg = 4; break;
            case 0x65: d.seg = 5; break;
            default: break;
            }
            d.rex = 0;  // a REX before a legacy prefix is ignored
            continue;
        }
        if (m64 && (b & 0xf0) == 0x40) {
            d.rex = b;
            continue;
        }
        break;
    }
    auto finish = [&](decode_status s) {
        d.len = static_cast<std::uint8_t>(in.pos);
        d.status = in.too_long ? decode_status::too_long : s;
        return d;
    };
    if (in.too_long) return finish(decode_status::too_long);
    if (d.repne || d.rep) d.mandatory = last_f2f3_rep ? 0xf3 : 0xf2;
    else if (d.opsize) d.mandatory = 0x66;

    const bool real = mode == cpu_mode::real16;
    // Address size.
    if (mode == cpu_mode::m16 || real) d.asize = d.addrsize ? 2 : 1;
    else if (mode == cpu_mode::m32) d.asize = d.addrsize ? 1 : 2;
    else d.asize = d.addrsize ? 2 : 3;

    // VEX and EVEX prefixes; in 16/32-bit mode only with a register-form
    // ModRM after them (else they are LES, LDS and BOUND).
    attr a{};
    bool vex_like = false;
    if (b == 0xc4 || b == 0xc5 || b == 0x62 || b == 0x8f) {
        const std::uint8_t nb = fetch(ctx, in.pos < 15 ? in.pos : 14);
        const bool is_prefix = b == 0x8f ? (nb & 0x1f) >= 8 : (m64 || (nb & 0xc0) == 0xc0);
        if (is_prefix) {
            vex_like = true;
            // 66, F2, F3, LOCK or REX before VEX: #UD.
            const bool legacy_prefix = d.opsize || d.rep || d.repne || d.lock || d.rex;
            unsigned map = 1;
            bool evex = b == 0x62, xop = b == 0x8f;
            static constexpr std::uint8_t pp_prefix[4] = {0, 0x66, 0xf3, 0xf2};
            if (b == 0xc5) {
                const std::uint8_t p = in.byte();
                d.vex_vvvv = static_cast<std::uint8_t>((~p >> 3) & 15);
                d.vex_l = (p >> 2) & 1;
                d.mandatory = pp_prefix[p & 3];
                if (!(p & 0x80)) d.rex |= 4;
            } else if (evex) {
                const std::uint8_t p0 = in.byte(), p1 = in.byte();
                in.byte();
                map = p0 & 7;
                d.vex_w = p1 >> 7;
            } else {
                const std::uint8_t p0 = in.byte(), p1 = in.byte();
                map = p0 & 0x1f;
                d.vex_w = p1 >> 7;
                d.vex_vvvv = static_cast<std::uint8_t>((~p1 >> 3) & 15);
                d.vex_l = (p1 >> 2) & 1;
                d.mandatory = pp_prefix[p1 & 3];
                if (m64) d.rex = static_cast<std::uint8_t>(0x40 | ((~p0 >> 5) & 7) | (d.vex_w << 3));
            }
            d.vex = true;
            d.op = in.byte();
            if (xop) {
                d.map = static_cast<std::uint8_t>(map);
                read_modrm(in, d, false);
                if (map == 8) d.imm_size = 1;
                else if (map == 0xa) d.imm_size = 4;
                if (d.imm_size) d.imm = in.le(d.imm_size);
                return finish(decode_status::invalid);  // no XOP on our CPUs
            }
            d.map = static_cast<std::uint8_t>(map);
            const bool no_modrm = !evex && map == 1 && d.op == 0x77;  // VZEROUPPER/VZEROALL
            // Knights Corner's mask branches (JKZD/JKNZD), VEX-encoded Jcc.
            const bool knc_jcc = !evex && map == 1 && (d.op == 0x84 || d.op == 0x85);
            if (knc_jcc) {
                d.imm_size = 4;
                d.imm = in.le(d.imm_size);
                return finish(decode_status::invalid);
            }
            if (!no_modrm) read_modrm(in, d, false);
            if (map == 3 || (map == 1 && (d.op == 0xc2 || d.op == 0xc4 || d.op == 0xc5 || d.op == 0xc6 ||
                                          (d.op >= 0x70 && d.op <= 0x73)))) {
                d.imm_size = 1;
                d.imm = in.byte();
            }
            // Of VEX, the BMI1/BMI2 general-register instructions; AVX and
            // EVEX are not on our CPUs yet.
            if (!evex && !legacy_prefix && bmi_valid(d)) return finish(decode_status::ok);
            return finish(decode_status::invalid);
        }
    }
    if (!vex_like) {
        if (b == 0x0f) {
            b = in.byte();
            if (b == 0x38) {
                d.map = 2;
                d.op = in.byte();
                a = map2[d.op];
            } else if (b == 0x3a) {
                d.map = 3;
                d.op = in.byte();
                a = map3[d.op];
            } else {
                d.map = 1;
                d.op = b;
                a = map1[b];
            }
        } else {
            d.map = 0;
            d.op = b;
            a = map0[b];
        }
    }
    if (in.too_long) return finish(decode_status::too_long);

    // Operand size.
    if (m64 && (a.f & at::f64)) d.osize = 3;
    else if (m64 && d.rex_w()) d.osize = 3;
    else if (m64 && (a.f & at::d64)) d.osize = d.opsize ? 1 : 3;
    else if (mode == cpu_mode::m16 || real) d.osize = d.opsize ? 2 : 1;
    else d.osize = d.opsize ? 1 : 2;

    if (a.f & at::m) read_modrm(in, d, (a.f & at::mod3) != 0);

    switch (a.imm) {
    case i_none: break;
    case i_b: d.imm_size = 1; break;
    case i_w: d.imm_size = 2; break;
    case i_z: d.imm_size = d.osize == 1 ? 2 : 4; break;
    case i_v: d.imm_size = static_cast<std::uint8_t>(1u << d.osize); break;
    case i_a: d.imm_size = static_cast<std::uint8_t>(1u << d.asize); break;
    case i_p:
        d.imm_size = d.osize == 1 ? 2 : 4;
        d.imm2_size = 2;
        break;
    case i_wb:
        d.imm_size = 2;
        d.imm2_size = 1;
        break;
    case i_grp3:
        if (d.reg_low3() <= 1) d.imm_size = d.op == 0xf6 ? 1 : (d.osize == 1 ? 2 : 4);
        break;
    }
    // XBEGIN's displacement follows the operand size.
    if (d.map == 0 && d.op == 0xc7 && d.modrm == 0xf8) d.imm_size = d.osize == 1 ? 2 : 4;
    // EXTRQ/INSERTQ immediate forms take two imm8.
    if (d.map == 1 && d.op == 0x78 && (d.mandatory == 0x66 || d.mandatory == 0xf2)) {
        d.imm_size = 1;
        d.imm2_size = 1;
    }
    if (d.imm_size) d.imm = in.le(d.imm_size);
    if (d.imm2_size) d.imm2 = in.le(d.imm2_size);
    if (in.too_long) return finish(decode_status::too_long);

    // Validity.
    bool ok = !(a.f & at::inv) && !(m64 && (a.f & at::i64));
    if (ok && d.map >= 1 && !(d.map == 1 && (map1_pfx[d.op] & pf::any))) {
        const prefix_table& pt = d.map == 1 ? map1_pfx : d.map == 2 ? map2_pfx : map3_pfx;
        ok = (pt[d.op] & prefix_bit(d)) != 0 && sse_form_valid(d);
    }
    if (ok && (a.f & at::memonly) && d.mod() == 3) ok = false;
    if (ok && (a.f & at::grp)) ok = group_valid(d);
    if (ok && d.lock && !lock_ok(d, a.f)) ok = false;
    if (ok && real && not_in_real_mode(d)) ok = false;
    return finish(ok ? decode_status::ok : decode_status::invalid);
}

namespace {
struct buffer {
    const std::uint8_t* p;
    unsigned size;
    bool overrun = false;
};
} // namespace

insn decode(cpu_mode mode, const std::uint8_t* bytes, unsigned size) {
    buffer b{bytes, size};
    insn d = decode(
        mode,
        [](void* ctx, unsigned off) -> std::uint8_t {
            auto* buf = static_cast<buffer*>(ctx);
            if (off >= buf->size) {
                buf->overrun = true;
                return 0;
            }
            return buf->p[off];
        },
        &b);
    if (b.overrun && d.len > size) {
        d.status = decode_status::invalid;
        d.len = 0;
    }
    return d;
}

} // namespace qf::x86
