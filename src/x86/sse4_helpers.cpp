// SSSE3, SSE4.1 and SSE4.2 helpers (declared in sse_helpers.hpp). Like the
// SSE2 ones they run the host's own instruction; those that take an
// immediate the instruction encodes are dispatched through a table with
// one instantiation per immediate value.
#include "helpers.hpp"
#include "sse_fp.hpp"
#include "sse_helpers.hpp"

#include <immintrin.h>

#include <array>
#include <cstring>
#include <utility>

namespace qf::x86 {

namespace {

using namespace sse_fp;

__m128i xmm0(tcg::env_base* env) { return _mm_load_si128(reinterpret_cast<const __m128i*>(&state_of(env).xmm[0])); }

// Integer operations of an extension the host compiles for with `tgt`.
#define QF_INT_T(tgt, name, ...)                                                                           \
    __attribute__((target(tgt))) void h_##name(tcg::env_base* env, std::uint64_t d, std::uint64_t s,        \
                                               std::uint64_t) {                                             \
        const __m128i a = ld(env, d), b = ld(env, s);                                                       \
        (void)a, (void)b;                                                                                   \
        st(env, d, __VA_ARGS__);                                                                            \
    }
#define QF_S3(name, ...) QF_INT_T("ssse3", name, __VA_ARGS__)
#define QF_S41(name, ...) QF_INT_T("sse4.1", name, __VA_ARGS__)

QF_S3(pshufb, _mm_shuffle_epi8(a, b))
QF_S3(phaddw, _mm_hadd_epi16(a, b))
QF_S3(phaddd, _mm_hadd_epi32(a, b))
QF_S3(phaddsw, _mm_hadds_epi16(a, b))
QF_S3(pmaddubsw, _mm_maddubs_epi16(a, b))
QF_S3(phsubw, _mm_hsub_epi16(a, b))
QF_S3(phsubd, _mm_hsub_epi32(a, b))
QF_S3(phsubsw, _mm_hsubs_epi16(a, b))
QF_S3(psignb, _mm_sign_epi8(a, b))
QF_S3(psignw, _mm_sign_epi16(a, b))
QF_S3(psignd, _mm_sign_epi32(a, b))
QF_S3(pmulhrsw, _mm_mulhrs_epi16(a, b))
QF_S3(pabsb, _mm_abs_epi8(b))
QF_S3(pabsw, _mm_abs_epi16(b))
QF_S3(pabsd, _mm_abs_epi32(b))
QF_S41(pblendvb, _mm_blendv_epi8(a, b, xmm0(env)))
QF_S41(pmovsxbw, _mm_cvtepi8_epi16(b))
QF_S41(pmovsxbd, _mm_cvtepi8_epi32(b))
QF_S41(pmovsxbq, _mm_cvtepi8_epi64(b))
QF_S41(pmovsxwd, _mm_cvtepi16_epi32(b))
QF_S41(pmovsxwq, _mm_cvtepi16_epi64(b))
QF_S41(pmovsxdq, _mm_cvtepi32_epi64(b))
QF_S41(pmovzxbw, _mm_cvtepu8_epi16(b))
QF_S41(pmovzxbd, _mm_cvtepu8_epi32(b))
QF_S41(pmovzxbq, _mm_cvtepu8_epi64(b))
QF_S41(pmovzxwd, _mm_cvtepu16_epi32(b))
QF_S41(pmovzxwq, _mm_cvtepu16_epi64(b))
QF_S41(pmovzxdq, _mm_cvtepu32_epi64(b))
QF_S41(pmuldq, _mm_mul_epi32(a, b))
QF_S41(pcmpeqq, _mm_cmpeq_epi64(a, b))
QF_S41(packusdw, _mm_packus_epi32(a, b))
QF_S41(pminsb, _mm_min_epi8(a, b))
QF_S41(pminsd, _mm_min_epi32(a, b))
QF_S41(pminuw, _mm_min_epu16(a, b))
QF_S41(pminud, _mm_min_epu32(a, b))
QF_S41(pmaxsb, _mm_max_epi8(a, b))
QF_S41(pmaxsd, _mm_max_epi32(a, b))
QF_S41(pmaxuw, _mm_max_epu16(a, b))
QF_S41(pmaxud, _mm_max_epu32(a, b))
QF_S41(pmulld, _mm_mullo_epi32(a, b))
QF_S41(phminposuw, _mm_minpos_epu16(b))
QF_S41(blendvps, _mm_castps_si128(_mm_blendv_ps(_mm_castsi128_ps(a), _mm_castsi128_ps(b), _mm_castsi128_ps(xmm0(env)))))
QF_S41(blendvpd, _mm_castpd_si128(_mm_blendv_pd(_mm_castsi128_pd(a), _mm_castsi128_pd(b), _mm_castsi128_pd(xmm0(env)))))
__attribute__((target("sse4.2"))) void h_pcmpgtq(tcg::env_base* env, std::uint64_t d, std::uint64_t s, std::uint64_t) {
    st(env, d, _mm_cmpgt_epi64(ld(env, d), ld(env, s)));
}

// Immediates by lane, in C++.
void h_palignr(tcg::env_base* env, std::uint64_t d, std::uint64_t s, std::uint64_t imm) {
    std::uint8_t t[32];
    std::memcpy(t, &reg(env, s), 16);
    std::memcpy(t + 16, &reg(env, d), 16);
    xmm_reg& r = reg(env, d);
    for (unsigned i = 0; i < 16; ++i) r.b[i] = i + imm < 32 ? t[i + imm] : 0;
}
void h_blendps(tcg::env_base* env, std::uint64_t d, std::uint64_t s, std::uint64_t imm) {
    const xmm_reg b = reg(env, s);
    for (unsigned i = 0; i < 4; ++i)
        if ((imm >> i) & 1) reg(env, d).l[i] = b.l[i];
}
void h_blendpd(tcg::env_base* env, std::uint64_t d, std::uint64_t s, std::uint64_t imm) {
    const xmm_reg b = reg(env, s);
    for (unsigned i = 0; i < 2; ++i)
        if ((imm >> i) & 1) reg(env, d).q[i] = b.q[i];
}
void h_pblendw(tcg::env_base* env, std::uint64_t d, std::uint64_t s, std::uint64_t imm) {
    const xmm_reg b = reg(env, s);
    for (unsigned i = 0; i < 8; ++i)
        if ((imm >> i) & 1) reg(env, d).w[i] = b.w[i];
}
void h_insertps(tcg::env_base* env, std::uint64_t d, std::uint64_t s, std::uint64_t imm) {
    // The source lane (register form) or the 32-bit memory operand (lane 0 of xmm_t0).
    const std::uint32_t v = reg(env, s).l[s == offsetof(state, xmm_t0) ? 0 : (imm >> 6) & 3];
    xmm_reg& r = reg(env, d);
    r.l[(imm >> 4) & 3] = v;
    for (unsigned i = 0; i < 4; ++i)
        if ((imm >> i) & 1) r.l[i] = 0;
}

// One instantiation per immediate value.
using helper_fn = void (*)(tcg::env_base*, std::uint64_t, std::uint64_t);
template <template <int> class Op, std::size_t... I>
constexpr std::array<helper_fn, sizeof...(I)> table(std::index_sequence<I...>) {
    return {&Op<static_cast<int>(I)>::run...};
}

template <int Imm>
struct round_ps {
    __attribute__((target("sse4.1"))) static void run(tcg::env_base* env, std::uint64_t d, std::uint64_t s) {
        st(env, d, fp_exec(state_of(env), QF_GETPC(), [&]() __attribute__((target("sse4.1"))) {
            return _mm_castps_si128(_mm_round_ps(_mm_castsi128_ps(ld(env, s)), Imm));
        }));
    }
};
template <int Imm>
struct round_pd {
    __attribute__((target("sse4.1"))) static void run(tcg::env_base* env, std::uint64_t d, std::uint64_t s) {
        st(env, d, fp_exec(state_of(env), QF_GETPC(), [&]() __attribute__((target("sse4.1"))) {
            return _mm_castpd_si128(_mm_round_pd(_mm_castsi128_pd(ld(env, s)), Imm));
        }));
    }
};
template <int Imm>
struct round_ss {
    __attribute__((target("sse4.1"))) static void run(tcg::env_base* env, std::uint64_t d, std::uint64_t s) {
        st(env, d, fp_exec(state_of(env), QF_GETPC(), [&]() __attribute__((target("sse4.1"))) {
            return _mm_castps_si128(_mm_round_ss(_mm_castsi128_ps(ld(env, d)), _mm_castsi128_ps(ld(env, s)), Imm));
        }));
    }
};
template <int Imm>
struct round_sd {
    __attribute__((target("sse4.1"))) static void run(tcg::env_base* env, std::uint64_t d, std::uint64_t s) {
        st(env, d, fp_exec(state_of(env), QF_GETPC(), [&]() __attribute__((target("sse4.1"))) {
            return _mm_castpd_si128(_mm_round_sd(_mm_castsi128_pd(ld(env, d)), _mm_castsi128_pd(ld(env, s)), Imm));
        }));
    }
};
template <int Imm>
struct mpsadbw {
    __attribute__((target("sse4.1"))) static void run(tcg::env_base* env, std::uint64_t d, std::uint64_t s) {
        st(env, d, _mm_mpsadbw_epu8(ld(env, d), ld(env, s), Imm));
    }
};

constexpr auto round_ps_table = table<round_ps>(std::make_index_sequence<16>());
constexpr auto round_pd_table = table<round_pd>(std::make_index_sequence<16>());
constexpr auto round_ss_table = table<round_ss>(std::make_index_sequence<16>());
constexpr auto round_sd_table = table<round_sd>(std::make_index_sequence<16>());
constexpr auto mpsadbw_table = table<mpsadbw>(std::make_index_sequence<8>());

#define QF_IMM(name, tbl, mask)                                                                     \
    void h_##name(tcg::env_base* env, std::uint64_t d, std::uint64_t s, std::uint64_t imm) {          \
        tbl[imm & (mask)](env, d, s);                                                                \
    }
