#include "qf/accel/tcg/optimizer.hpp"

#include "qf/accel/tcg/op_eval.hpp"

#include <vector>

namespace qf::tcg {

namespace {

// What the optimizer knows about temps, kept from TB to TB on each thread:
// a TB's facts carry its generations, which no later TB reuses, so nothing
// is cleared (or allocated) per TB.
struct knowledge {
    struct info {
        std::uint32_t gen = 0;      // valid only in the block that set it
        bool is_const = false;
        std::uint64_t value = 0;
        std::uint32_t copy_of = ~0u;
        std::uint32_t copy_version = 0;
        // The temp holds setcond(cmp, a, b) (of type cmp_ty), while a and b
        // keep these versions: a branch on it can test a and b itself.
        bool is_cond = false;
        cond cmp = cond::never;
        type cmp_ty = type::i64;
        std::uint32_t a = 0, b = 0, a_version = 0, b_version = 0;
        // Bits that may be set (the rest are known zero): a zero-extension
        // of a value already zero-extended is a copy.
        std::uint64_t may_set = ~0ull;
    };
    std::vector<info> infos;
    std::vector<std::uint32_t> versions;  // bumped on every write of a temp
    std::uint32_t gen = 1;
    std::vector<op> spare;  // the previous TB's op buffer, for its capacity
};
thread_local knowledge known_facts;

class optimizer {
public:
    explicit optimizer(context& ctx)
        : ctx_(ctx), info_(known_facts.infos), version_(known_facts.versions), gen_(known_facts.gen) {
        if (gen_ > 0xffff'0000u) {  // generations run out: start afresh
            info_.clear();
            version_.clear();
            gen_ = 1;
        }
        ++gen_;
    }
    ~optimizer() { known_facts.gen = gen_ + 1; }

    optimize_stats run() {
        std::vector<op>& in = known_facts.spare;
        in.clear();
        in.swap(ctx_.ops());
        std::vector<op>& out = ctx_.ops();
        out.reserve(in.size());
        grow();
        bool unreachable = false;
        for (op& o : in) {
            if (unreachable) {
                if (o.code != opc::set_label) {
                    ++stats_.unreachable;
                    continue;
                }
                unreachable = false;
            }
            if (o.code == opc::set_label) {
                ++gen_;  // every path into a label may bring other values
                out.push_back(o);
                continue;
            }
            propagate_inputs(o);
            if (!simplify(o, out)) continue;
            record_outputs(o);
            out.push_back(o);
            const auto f = def_of(o.code).flags;
            if (o.code == opc::br || (f & op_flag::bb_exit)) unreachable = true;
        }
        return stats_;
    }

private:
    using info = knowledge::info;
    context& ctx_;
    std::vector<info>& info_;
    std::vector<std::uint32_t>& version_;
    std::uint32_t gen_;
    optimize_stats stats_;

    void grow() {
        if (info_.size() < ctx_.temps().size()) info_.resize(ctx_.temps().size());
        if (version_.size() < ctx_.temps().size()) version_.resize(ctx_.temps().size());
    }
    temp_kind kind(std::uint64_t t) const { return ctx_.temps()[t].kind; }
    type ty(std::uint64_t t) const { return ctx_.temps()[t].ty; }

    bool known(std::uint64_t t, std::uint64_t& v) const {
        if (kind(t) == temp_kind::constant) {
            v = ctx_.temps()[t].value;
            return true;
        }
        const info& i = info_[t];
        if (i.gen == gen_ && i.is_const) {
            v = i.value;
            return true;
        }
        return false;
    }
    bool is_const(std::uint64_t t) const {
        std::uint64_t v;
        return known(t, v);
    }
    std::uint64_t cval(std::uint64_t t) const {
        std::uint64_t v = 0;
        known(t, v);
        return v;
    }
    std::uint64_t canon(std::uint64_t t) const {
        const info& i = info_[t];
        if (i.gen == gen_ && i.copy_of != ~0u && version_[i.copy_of] == i.copy_version) return i.copy_of;
        return t;
    }

    void propagate_inputs(op& o) {
        for (unsigned k = o.nb_o; k < unsigned(o.nb_o) + o.nb_i; ++k) {
            const std::uint64_t t = o.args[k];
            if (kind(t) == temp_kind::constant || kind(t) == temp_kind::fixed) continue;
            std::uint64_t v;
            if (known(t, v)) {
                o.args[k] = ctx_.constant(ty(t), v).idx;
                grow();
            } else {
                o.args[k] = canon(t);
            }
        }
    }

