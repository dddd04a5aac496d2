#include "sse_helpers.hpp"

#include "helpers.hpp"
#include "sse_fp.hpp"

namespace qf::x86 {

using namespace sse_fp;

// Integer and shuffle operations: no MXCSR. a = d's register, b = s's.
#define QF_INT(name, ...)                                                                              \
    static void h_##name(tcg::env_base* env, std::uint64_t d, std::uint64_t s, std::uint64_t imm) {    \
        const __m128i a = ld(env, d), b = ld(env, s);                                                  \
        (void)a, (void)b, (void)imm;                                                                    \
        st(env, d, __VA_ARGS__);                                                                       \
    }
// Floating-point operations under the guest's MXCSR; the views of a and b
// as ps (a, b), pd (ad, bd) and integers (ai, bi).
#define QF_FP_T(tgt, name, t, ...)                                                                    \
    __attribute__((target(tgt))) static void h_##name(tcg::env_base* env, std::uint64_t d,              \
                                                      std::uint64_t s, std::uint64_t imm) {              \
        const __m128i r = fp_exec(state_of(env), QF_GETPC(), [&]() __attribute__((target(tgt))) {        \
            const __m128i ai = ld(env, d), bi = ld(env, s);                                              \
            const __m128 a = _mm_castsi128_ps(ai), b = _mm_castsi128_ps(bi);                            \
            const __m128d ad = _mm_castsi128_pd(ai), bd = _mm_castsi128_pd(bi);                         \
            (void)a, (void)b, (void)ad, (void)bd, (void)imm;                                             \
            return __m128i(__VA_ARGS__);                                                                 \
        });                                                                                              \
        st(env, d, r);                                                                                   \
    }
#define QF_FP(name, t, ...) QF_FP_T("sse2", name, t, __VA_ARGS__)
// The same with sse_fp's hardfloat first: op K on N lanes of format F.
#define QF_FP_HARD(name, K, F, N, ...)                                                                   \
    static void h_##name(tcg::env_base* env, std::uint64_t d, std::uint64_t s, std::uint64_t imm) {     \
        auto op = [&] {                                                                                  \
            const __m128i ai = ld(env, d), bi = ld(env, s);                                              \
            const __m128 a = _mm_castsi128_ps(ai), b = _mm_castsi128_ps(bi);                            \
            const __m128d ad = _mm_castsi128_pd(ai), bd = _mm_castsi128_pd(bi);                         \
            (void)a, (void)b, (void)ad, (void)bd, (void)imm;                                             \
            return __m128i(__VA_ARGS__);                                                                 \
        };                                                                                               \
        state& st_ = state_of(env);                                                                      \
        if (hard_ready(st_)) {                                                                           \
            const __m128i r = op();                                                                      \
            if (hard_ok<hard_op::K, F, N>(ld(env, d), ld(env, s), r)) {                                  \
                st(env, d, r);                                                                           \
                return;                                                                                  \
            }                                                                                            \
        }                                                                                                \
        st(env, d, fp_exec(st_, QF_GETPC(), op));                                                        \
    }
// Addition and multiplication in asm: the compiler would commute them, and
// with two NaNs the first operand's is the result.
#define QF_ASM(insn, x, y)                                                                               \
    [&] {                                                                                                \
        auto v = x;                                                                                      \
        asm(insn " %1, %0" : "+x"(v) : "x"(y));                                                          \
        return v;                                                                                        \
    }()
#define QF_PS(x) _mm_castps_si128(x)
#define QF_PD(x) _mm_castpd_si128(x)