QF_IMM(roundps, round_ps_table, 15)
QF_IMM(roundpd, round_pd_table, 15)
QF_IMM(roundss, round_ss_table, 15)
QF_IMM(roundsd, round_sd_table, 15)
QF_IMM(mpsadbw, mpsadbw_table, 7)
#undef QF_IMM
// DPPS and DPPD as the SDM computes them: the selected products, summed
// pairwise, each step rounded under MXCSR (asm keeps each operation and its
// operand order: with two NaNs the first one's is the result).
float mul(float a, float b) { asm("mulss %1, %0" : "+x"(a) : "x"(b)); return a; }
float add(float a, float b) { asm("addss %1, %0" : "+x"(a) : "x"(b)); return a; }
double mul(double a, double b) { asm("mulsd %1, %0" : "+x"(a) : "x"(b)); return a; }
double add(double a, double b) { asm("addsd %1, %0" : "+x"(a) : "x"(b)); return a; }

void h_dpps(tcg::env_base* env, std::uint64_t d, std::uint64_t s, std::uint64_t imm) {
    const __m128i r = fp_exec(state_of(env), QF_GETPC(), [&] {
        const xmm_reg a = reg(env, d), b = reg(env, s);
        float t[4];
        for (unsigned i = 0; i < 4; ++i) t[i] = (imm >> (4 + i)) & 1 ? mul(a.s[i], b.s[i]) : 0.0f;
        const float sum = add(add(t[0], t[1]), add(t[2], t[3]));
        xmm_reg x;
        for (unsigned i = 0; i < 4; ++i) x.s[i] = (imm >> i) & 1 ? sum : 0.0f;
        return _mm_load_si128(reinterpret_cast<const __m128i*>(&x));
    });
    st(env, d, r);
}
void h_dppd(tcg::env_base* env, std::uint64_t d, std::uint64_t s, std::uint64_t imm) {
    const __m128i r = fp_exec(state_of(env), QF_GETPC(), [&] {
        const xmm_reg a = reg(env, d), b = reg(env, s);
        double t[2];
        for (unsigned i = 0; i < 2; ++i) t[i] = (imm >> (4 + i)) & 1 ? mul(a.d[i], b.d[i]) : 0.0;
        const double sum = add(t[0], t[1]);
        xmm_reg x;
        for (unsigned i = 0; i < 2; ++i) x.d[i] = (imm >> i) & 1 ? sum : 0.0;
        return _mm_load_si128(reinterpret_cast<const __m128i*>(&x));
    });
    st(env, d, r);
}

