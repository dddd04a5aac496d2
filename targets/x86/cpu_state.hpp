#pragma once
// The x86 CPU state, as generated code sees it: tcg::env_base first, then
// the architectural registers. Arithmetic flags are lazy, as in QEMU: the
// last flag-setting operation leaves its kind in cc_op and its operands in
// cc_dst/cc_src/cc_src2, and OF SF ZF AF PF CF are computed only when read.
#include "qf/accel/tcg/softmmu.hpp"

#include <cstddef>
#include <cstdint>

namespace qf::x86 {

enum seg_reg : unsigned { R_ES, R_CS, R_SS, R_DS, R_FS, R_GS };
enum gp_reg : unsigned { R_EAX, R_ECX, R_EDX, R_EBX, R_ESP, R_EBP, R_ESI, R_EDI };

// A segment register with its hidden part. attr packs descriptor bits
// 40-47 (type, S, DPL, P) in 0-7 and bits 52-55 (AVL, L, D/B, G) in 8-11.
struct segment {
    std::uint64_t base = 0;
    std::uint32_t limit = 0;
    std::uint16_t selector = 0;
    std::uint16_t attr = 0;
};
namespace seg_attr {
inline constexpr std::uint16_t accessed = 1u << 0, writable = 1u << 1, code = 1u << 3, s = 1u << 4, present = 1u << 7;
inline constexpr std::uint16_t l = 1u << 9, db = 1u << 10, g = 1u << 11;
constexpr unsigned dpl(std::uint16_t a) { return (a >> 5) & 3; }
} // namespace seg_attr

// An SSE register, in the views the instructions take of it.
union alignas(16) xmm_reg {
    std::uint8_t b[16];
    std::uint16_t w[8];
    std::uint32_t l[4];
    std::uint64_t q[2];
    float s[4];
    double d[2];
};

// An x87 register: the 80-bit extended format (64-bit significand with
// its explicit integer bit, sign and 15-bit exponent), as FXSAVE stores it.
struct x87_reg {
    std::uint64_t mant;
    std::uint16_t sign_exp;
};

struct dtable {
    std::uint64_t base = 0;
    std::uint32_t limit = 0;
};

namespace eflags_bit {
inline constexpr std::uint64_t cf = 1u << 0, pf = 1u << 2, af = 1u << 4, zf = 1u << 6, sf = 1u << 7, tf = 1u << 8,
                               if_ = 1u << 9, df = 1u << 10, of = 1u << 11, iopl = 3u << 12, nt = 1u << 14,
                               rf = 1u << 16, vm = 1u << 17, ac = 1u << 18, vif = 1u << 19, vip = 1u << 20,
                               id = 1u << 21;
inline constexpr std::uint64_t arith = cf | pf | af | zf | sf | of;
inline constexpr std::uint64_t fixed1 = 1u << 1;
} // namespace eflags_bit

// The kinds of lazy flag state. Sized kinds come in b, w, l, q order so
// that kind + size_log2 names the sized one.
enum cc_op : std::uint32_t {
    CC_OP_EFLAGS = 0,  // cc_src holds the flags themselves
    CC_OP_ADDB = 4,    // cc_dst = result, cc_src = second operand
    CC_OP_ADCB = 8,    // ... cc_src2 = carry in
    CC_OP_SUBB = 12,   // cc_dst = result, cc_src = subtrahend
    CC_OP_SBBB = 16,   // ... cc_src2 = borrow in
    CC_OP_LOGICB = 20, // cc_dst = result
    CC_OP_INCB = 24,   // cc_dst = result, cc_src = CF before
    CC_OP_DECB = 28,   // cc_dst = result, cc_src = CF before
    CC_OP_SHLB = 32,   // cc_dst = result, cc_src = value shifted by count - 1
    CC_OP_SARB = 36,   // cc_dst = result, cc_src = value shifted right by count - 1
    CC_OP_MULB = 40,   // cc_dst = low result, cc_src = non-zero when the high half matters
    CC_OP_NB = 44,
};
constexpr std::uint32_t cc_sized(cc_op base, unsigned size_log2) { return base + size_log2; }

// hflags: the mode bits translation depends on (part of the TB key).
namespace hflag {
inline constexpr std::uint32_t cpl_mask = 3;
inline constexpr std::uint32_t cs32 = 1u << 2;   // CS.D: 32-bit default operand and address size
inline constexpr std::uint32_t ss32 = 1u << 3;   // SS.B: 32-bit stack
inline constexpr std::uint32_t pe = 1u << 4;     // CR0.PE
inline constexpr std::uint32_t lma = 1u << 5;    // long mode active
inline constexpr std::uint32_t cs64 = 1u << 6;   // 64-bit code segment
inline constexpr std::uint32_t vm = 1u << 7;     // virtual-8086 mode
inline constexpr std::uint32_t inhibit_irq = 1u << 9;  // after STI, MOV SS
inline constexpr std::uint32_t osfxsr = 1u << 10;     // CR4.OSFXSR: SSE instructions exist
inline constexpr std::uint32_t em = 1u << 11;         // CR0.EM: x87 and SSE raise #UD (x87: #NM)
inline constexpr std::uint32_t ts = 1u << 12;         // CR0.TS: x87 and SSE raise #NM
inline constexpr std::uint32_t mp = 1u << 13;         // CR0.MP: WAIT/FWAIT raises #NM with TS
// Accesses through segment `seg` need a check: its limit is below 4 GiB, it
// is expand-down, null, or not readable and writable (never in 64-bit mode).
constexpr std::uint32_t seg_check(unsigned seg) { return 1u << (14 + seg); }
inline constexpr std::uint32_t seg_checks = 0x3fu << 14;
// In protected mode (not virtual-8086, not 64-bit), ES, CS, SS or DS has
// base 0: its linear addresses are its offsets, with no add and no wrap
// (QEMU's HF_ADDSEG, per segment). Real and virtual-8086 mode never set
// them: their segment loads change bases inside a TB.
constexpr std::uint32_t seg_base0(unsigned seg) { return 1u << (20 + seg); }
} // namespace hflag

struct state {
    tcg::env_base base;
    std::uint64_t regs[16];
    std::uint64_t rip;
    std::uint64_t eflags;  // all but the arithmetic flags, which are lazy
    std::uint64_t cc_dst, cc_src, cc_src2;
    std::uint32_t cc_op;
    std::uint32_t hflags;
    std::int64_t df;       // +1 or -1: string instruction step
    segment segs[6];
    // Derived from segs by compute_hflags: an access of n bytes at offset
    // off passes without further checks when off + n <= seg_bound[seg][write];
    // 0 sends every access to the full check (expand-down, null, no rights).
    std::uint64_t seg_bound[6][2];
    segment ldt, tr;
    dtable gdt, idt;
    std::uint64_t cr[5];
    std::uint64_t efer;
    std::uint64_t dr[8];
    std::uint64_t a20_mask;
    std::uint64_t tsc_offset;
    std::uint64_t star, lstar, cstar, fmask, kernel_gs_base;
    std::uint64_t sysenter_cs, sysenter_esp, sysenter_eip;
    std::uint64_t tsc_aux, pat, apic_base, misc_enable;
    std::uint64_t mtrr[28];  // variable pairs, fixed ranges, default type
    // x87: the physical registers R0-R7 (ST(i) is R[(TOP + i) & 7]); FSW
    // holds TOP in bits 11-13; FTW is the abridged tag (bit i: R[i] holds
    // a value); the last instruction's opcode and pointers.
    x87_reg fpr[8];
    std::uint16_t fcw, fsw, fop;
    std::uint8_t ftw;
    std::uint64_t fip, fdp;
    xmm_reg xmm[16];
    xmm_reg xmm_t0;  // a memory operand, loaded for a helper
    xmm_reg xmm_t1;  // MMX: the second operand, widened for a helper
    std::uint32_t mxcsr;
    std::uint32_t halted;
    std::int32_t exception_index;  // pending exception vector, or -1
    std::uint32_t error_code;
    std::uint32_t interrupt_request;
    std::uint32_t nmi_pending;  // the NMI pin's edge, not yet taken
    std::uint32_t nmi_blocked;  // from an NMI's delivery to the next IRET
};

// The architectural flags: the stored ones with the lazy ones computed.
std::uint64_t compute_eflags(const state& s);
// Only CF, for ADC/SBB/INC/DEC and the carry conditions.
std::uint64_t compute_cf(const state& s);
// The lazy flags from their parts (QEMU's cc_compute_all and cc_compute_c):
// OSZAPC in their EFLAGS positions, and CF alone.
std::uint64_t compute_eflags_lazy(std::uint32_t op, std::uint64_t dst, std::uint64_t src, std::uint64_t src2);
std::uint64_t compute_cf_lazy(std::uint32_t op, std::uint64_t dst, std::uint64_t src, std::uint64_t src2);
// Writes EFLAGS (the bits `mask` allows), making the arithmetic flags
// concrete (CC_OP_EFLAGS).
void load_eflags(state& s, std::uint64_t value, std::uint64_t mask);
// The full x87 tag word (FNSTENV's): 00 valid, 01 zero, 10 special, 11 empty.
std::uint16_t fpu_tag_word(const state& s);

} // namespace qf::x86
