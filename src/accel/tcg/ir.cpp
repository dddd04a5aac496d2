#include "qf/accel/tcg/ir.hpp"

#include "qf/core/error.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

namespace qf::tcg {

cond invert(cond c) {
    switch (c) {
    case cond::never: return cond::always;
    case cond::always: return cond::never;
    case cond::eq: return cond::ne;
    case cond::ne: return cond::eq;
    case cond::lt: return cond::ge;
    case cond::ge: return cond::lt;
    case cond::le: return cond::gt;
    case cond::gt: return cond::le;
    case cond::ltu: return cond::geu;
    case cond::geu: return cond::ltu;
    case cond::leu: return cond::gtu;
    case cond::gtu: return cond::leu;
    }
    return c;
}

cond swap(cond c) {
    switch (c) {
    case cond::lt: return cond::gt;
    case cond::gt: return cond::lt;
    case cond::le: return cond::ge;
    case cond::ge: return cond::le;
    case cond::ltu: return cond::gtu;
    case cond::gtu: return cond::ltu;
    case cond::leu: return cond::geu;
    case cond::geu: return cond::leu;
    default: return c;
    }
}

bool eval_cond(cond c, type t, std::uint64_t a, std::uint64_t b) {
    a &= mask_of(t);
    b &= mask_of(t);
    const std::int64_t sa = t == type::i32 ? static_cast<std::int32_t>(a) : static_cast<std::int64_t>(a);
    const std::int64_t sb = t == type::i32 ? static_cast<std::int32_t>(b) : static_cast<std::int64_t>(b);
    switch (c) {
    case cond::never: return false;
    case cond::always: return true;
    case cond::eq: return a == b;
    case cond::ne: return a != b;
    case cond::lt: return sa < sb;
    case cond::ge: return sa >= sb;
    case cond::le: return sa <= sb;
    case cond::gt: return sa > sb;
    case cond::ltu: return a < b;
    case cond::geu: return a >= b;
    case cond::leu: return a <= b;
    case cond::gtu: return a > b;
    }
    return false;
}

std::string_view name_of(cond c) {
    static constexpr std::string_view names[] = {"never", "always", "eq", "ne", "lt", "ge",
                                                 "le", "gt", "ltu", "geu", "leu", "gtu"};
    return names[static_cast<unsigned>(c)];
}

context::context() { temps_.push_back({type::i64, temp_kind::fixed, 0, 0, "env"}); }

temp context::global(type t, std::int32_t env_offset, std::string name) {
    if (temps_.size() != nb_globals_) throw error("tcg: globals must be created before the first temp");
    temps_.push_back({t, temp_kind::global, env_offset, 0, std::move(name)});
    return temp{nb_globals_++};
}

void context::reset() {
    temps_.resize(nb_globals_);
    ops_.clear();
    // A new generation empties the constants' table without touching it.
    if (++const_gen_ == 0) {
        std::fill(const_table_.begin(), const_table_.end(), const_slot{});
        const_gen_ = 1;
    }
    nb_consts_ = 0;
    nb_labels_ = 0;
}

temp context::new_temp_of(type t, temp_kind k) {
    temps_.push_back({t, k, 0, 0, {}});
    return temp{static_cast<std::uint32_t>(temps_.size() - 1)};
}

namespace {
std::size_t const_hash(type t, std::uint64_t v) {
    return static_cast<std::size_t>(((v ^ static_cast<std::uint64_t>(t)) * 0x9e37'79b9'7f4a'7c15ull) >> 32);
}
} // namespace

temp context::constant(type t, std::uint64_t v) {
    v &= mask_of(t);
    if (2 * (nb_consts_ + 1) > const_table_.size()) grow_const_table();
    const std::size_t mask = const_table_.size() - 1;
    for (std::size_t h = const_hash(t, v) & mask;; h = (h + 1) & mask) {
        const_slot& s = const_table_[h];
        if (s.gen != const_gen_) {
            s = {static_cast<std::uint32_t>(temps_.size()), const_gen_};
            temps_.push_back({t, temp_kind::constant, 0, v, {}});
            ++nb_consts_;
            return temp{s.idx};
        }
        const temp_info& ti = temps_[s.idx];
        if (ti.value == v && ti.ty == t) return temp{s.idx};
    }
}

void context::grow_const_table() {
    std::vector<const_slot> old(std::max<std::size_t>(64, const_table_.size() * 2));
    old.swap(const_table_);
    const std::size_t mask = const_table_.size() - 1;
    for (const const_slot& s : old) {
        if (s.gen != const_gen_) continue;
        const temp_info& ti = temps_[s.idx];
        std::size_t h = const_hash(ti.ty, ti.value) & mask;
        while (const_table_[h].gen == const_gen_) h = (h + 1) & mask;
        const_table_[h] = s;
    }
}

op& context::emit(opc code, type t, std::initializer_list<std::uint64_t> args) {
    const op_def& d = def_of(code);
    if (args.size() != std::size_t{d.nb_oargs} + d.nb_iargs + d.nb_cargs)
        throw error("tcg: " + std::string(d.name) + " takes " +
                    std::to_string(d.nb_oargs + d.nb_iargs + d.nb_cargs) + " arguments");
    op& o = ops_.emplace_back();
    o.code = code;
    o.ty = t;
    o.nb_o = d.nb_oargs;
    o.nb_i = d.nb_iargs;
    o.nb_c = d.nb_cargs;
    std::size_t i = 0;
    for (auto a : args) o.args[i++] = a;
    return o;
}

void context::call(const helper_info& h, temp ret, std::span<const temp> args) {
    if (args.size() != h.nb_args)
        throw error(std::string("tcg: helper ") + h.name + " takes " + std::to_string(h.nb_args) + " arguments");
    if (ret.valid() != h.returns)
        throw error(std::string("tcg: helper ") + h.name + (h.returns ? " returns a value" : " returns nothing"));
    op& o = ops_.emplace_back();
    o.code = opc::call;
    o.ty = ret.valid() ? ty(ret) : type::i64;
    o.nb_o = ret.valid() ? 1 : 0;
    o.nb_i = static_cast<std::uint8_t>(args.size());
    o.nb_c = 1;
    std::size_t i = 0;
    if (ret.valid()) o.args[i++] = ret.idx;
    for (temp a : args) o.args[i++] = a.idx;
    o.args[i] = reinterpret_cast<std::uintptr_t>(&h);
}

namespace {

std::string temp_name(const context& ctx, temp t) {
    const temp_info& ti = ctx.info(t);
    char buf[40];
    switch (ti.kind) {
    case temp_kind::fixed:
    case temp_kind::global: return ti.name;
    case temp_kind::constant: std::snprintf(buf, sizeof buf, "$0x%" PRIx64, ti.value); return buf;
    case temp_kind::tb: std::snprintf(buf, sizeof buf, "loc%u", t.idx - ctx.nb_globals()); return buf;
    case temp_kind::ebb: std::snprintf(buf, sizeof buf, "tmp%u", t.idx - ctx.nb_globals()); return buf;
    }
    return "?";
}

std::string memop_name(std::uint32_t m) {
    static constexpr const char* sizes[] = {"b", "w", "l", "q"};
    return std::string(memop::is_signed(m) ? "s" : "u") + sizes[memop::size_log2(m)];
}

} // namespace

std::string format_op(const context& ctx, const op& o) {
    char buf[64];
    std::string s = " ";
    if (o.code == opc::insn_start) {
        std::snprintf(buf, sizeof buf, " ---- %016" PRIx64 " %016" PRIx64, o.args[0], o.args[1]);
        return buf;
    }
    s += def_of(o.code).name;
    const bool typed = o.code != opc::set_label && o.code != opc::br && o.code != opc::goto_tb &&
                       o.code != opc::exit_tb && o.code != opc::goto_ptr && o.code != opc::call;
    if (typed) s += o.ty == type::i32 ? "_i32" : "_i64";
    if (o.code == opc::call) s += std::string(" ") + o.helper().name + ",";
    s += ' ';
    bool first = true;
    auto sep = [&] {
        if (!first) s += ',';
        first = false;
    };
    for (unsigned i = 0; i < o.nb_o + o.nb_i; ++i) {
        sep();
        s += temp_name(ctx, temp{static_cast<std::uint32_t>(o.args[i])});
    }
    switch (o.code) {
    case opc::set_label:
    case opc::br: sep(); s += "$L" + std::to_string(o.carg(0)); break;
    case opc::brcond:
        sep(); s += name_of(static_cast<cond>(o.carg(0)));
        sep(); s += "$L" + std::to_string(o.carg(1));
        break;
    case opc::setcond:
    case opc::movcond: sep(); s += name_of(static_cast<cond>(o.carg(0))); break;
    case opc::ld:
    case opc::st:
        sep(); s += memop_name(static_cast<std::uint32_t>(o.carg(0)));
        std::snprintf(buf, sizeof buf, ",$%d", static_cast<std::int32_t>(o.carg(1)));
        s += buf;
        break;
    case opc::qemu_ld:
    case opc::qemu_st: {
        const auto oi = static_cast<std::uint32_t>(o.carg(0));
        sep(); s += memop_name(memop::op_of(oi)) + ",mmu" + std::to_string(memop::mmu_of(oi));
        break;
    }
    case opc::call: break;
    case opc::guard:
        sep(); s += o.helper().name;
        sep(); s += std::to_string(o.carg(1));
        break;
    default:
        for (unsigned i = 0; i < o.nb_c; ++i) {
            sep();
            std::snprintf(buf, sizeof buf, "$0x%" PRIx64, o.carg(i));
            s += buf;
        }
    }
    if (o.dead) {
        std::snprintf(buf, sizeof buf, "  dead: %#x", o.dead);
        s.append(std::max<std::size_t>(1, 40 > s.size() ? 40 - s.size() : 1), ' ');
        s += buf + 2;
    }
    return s;
}

std::string format_ops(const context& ctx) {
    std::string s;
    for (const op& o : ctx.ops()) {
        s += format_op(ctx, o);
        s += '\n';
    }
    return s;
}

} // namespace qf::tcg