    // What is known of t is gone: only the generation is cleared (every
    // reader checks it, every writer of facts sets the whole entry).
    void written(std::uint64_t t) {
        ++version_[t];
        info_[t].gen = 0;
    }
    void record_outputs(const op& o) {
        // x ^ 1 of a 0/1 condition is the inverse condition (taken before
        // the write: the translator flips in place).
        info flipped{};
        if (o.code == opc::xor_ && is_const(o.args[2]) && cval(o.args[2]) == 1 && cond_valid(info_[o.args[1]]))
            flipped = info_[o.args[1]];
        // From the inputs before the write: x = ext32u(x) keeps what x had.
        const std::uint64_t z = o.nb_o == 1 ? may_set_by(o) & mask_of(o.ty) : ~0ull;
        for (unsigned k = 0; k < o.nb_o; ++k) written(o.args[k]);
        if (o.code == opc::movi) {
            info_[o.args[0]] = {gen_, true, o.args[1], ~0u, 0};
        } else if (o.code == opc::mov && o.args[0] != o.args[1]) {
            const std::uint64_t src = o.args[1];
            if (kind(src) == temp_kind::constant) info_[o.args[0]] = {gen_, true, ctx_.temps()[src].value, ~0u, 0};
            else if (kind(src) != temp_kind::fixed) info_[o.args[0]] = {gen_, false, 0, static_cast<std::uint32_t>(src), version_[src]};
        } else if (o.code == opc::call && !(o.helper().flags & helper_flag::no_write_globals)) {
            for (std::uint32_t g = 1; g < ctx_.nb_globals(); ++g) written(g);
        } else if (o.code == opc::setcond) {
            note_cond(o.args[0], static_cast<cond>(o.carg(0)), o.ty, o.args[1], o.args[2]);
        } else if (flipped.is_cond) {
            note_cond(o.args[0], invert(flipped.cmp), flipped.cmp_ty, flipped.a, flipped.b);
        }
        if (o.nb_o == 1) {
            if (z != mask_of(o.ty)) {
                info& i = info_[o.args[0]];
                if (i.gen != gen_) i = {gen_};
                i.may_set = z;
            }
        }
    }
    // The bits an op's output may have set, from its inputs' (QEMU's z_mask).
    // Out of line: inlined into simplify's many paths it cost 8 KB of code.
    [[gnu::noinline]] std::uint64_t may_set(std::uint64_t t) const {
        std::uint64_t v;
        if (known(t, v)) return v;
        const info& i = info_[t];
        return i.gen == gen_ ? i.may_set : ~0ull;
    }
    [[gnu::noinline]] std::uint64_t may_set_by(const op& o) const {
        const auto in = [&](unsigned k) { return may_set(o.args[o.nb_o + k]); };
        const auto width = [](std::uint64_t bits) { return bits >= 64 ? ~0ull : (1ull << bits) - 1; };
        switch (o.code) {
        case opc::movi: return o.args[1];
        case opc::mov: return in(0);
        case opc::ext8u: return in(0) & 0xff;
        case opc::ext16u: return in(0) & 0xffff;
        case opc::ext32u: return in(0) & 0xffff'ffff;
        case opc::and_: return in(0) & in(1);
        case opc::or_:
        case opc::xor_: return in(0) | in(1);
        case opc::movcond: return in(2) | in(3);
        case opc::setcond: return 1;
        case opc::shr:
            if (is_const(o.args[2])) return in(0) >> (cval(o.args[2]) & (bits_of(o.ty) - 1));
            return ~0ull;
        case opc::shl:
            if (is_const(o.args[2])) return in(0) << (cval(o.args[2]) & (bits_of(o.ty) - 1));
            return ~0ull;
        case opc::extract: return width(o.carg(1));
        case opc::deposit: {
            const std::uint64_t f = width(o.carg(1)) << o.carg(0);
            return (in(0) & ~f) | ((in(1) << o.carg(0)) & f);
        }
        case opc::ld:
        case opc::qemu_ld: {
            const std::uint32_t mop = memop::op_of(static_cast<std::uint32_t>(o.carg(0)));
            return memop::is_signed(mop) ? ~0ull : width(8u * memop::size(mop));
        }
        default: return ~0ull;
        }
    }
    bool cond_valid(const info& i) const {
        return i.gen == gen_ && i.is_cond && version_[i.a] == i.a_version && version_[i.b] == i.b_version;
    }
    void note_cond(std::uint64_t out, cond c, type t, std::uint64_t a, std::uint64_t b) {
        if (a == out || b == out) return;  // the compare's inputs are gone
        info& i = info_[out];
        i = {gen_};
        i.is_cond = true;
        i.cmp = c;
        i.cmp_ty = t;
        i.a = static_cast<std::uint32_t>(a);
        i.b = static_cast<std::uint32_t>(b);
        i.a_version = version_[a];
        i.b_version = version_[b];
    }

