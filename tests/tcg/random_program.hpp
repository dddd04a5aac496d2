#pragma once
// Random TCG programs for differential testing: every op at both widths,
// edge-value constants, forward branches and bounded loops, guest memory
// (RAM across page boundaries, MMIO, ROM), host loads and stores, and
// helper calls with each kind of flag.
#include "tcg_rig.hpp"

#include <random>
#include <vector>

namespace qf::tcg::test {

inline std::uint64_t edge_value(std::mt19937_64& rng) {
    static constexpr std::uint64_t edges[] = {
        0, 1, 2, ~0ull, ~0ull - 1, 0x7fff'ffff'ffff'ffffull, 0x8000'0000'0000'0000ull, 0x7fff'ffff, 0x8000'0000,
        0xffff'ffff, 0x1'0000'0000ull, 31, 32, 33, 63, 64, 65, 0xff, 0x80, 0x7f, 0xffff, 0x8000, 0x1234'5678'9abc'def0ull};
    switch (rng() % 3) {
    case 0: return edges[rng() % std::size(edges)];
    case 1: return rng() % 200;
    default: return rng();
    }
}

inline std::uint64_t pure_mix(std::uint64_t a, std::uint64_t b) { return a * 31 ^ (b >> 3); }
inline std::uint64_t sum6(std::uint64_t a, std::uint64_t b, std::uint64_t c, std::uint64_t d, std::uint64_t e,
                          std::uint64_t f) {
    return a + 2 * b + 3 * c + 5 * d + 7 * e + 11 * f;
}
inline std::uint32_t hash32(std::uint32_t a) { return (a ^ (a >> 16)) * 0x45d9f3b; }
inline void bump(env_base* env, std::uint64_t v) {
    auto* s = reinterpret_cast<rig_state*>(env);
    s->g[0] += v;
    s->calls++;
}
inline std::uint64_t read_g1(env_base* env) { return reinterpret_cast<rig_state*>(env)->g[1] * 3; }
// A guard's slow path: it sees g2 as the program left it (globals are
// stored before the check) and leaves a trace of its info.
inline void guard_note(env_base* env, std::uint64_t a, std::uint64_t info, std::uintptr_t) {
    auto* s = reinterpret_cast<rig_state*>(env);
    s->calls = s->calls * 3 + info + s->g[2] + (a & 0xffff) * 7;
}

inline constexpr helper_info h_pure_mix = make_helper<&pure_mix>("pure_mix", helper_flag::pure);
inline constexpr helper_info h_sum6 = make_helper<&sum6>("sum6", helper_flag::pure);
inline constexpr helper_info h_hash32 = make_helper<&hash32>("hash32", helper_flag::pure);
inline constexpr helper_info h_bump = make_helper<&bump>("bump", 0);
inline constexpr helper_info h_read_g1 = make_helper<&read_g1>("read_g1", helper_flag::no_write_globals);
inline constexpr helper_info h_guard_note = make_helper<&guard_note>("guard_note", helper_flag::no_write_globals);

struct program_options {
    unsigned nb_ops = 40;
    bool memory = true;
    bool control = true;
    bool calls = true;
};

class program_builder {
public:
    program_builder(context& ctx, std::mt19937_64& rng, program_options opt) : c_(ctx), rng_(rng), opt_(opt) {}

    void build() {
        for (int i = 0; i < 3; ++i) {
            locals64_.push_back(c_.new_local(type::i64));
            c_.movi(locals64_.back(), edge_value(rng_));
            locals32_.push_back(c_.new_local(type::i32));
            c_.movi(locals32_.back(), edge_value(rng_));
        }
        for (unsigned k = 0; k < opt_.nb_ops; ++k) {
            for (auto it = pending_.begin(); it != pending_.end();) {
                if (--it->countdown <= 0) {
                    set_label(it->l);
                    it = pending_.erase(it);
                } else {
                    ++it;
                }
            }
            step();
        }
        for (auto& p : pending_) set_label(p.l);
        c_.exit_tb(0);
    }

private:
    struct pending_label {
        label l;
        int countdown;
    };
    context& c_;
    std::mt19937_64& rng_;
    program_options opt_;
    std::vector<temp> locals64_, locals32_, ebb64_, ebb32_;
    std::vector<pending_label> pending_;
    bool in_loop_ = false;

    unsigned pick(unsigned n) { return static_cast<unsigned>(rng_() % n); }
    type pick_type() { return pick(2) ? type::i64 : type::i32; }

    void set_label(label l) {
        c_.set_label(l);
        ebb64_.clear();
        ebb32_.clear();
    }

