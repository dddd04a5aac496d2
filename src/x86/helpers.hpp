#pragma once
// Run-time helpers the x86 translator calls, and the exception path.
// Internal to the x86 library.
#include "qf/accel/tcg/ir.hpp"
#include "targets/x86/cpu_state.hpp"
#include "targets/x86/vcpu.hpp"

#include <cstdint>

namespace qf::x86 {

// Exception vectors.
inline constexpr int EXCP_DE = 0, EXCP_DB = 1, EXCP_BP = 3, EXCP_OF = 4, EXCP_BR = 5, EXCP_UD = 6, EXCP_NM = 7,
                     EXCP_DF = 8, EXCP_TS = 10, EXCP_NP = 11, EXCP_SS = 12, EXCP_GP = 13, EXCP_PF = 14;
// Software interrupts (INT n) are delivered with the next instruction's
// eip; exceptions with the faulting one's.
inline constexpr int EXCP_INT_FLAG = 0x100;
// Not an exception: something the emulator cannot do yet; the loop reports it.
inline constexpr int EXCP_UNIMPLEMENTED = 0x200;
// A debugger's breakpoint (QEMU's EXCP_DEBUG): the CPU stops for it.
inline constexpr int EXCP_DEBUG = 0x201;

// MXCSR: the sticky exception flags, DAZ, each exception's mask (its flag
// shifted by mask_shift), the rounding control (bits 13-14) and FZ.
namespace mxcsr_bit {
inline constexpr std::uint32_t ie = 1u << 0, de = 1u << 1, ze = 1u << 2, oe = 1u << 3, ue = 1u << 4, pe = 1u << 5;
inline constexpr std::uint32_t daz = 1u << 6, fz = 1u << 15;
inline constexpr unsigned mask_shift = 7;
inline constexpr std::uint32_t flags = ie | de | ze | oe | ue | pe;
inline constexpr std::uint32_t masks = flags << mask_shift;
} // namespace mxcsr_bit

// The helpers' view of env, and the host return address a helper that may
// raise passes on (QEMU's GETPC), which finds the guest instruction.
inline state& state_of(tcg::env_base* env) { return reinterpret_cast<state&>(*env); }
inline vcpu& vcpu_of(tcg::env_base* env) { return *static_cast<vcpu*>(env->owner); }
inline unsigned cpl(const state& s) { return s.hflags & hflag::cpl_mask; }
#define QF_GETPC() reinterpret_cast<std::uintptr_t>(__builtin_return_address(0))

// Raises an exception at the instruction whose host return address is
// retaddr; the interpreter knows its instruction without it. no_restore:
// the state is already where the exception wants it (INT n: after it).
// Does not return.
inline constexpr std::uintptr_t no_restore = ~std::uintptr_t{0};
[[noreturn]] void raise_exception(state& s, int vector, std::uint32_t error_code, std::uintptr_t retaddr);

// Supervisor accesses to linear addresses (descriptor tables, TSS, the
// stacks of interrupt delivery), and a descriptor's segment.
std::uint64_t read_sys(state& s, std::uint64_t addr, std::uint32_t mop, std::uintptr_t ra);
void write_sys(state& s, std::uint64_t addr, std::uint64_t v, std::uint32_t mop, std::uintptr_t ra);
segment unpack_descriptor(std::uint64_t d, std::uint16_t sel);
// The 8-byte code/data descriptor a selector names (where: its address), or
// #GP(selector) past the end of its table; and setting its accessed bit.
std::uint64_t read_descriptor(state& s, std::uint16_t sel, std::uint64_t& where, std::uintptr_t ra);
void mark_accessed(state& s, std::uint64_t where, std::uint64_t d, std::uintptr_t ra);

// A hardware task switch to the TSS sel names (desc: its descriptor, at
// where in the GDT), for JMP, for CALL (and INT or an exception through a
// task gate: a nested task), or for IRET with NT; next_eip: where the old
// task resumes.
enum class task_source : std::uint8_t { jmp, call, iret };
void switch_task(state& s, std::uint16_t sel, std::uint64_t desc, std::uint64_t where, task_source src,
                 std::uint64_t next_eip, std::uintptr_t ra);

// The stack of a more privileged level, for an interrupt or a call gate:
// RSP from the 64-bit TSS with a null SS (RPL the level), or SS:ESP (SS:SP)
// from a 32-bit (16-bit) TSS with the new SS checked (#TS, #SS).
struct stack_ptr {
    segment ss;
    std::uint64_t sp;
};
stack_ptr inner_stack(state& s, unsigned level, std::uintptr_t ra);

// Exception and interrupt delivery through the IDT (protected and long mode).
// An external interrupt pushes no error code whatever its vector.
void deliver_protected(state& s, int vector, bool software, std::uint32_t error, bool external = false);

namespace helper {
extern const tcg::helper_info compute_eflags;
// (cc_op, cc_dst, cc_src, cc_src2): pure, so the flags' globals stay in
// host registers across the call.
extern const tcg::helper_info cc_compute_all, cc_compute_c;
extern const tcg::helper_info write_eflags;
extern const tcg::helper_info raise;
extern const tcg::helper_info in;
extern const tcg::helper_info check_iopl;
extern const tcg::helper_info out;
extern const tcg::helper_info hlt;
extern const tcg::helper_info yield;
extern const tcg::helper_info div[4];
extern const tcg::helper_info idiv[4];
extern const tcg::helper_info cpuid;
extern const tcg::helper_info rdtsc;
extern const tcg::helper_info rdtscp;
extern const tcg::helper_info popf;
extern const tcg::helper_info bcd;
extern const tcg::helper_info pdep, pext;  // (src, mask): BMI2
extern const tcg::helper_info load_seg;
extern const tcg::helper_info seg_fault;  // (end, seg | write << 3 | bytes << 8, retaddr): a guard's slow path
extern const tcg::helper_info ljmp;
extern const tcg::helper_info lxdt;
extern const tcg::helper_info sxdt;
extern const tcg::helper_info write_cr;
extern const tcg::helper_info read_cr;
extern const tcg::helper_info write_dr;
extern const tcg::helper_info read_dr;
extern const tcg::helper_info wrmsr;
extern const tcg::helper_info rdmsr;
extern const tcg::helper_info invlpg;
extern const tcg::helper_info syscall;
extern const tcg::helper_info lcall;
extern const tcg::helper_info lret;
extern const tcg::helper_info sysret;
extern const tcg::helper_info swapgs;
extern const tcg::helper_info sysenter, sysexit;
extern const tcg::helper_info iret;
extern const tcg::helper_info load_system;
// (desc): REP MOVS/STOS's elements that are plain RAM, in bulk (rep_string.cpp)
extern const tcg::helper_info rep_string;
} // namespace helper
std::uint64_t rep_string_desc(bool movs, unsigned sl, unsigned asl, unsigned src_seg, unsigned mmu_idx, bool cs64);

} // namespace qf::x86