QF_INT(punpcklbw, _mm_unpacklo_epi8(a, b))
QF_INT(punpcklwd, _mm_unpacklo_epi16(a, b))
QF_INT(punpckldq, _mm_unpacklo_epi32(a, b))
QF_INT(punpcklqdq, _mm_unpacklo_epi64(a, b))
QF_INT(punpckhbw, _mm_unpackhi_epi8(a, b))
QF_INT(punpckhwd, _mm_unpackhi_epi16(a, b))
QF_INT(punpckhdq, _mm_unpackhi_epi32(a, b))
QF_INT(punpckhqdq, _mm_unpackhi_epi64(a, b))
QF_INT(packsswb, _mm_packs_epi16(a, b))
QF_INT(packuswb, _mm_packus_epi16(a, b))
QF_INT(packssdw, _mm_packs_epi32(a, b))
QF_INT(pcmpgtb, _mm_cmpgt_epi8(a, b))
QF_INT(pcmpgtw, _mm_cmpgt_epi16(a, b))
QF_INT(pcmpgtd, _mm_cmpgt_epi32(a, b))
QF_INT(pcmpeqb, _mm_cmpeq_epi8(a, b))
QF_INT(pcmpeqw, _mm_cmpeq_epi16(a, b))
QF_INT(pcmpeqd, _mm_cmpeq_epi32(a, b))
QF_INT(psrlw, _mm_srl_epi16(a, b))
QF_INT(psrld, _mm_srl_epi32(a, b))
QF_INT(psrlq, _mm_srl_epi64(a, b))
QF_INT(psraw, _mm_sra_epi16(a, b))
QF_INT(psrad, _mm_sra_epi32(a, b))
QF_INT(psllw, _mm_sll_epi16(a, b))
QF_INT(pslld, _mm_sll_epi32(a, b))
QF_INT(psllq, _mm_sll_epi64(a, b))
QF_INT(pmullw, _mm_mullo_epi16(a, b))
QF_INT(pmulhw, _mm_mulhi_epi16(a, b))
QF_INT(pmulhuw, _mm_mulhi_epu16(a, b))
QF_INT(pmuludq, _mm_mul_epu32(a, b))
QF_INT(pmaddwd, _mm_madd_epi16(a, b))
QF_INT(psadbw, _mm_sad_epu8(a, b))
QF_INT(psubusb, _mm_subs_epu8(a, b))
QF_INT(psubusw, _mm_subs_epu16(a, b))
QF_INT(psubsb, _mm_subs_epi8(a, b))
QF_INT(psubsw, _mm_subs_epi16(a, b))
QF_INT(paddusb, _mm_adds_epu8(a, b))
QF_INT(paddusw, _mm_adds_epu16(a, b))
QF_INT(paddsb, _mm_adds_epi8(a, b))
QF_INT(paddsw, _mm_adds_epi16(a, b))
QF_INT(pminub, _mm_min_epu8(a, b))
QF_INT(pmaxub, _mm_max_epu8(a, b))
QF_INT(pminsw, _mm_min_epi16(a, b))
QF_INT(pmaxsw, _mm_max_epi16(a, b))
QF_INT(pavgb, _mm_avg_epu8(a, b))
QF_INT(pavgw, _mm_avg_epu16(a, b))
QF_INT(psubb, _mm_sub_epi8(a, b))
QF_INT(psubw, _mm_sub_epi16(a, b))
QF_INT(psubd, _mm_sub_epi32(a, b))
QF_INT(paddb, _mm_add_epi8(a, b))
QF_INT(paddw, _mm_add_epi16(a, b))
QF_INT(paddd, _mm_add_epi32(a, b))
// Shifts by an immediate (71-73): the count is imm.
QF_INT(psrlw_i, _mm_srl_epi16(a, _mm_cvtsi64_si128(static_cast<long long>(imm))))
QF_INT(psraw_i, _mm_sra_epi16(a, _mm_cvtsi64_si128(static_cast<long long>(imm))))
QF_INT(psllw_i, _mm_sll_epi16(a, _mm_cvtsi64_si128(static_cast<long long>(imm))))
QF_INT(psrld_i, _mm_srl_epi32(a, _mm_cvtsi64_si128(static_cast<long long>(imm))))
QF_INT(psrad_i, _mm_sra_epi32(a, _mm_cvtsi64_si128(static_cast<long long>(imm))))
QF_INT(pslld_i, _mm_sll_epi32(a, _mm_cvtsi64_si128(static_cast<long long>(imm))))
QF_INT(psrlq_i, _mm_srl_epi64(a, _mm_cvtsi64_si128(static_cast<long long>(imm))))
QF_INT(psllq_i, _mm_sll_epi64(a, _mm_cvtsi64_si128(static_cast<long long>(imm))))
QF_INT(unpcklps, QF_PS(_mm_unpacklo_ps(_mm_castsi128_ps(a), _mm_castsi128_ps(b))))
QF_INT(unpckhps, QF_PS(_mm_unpackhi_ps(_mm_castsi128_ps(a), _mm_castsi128_ps(b))))