    temp input(type t) {
        const unsigned r = pick(10);
        if (r < 2) return c_.constant(t, edge_value(rng_));
        auto& ebb = t == type::i64 ? ebb64_ : ebb32_;
        auto& loc = t == type::i64 ? locals64_ : locals32_;
        if (r < 5 && !ebb.empty()) return ebb[pick(static_cast<unsigned>(ebb.size()))];
        if (r < 7) return loc[pick(static_cast<unsigned>(loc.size()))];
        return t == type::i64 ? rig::g(static_cast<int>(pick(12))) : rig::h(static_cast<int>(pick(4)));
    }
    temp output(type t) {
        const unsigned r = pick(10);
        auto& ebb = t == type::i64 ? ebb64_ : ebb32_;
        if (r < 4) {
            ebb.push_back(c_.new_temp(t));
            return ebb.back();
        }
        if (r < 6 && !ebb.empty()) return ebb[pick(static_cast<unsigned>(ebb.size()))];
        if (r < 8) {
            auto& loc = t == type::i64 ? locals64_ : locals32_;
            return loc[pick(static_cast<unsigned>(loc.size()))];
        }
        return t == type::i64 ? rig::g(static_cast<int>(pick(12))) : rig::h(static_cast<int>(pick(4)));
    }
    cond pick_cond() { return static_cast<cond>(pick(12)); }

    void step() {
        const unsigned kind = pick(opt_.control ? 16 : 13);
        switch (kind) {
        case 0:
        case 1:
        case 2:
        case 3: value_op(); break;
        case 4: value_op(); break;
        case 5: division(); break;
        case 6: bitfield(); break;
        case 7: conditional(); break;
        case 8:
        case 9:
            if (opt_.memory) guest_memory();
            else value_op();
            break;
        case 10:
            if (opt_.memory) host_memory_op();
            else value_op();
            break;
        case 11:
        case 12:
            if (opt_.calls) call();
            else value_op();
            break;
        case 13:
        case 14: forward_branch(); break;
        default: loop(); break;
        }
    }

    void value_op() {
        static constexpr opc binops[] = {opc::add, opc::sub, opc::mul, opc::muluh, opc::mulsh, opc::and_,
                                         opc::or_, opc::xor_, opc::andc, opc::orc, opc::shl, opc::shr,
                                         opc::sar, opc::rotl, opc::rotr, opc::clz, opc::ctz};
        static constexpr opc unops[] = {opc::mov, opc::neg, opc::not_, opc::ext8s, opc::ext8u, opc::ext16s,
                                        opc::ext16u, opc::ext32s, opc::ext32u, opc::bswap16, opc::bswap32,
                                        opc::bswap64, opc::ctpop};
        const type t = pick_type();
        const unsigned r = pick(10);
        if (r < 5) {
            const opc o = binops[pick(std::size(binops))];
            const temp a = input(t), b = input(t);
            c_.binop(o, output(t), a, b);
        } else if (r < 8) {
            opc o = unops[pick(std::size(unops))];
            if (o == opc::bswap64 && t == type::i32) o = opc::bswap32;
            const temp a = input(t);
            c_.unop(o, output(t), a);
        } else if (r < 9) {
            if (pick(4) == 0 && !(t == type::i64 ? ebb64_ : ebb32_).empty()) {
                // An EBB temp's value ends here; it is written again before any read.
                auto& ebb = t == type::i64 ? ebb64_ : ebb32_;
                const temp d = ebb[pick(static_cast<unsigned>(ebb.size()))];
                c_.discard(d);
                c_.movi(d, edge_value(rng_));
            } else {
                c_.movi(output(t), edge_value(rng_));
            }
        } else {
            const temp a = input(t), b = input(t);
            const temp lo = output(t);
            temp hi = output(t);
            while (hi == lo) hi = output(t);
            c_.mul2(pick(2) ? opc::mulu2 : opc::muls2, lo, hi, a, b);
        }
    }

    // Divisors are made odd and dividends halved so the IR's undefined cases
    // (zero divisor, signed overflow) never occur.
    void division() {
        const type t = pick_type();
        static constexpr opc ops[] = {opc::divs, opc::divu, opc::rems, opc::remu};
        const opc o = ops[pick(4)];
        const temp d = c_.new_temp(t), n = c_.new_temp(t);
        c_.binop(opc::or_, d, input(t), c_.constant(t, 1));
        c_.binop(opc::sar, n, input(t), c_.constant(t, 1));
        c_.binop(o, output(t), n, d);
    }

    void bitfield() {
        const type t = pick_type();
        const unsigned w = bits_of(t);
        const unsigned pos = pick(w);
        const unsigned len = 1 + pick(w - pos);
        switch (pick(3)) {
        case 0: {
            const temp a = input(t);
            c_.extract(opc::extract, output(t), a, pos, len);
            break;
        }
        case 1: {
            const temp a = input(t);
            c_.extract(opc::sextract, output(t), a, pos, len);
            break;
        }
        default: {
            const temp a = input(t), b = input(t);
            c_.deposit(output(t), a, b, pos, len);
        }
        }
    }

    void conditional() {
        const type t = pick_type();
        if (pick(2)) {
            const temp a = input(t), b = input(t);
            c_.setcond(pick_cond(), output(t), a, b);
        } else {
            const temp a = input(t), b = input(t), v1 = input(t), v2 = input(t);
            c_.movcond(pick_cond(), output(t), a, b, v1, v2);
        }
    }

