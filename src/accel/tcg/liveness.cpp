#include "qf/accel/tcg/liveness.hpp"

#include <algorithm>
#include <vector>

namespace qf::tcg {

unsigned liveness_pass(context& ctx) {
    auto& ops = ctx.ops();
    const auto& temps = ctx.temps();
    const std::uint32_t nb_globals = ctx.nb_globals();
    // Kept per thread: no allocation per TB.
    thread_local std::vector<std::uint8_t> live;
    live.assign(temps.size(), 0);
    // Globals are live at every exit, branch and helper call: a word of
    // bits for 64 of them makes that one store. live[] holds the rest.
    thread_local std::vector<std::uint64_t> global_bits;
    global_bits.assign((nb_globals + 63) / 64, 0);
    auto set_globals = [&] { std::fill(global_bits.begin(), global_bits.end(), ~0ull); };
    auto is_live = [&](std::uint64_t t) {
        return t < nb_globals ? ((global_bits[t / 64] >> (t % 64)) & 1) != 0 : live[t] != 0;
    };
    auto set_dead = [&](std::uint64_t t) {
        if (t < nb_globals) global_bits[t / 64] &= ~(1ull << (t % 64));
        else live[t] = 0;
    };
    // The TB temps, and the non-global temps marked live so far: a branch
    // or exit then touches those, not every temp of the TB.
    thread_local std::vector<std::uint32_t> tb_temps, live_locals;
    tb_temps.clear();
    live_locals.clear();
    for (std::uint32_t i = nb_globals; i < temps.size(); ++i)
        if (temps[i].kind == temp_kind::tb) tb_temps.push_back(i);
    auto mark_live = [&](std::uint64_t t) {
        if (t < nb_globals) {
            global_bits[t / 64] |= 1ull << (t % 64);
        } else if (!live[t]) {
            live[t] = 1;
            live_locals.push_back(static_cast<std::uint32_t>(t));
        }
    };
    auto clear_locals = [&] {
        for (std::uint32_t t : live_locals) live[t] = 0;
        live_locals.clear();
    };
    auto tb_temps_live = [&] {
        for (std::uint32_t t : tb_temps) mark_live(t);
    };
    thread_local std::vector<bool> removed;
    removed.assign(ops.size(), false);
    unsigned nb_removed = 0;

    for (std::size_t k = ops.size(); k-- > 0;) {
        op& o = ops[k];
        const op_def& d = def_of(o.code);
        o.dead = 0;
        // State after the op, as the op's kind of exit sees it.
        if (d.flags & op_flag::bb_end) {
            if (d.flags & op_flag::bb_exit) {
                clear_locals();
                set_globals();
            } else if (d.flags & op_flag::cond_branch) {
                set_globals();
                tb_temps_live();
            } else if (o.code == opc::goto_tb) {
                set_globals();
            } else {  // set_label, br: EBB temps die, TB temps may be read after
                set_globals();
                clear_locals();
                tb_temps_live();
            }
        }
        if (o.code == opc::discard) {
            set_dead(o.args[0]);
            removed[k] = true;
            ++nb_removed;
            continue;
        }
        // Dead code: every output unread and nothing else observable.
        bool has_effects = (d.flags & op_flag::side_effects) != 0;
        if (o.code == opc::call && (o.helper().flags & helper_flag::no_side_effects)) has_effects = false;
        if (!has_effects && o.nb_o > 0) {
            bool any_live = false;
            for (unsigned i = 0; i < o.nb_o; ++i) any_live |= is_live(o.args[i]);
            if (!any_live) {
                removed[k] = true;
                ++nb_removed;
                continue;
            }
        }
        // A widening multiply whose high half is never read is a plain
        // multiply (x86's IMUL r, r/m, imm whose flags are overwritten
        // before anything reads them): the JIT then needs no RDX:RAX pair.
        if ((o.code == opc::mulu2 || o.code == opc::muls2) && !is_live(o.args[1])) {
            o.code = opc::mul;
            o.nb_o = 1;
            o.args[1] = o.args[2];
            o.args[2] = o.args[3];
        }
        for (unsigned i = 0; i < o.nb_o; ++i) {
            const auto t = o.args[i];
            if (!is_live(t)) o.dead |= 1u << i;
            set_dead(t);
        }
        if (o.code == opc::call) {
            const auto f = o.helper().flags;
            if (!(f & helper_flag::no_read_globals) || !(f & helper_flag::no_write_globals)) set_globals();
        }
        if (d.flags & op_flag::may_raise) set_globals();
        for (unsigned i = o.nb_o; i < unsigned(o.nb_o) + o.nb_i; ++i) {
            const auto t = o.args[i];
            const temp_kind kind = temps[t].kind;
            if (kind == temp_kind::constant || kind == temp_kind::fixed) continue;
            if (!is_live(t)) o.dead |= 1u << i;
            mark_live(t);
        }
    }
    if (nb_removed) {
        std::size_t w = 0;
        for (std::size_t r = 0; r < ops.size(); ++r)
            if (!removed[r]) ops[w++] = ops[r];
        ops.resize(w);
    }
    return nb_removed;
}

} // namespace qf::tcg
