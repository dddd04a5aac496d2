#pragma once
// The TCG intermediate representation and its builder.
//
// A context holds the temps and ops of one translation block. Globals (fields
// of the CPU state at fixed offsets from env) are created once per context
// and survive reset(); everything else is per TB.
//   - tb temps keep their value across labels (they live in a stack slot);
//   - ebb temps die at the next label, as in QEMU, so a block's scratch
//     values never cost a store;
//   - constants are interned per TB.
#include "qf/accel/tcg/memop.hpp"
#include "qf/accel/tcg/opcodes.hpp"

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace qf::tcg {

enum class type : std::uint8_t { i32, i64 };
constexpr unsigned bits_of(type t) { return t == type::i32 ? 32 : 64; }
constexpr std::uint64_t mask_of(type t) { return t == type::i32 ? 0xffff'ffffull : ~0ull; }

enum class cond : std::uint8_t { never, always, eq, ne, lt, ge, le, gt, ltu, geu, leu, gtu };
cond invert(cond c);
cond swap(cond c);  // the condition with operands exchanged
bool eval_cond(cond c, type t, std::uint64_t a, std::uint64_t b);
std::string_view name_of(cond c);


enum class temp_kind : std::uint8_t { fixed, global, tb, ebb, constant };

struct temp_info {
    type ty;
    temp_kind kind;
    std::int32_t offset = 0;   // global: byte offset from env
    std::uint64_t value = 0;   // constant
    std::string name;          // fixed and global
};

struct temp {
    std::uint32_t idx = ~0u;
    bool valid() const { return idx != ~0u; }
    friend bool operator==(temp, temp) = default;
};
struct label {
    std::uint32_t id;
};

// Helpers are C++ functions called from generated code. Their flags let the
// register allocator keep globals in host registers across the call. A
// helper without flags may read and write globals and may raise a guest
// exception (cpu_loop_exit); one that does not read globals must not raise,
// since the globals in env may then be stale.
namespace helper_flag {
inline constexpr std::uint8_t no_read_globals = 1u << 0;   // globals need not be stored first
inline constexpr std::uint8_t no_write_globals = 1u << 1;  // globals need not be reloaded after
inline constexpr std::uint8_t no_side_effects = 1u << 2;   // removable when its result is unused
inline constexpr std::uint8_t pure = no_read_globals | no_write_globals | no_side_effects;
} // namespace helper_flag

struct helper_info {
    const char* name;
    const void* (*fn)();                            // the address the JIT calls
    std::uint64_t (*thunk)(const std::uint64_t*);  // called by the interpreter
    std::uint8_t nb_args;
    bool returns;
    std::uint8_t flags;
};

namespace detail {
template <class T>
T from_u64(std::uint64_t v) {
    if constexpr (std::is_pointer_v<T>) return reinterpret_cast<T>(static_cast<std::uintptr_t>(v));
    else return static_cast<T>(v);
}
template <class T>
std::uint64_t to_u64(T v) {
    if constexpr (std::is_pointer_v<T>) return reinterpret_cast<std::uintptr_t>(v);
    else if constexpr (std::is_signed_v<T>) return static_cast<std::uint64_t>(static_cast<std::make_unsigned_t<T>>(v));
    else return static_cast<std::uint64_t>(v);
}
template <auto F, class R, class... A, std::size_t... I>
std::uint64_t thunk_impl(const std::uint64_t* a, std::index_sequence<I...>) {
    if constexpr (std::is_void_v<R>) {
        F(from_u64<A>(a[I])...);
        return 0;
    } else {
        return to_u64(F(from_u64<A>(a[I])...));
    }
}
template <auto F, class R, class... A>
std::uint64_t thunk(const std::uint64_t* a) {
    return thunk_impl<F, R, A...>(a, std::index_sequence_for<A...>{});
}
template <auto F, class Sig>
struct helper_of;
template <auto F, class R, class... A>
struct helper_of<F, R (*)(A...)> {
    static_assert(sizeof...(A) <= 6, "helpers take at most six arguments (the SysV register arguments)");
    static constexpr helper_info make(const char* name, std::uint8_t flags) {
        return {name, &address, &thunk<F, R, A...>, sizeof...(A), !std::is_void_v<R>, flags};
    }
    // A function, not a value: a function pointer cannot be cast to void*
    // in a constant expression.
    static const void* address() { return reinterpret_cast<const void*>(F);
    }
};
} // namespace detail

// helper_info for a function: the argument count and thunk come from its type.
template <auto F>
constexpr helper_info make_helper(const char* name, std::uint8_t flags = 0) {
    return detail::helper_of<F, decltype(F)>::make(name, flags);
}

inline constexpr std::size_t max_op_args = 10;

struct op {
    opc code;
    type ty = type::i64;
    std::uint8_t nb_o = 0, nb_i = 0, nb_c = 0;
    // Filled by the liveness pass: bit i set means argument i is dead after
    // this op (inputs) or never read (outputs).
    std::uint16_t dead = 0;
    // Only the first nb_o + nb_i + nb_c are set.
    std::array<std::uint64_t, max_op_args> args;

    // User-provided, so that emplace_back() does not zero args first: the
    // 80-byte fill of each op showed as a fifth of emitting it.
    op() noexcept {}

    temp out(unsigned i) const { return temp{static_cast<std::uint32_t>(args[i])}; }
    temp in(unsigned i) const { return temp{static_cast<std::uint32_t>(args[nb_o + i])}; }
    std::uint64_t carg(unsigned i) const { return args[nb_o + nb_i + i]; }
    const helper_info& helper() const { return *reinterpret_cast<const helper_info*>(carg(0)); }
    bool arg_dead(unsigned i) const { return (dead >> i) & 1u; }
};

class context {
public:
    context();

    // Target set-up, before the first translation.
    temp global(type t, std::int32_t env_offset, std::string name);
    temp env() const { return temp{0}; }  // the CPU state pointer, in a fixed host register

    // Per TB.
    void reset();
    temp new_temp(type t) { return new_temp_of(t, temp_kind::ebb); }
    temp new_local(type t) { return new_temp_of(t, temp_kind::tb); }
    temp constant(type t, std::uint64_t v);
    label new_label() { return label{nb_labels_++}; }

    // The raw emitter: args are output temps, input temps, then constants;
    // the count is checked against the op table.
    op& emit(opc code, type t, std::initializer_list<std::uint64_t> args);

    // Builder, one function per op shape.
    void mov(temp d, temp a) { emit(opc::mov, ty(d), {d.idx, a.idx}); }
    void movi(temp d, std::uint64_t v) { emit(opc::movi, ty(d), {d.idx, v & mask_of(ty(d))}); }
    void unop(opc o, temp d, temp a) { emit(o, ty(d), {d.idx, a.idx}); }
    void binop(opc o, temp d, temp a, temp b) { emit(o, ty(d), {d.idx, a.idx, b.idx}); }
    void binopi(opc o, temp d, temp a, std::uint64_t b) { binop(o, d, a, constant(ty(d), b)); }
    void add(temp d, temp a, temp b) { binop(opc::add, d, a, b); }
    void addi(temp d, temp a, std::uint64_t b) { binopi(opc::add, d, a, b); }
    void sub(temp d, temp a, temp b) { binop(opc::sub, d, a, b); }
    void mul2(opc o, temp lo, temp hi, temp a, temp b) { emit(o, ty(lo), {lo.idx, hi.idx, a.idx, b.idx}); }
    void extract(opc o, temp d, temp a, unsigned pos, unsigned len) { emit(o, ty(d), {d.idx, a.idx, pos, len}); }
    void deposit(temp d, temp a, temp b, unsigned pos, unsigned len) { emit(opc::deposit, ty(d), {d.idx, a.idx, b.idx, pos, len}); }
    void setcond(cond c, temp d, temp a, temp b) { emit(opc::setcond, ty(d), {d.idx, a.idx, b.idx, static_cast<std::uint64_t>(c)}); }
    void movcond(cond c, temp d, temp c1, temp c2, temp v1, temp v2) {
        emit(opc::movcond, ty(d), {d.idx, c1.idx, c2.idx, v1.idx, v2.idx, static_cast<std::uint64_t>(c)});
    }
    void set_label(label l) { emit(opc::set_label, type::i64, {l.id}); }
    void br(label l) { emit(opc::br, type::i64, {l.id}); }
    void brcond(cond c, temp a, temp b, label l) { emit(opc::brcond, ty(a), {a.idx, b.idx, static_cast<std::uint64_t>(c), l.id}); }
    void ld(temp d, temp base, std::uint32_t mop, std::int32_t offset) {
        emit(opc::ld, ty(d), {d.idx, base.idx, mop, static_cast<std::uint32_t>(offset)});
    }
    void st(temp v, temp base, std::uint32_t mop, std::int32_t offset) {
        emit(opc::st, ty(v), {v.idx, base.idx, mop, static_cast<std::uint32_t>(offset)});
    }
    void qemu_ld(temp d, temp addr, std::uint32_t mop, unsigned mmu_idx) {
        emit(opc::qemu_ld, ty(d), {d.idx, addr.idx, memop::with_mmu(mop, mmu_idx)});
    }
    void qemu_st(temp v, temp addr, std::uint32_t mop, unsigned mmu_idx) {
        emit(opc::qemu_st, ty(v), {v.idx, addr.idx, memop::with_mmu(mop, mmu_idx)});
    }
    // A cheap check with a slow path: when a >u b, h(env, a, info, retaddr)
    // runs; it may raise a guest exception, or return without changing any
    // global. h takes exactly those four.
    void guard(temp a, temp b, const helper_info& h, std::uint64_t info) {
        emit(opc::guard, ty(a), {a.idx, b.idx, reinterpret_cast<std::uintptr_t>(&h), info});
    }
    // ret may be an invalid temp for helpers returning void.
    void call(const helper_info& h, temp ret, std::span<const temp> args);
    void insn_start(std::uint64_t pc, std::uint64_t extra = 0) { emit(opc::insn_start, type::i64, {pc, extra}); }
    void goto_tb(unsigned slot) { emit(opc::goto_tb, type::i64, {slot}); }
    void exit_tb(std::uint64_t v) { emit(opc::exit_tb, type::i64, {v}); }
    void goto_ptr(temp p) { emit(opc::goto_ptr, type::i64, {p.idx}); }
    void discard(temp t) { emit(opc::discard, ty(t), {t.idx}); }

    type ty(temp t) const { return temps_[t.idx].ty; }
    const temp_info& info(temp t) const { return temps_[t.idx]; }
    const std::vector<temp_info>& temps() const { return temps_; }
    std::vector<op>& ops() { return ops_; }
    const std::vector<op>& ops() const { return ops_; }
    std::uint32_t nb_labels() const { return nb_labels_; }
    std::uint32_t nb_globals() const { return nb_globals_; }

private:
    temp new_temp_of(type t, temp_kind k);
    std::vector<temp_info> temps_;
    std::vector<op> ops_;
    // Constants by value and type: open addressing, emptied per TB by
    // generation (a node map allocated and freed each constant).
    struct const_slot {
        std::uint32_t idx = 0, gen = 0;
    };
    void grow_const_table();
    std::vector<const_slot> const_table_;
    std::uint32_t const_gen_ = 1, nb_consts_ = 0;
    std::uint32_t nb_globals_ = 1;  // env is temp 0
    std::uint32_t nb_labels_ = 0;
};

// The -d op / -d op_opt text of a context.
std::string format_ops(const context& ctx);
std::string format_op(const context& ctx, const op& o);

} // namespace qf::tcg