    void to_movi(op& o, std::uint64_t v) {
        const std::uint64_t d = o.args[0];
        o.code = opc::movi;
        o.nb_o = 1;
        o.nb_i = 0;
        o.nb_c = 1;
        o.args[0] = d;
        o.args[1] = v & mask_of(o.ty);
        ++stats_.folded;
    }
    void to_mov(op& o, std::uint64_t src) {
        const std::uint64_t d = o.args[0];
        o.code = opc::mov;
        o.nb_o = 1;
        o.nb_i = 1;
        o.nb_c = 0;
        o.args[0] = d;
        o.args[1] = src;
        ++stats_.simplified;
    }

    // Returns false when the op is to be dropped.
    bool simplify(op& o, std::vector<op>& out) {
        const type t = o.ty;
        const std::uint64_t m = mask_of(t);
        const auto flags = def_of(o.code).flags;
        // Constants second, so identities and the JIT's immediates see them.
        if ((flags & op_flag::commutative) && o.nb_o == 1 && is_const(o.args[1]) && !is_const(o.args[2]))
            std::swap(o.args[1], o.args[2]);
        if (flags & op_flag::unary) {
            if (is_const(o.args[1])) {
                to_movi(o, eval_unary(o.code, t, cval(o.args[1])));
            } else {
                const std::uint64_t keep = o.code == opc::ext8u ? 0xff : o.code == opc::ext16u ? 0xffff
                                         : o.code == opc::ext32u ? 0xffff'ffff : 0;
                if (keep && (may_set(o.args[1]) & ~keep & m) == 0) to_mov(o, o.args[1]);
            }
            return true;
        }
        const bool division = o.code == opc::divs || o.code == opc::divu || o.code == opc::rems || o.code == opc::remu;
        if ((flags & op_flag::binary) && !division) return binary(o);
        switch (o.code) {
        case opc::mov:
            if (canon(o.args[0]) == canon(o.args[1]) && kind(o.args[1]) != temp_kind::constant) {
                ++stats_.simplified;
                return false;
            }
            if (is_const(o.args[1])) to_movi(o, cval(o.args[1]));
            return true;
        case opc::divs:
        case opc::divu:
        case opc::rems:
        case opc::remu:
            // Folding an undefined division would hide the front end's bug.
            if (is_const(o.args[1]) && is_const(o.args[2]) && cval(o.args[2]) != 0 &&
                !((o.code == opc::divs || o.code == opc::rems) && (cval(o.args[2]) & m) == m))
                to_movi(o, eval_binary(o.code, t, cval(o.args[1]), cval(o.args[2])));
            return true;
        case opc::mulu2:
        case opc::muls2:
            if (is_const(o.args[2]) && is_const(o.args[3])) {
                const pair r = eval_mul2(o.code, t, cval(o.args[2]), cval(o.args[3]));
                op hi = o;
                hi.args[0] = o.args[1];
                to_movi(hi, r.hi);
                to_movi(o, r.lo);
                // Both inputs are constants, so two movi are the same op.
                record_outputs(o);
                out.push_back(o);
                o = hi;
            }
            return true;
        case opc::extract:
            if (is_const(o.args[1]))
                to_movi(o, eval_extract(t, cval(o.args[1]), static_cast<unsigned>(o.carg(0)), static_cast<unsigned>(o.carg(1))));
            return true;
        case opc::sextract:
            if (is_const(o.args[1]))
                to_movi(o, eval_sextract(t, cval(o.args[1]), static_cast<unsigned>(o.carg(0)), static_cast<unsigned>(o.carg(1))));
            return true;
        case opc::deposit:
            if (is_const(o.args[1]) && is_const(o.args[2]))
                to_movi(o, eval_deposit(t, cval(o.args[1]), cval(o.args[2]), static_cast<unsigned>(o.carg(0)),
                                        static_cast<unsigned>(o.carg(1))));
            return true;
        case opc::setcond: {
            const int d = decide(static_cast<cond>(o.carg(0)), t, o.args[1], o.args[2]);
            if (d >= 0) to_movi(o, static_cast<std::uint64_t>(d));
            return true;
        }
        case opc::movcond: {
            const int d = decide(static_cast<cond>(o.carg(0)), t, o.args[1], o.args[2]);
            if (d >= 0) {
                const std::uint64_t src = d ? o.args[3] : o.args[4];
                if (is_const(src)) to_movi(o, cval(src));
                else to_mov(o, src);
            }
            return true;
        }
        case opc::brcond: {
            // A branch on a condition just computed: branch on its compare.
            const auto bc = static_cast<cond>(o.carg(0));
            if ((bc == cond::ne || bc == cond::eq) && is_const(o.args[1]) && cval(o.args[1]) == 0) {
                const info& i = info_[o.args[0]];
                if (cond_valid(i)) {
                    o.ty = i.cmp_ty;
                    o.args[0] = i.a;
                    o.args[1] = i.b;
                    o.args[2] = static_cast<std::uint64_t>(bc == cond::ne ? i.cmp : invert(i.cmp));
                    ++stats_.simplified;
                }
            }
            const int d = decide(static_cast<cond>(o.carg(0)), o.ty, o.args[0], o.args[1]);
            if (d == 0) {
                ++stats_.branches;
                return false;
            }
            if (d == 1) {
                const std::uint64_t l = o.carg(1);
                o.code = opc::br;
                o.nb_o = o.nb_i = 0;
                o.nb_c = 1;
                o.args[0] = l;
                ++stats_.branches;
            }
            return true;
        }
        default: return true;
        }
    }