// MMX forms on the low quadwords of a and b (the rest is ignored).
QF_INT(mmx_packsswb, [&] { const __m128i x = _mm_unpacklo_epi64(a, b); return _mm_packs_epi16(x, x); }())
QF_INT(mmx_packssdw, [&] { const __m128i x = _mm_unpacklo_epi64(a, b); return _mm_packs_epi32(x, x); }())
QF_INT(mmx_packuswb, [&] { const __m128i x = _mm_unpacklo_epi64(a, b); return _mm_packus_epi16(x, x); }())
QF_INT(mmx_punpckhbw, _mm_unpacklo_epi8(_mm_srli_si128(a, 4), _mm_srli_si128(b, 4)))
QF_INT(mmx_punpckhwd, _mm_unpacklo_epi16(_mm_srli_si128(a, 4), _mm_srli_si128(b, 4)))
QF_INT(mmx_punpckhdq, _mm_unpacklo_epi32(_mm_srli_si128(a, 4), _mm_srli_si128(b, 4)))
static void h_mmx_pshufw(tcg::env_base* env, std::uint64_t d, std::uint64_t s, std::uint64_t imm) {
    const xmm_reg b = reg(env, s);
    xmm_reg& r = reg(env, d);
    for (unsigned i = 0; i < 4; ++i) r.w[i] = b.w[(imm >> (2 * i)) & 3];
}

// Byte shifts and shuffles by an immediate, lane by lane.
static void h_psrldq_i(tcg::env_base* env, std::uint64_t d, std::uint64_t, std::uint64_t imm) {
    xmm_reg& r = reg(env, d);
    const xmm_reg a = r;
    for (unsigned i = 0; i < 16; ++i) r.b[i] = i + imm < 16 ? a.b[i + imm] : 0;
}
static void h_pslldq_i(tcg::env_base* env, std::uint64_t d, std::uint64_t, std::uint64_t imm) {
    xmm_reg& r = reg(env, d);
    const xmm_reg a = r;
    for (unsigned i = 0; i < 16; ++i) r.b[i] = i >= imm ? a.b[i - imm] : 0;
}
static void h_pshufd(tcg::env_base* env, std::uint64_t d, std::uint64_t s, std::uint64_t imm) {
    const xmm_reg b = reg(env, s);
    xmm_reg& r = reg(env, d);
    for (unsigned i = 0; i < 4; ++i) r.l[i] = b.l[(imm >> (2 * i)) & 3];
}
static void h_pshufhw(tcg::env_base* env, std::uint64_t d, std::uint64_t s, std::uint64_t imm) {
    const xmm_reg b = reg(env, s);
    xmm_reg& r = reg(env, d);
    r.q[0] = b.q[0];
    for (unsigned i = 0; i < 4; ++i) r.w[4 + i] = b.w[4 + ((imm >> (2 * i)) & 3)];
}
static void h_pshuflw(tcg::env_base* env, std::uint64_t d, std::uint64_t s, std::uint64_t imm) {
    const xmm_reg b = reg(env, s);
    xmm_reg& r = reg(env, d);
    r.q[1] = b.q[1];
    for (unsigned i = 0; i < 4; ++i) r.w[i] = b.w[(imm >> (2 * i)) & 3];
}
static void h_shufps(tcg::env_base* env, std::uint64_t d, std::uint64_t s, std::uint64_t imm) {
    const xmm_reg a = reg(env, d), b = reg(env, s);
    xmm_reg& r = reg(env, d);
    r.l[0] = a.l[imm & 3];
    r.l[1] = a.l[(imm >> 2) & 3];
    r.l[2] = b.l[(imm >> 4) & 3];
    r.l[3] = b.l[(imm >> 6) & 3];
}
static void h_shufpd(tcg::env_base* env, std::uint64_t d, std::uint64_t s, std::uint64_t imm) {
    const xmm_reg a = reg(env, d), b = reg(env, s);
    xmm_reg& r = reg(env, d);
    r.q[0] = a.q[imm & 1];
    r.q[1] = b.q[(imm >> 1) & 1];
}
static void h_movsldup(tcg::env_base* env, std::uint64_t d, std::uint64_t s, std::uint64_t) {
    const xmm_reg b = reg(env, s);
    xmm_reg& r = reg(env, d);
    r.l[0] = r.l[1] = b.l[0];
    r.l[2] = r.l[3] = b.l[2];
}
static void h_movshdup(tcg::env_base* env, std::uint64_t d, std::uint64_t s, std::uint64_t) {
    const xmm_reg b = reg(env, s);
    xmm_reg& r = reg(env, d);
    r.l[0] = r.l[1] = b.l[1];
    r.l[2] = r.l[3] = b.l[3];
}
static void h_movddup(tcg::env_base* env, std::uint64_t d, std::uint64_t s, std::uint64_t) {
    const std::uint64_t v = reg(env, s).q[0];
    xmm_reg& r = reg(env, d);
    r.q[0] = r.q[1] = v;
}