// PCMPESTRI/PCMPESTRM/PCMPISTRI/PCMPISTRM (SDM vol. 2, 4.1): compare the
// elements of a (xmm1) with those of b (xmm2/m128) as imm says, aggregate,
// apply the polarity, and give an index in ECX or a mask in XMM0. Flags:
// CF result not zero, ZF b shorter than the register, SF a shorter, OF
// result bit 0, AF and PF clear.
template <bool Explicit, bool Mask>
void pcmpstr(tcg::env_base* env, std::uint64_t d, std::uint64_t s, std::uint64_t imm_w) {
    state& st_ = state_of(env);
    const unsigned imm = imm_w & 0xff;
    const bool w = (imm_w >> 8) & 1, words = imm & 1, sgn = (imm >> 1) & 1;
    const unsigned n = words ? 8 : 16, agg = (imm >> 2) & 3, pol = (imm >> 4) & 3;
    const xmm_reg a = reg(env, d), b = reg(env, s);
    auto elem = [&](const xmm_reg& x, unsigned i) -> std::int32_t {
        if (words) return sgn ? static_cast<std::int16_t>(x.w[i]) : x.w[i];
        return sgn ? static_cast<std::int8_t>(x.b[i]) : x.b[i];
    };
    auto explicit_len = [&](std::uint64_t v) {
        const std::int64_t x = w ? static_cast<std::int64_t>(v) : static_cast<std::int32_t>(v);
        const std::uint64_t mag = x < 0 ? 0 - static_cast<std::uint64_t>(x) : static_cast<std::uint64_t>(x);
        return static_cast<unsigned>(mag > n ? n : mag);
    };
    auto implicit_len = [&](const xmm_reg& x) {
        unsigned i = 0;
        while (i < n && elem(x, i) != 0) ++i;
        return i;
    };
    const unsigned la = Explicit ? explicit_len(st_.regs[R_EAX]) : implicit_len(a);
    const unsigned lb = Explicit ? explicit_len(st_.regs[R_EDX]) : implicit_len(b);
    unsigned res = 0;
    for (unsigned j = 0; j < n; ++j) {
        bool bit = false;
        switch (agg) {
        case 0:  // equal any: b[j] is in the set a
            for (unsigned i = 0; i < la && j < lb; ++i) bit = bit || elem(a, i) == elem(b, j);
            break;
        case 1:  // ranges: a holds pairs [lo, hi]
            for (unsigned i = 0; i + 1 < la && j < lb; i += 2)
                bit = bit || (elem(b, j) >= elem(a, i) && elem(b, j) <= elem(a, i + 1));
            break;
        case 2:  // equal each
            bit = (j >= la && j >= lb) ? true : (j >= la || j >= lb) ? false : elem(a, j) == elem(b, j);
            break;
        default:  // equal ordered: a starts at b[j]
            bit = true;
            for (unsigned i = 0; i < n - j && bit; ++i) {
                if (i >= la) break;                    // the needle ended: a match so far
                if (j + i >= lb) bit = false;          // the haystack ended first
                else bit = elem(a, i) == elem(b, j + i);
            }
            break;
        }
        if (bit) res |= 1u << j;
    }
    const unsigned all = (1u << n) - 1;
    if (pol == 1) res ^= all;
    else if (pol == 3) res ^= (1u << lb) - 1;
    if constexpr (Mask) {
        xmm_reg m{};
        if ((imm >> 6) & 1) {
            for (unsigned j = 0; j < n; ++j)
                if ((res >> j) & 1) {
                    if (words) m.w[j] = 0xffff;
                    else m.b[j] = 0xff;
                }
        } else {
            m.l[0] = res;
        }
        st_.xmm[0] = m;
    } else {
        unsigned idx = n;
        if (res) idx = (imm >> 6) & 1 ? 31 - static_cast<unsigned>(__builtin_clz(res)) : static_cast<unsigned>(__builtin_ctz(res));
        st_.regs[R_ECX] = idx;
    }
    st_.cc_src = (res ? eflags_bit::cf : 0) | (lb < n ? eflags_bit::zf : 0) | (la < n ? eflags_bit::sf : 0) |
                 (res & 1 ? eflags_bit::of : 0);
    st_.cc_op = CC_OP_EFLAGS;
}
void h_pcmpestri(tcg::env_base* e, std::uint64_t d, std::uint64_t s, std::uint64_t i) { pcmpstr<true, false>(e, d, s, i); }
void h_pcmpestrm(tcg::env_base* e, std::uint64_t d, std::uint64_t s, std::uint64_t i) { pcmpstr<true, true>(e, d, s, i); }
void h_pcmpistri(tcg::env_base* e, std::uint64_t d, std::uint64_t s, std::uint64_t i) { pcmpstr<false, false>(e, d, s, i); }
void h_pcmpistrm(tcg::env_base* e, std::uint64_t d, std::uint64_t s, std::uint64_t i) { pcmpstr<false, true>(e, d, s, i); }