    // 1 or 0 when the condition is known, -1 otherwise.
    int decide(cond c, type t, std::uint64_t a, std::uint64_t b) const {
        if (c == cond::always) return 1;
        if (c == cond::never) return 0;
        if (is_const(a) && is_const(b)) return eval_cond(c, t, cval(a), cval(b));
        if (canon(a) == canon(b)) {
            switch (c) {
            case cond::eq:
            case cond::ge:
            case cond::le:
            case cond::geu:
            case cond::leu: return 1;
            default: return 0;
            }
        }
        if (is_const(b) && cval(b) == 0) {
            if (c == cond::geu) return 1;  // x >= 0 unsigned
            if (c == cond::ltu) return 0;
        }
        return -1;
    }

    bool binary(op& o) {
        const type t = o.ty;
        const std::uint64_t m = mask_of(t);
        const std::uint64_t a = o.args[1], b = o.args[2];
        if (is_const(a) && is_const(b)) {
            to_movi(o, eval_binary(o.code, t, cval(a), cval(b)));
            return true;
        }
        const bool same = canon(a) == canon(b);
        if (same) {
            switch (o.code) {
            case opc::sub:
            case opc::xor_:
            case opc::andc: to_movi(o, 0); return true;
            case opc::and_:
            case opc::or_: to_mov(o, a); return true;
            case opc::orc: to_movi(o, m); return true;
            default: break;
            }
        }
        if (!is_const(b)) {
            if (is_const(a) && cval(a) == 0) {
                switch (o.code) {
                case opc::shl:
                case opc::shr:
                case opc::sar:
                case opc::rotl:
                case opc::rotr: to_movi(o, 0); return true;
                default: return true;
                }
            }
            return true;
        }
        const std::uint64_t v = cval(b) & m;
        switch (o.code) {
        case opc::add:
        case opc::sub:
        case opc::or_:
        case opc::xor_:
            if (v == 0) to_mov(o, a);
            else if (v == m && o.code == opc::or_) to_movi(o, m);
            break;
        case opc::shl:
        case opc::shr:
        case opc::sar:
        case opc::rotl:
        case opc::rotr:
            if ((v & (bits_of(t) - 1)) == 0) to_mov(o, a);
            break;
        case opc::mul:
            if (v == 1) to_mov(o, a);
            else if (v == 0) to_movi(o, 0);
            break;
        case opc::muluh:
        case opc::mulsh:
            if (v == 0) to_movi(o, 0);
            break;
        case opc::and_:
            if (v == 0) to_movi(o, 0);
            else if (v == m || (may_set(a) & ~v & m) == 0) to_mov(o, a);
            break;
        case opc::andc:
            if (v == 0) to_mov(o, a);
            else if (v == m) to_movi(o, 0);
            break;
        case opc::orc:
            if (v == m) to_mov(o, a);
            else if (v == 0) to_movi(o, m);
            break;
        default: break;
        }
        return true;
    }
};

} // namespace

optimize_stats optimize(context& ctx) { return optimizer(ctx).run(); }

} // namespace qf::tcg
