#include "targets/x86/cpu_state.hpp"

#include <bit>

namespace qf::x86 {

namespace {

std::uint64_t parity(std::uint64_t v) { return (std::popcount(v & 0xff) & 1) ? 0 : eflags_bit::pf; }

struct sized {
    unsigned bits;
    std::uint64_t mask;
    std::uint64_t sign;
    explicit sized(unsigned size_log2)
        : bits(8u << size_log2), mask(bits == 64 ? ~0ull : (1ull << bits) - 1), sign(1ull << (bits - 1)) {}
};

std::uint64_t szp(std::uint64_t dst, const sized& z) {
    dst &= z.mask;
    return (dst == 0 ? eflags_bit::zf : 0) | ((dst & z.sign) ? eflags_bit::sf : 0) | parity(dst);
}

} // namespace

std::uint64_t compute_eflags_lazy(std::uint32_t op, std::uint64_t dst, std::uint64_t src, std::uint64_t src2) {
    if (op == CC_OP_EFLAGS) return src & eflags_bit::arith;
    const unsigned sl = op & 3;
    const sized z(sl);
    const std::uint32_t kind = op & ~3u;
    dst &= z.mask;
    std::uint64_t f = 0;
    switch (kind) {
    case CC_OP_ADDB:
    case CC_OP_ADCB: {
        const std::uint64_t b = src & z.mask;
        const std::uint64_t c = kind == CC_OP_ADCB ? (src2 & 1) : 0;
        const std::uint64_t a = (dst - b - c) & z.mask;
        const bool cf = c ? dst <= a : dst < a;
        f = (cf ? eflags_bit::cf : 0) | ((a ^ b ^ dst) & eflags_bit::af) | szp(dst, z) |
            ((((a ^ b ^ z.mask) & (a ^ dst)) & z.sign) ? eflags_bit::of : 0);
        break;
    }
    case CC_OP_SUBB:
    case CC_OP_SBBB: {
        const std::uint64_t b = src & z.mask;
        const std::uint64_t c = kind == CC_OP_SBBB ? (src2 & 1) : 0;
        const std::uint64_t a = (dst + b + c) & z.mask;
        const bool cf = c ? a <= b : a < b;
        f = (cf ? eflags_bit::cf : 0) | ((a ^ b ^ dst) & eflags_bit::af) | szp(dst, z) |
            ((((a ^ b) & (a ^ dst)) & z.sign) ? eflags_bit::of : 0);
        break;
    }
    case CC_OP_LOGICB: f = szp(dst, z); break;
    case CC_OP_INCB: {
        const std::uint64_t a = (dst - 1) & z.mask;
        f = (src & eflags_bit::cf) | ((a ^ 1 ^ dst) & eflags_bit::af) | szp(dst, z) |
            (dst == z.sign ? eflags_bit::of : 0);
        break;
    }
    case CC_OP_DECB: {
        const std::uint64_t a = (dst + 1) & z.mask;
        f = (src & eflags_bit::cf) | ((a ^ 1 ^ dst) & eflags_bit::af) | szp(dst, z) |
            (dst == z.sign - 1 ? eflags_bit::of : 0);
        break;
    }
    case CC_OP_SHLB:
        f = ((src >> (z.bits - 1)) & eflags_bit::cf) | szp(dst, z) |
            ((((src ^ dst) & z.sign) ? eflags_bit::of : 0));
        break;
    case CC_OP_SARB:
        f = (src & eflags_bit::cf) | szp(dst, z) | ((((src ^ dst) & z.sign) ? eflags_bit::of : 0));
        break;
    case CC_OP_MULB: f = szp(dst, z) | (src ? eflags_bit::cf | eflags_bit::of : 0); break;
    default: break;
    }
    return f;
}

std::uint64_t compute_eflags(const state& s) {
    return (s.eflags & ~eflags_bit::arith) | compute_eflags_lazy(s.cc_op, s.cc_dst, s.cc_src, s.cc_src2) |
           eflags_bit::fixed1;
}

std::uint64_t compute_cf_lazy(std::uint32_t op, std::uint64_t dst, std::uint64_t src, std::uint64_t src2) {
    if (op == CC_OP_EFLAGS) return src & eflags_bit::cf;
    const sized z(op & 3);
    dst &= z.mask;
    switch (op & ~3u) {
    case CC_OP_ADDB: return dst < (src & z.mask);
    case CC_OP_ADCB: {
        const std::uint64_t b = src & z.mask, c = src2 & 1, a = (dst - b - c) & z.mask;
        return c ? dst <= a : dst < a;
    }
    case CC_OP_SUBB: return ((dst + src) & z.mask) < (src & z.mask);
    case CC_OP_SBBB: {
        const std::uint64_t b = src & z.mask, c = src2 & 1, a = (dst + b + c) & z.mask;
        return c ? a <= b : a < b;
    }
    case CC_OP_INCB:
    case CC_OP_DECB:
    case CC_OP_SARB: return src & eflags_bit::cf;
    case CC_OP_SHLB: return (src >> (z.bits - 1)) & eflags_bit::cf;
    case CC_OP_MULB: return src != 0;
    default: return 0;  // LOGIC
    }
}

std::uint64_t compute_cf(const state& s) { return compute_cf_lazy(s.cc_op, s.cc_dst, s.cc_src, s.cc_src2); }

void load_eflags(state& s, std::uint64_t value, std::uint64_t mask) {
    const std::uint64_t cur = compute_eflags(s);
    const std::uint64_t v = (cur & ~mask) | (value & mask);
    s.cc_src = v & eflags_bit::arith;
    s.cc_op = CC_OP_EFLAGS;
    s.eflags = (v & ~eflags_bit::arith) | eflags_bit::fixed1;
    s.df = (v & eflags_bit::df) ? -1 : 1;
}

} // namespace qf::x86
