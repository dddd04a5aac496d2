#pragma once
// x87 helpers. The host is x86-64, so a computational x87 instruction runs
// as itself: the guest's x87 registers, tags, TOP and condition codes are
// loaded into the host FPU (FXRSTOR, with the guest's control word), the same
// opcode and ModRM execute (a memory operand through a buffer), and the
// state comes back (FXSAVE). Results, precision and rounding control,
// NaN rules and condition codes are the hardware's. An exception the
// guest leaves unmasked sets ES and B and is delivered as #MF by the next
// waiting x87 instruction, as on hardware (the host computes the unmasked
// responses too: no result for IE, DE and ZE, biased exponents for OE, UE).
// Internal to the x86 library.
#include "qf/accel/tcg/ir.hpp"

namespace qf::x86::helper::x87 {

// (env, op, modrm, addr, eip): a D8-DF instruction; addr is the linear
// address of a memory operand (unused for register forms).
extern const tcg::helper_info exec;
// (env, op, modrm, addr, eip) -> eflags with ZF PF CF: FCOMI, FUCOMI and
// their popping forms.
extern const tcg::helper_info exec_comi;
// (env): FWAIT, and the check every waiting x87 instruction makes first.
extern const tcg::helper_info fwait;
// (env, i, condition, eip, op << 8 | modrm): FCMOVcc ST(0), ST(i) when
// condition is non-zero.
extern const tcg::helper_info fcmov;
// (env, which, addr, o32): FNSTENV/FLDENV (which 0/1), FNSAVE/FRSTOR (2/3)
// with the 14- or 28-byte environment (o32: 32-bit operand size).
extern const tcg::helper_info env_op;

} // namespace qf::x86::helper::x87