QF_FP_HARD(addps, add, ieee32, 4, QF_PS(QF_ASM("addps", a, b)))
QF_FP_HARD(addpd, add, ieee64, 2, QF_PD(QF_ASM("addpd", ad, bd)))
QF_FP_HARD(addss, add, ieee32, 1, QF_PS(QF_ASM("addss", a, b)))
QF_FP_HARD(addsd, add, ieee64, 1, QF_PD(QF_ASM("addsd", ad, bd)))
QF_FP_HARD(subps, add, ieee32, 4, QF_PS(_mm_sub_ps(a, b)))
QF_FP_HARD(subpd, add, ieee64, 2, QF_PD(_mm_sub_pd(ad, bd)))
QF_FP_HARD(subss, add, ieee32, 1, QF_PS(_mm_sub_ss(a, b)))
QF_FP_HARD(subsd, add, ieee64, 1, QF_PD(_mm_sub_sd(ad, bd)))
QF_FP_HARD(mulps, mul, ieee32, 4, QF_PS(QF_ASM("mulps", a, b)))
QF_FP_HARD(mulpd, mul, ieee64, 2, QF_PD(QF_ASM("mulpd", ad, bd)))
QF_FP_HARD(mulss, mul, ieee32, 1, QF_PS(QF_ASM("mulss", a, b)))
QF_FP_HARD(mulsd, mul, ieee64, 1, QF_PD(QF_ASM("mulsd", ad, bd)))
QF_FP_HARD(divps, div, ieee32, 4, QF_PS(_mm_div_ps(a, b)))
QF_FP_HARD(divpd, div, ieee64, 2, QF_PD(_mm_div_pd(ad, bd)))
QF_FP_HARD(divss, div, ieee32, 1, QF_PS(_mm_div_ss(a, b)))
QF_FP_HARD(divsd, div, ieee64, 1, QF_PD(_mm_div_sd(ad, bd)))
QF_FP(minps, none, QF_PS(_mm_min_ps(a, b)))
QF_FP(minpd, none, QF_PD(_mm_min_pd(ad, bd)))
QF_FP(minss, none, QF_PS(_mm_min_ss(a, b)))
QF_FP(minsd, none, QF_PD(_mm_min_sd(ad, bd)))
QF_FP(maxps, none, QF_PS(_mm_max_ps(a, b)))
QF_FP(maxpd, none, QF_PD(_mm_max_pd(ad, bd)))
QF_FP(maxss, none, QF_PS(_mm_max_ss(a, b)))
QF_FP(maxsd, none, QF_PD(_mm_max_sd(ad, bd)))
QF_FP_HARD(sqrtps, sqrt, ieee32, 4, QF_PS(_mm_sqrt_ps(b)))
QF_FP_HARD(sqrtpd, sqrt, ieee64, 2, QF_PD(_mm_sqrt_pd(bd)))
QF_FP_HARD(sqrtss, sqrt, ieee32, 1, QF_PS(_mm_move_ss(a, _mm_sqrt_ss(b))))
QF_FP_HARD(sqrtsd, sqrt, ieee64, 1, QF_PD(_mm_sqrt_sd(ad, bd)))
QF_FP(rsqrtps, none, QF_PS(_mm_rsqrt_ps(b)))
QF_FP(rsqrtss, none, QF_PS(_mm_move_ss(a, _mm_rsqrt_ss(b))))
QF_FP(rcpps, none, QF_PS(_mm_rcp_ps(b)))
QF_FP(rcpss, none, QF_PS(_mm_move_ss(a, _mm_rcp_ss(b))))
QF_FP(cvtps2pd, none, QF_PD(_mm_cvtps_pd(b)))
QF_FP(cvtpd2ps, ps, QF_PS(_mm_cvtpd_ps(bd)))
QF_FP(cvtss2sd, none, QF_PD(_mm_cvtss_sd(ad, b)))
QF_FP(cvtsd2ss, ss, QF_PS(_mm_cvtsd_ss(a, bd)))
QF_FP(cvtdq2ps, none, QF_PS(_mm_cvtepi32_ps(bi)))
QF_FP(cvtps2dq, none, _mm_cvtps_epi32(b))
QF_FP(cvttps2dq, none, _mm_cvttps_epi32(b))
QF_FP(cvttpd2dq, none, _mm_cvttpd_epi32(bd))
QF_FP(cvtdq2pd, none, QF_PD(_mm_cvtepi32_pd(bi)))
QF_FP(cvtpd2dq, none, _mm_cvtpd_epi32(bd))
QF_FP_T("sse3", haddps, ps, QF_PS(_mm_hadd_ps(a, b)))
QF_FP_T("sse3", haddpd, pd, QF_PD(_mm_hadd_pd(ad, bd)))
QF_FP_T("sse3", hsubps, ps, QF_PS(_mm_hsub_ps(a, b)))
QF_FP_T("sse3", hsubpd, pd, QF_PD(_mm_hsub_pd(ad, bd)))
QF_FP_T("sse3", addsubps, ps, QF_PS(_mm_addsub_ps(a, b)))
QF_FP_T("sse3", addsubpd, pd, QF_PD(_mm_addsub_pd(ad, bd)))

