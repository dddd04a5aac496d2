#pragma once
// Test-rig hooks as a compile-time policy: accel::tcg<Hooks...> names hook
// types, and the front end asks the policy what to emit. A policy without a
// kind of hook emits nothing for it — not a test, not a call.
//
// A hook type defines any of these static member functions:
//   hook_result on_insn(env_base*, std::uint64_t pc);   before the instruction runs
//   hook_result on_block(env_base*, std::uint64_t pc);  as a TB starts, each time it runs
//                                                       (coverage: one call per block, not per instruction)
//   hook_result on_mem(env_base*, std::uint64_t vaddr, std::uint64_t value, std::uint32_t info);
//                                                       after a guest access; info: memop | mem_store
//   hook_result on_io(env_base*, std::uint16_t port, unsigned size, bool write, std::uint32_t value);
//   hook_result on_interrupt(env_base*, unsigned vector);
//                                                       as an exception or interrupt is delivered
// Returning stop from on_insn or on_block stops before that instruction
// (the block's first), with the guest state at it; from the others, at the
// next TB boundary (port I/O ends its TB there: right after the IN or OUT). Either way the
// engine's run() returns with env->hook_stop set.
#include "qf/accel/tcg/engine.hpp"

#include <cstdint>

namespace qf::tcg {

enum class hook_result : std::uint8_t { go_on, stop };
inline constexpr std::uint32_t mem_store = 1u << 16;

namespace detail {
template <class H>
concept has_on_insn = requires { &H::on_insn; };
template <class H>
concept has_on_block = requires { &H::on_block; };
template <class H>
concept has_on_mem = requires { &H::on_mem; };
template <class H>
concept has_on_io = requires { &H::on_io; };
template <class H>
concept has_on_interrupt = requires { &H::on_interrupt; };

[[noreturn]] void hook_stop_here(env_base* env, std::uintptr_t retaddr);
void hook_stop_later(env_base* env);
} // namespace detail

template <class... Hs>
struct hook_policy {
    static constexpr bool has_insn = (detail::has_on_insn<Hs> || ...);
    static constexpr bool has_block = (detail::has_on_block<Hs> || ...);
    static constexpr bool has_mem = (detail::has_on_mem<Hs> || ...);
    static constexpr bool has_io = (detail::has_on_io<Hs> || ...);
    static constexpr bool has_interrupt = (detail::has_on_interrupt<Hs> || ...);

    // The hooks of a kind run in the order listed, and any one may ask to
    // stop. An instruction hook that stops one ends the list for it: the
    // later ones never see an instruction that does not run.
    static hook_result insn(env_base* env, std::uint64_t pc) {
        bool stop = false;
        ([&] { if constexpr (detail::has_on_insn<Hs>) stop = stop || Hs::on_insn(env, pc) == hook_result::stop; }(), ...);
        return stop ? hook_result::stop : hook_result::go_on;
    }
    static hook_result block(env_base* env, std::uint64_t pc) {
        bool stop = false;
        ([&] { if constexpr (detail::has_on_block<Hs>) stop = stop || Hs::on_block(env, pc) == hook_result::stop; }(), ...);
        return stop ? hook_result::stop : hook_result::go_on;
    }
    static hook_result mem(env_base* env, std::uint64_t vaddr, std::uint64_t value, std::uint32_t info) {
        bool stop = false;
        ([&] { if constexpr (detail::has_on_mem<Hs>) stop |= Hs::on_mem(env, vaddr, value, info) == hook_result::stop; }(), ...);
        return stop ? hook_result::stop : hook_result::go_on;
    }
    // For the target's port I/O and interrupt delivery: call unconditionally,
    // they compile to nothing without hooks of their kind.
    static void io(env_base* env, std::uint16_t port, unsigned size, bool write, std::uint32_t value) {
        if constexpr (has_io) {
            bool stop = false;
            ([&] { if constexpr (detail::has_on_io<Hs>) stop |= Hs::on_io(env, port, size, write, value) == hook_result::stop; }(), ...);
            if (stop) detail::hook_stop_later(env);
        }
    }
    static void interrupt(env_base* env, unsigned vector) {
        if constexpr (has_interrupt) {
            bool stop = false;
            ([&] { if constexpr (detail::has_on_interrupt<Hs>) stop |= Hs::on_interrupt(env, vector) == hook_result::stop; }(), ...);
            if (stop) detail::hook_stop_later(env);
        }
    }

    static void insn_helper(env_base* env, std::uint64_t pc) {
        if (insn(env, pc) == hook_result::stop)
            detail::hook_stop_here(env, reinterpret_cast<std::uintptr_t>(__builtin_return_address(0)));
    }
    static void block_helper(env_base* env, std::uint64_t pc) {
        if (block(env, pc) == hook_result::stop)
            detail::hook_stop_here(env, reinterpret_cast<std::uintptr_t>(__builtin_return_address(0)));
    }
    static void mem_helper(env_base* env, std::uint64_t vaddr, std::uint64_t value, std::uint32_t info) {
        if (mem(env, vaddr, value, info) == hook_result::stop) detail::hook_stop_later(env);
    }
    static constexpr helper_info insn_hook = make_helper<&insn_helper>("hook_insn", helper_flag::no_write_globals);
    static constexpr helper_info block_hook = make_helper<&block_helper>("hook_block", helper_flag::no_write_globals);
    static constexpr helper_info mem_hook = make_helper<&mem_helper>("hook_mem", helper_flag::no_write_globals);
};

// What a front end emits after insn_start: a call when the policy has
// instruction hooks, nothing otherwise.
template <class P>
void gen_insn_hook(translation& tr, std::uint64_t pc) {
    if constexpr (P::has_insn) {
        context& c = tr.ctx();
        const temp args[] = {c.env(), c.constant(type::i64, pc)};
        c.call(P::insn_hook, temp{}, args);
    }
}

// After a qemu_ld (value is its result) or qemu_st (value is what it stored).
template <class P>
void gen_mem_hook(context& c, temp addr, temp value, std::uint32_t oi, bool store) {
    if constexpr (P::has_mem) {
        temp a = addr, v = value;
        if (c.ty(addr) == type::i32) {
            a = c.new_temp(type::i64);
            c.unop(opc::ext32u, a, addr);
        }
        if (c.ty(value) == type::i32) {
            v = c.new_temp(type::i64);
            c.unop(opc::ext32u, v, value);
        }
        const temp args[] = {c.env(), a, v, c.constant(type::i32, memop::op_of(oi) | (store ? mem_store : 0))};
        c.call(P::mem_hook, temp{}, args);
    }
}

} // namespace qf::tcg