    void guest_memory() {
        const type at = pick_type();  // 32- and 64-bit guest addresses
        const temp addr = c_.new_temp(at);
        const unsigned where = pick(10);
        if (where < 8) {
            // Anywhere in RAM, unaligned, sometimes across a page.
            c_.binop(opc::and_, addr, input(at), c_.constant(at, ram_size - 9));
            c_.binop(opc::add, addr, addr, c_.constant(at, ram_base));
        } else if (where < 9) {
            c_.binop(opc::and_, addr, input(at), c_.constant(at, 0xff8));
            c_.binop(opc::add, addr, addr, c_.constant(at, mmio_base));
        } else {
            c_.binop(opc::and_, addr, input(at), c_.constant(at, 0xff8));
            c_.binop(opc::add, addr, addr, c_.constant(at, rom_base));
        }
        const type t = pick_type();
        std::uint32_t mop = pick(t == type::i64 ? 4 : 3);
        if (pick(2) && mop < 3) mop |= memop::sign;
        const unsigned mmu = pick(2);
        if (pick(2)) {
            c_.qemu_ld(output(t), addr, mop, mmu);
        } else {
            c_.qemu_st(input(t), addr, mop & 3, mmu);
        }
    }

    void host_memory_op() {
        const type t = pick_type();
        std::uint32_t mop = pick(t == type::i64 ? 4 : 3);
        const auto off = static_cast<std::int32_t>(offsetof(rig_state, scratch) + pick(65 - memop::size(mop)));
        if (pick(2)) {
            if (pick(2) && mop < 3) mop |= memop::sign;
            c_.ld(output(t), c_.env(), mop, off);
        } else {
            c_.st(input(t), c_.env(), mop, off);
        }
    }

    void call() {
        switch (pick(6)) {
        case 0: {
            const temp a = input(type::i64), b = input(type::i64);
            const temp args[] = {a, b};
            c_.call(h_pure_mix, output(type::i64), args);
            break;
        }
        case 1: {
            temp args[6];
            for (auto& a : args) a = input(type::i64);
            c_.call(h_sum6, output(type::i64), args);
            break;
        }
        case 2: {
            const temp args[] = {input(type::i32)};
            c_.call(h_hash32, output(type::i32), args);
            break;
        }
        case 3: {
            const temp args[] = {c_.env(), input(type::i64)};
            c_.call(h_bump, temp{}, args);
            break;
        }
        case 4: {
            const temp args[] = {c_.env()};
            c_.call(h_read_g1, output(type::i64), args);
            break;
        }
        default: {
            const type t = pick_type();
            c_.guard(input(t), input(t), h_guard_note, pick(1000));
        }
        }
    }

    void forward_branch() {
        if (in_loop_) return value_op();
        const type t = pick_type();
        const label l = c_.new_label();
        const temp a = input(t), b = input(t);
        c_.brcond(pick_cond(), a, b, l);
        if (pick(4) == 0) {
            // An unconditional skip, and code only a branch reaches.
            const label l2 = c_.new_label();
            c_.br(l2);
            ebb64_.clear();  // nothing reaches here but a label, which ends them
            ebb32_.clear();
            pending_.push_back({l2, 1 + static_cast<int>(pick(4))});
        }
        pending_.push_back({l, 1 + static_cast<int>(pick(6))});
    }

    void loop() {
        if (in_loop_ || !pending_.empty()) return value_op();
        const temp n = c_.new_local(type::i64);
        c_.movi(n, 1 + pick(4));
        const label top = c_.new_label();
        set_label(top);
        in_loop_ = true;
        const unsigned body = 1 + pick(5);
        for (unsigned i = 0; i < body; ++i) pick(3) ? value_op() : (opt_.memory ? guest_memory() : value_op());
        in_loop_ = false;
        c_.binop(opc::sub, n, n, c_.constant(type::i64, 1));
        c_.brcond(cond::ne, n, c_.constant(type::i64, 0), top);
        // The loop's EBB temps end with it.
        const label after = c_.new_label();
        set_label(after);
        locals64_.push_back(n);
    }
};

inline void random_program(context& ctx, std::mt19937_64& rng, program_options opt = {}) {
    program_builder(ctx, rng, opt).build();
}

// A random initial machine state, the same for every rig given the same seed.
inline void random_state(rig& r, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    r.reset_state();
    auto& s = r.state();
    for (auto& g : s.g) g = edge_value(rng);
    for (auto& h : s.h) h = static_cast<std::uint32_t>(edge_value(rng));
    for (auto& x : s.scratch) x = rng();
    for (std::uint64_t i = 0; i < ram_size; i += 8) {
        const std::uint64_t v = rng();
        std::memcpy(r.ram() + i, &v, 8);
    }
    r.mmio().writes.clear();
}

} // namespace qf::tcg::test
