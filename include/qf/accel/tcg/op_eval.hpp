#pragma once
// What each value op computes, once: the interpreter executes with these and
// the optimizer folds constants with them, so folding can never disagree
// with execution. Values of i32 ops are zero-extended to 64 bits.
#include "qf/accel/tcg/ir.hpp"

#include <bit>
#include <cstdint>

namespace qf::tcg {

__extension__ typedef unsigned __int128 u128;
__extension__ typedef __int128 i128;

constexpr std::int64_t as_signed(type t, std::uint64_t v) {
    return t == type::i32 ? static_cast<std::int32_t>(v) : static_cast<std::int64_t>(v);
}
constexpr std::uint64_t field_mask(unsigned len) { return len >= 64 ? ~0ull : (1ull << len) - 1; }

// Unary ops (one input, no constant args).
constexpr std::uint64_t eval_unary(opc o, type t, std::uint64_t a) {
    const std::uint64_t m = mask_of(t);
    a &= m;
    switch (o) {
    case opc::mov: return a;
    case opc::neg: return (0 - a) & m;
    case opc::not_: return ~a & m;
    case opc::ext8s: return static_cast<std::uint64_t>(static_cast<std::int8_t>(a)) & m;
    case opc::ext8u: return a & 0xff;
    case opc::ext16s: return static_cast<std::uint64_t>(static_cast<std::int16_t>(a)) & m;
    case opc::ext16u: return a & 0xffff;
    case opc::ext32s: return static_cast<std::uint64_t>(static_cast<std::int32_t>(a)) & m;
    case opc::ext32u: return a & 0xffff'ffff;
    case opc::bswap16: return ((a & 0xff) << 8) | ((a >> 8) & 0xff);
    case opc::bswap32: return __builtin_bswap32(static_cast<std::uint32_t>(a));
    case opc::bswap64: return __builtin_bswap64(a) & m;
    case opc::ctpop: return static_cast<std::uint64_t>(std::popcount(a));
    default: return 0;
    }
}

// Binary ops (two inputs, one output).
constexpr std::uint64_t eval_binary(opc o, type t, std::uint64_t a, std::uint64_t b) {
    const std::uint64_t m = mask_of(t);
    const unsigned w = bits_of(t);
    a &= m;
    b &= m;
    const unsigned sh = static_cast<unsigned>(b & (w - 1));
    switch (o) {
    case opc::add: return (a + b) & m;
    case opc::sub: return (a - b) & m;
    case opc::mul: return (a * b) & m;
    case opc::muluh:
        if (t == type::i32) return (a * b) >> 32;
        return static_cast<std::uint64_t>((static_cast<u128>(a) * b) >> 64);
    case opc::mulsh:
        if (t == type::i32) return static_cast<std::uint64_t>((as_signed(t, a) * as_signed(t, b)) >> 32) & m;
        return static_cast<std::uint64_t>((static_cast<i128>(as_signed(t, a)) * as_signed(t, b)) >> 64);
    // Division by zero and signed overflow are undefined in the IR (front
    // ends raise #DE first); these values only keep the evaluator defined.
    case opc::divu: return b ? a / b : 0;
    case opc::remu: return b ? a % b : 0;
    case opc::divs: {
        const std::int64_t sa = as_signed(t, a), sb = as_signed(t, b);
        if (sb == 0 || (sb == -1 && a == (m ^ (m >> 1)))) return 0;
        return static_cast<std::uint64_t>(sa / sb) & m;
    }
    case opc::rems: {
        const std::int64_t sa = as_signed(t, a), sb = as_signed(t, b);
        if (sb == 0 || sb == -1) return 0;
        return static_cast<std::uint64_t>(sa % sb) & m;
    }
    case opc::and_: return a & b;
    case opc::or_: return a | b;
    case opc::xor_: return a ^ b;
    case opc::andc: return a & ~b & m;
    case opc::orc: return (a | ~b) & m;
    case opc::shl: return (a << sh) & m;
    case opc::shr: return a >> sh;
    case opc::sar: return static_cast<std::uint64_t>(as_signed(t, a) >> sh) & m;
    case opc::rotl: return sh ? ((a << sh) | (a >> (w - sh))) & m : a;
    case opc::rotr: return sh ? ((a >> sh) | (a << (w - sh))) & m : a;
    case opc::clz: return a ? static_cast<std::uint64_t>(std::countl_zero(a) - (64 - w)) : b;
    case opc::ctz: return a ? static_cast<std::uint64_t>(std::countr_zero(a)) : b;
    default: return 0;
    }
}

constexpr std::uint64_t eval_extract(type t, std::uint64_t a, unsigned pos, unsigned len) {
    return ((a & mask_of(t)) >> pos) & field_mask(len);
}
constexpr std::uint64_t eval_sextract(type t, std::uint64_t a, unsigned pos, unsigned len) {
    const std::uint64_t f = eval_extract(t, a, pos, len);
    const std::uint64_t sign = 1ull << (len - 1);
    return ((f ^ sign) - sign) & mask_of(t);
}
constexpr std::uint64_t eval_deposit(type t, std::uint64_t a, std::uint64_t b, unsigned pos, unsigned len) {
    const std::uint64_t fm = field_mask(len) << pos;
    return ((a & ~fm) | ((b << pos) & fm)) & mask_of(t);
}
// Double-width products: {low, high}.
struct pair {
    std::uint64_t lo, hi;
};
constexpr pair eval_mul2(opc o, type t, std::uint64_t a, std::uint64_t b) {
    return {eval_binary(opc::mul, t, a, b), eval_binary(o == opc::mulu2 ? opc::muluh : opc::mulsh, t, a, b)};
}

} // namespace qf::tcg
