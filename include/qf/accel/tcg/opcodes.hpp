#pragma once
// The TCG op set, declared once. Every consumer — the enum, the builder's
// arity checks, the printer, the optimizer's fold table, the interpreter and
// the JIT's dispatch — is generated from this list; a switch that misses an
// op is a -Wswitch error.
//
// Columns: name, output args, input args, constant args, flags.
// Every op carries its type (i32 or i64) in the op itself, so one entry
// serves both widths; i32 values are kept zero-extended in 64-bit slots.
#include <array>
#include <cstdint>
#include <string_view>

namespace qf::tcg {

namespace op_flag {
inline constexpr std::uint16_t bb_end = 1u << 0;       // ends a basic block
inline constexpr std::uint16_t side_effects = 1u << 1; // never removed as dead
inline constexpr std::uint16_t cond_branch = 1u << 2;  // falls through as well
inline constexpr std::uint16_t bb_exit = 1u << 3;      // leaves the TB
inline constexpr std::uint16_t call = 1u << 4;         // argument counts live in the op
inline constexpr std::uint16_t commutative = 1u << 5;
inline constexpr std::uint16_t guest_mem = 1u << 6;    // goes through the softmmu
// May leave the TB through a guest exception, which reads the globals from
// env: they must be stored there first.
inline constexpr std::uint16_t may_raise = 1u << 9;
// Values computed by op_eval.hpp's eval_unary / eval_binary (one output,
// one or two inputs, no constants): the interpreter and the optimizer's
// folding handle these ops as a class.
inline constexpr std::uint16_t unary = 1u << 7;
inline constexpr std::uint16_t binary = 1u << 8;
} // namespace op_flag

// clang-format off
#define QF_TCG_OPCODES(X)                                                     \
    /* bookkeeping and control flow */                                        \
    X(discard,    1, 0, 0, 0)                                                   \
    X(set_label,  0, 0, 1, op_flag::bb_end)                                     \
    X(br,         0, 0, 1, op_flag::bb_end)                                     \
    X(brcond,     0, 2, 2, op_flag::bb_end | op_flag::cond_branch)              \
    X(insn_start, 0, 0, 2, op_flag::side_effects)                               \
    X(goto_tb,    0, 0, 1, op_flag::side_effects | op_flag::bb_end)             \
    X(exit_tb,    0, 0, 1, op_flag::side_effects | op_flag::bb_end | op_flag::bb_exit) \
    X(goto_ptr,   0, 1, 0, op_flag::side_effects | op_flag::bb_end | op_flag::bb_exit) \
    X(call,       0, 0, 1, op_flag::side_effects | op_flag::call)               \
    /* moves */                                                               \
    X(mov,        1, 1, 0, 0)                                                   \
    X(movi,       1, 0, 1, 0)                                                   \
    X(setcond,    1, 2, 1, 0)                                                   \
    X(movcond,    1, 4, 1, 0)                                                   \
    /* host memory relative to a base (the CPU state): cargs memop, offset */ \
    X(ld,         1, 1, 2, 0)                                                   \
    X(st,         0, 2, 2, op_flag::side_effects)                               \
    /* guest memory through the softmmu: carg memop | mmu_idx << 8 */         \
    X(qemu_ld,    1, 1, 1, op_flag::side_effects | op_flag::guest_mem | op_flag::may_raise) \
    X(qemu_st,    0, 2, 1, op_flag::side_effects | op_flag::guest_mem | op_flag::may_raise) \
    /* if a >u b: helper(env, a, info, retaddr), which may raise (cargs helper, info); */ \
    /* out of line in the JIT, so a passing check costs a compare and a branch */  \
    X(guard,      0, 2, 2, op_flag::side_effects | op_flag::may_raise)          \
    /* arithmetic */                                                          \
    X(add,        1, 2, 0, op_flag::commutative | op_flag::binary)              \
    X(sub,        1, 2, 0, op_flag::binary)                                     \
    X(neg,        1, 1, 0, op_flag::unary)                                      \
    X(mul,        1, 2, 0, op_flag::commutative | op_flag::binary)              \
    X(muluh,      1, 2, 0, op_flag::commutative | op_flag::binary)              \
    X(mulsh,      1, 2, 0, op_flag::commutative | op_flag::binary)              \
    X(mulu2,      2, 2, 0, op_flag::commutative)                                \
    X(muls2,      2, 2, 0, op_flag::commutative)                                \
    X(divs,       1, 2, 0, op_flag::binary)                                     \
    X(divu,       1, 2, 0, op_flag::binary)                                     \
    X(rems,       1, 2, 0, op_flag::binary)                                     \
    X(remu,       1, 2, 0, op_flag::binary)                                     \
    /* logic */                                                               \
    X(and_,       1, 2, 0, op_flag::commutative | op_flag::binary)              \
    X(or_,        1, 2, 0, op_flag::commutative | op_flag::binary)              \
    X(xor_,       1, 2, 0, op_flag::commutative | op_flag::binary)              \
    X(andc,       1, 2, 0, op_flag::binary)                                     \
    X(orc,        1, 2, 0, op_flag::binary)                                     \
    X(not_,       1, 1, 0, op_flag::unary)                                      \
    /* shifts: the count is taken modulo the width, as x86 does */            \
    X(shl,        1, 2, 0, op_flag::binary)                                     \
    X(shr,        1, 2, 0, op_flag::binary)                                     \
    X(sar,        1, 2, 0, op_flag::binary)                                     \
    X(rotl,       1, 2, 0, op_flag::binary)                                     \
    X(rotr,       1, 2, 0, op_flag::binary)                                     \
    /* extensions and bit fields: cargs pos, len */                           \
    X(ext8s,      1, 1, 0, op_flag::unary)                                      \
    X(ext8u,      1, 1, 0, op_flag::unary)                                      \
    X(ext16s,     1, 1, 0, op_flag::unary)                                      \
    X(ext16u,     1, 1, 0, op_flag::unary)                                      \
    X(ext32s,     1, 1, 0, op_flag::unary)                                      \
    X(ext32u,     1, 1, 0, op_flag::unary)                                      \
    X(extract,    1, 1, 2, 0)                                                   \
    X(sextract,   1, 1, 2, 0)                                                   \
    X(deposit,    1, 2, 2, 0)                                                   \
    X(bswap16,    1, 1, 0, op_flag::unary)                                      \
    X(bswap32,    1, 1, 0, op_flag::unary)                                      \
    X(bswap64,    1, 1, 0, op_flag::unary)                                      \
    /* counts: clz/ctz give the second input when the first is zero */        \
    X(clz,        1, 2, 0, op_flag::binary)                                     \
    X(ctz,        1, 2, 0, op_flag::binary)                                     \
    X(ctpop,      1, 1, 0, op_flag::unary)
// clang-format on

enum class opc : std::uint8_t {
#define QF_TCG_ENUM(name, o, i, c, f) name,
    QF_TCG_OPCODES(QF_TCG_ENUM)
#undef QF_TCG_ENUM
};

struct op_def {
    std::string_view name;
    std::uint8_t nb_oargs, nb_iargs, nb_cargs;
    std::uint16_t flags;
};

inline constexpr std::array op_defs = {
#define QF_TCG_DEF(name, o, i, c, f)                                                               \
    op_def{std::string_view(#name).ends_with('_') ? std::string_view(#name).substr(0, sizeof(#name) - 2) \
                                                   : std::string_view(#name),                      \
           o, i, c, static_cast<std::uint16_t>(f)},
    QF_TCG_OPCODES(QF_TCG_DEF)
#undef QF_TCG_DEF
};

inline constexpr std::size_t nb_opcodes = op_defs.size();

constexpr const op_def& def_of(opc o) { return op_defs[static_cast<std::size_t>(o)]; }

} // namespace qf::tcg