// CMPPS and friends: the predicate is imm & 7.
#define QF_CMP(name, T, A, B, cast, sfx)                                                                   \
    QF_FP(name, none, [&]() -> __m128i {                                                                         \
        switch (imm & 7) {                                                                                 \
        case 0: return cast(_mm_cmpeq_##sfx(A, B));                                                        \
        case 1: return cast(_mm_cmplt_##sfx(A, B));                                                        \
        case 2: return cast(_mm_cmple_##sfx(A, B));                                                        \
        case 3: return cast(_mm_cmpunord_##sfx(A, B));                                                     \
        case 4: return cast(_mm_cmpneq_##sfx(A, B));                                                       \
        case 5: return cast(_mm_cmpnlt_##sfx(A, B));                                                       \
        case 6: return cast(_mm_cmpnle_##sfx(A, B));                                                       \
        default: return cast(_mm_cmpord_##sfx(A, B));                                                      \
        }                                                                                                  \
    }())
QF_CMP(cmpps, __m128, a, b, QF_PS, ps)
QF_CMP(cmpss, __m128, a, b, QF_PS, ss)
QF_CMP(cmppd, __m128d, ad, bd, QF_PD, pd)
QF_CMP(cmpsd, __m128d, ad, bd, QF_PD, sd)
#undef QF_CMP

// Conversions between a scalar and a general register.
template <bool Double, bool Truncate>
std::uint64_t h_cvt2si(tcg::env_base* env, std::uint64_t s, std::uint64_t is64) {
    state& stt = state_of(env);
    fp_scope scope(stt);
    const __m128i bi = ld(env, s);
    long long r;
    if constexpr (Double) {
        const __m128d b = _mm_castsi128_pd(bi);
        r = is64 ? (Truncate ? _mm_cvttsd_si64(b) : _mm_cvtsd_si64(b))
                 : static_cast<std::uint32_t>(Truncate ? _mm_cvttsd_si32(b) : _mm_cvtsd_si32(b));
    } else {
        const __m128 b = _mm_castsi128_ps(bi);
        r = is64 ? (Truncate ? _mm_cvttss_si64(b) : _mm_cvtss_si64(b))
                 : static_cast<std::uint32_t>(Truncate ? _mm_cvttss_si32(b) : _mm_cvtss_si32(b));
    }
    asm volatile("" : "+r"(r));
    scope.finish(QF_GETPC());
    return static_cast<std::uint64_t>(r);
}
template <bool Double>
void h_cvtsi2(tcg::env_base* env, std::uint64_t d, std::uint64_t v, std::uint64_t is64) {
    state& stt = state_of(env);
    fp_scope scope(stt);
    const __m128i ai = ld(env, d);
    const long long x = is64 ? static_cast<long long>(v) : static_cast<std::int32_t>(v);
    __m128i r;
    if constexpr (Double)
        r = _mm_castpd_si128(is64 ? _mm_cvtsi64_sd(_mm_castsi128_pd(ai), x)
                                  : _mm_cvtsi32_sd(_mm_castsi128_pd(ai), static_cast<int>(x)));
    else
        r = _mm_castps_si128(is64 ? _mm_cvtsi64_ss(_mm_castsi128_ps(ai), x)
                                  : _mm_cvtsi32_ss(_mm_castsi128_ps(ai), static_cast<int>(x)));
    pin(r);
    scope.finish(QF_GETPC());
    st(env, d, r);
}

static std::uint64_t h_movmskps(tcg::env_base* env, std::uint64_t s) {
    return static_cast<std::uint32_t>(_mm_movemask_ps(_mm_castsi128_ps(ld(env, s))));
}
static std::uint64_t h_movmskpd(tcg::env_base* env, std::uint64_t s) {
    return static_cast<std::uint32_t>(_mm_movemask_pd(_mm_castsi128_pd(ld(env, s))));
}
static std::uint64_t h_pmovmskb(tcg::env_base* env, std::uint64_t s) {
    return static_cast<std::uint32_t>(_mm_movemask_epi8(ld(env, s)));
}

// COMISS and friends, with the host's flags: ZF PF CF, the rest cleared.
template <bool Double, bool Signalling>
void h_comi(tcg::env_base* env, std::uint64_t a_off, std::uint64_t b_off) {
    state& stt = state_of(env);
    fp_scope scope(stt);
    __m128i a = ld(env, a_off), b = ld(env, b_off);
    unsigned char z, p, c;
    if constexpr (Double) {
        if constexpr (Signalling) asm volatile("comisd %3, %4\n\tsetz %0\n\tsetp %1\n\tsetc %2" : "=q"(z), "=q"(p), "=q"(c) : "x"(b), "x"(a) : "cc");
        else asm volatile("ucomisd %3, %4\n\tsetz %0\n\tsetp %1\n\tsetc %2" : "=q"(z), "=q"(p), "=q"(c) : "x"(b), "x"(a) : "cc");
    } else {
        if constexpr (Signalling) asm volatile("comiss %3, %4\n\tsetz %0\n\tsetp %1\n\tsetc %2" : "=q"(z), "=q"(p), "=q"(c) : "x"(b), "x"(a) : "cc");
        else asm volatile("ucomiss %3, %4\n\tsetz %0\n\tsetp %1\n\tsetc %2" : "=q"(z), "=q"(p), "=q"(c) : "x"(b), "x"(a) : "cc");
    }
    scope.finish(QF_GETPC());
    stt.cc_src = (z ? eflags_bit::zf : 0) | (p ? eflags_bit::pf : 0) | (c ? eflags_bit::cf : 0);
    stt.cc_op = CC_OP_EFLAGS;
}

static void h_ldmxcsr(tcg::env_base* env, std::uint64_t v) {
    state& s = state_of(env);
    if (v & ~std::uint64_t{mxcsr_mask_supported}) raise_exception(s, EXCP_GP, 0, QF_GETPC());
    s.mxcsr = static_cast<std::uint32_t>(v);
}

// FXSAVE/FXRSTOR (SDM vol. 1, 10.5.1): the legacy x87 area with ST0-ST7
// in stack order, MXCSR and its mask, then XMM0-15 (XMM0-7 outside 64-bit
// mode). REX.W selects 64-bit instruction and data pointers.
namespace {
void store_at(state& s, std::uint64_t a, std::uint64_t v, std::uint32_t mop, std::uintptr_t ra) {
    tcg::guest_store(&s.base, a, v, tcg::memop::with_mmu(mop, mmu_index(s)), ra);
}
std::uint64_t load_at(state& s, std::uint64_t a, std::uint32_t mop, std::uintptr_t ra) {
    return tcg::guest_load(&s.base, a, tcg::memop::with_mmu(mop, mmu_index(s)), ra);
}
} // namespace

static void h_fxsave(tcg::env_base* env, std::uint64_t a, std::uint64_t rex_w) {
    using namespace tcg::memop;
    state& s = state_of(env);
    const std::uintptr_t ra = QF_GETPC();
    if (a & 15) raise_exception(s, EXCP_GP, 0, ra);
    store_at(s, a, s.fcw, uw, ra);
    store_at(s, a + 2, s.fsw, uw, ra);
    store_at(s, a + 4, s.ftw, uw, ra);  // and the reserved byte 5
    store_at(s, a + 6, s.fop, uw, ra);
    if (rex_w) {
        store_at(s, a + 8, s.fip, uq, ra);
        store_at(s, a + 16, s.fdp, uq, ra);
    } else {
        store_at(s, a + 8, s.fip & 0xffff'ffff, uq, ra);  // FCS 0
        store_at(s, a + 16, s.fdp & 0xffff'ffff, uq, ra);  // FDS 0
    }
    store_at(s, a + 24, s.mxcsr, ul, ra);
    store_at(s, a + 28, mxcsr_mask_supported, ul, ra);
    const unsigned top = (s.fsw >> 11) & 7;
    for (unsigned i = 0; i < 8; ++i) {
        const x87_reg& r = s.fpr[(top + i) & 7];
        store_at(s, a + 32 + 16 * i, r.mant, uq, ra);
        store_at(s, a + 40 + 16 * i, r.sign_exp, uw, ra);
    }
    const unsigned n = (s.hflags & hflag::cs64) ? 16 : 8;
    for (unsigned i = 0; i < n; ++i) {
        store_at(s, a + 160 + 16 * i, s.xmm[i].q[0], uq, ra);
        store_at(s, a + 168 + 16 * i, s.xmm[i].q[1], uq, ra);
    }
}

static void h_fxrstor(tcg::env_base* env, std::uint64_t a, std::uint64_t rex_w) {
    using namespace tcg::memop;
    state& s = state_of(env);
    const std::uintptr_t ra = QF_GETPC();
    if (a & 15) raise_exception(s, EXCP_GP, 0, ra);
    const auto mxcsr = static_cast<std::uint32_t>(load_at(s, a + 24, ul, ra));
    if (mxcsr & ~mxcsr_mask_supported) raise_exception(s, EXCP_GP, 0, ra);
    // Everything is read before anything changes: a fault leaves the state as it was.
    const auto fcw = static_cast<std::uint16_t>(load_at(s, a, uw, ra));
    const auto fsw = static_cast<std::uint16_t>(load_at(s, a + 2, uw, ra));
    const auto ftw = static_cast<std::uint8_t>(load_at(s, a + 4, ub, ra));
    const auto fop = static_cast<std::uint16_t>(load_at(s, a + 6, uw, ra) & 0x7ff);
    const std::uint64_t fip = load_at(s, a + 8, rex_w ? uq : ul, ra), fdp = load_at(s, a + 16, rex_w ? uq : ul, ra);
    x87_reg st[8];
    for (unsigned i = 0; i < 8; ++i) {
        st[i].mant = load_at(s, a + 32 + 16 * i, uq, ra);
        st[i].sign_exp = static_cast<std::uint16_t>(load_at(s, a + 40 + 16 * i, uw, ra));
    }
    const unsigned n = (s.hflags & hflag::cs64) ? 16 : 8;
    xmm_reg x[16];
    for (unsigned i = 0; i < n; ++i) {
        x[i].q[0] = load_at(s, a + 160 + 16 * i, uq, ra);
        x[i].q[1] = load_at(s, a + 168 + 16 * i, uq, ra);
    }
    s.fcw = fcw;
    s.fsw = fsw;
    s.ftw = ftw;
    s.fop = fop;
    s.fip = fip;
    s.fdp = fdp;
    s.mxcsr = mxcsr;
    const unsigned top = (fsw >> 11) & 7;
    for (unsigned i = 0; i < 8; ++i) s.fpr[(top + i) & 7] = st[i];
    for (unsigned i = 0; i < n; ++i) s.xmm[i] = x[i];
}

namespace helper::sse {
using tcg::make_helper;
using tcg::helper_flag::no_read_globals;
using tcg::helper_flag::no_write_globals;
// Integer ops touch only XMM state; floating-point ones may raise #XM.
#define QF_DEFINE_INT(name) const tcg::helper_info name = make_helper<&h_##name>(#name, no_read_globals | no_write_globals);
#define QF_DEFINE_FP(name) const tcg::helper_info name = make_helper<&h_##name>(#name, 0);
QF_SSE_INT(QF_DEFINE_INT)
QF_SSE_FP(QF_DEFINE_FP)
#undef QF_DEFINE_INT
#undef QF_DEFINE_FP
const tcg::helper_info mmx_packsswb = make_helper<&h_mmx_packsswb>("mmx_packsswb", no_read_globals | no_write_globals);
const tcg::helper_info mmx_packssdw = make_helper<&h_mmx_packssdw>("mmx_packssdw", no_read_globals | no_write_globals);
const tcg::helper_info mmx_packuswb = make_helper<&h_mmx_packuswb>("mmx_packuswb", no_read_globals | no_write_globals);
const tcg::helper_info mmx_punpckhbw = make_helper<&h_mmx_punpckhbw>("mmx_punpckhbw", no_read_globals | no_write_globals);
const tcg::helper_info mmx_punpckhwd = make_helper<&h_mmx_punpckhwd>("mmx_punpckhwd", no_read_globals | no_write_globals);
const tcg::helper_info mmx_punpckhdq = make_helper<&h_mmx_punpckhdq>("mmx_punpckhdq", no_read_globals | no_write_globals);
const tcg::helper_info mmx_pshufw = make_helper<&h_mmx_pshufw>("mmx_pshufw", no_read_globals | no_write_globals);
const tcg::helper_info cvtss2si = make_helper<&h_cvt2si<false, false>>("cvtss2si", 0);
const tcg::helper_info cvttss2si = make_helper<&h_cvt2si<false, true>>("cvttss2si", 0);
const tcg::helper_info cvtsd2si = make_helper<&h_cvt2si<true, false>>("cvtsd2si", 0);
const tcg::helper_info cvttsd2si = make_helper<&h_cvt2si<true, true>>("cvttsd2si", 0);
const tcg::helper_info cvtsi2ss = make_helper<&h_cvtsi2<false>>("cvtsi2ss", 0);
const tcg::helper_info cvtsi2sd = make_helper<&h_cvtsi2<true>>("cvtsi2sd", 0);
const tcg::helper_info movmskps = make_helper<&h_movmskps>("movmskps", no_read_globals | no_write_globals);
const tcg::helper_info movmskpd = make_helper<&h_movmskpd>("movmskpd", no_read_globals | no_write_globals);
const tcg::helper_info pmovmskb = make_helper<&h_pmovmskb>("pmovmskb", no_read_globals | no_write_globals);
const tcg::helper_info comiss = make_helper<&h_comi<false, true>>("comiss", 0);
const tcg::helper_info ucomiss = make_helper<&h_comi<false, false>>("ucomiss", 0);
const tcg::helper_info comisd = make_helper<&h_comi<true, true>>("comisd", 0);
const tcg::helper_info ucomisd = make_helper<&h_comi<true, false>>("ucomisd", 0);
const tcg::helper_info ldmxcsr = make_helper<&h_ldmxcsr>("ldmxcsr", 0);
const tcg::helper_info fxsave = make_helper<&h_fxsave>("fxsave", 0);
const tcg::helper_info fxrstor = make_helper<&h_fxrstor>("fxrstor", 0);
} // namespace helper::sse

} // namespace qf::x86