// PTEST: ZF when a AND b is zero, CF when b AND NOT a is zero.
__attribute__((target("sse4.1"))) void h_ptest(tcg::env_base* env, std::uint64_t d, std::uint64_t s, std::uint64_t) {
    state& stt = state_of(env);
    const __m128i a = ld(env, d), b = ld(env, s);
    stt.cc_src = (_mm_testz_si128(a, b) ? eflags_bit::zf : 0) | (_mm_testc_si128(a, b) ? eflags_bit::cf : 0);
    stt.cc_op = CC_OP_EFLAGS;
}

// CRC32 (Castagnoli), as the instruction computes it, bit by bit: the host
// may not have SSE4.2.
std::uint64_t h_crc32(std::uint64_t crc, std::uint64_t v, std::uint64_t bytes) {
    auto c = static_cast<std::uint32_t>(crc);
    for (unsigned i = 0; i < bytes; ++i) {
        c ^= static_cast<std::uint8_t>(v >> (8 * i));
        for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0x82f6'3b78u & (0u - (c & 1)));
    }
    return c;
}

} // namespace

namespace helper::sse {
using tcg::make_helper;
using tcg::helper_flag::no_read_globals;
using tcg::helper_flag::no_side_effects;
using tcg::helper_flag::no_write_globals;
#define QF_DEFINE_INT(name) const tcg::helper_info name = make_helper<&h_##name>(#name, no_read_globals | no_write_globals);
#define QF_DEFINE_FP(name) const tcg::helper_info name = make_helper<&h_##name>(#name, 0);
QF_SSE4_INT(QF_DEFINE_INT)
QF_SSE4_FP(QF_DEFINE_FP)
#undef QF_DEFINE_INT
#undef QF_DEFINE_FP
const tcg::helper_info crc32 = make_helper<&h_crc32>("crc32", no_read_globals | no_write_globals | no_side_effects);
} // namespace helper::sse

} // namespace qf::x86
