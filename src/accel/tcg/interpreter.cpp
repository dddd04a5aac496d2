#include "qf/accel/tcg/interpreter.hpp"

#include "qf/accel/tcg/op_eval.hpp"
#include "qf/core/error.hpp"

#include <cstring>

namespace qf::tcg {

interp_program::interp_program(const context& ctx)
    : ops(ctx.ops()), temps(ctx.temps()), label_pos(ctx.nb_labels(), ~0u) {
    for (std::uint32_t i = 0; i < ops.size(); ++i)
        if (ops[i].code == opc::set_label) label_pos[ops[i].carg(0)] = i;
    for (const op& o : ops)
        if ((o.code == opc::br && label_pos[o.carg(0)] == ~0u) || (o.code == opc::brcond && label_pos[o.carg(1)] == ~0u))
            throw error("tcg: branch to a label that is never set");
}

namespace {

struct machine_state {
    const interp_program& p;
    env_base* env;
    std::uint64_t* slot;

    std::uint64_t get(std::uint64_t idx) const {
        const temp_info& ti = p.temps[idx];
        switch (ti.kind) {
        case temp_kind::fixed: return reinterpret_cast<std::uintptr_t>(env);
        case temp_kind::constant: return ti.value;
        case temp_kind::global: {
            const auto* at = reinterpret_cast<const std::byte*>(env) + ti.offset;
            if (ti.ty == type::i32) {
                std::uint32_t v;
                std::memcpy(&v, at, 4);
                return v;
            }
            std::uint64_t v;
            std::memcpy(&v, at, 8);
            return v;
        }
        default: return slot[idx];
        }
    }
    void set(std::uint64_t idx, std::uint64_t v) const {
        const temp_info& ti = p.temps[idx];
        v &= mask_of(ti.ty);
        if (ti.kind == temp_kind::global) {
            std::memcpy(reinterpret_cast<std::byte*>(env) + ti.offset, &v, ti.ty == type::i32 ? 4 : 8);
        } else {
            slot[idx] = v;
        }
    }
};

std::uint64_t host_load(const std::byte* at, std::uint32_t mop) {
    std::uint64_t v = 0;
    std::memcpy(&v, at, memop::size(mop));
    switch (mop & 7) {
    case memop::sb: return static_cast<std::uint64_t>(static_cast<std::int8_t>(v));
    case memop::sw: return static_cast<std::uint64_t>(static_cast<std::int16_t>(v));
    case memop::sl: return static_cast<std::uint64_t>(static_cast<std::int32_t>(v));
    default: return v;
    }
}

} // namespace

interp_exit interpret(const interp_program& p, env_base* env) {
    thread_local std::vector<std::uint64_t> slots;
    if (slots.size() < p.temps.size()) slots.resize(p.temps.size());
    const machine_state s{p, env, slots.data()};
    const op* const first = p.ops.data();
    const op* const end = first + p.ops.size();
    for (const op* o = first; o != end; ++o) {
        const type t = o->ty;
        const std::uint16_t f = def_of(o->code).flags;
        if (f & op_flag::unary) {
            s.set(o->args[0], eval_unary(o->code, t, s.get(o->args[1])));
            continue;
        }
        if (f & op_flag::binary) {
            s.set(o->args[0], eval_binary(o->code, t, s.get(o->args[1]), s.get(o->args[2])));
            continue;
        }
        switch (o->code) {
        case opc::insn_start:
            env->insn_data[0] = o->args[0];
            env->insn_data[1] = o->args[1];
            break;
        case opc::discard:
        case opc::set_label:
        case opc::goto_tb:  // chaining is the cpu loop's business here
            break;
        case opc::br: o = first + p.label_pos[o->carg(0)]; break;
        case opc::brcond:
            if (eval_cond(static_cast<cond>(o->carg(0)), t, s.get(o->args[0]), s.get(o->args[1])))
                o = first + p.label_pos[o->carg(1)];
            break;
        case opc::exit_tb: return {static_cast<std::uintptr_t>(o->carg(0)), 0};
        case opc::goto_ptr: {
            const std::uint64_t target = s.get(o->args[0]);
            return {0, static_cast<std::uintptr_t>(target)};
        }
        case opc::call: {
            std::uint64_t a[6];
            for (unsigned i = 0; i < o->nb_i; ++i) a[i] = s.get(o->args[o->nb_o + i]);
            const std::uint64_t r = o->helper().thunk(a);
            if (o->nb_o) s.set(o->args[0], r);
            break;
        }
        case opc::mov: s.set(o->args[0], s.get(o->args[1])); break;
        case opc::movi: s.set(o->args[0], o->args[1]); break;
        case opc::setcond:
            s.set(o->args[0], eval_cond(static_cast<cond>(o->carg(0)), t, s.get(o->args[1]), s.get(o->args[2])));
            break;
        case opc::movcond:
            s.set(o->args[0], eval_cond(static_cast<cond>(o->carg(0)), t, s.get(o->args[1]), s.get(o->args[2]))
                                  ? s.get(o->args[3]) : s.get(o->args[4]));
            break;
        case opc::ld: {
            const auto* base = reinterpret_cast<const std::byte*>(static_cast<std::uintptr_t>(s.get(o->args[1])));
            s.set(o->args[0], host_load(base + static_cast<std::int32_t>(o->carg(1)), static_cast<std::uint32_t>(o->carg(0))));
            break;
        }
        case opc::st: {
            auto* base = reinterpret_cast<std::byte*>(static_cast<std::uintptr_t>(s.get(o->args[1])));
            const std::uint64_t v = s.get(o->args[0]);
            std::memcpy(base + static_cast<std::int32_t>(o->carg(1)), &v, memop::size(static_cast<std::uint32_t>(o->carg(0))));
            break;
        }
        case opc::guard:
            if (s.get(o->args[0]) > s.get(o->args[1])) {
                const std::uint64_t a[4] = {reinterpret_cast<std::uintptr_t>(env), s.get(o->args[0]), o->carg(1), 0};
                o->helper().thunk(a);
            }
            break;
        case opc::qemu_ld:
            s.set(o->args[0], guest_load(env, s.get(o->args[1]), static_cast<std::uint32_t>(o->carg(0)), 0));
            break;
        case opc::qemu_st:
            guest_store(env, s.get(o->args[1]), s.get(o->args[0]), static_cast<std::uint32_t>(o->carg(0)), 0);
            break;
        case opc::mulu2:
        case opc::muls2: {
            const pair r = eval_mul2(o->code, t, s.get(o->args[2]), s.get(o->args[3]));
            s.set(o->args[0], r.lo);
            s.set(o->args[1], r.hi);
            break;
        }
        case opc::extract:
            s.set(o->args[0], eval_extract(t, s.get(o->args[1]), static_cast<unsigned>(o->carg(0)), static_cast<unsigned>(o->carg(1))));
            break;
        case opc::sextract:
            s.set(o->args[0], eval_sextract(t, s.get(o->args[1]), static_cast<unsigned>(o->carg(0)), static_cast<unsigned>(o->carg(1))));
            break;
        case opc::deposit:
            s.set(o->args[0], eval_deposit(t, s.get(o->args[1]), s.get(o->args[2]), static_cast<unsigned>(o->carg(0)),
                                           static_cast<unsigned>(o->carg(1))));
            break;
        default: break;  // unary and binary ops: above
        }
    }
    throw error("tcg: TB ran off its end without exit_tb");
}

} // namespace qf::tcg
