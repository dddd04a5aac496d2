#pragma once
// SSE, SSE2 and SSE3 helpers. Each works on the state's XMM registers by
// byte offset (d, s: offsetof(state, xmm[i]) or of xmm_t0, where the
// translator loads a memory operand), so one helper serves every register.
// The host is x86-64, so a helper computes with the host's own instruction:
// the results, NaN propagation and exception flags are the hardware's.
// Floating-point helpers run under the guest's MXCSR (rounding, DAZ, FTZ,
// with every exception masked on the host) and raise #XM (#UD without
// CR4.OSXMMEXCPT) for a flag the guest unmasks, leaving the destination
// alone as the hardware does. Internal to the x86 library.
#include "qf/accel/tcg/ir.hpp"

namespace qf::x86::helper::sse {

// (env, d, s, imm): d = op(d, s[, imm]). Integer and shuffle operations,
// which cannot fault:
#define QF_SSE_INT(X)                                                                                          \
    X(punpcklbw) X(punpcklwd) X(punpckldq) X(packsswb) X(pcmpgtb) X(pcmpgtw) X(pcmpgtd) X(packuswb) X(punpckhbw)  \
    X(punpckhwd) X(punpckhdq) X(packssdw) X(punpcklqdq) X(punpckhqdq) X(pcmpeqb) X(pcmpeqw) X(pcmpeqd) X(psrlw)   \
    X(psrld) X(psrlq) X(pmullw) X(psubusb) X(psubusw) X(pminub) X(paddusb) X(paddusw) X(pmaxub) X(pavgb) X(psraw) \
    X(psrad) X(pavgw) X(pmulhuw) X(pmulhw) X(psubsb) X(psubsw) X(pminsw) X(paddsb) X(paddsw) X(pmaxsw) X(psllw)   \
    X(pslld) X(psllq) X(pmuludq) X(pmaddwd) X(psadbw) X(psubb) X(psubw) X(psubd) X(paddb) X(paddw) X(paddd)      \
    X(psrlw_i) X(psraw_i) X(psllw_i) X(psrld_i) X(psrad_i) X(pslld_i) X(psrlq_i) X(psrldq_i) X(psllq_i)           \
    X(pslldq_i) X(pshufd) X(pshufhw) X(pshuflw) X(shufps) X(shufpd) X(unpcklps) X(unpckhps) X(movsldup)           \
    X(movshdup) X(movddup)
// and floating-point ones, which may raise #XM:
#define QF_SSE_FP(X)                                                                                           \
    X(addps) X(addpd) X(addss) X(addsd) X(subps) X(subpd) X(subss) X(subsd) X(mulps) X(mulpd) X(mulss) X(mulsd)   \
    X(divps) X(divpd) X(divss) X(divsd) X(minps) X(minpd) X(minss) X(minsd) X(maxps) X(maxpd) X(maxss) X(maxsd)   \
    X(sqrtps) X(sqrtpd) X(sqrtss) X(sqrtsd) X(rsqrtps) X(rsqrtss) X(rcpps) X(rcpss) X(cmpps) X(cmppd) X(cmpss)     \
    X(cmpsd) X(cvtps2pd) X(cvtpd2ps) X(cvtss2sd) X(cvtsd2ss) X(cvtdq2ps) X(cvtps2dq) X(cvttps2dq) X(cvttpd2dq)    \
    X(cvtdq2pd) X(cvtpd2dq) X(haddps) X(haddpd) X(hsubps) X(hsubpd) X(addsubps) X(addsubpd)

// SSSE3, SSE4.1 and SSE4.2 (sse4_helpers.cpp), the same way:
#define QF_SSE4_INT(X)                                                                                         \
    X(pshufb) X(phaddw) X(phaddd) X(phaddsw) X(pmaddubsw) X(phsubw) X(phsubd) X(phsubsw) X(psignb) X(psignw)     \
    X(psignd) X(pmulhrsw) X(pabsb) X(pabsw) X(pabsd) X(pblendvb) X(pmovsxbw) X(pmovsxbd) X(pmovsxbq) X(pmovsxwd) \
    X(pmovsxwq) X(pmovsxdq) X(pmovzxbw) X(pmovzxbd) X(pmovzxbq) X(pmovzxwd) X(pmovzxwq) X(pmovzxdq) X(pmuldq)    \
    X(pcmpeqq) X(packusdw) X(pminsb) X(pminsd) X(pminuw) X(pminud) X(pmaxsb) X(pmaxsd) X(pmaxuw) X(pmaxud)       \
    X(pmulld) X(phminposuw) X(blendvps) X(blendvpd) X(pcmpgtq) X(palignr) X(blendps) X(blendpd) X(pblendw)       \
    X(insertps) X(mpsadbw)
// (these read general registers, set flags or may raise #XM)
#define QF_SSE4_FP(X)                                                                                          \
    X(roundps) X(roundpd) X(roundss) X(roundsd) X(dpps) X(dppd) X(ptest) X(pcmpestri) X(pcmpestrm) X(pcmpistri)  \
    X(pcmpistrm)

#define QF_SSE_DECLARE(name) extern const tcg::helper_info name;
QF_SSE_INT(QF_SSE_DECLARE)
QF_SSE_FP(QF_SSE_DECLARE)
QF_SSE4_INT(QF_SSE_DECLARE)
QF_SSE4_FP(QF_SSE_DECLARE)
#undef QF_SSE_DECLARE

// (env, s, is64) -> the integer: CVT(T)SS2SI, CVT(T)SD2SI.
extern const tcg::helper_info cvtss2si, cvttss2si, cvtsd2si, cvttsd2si;
// (env, d, value, is64): CVTSI2SS, CVTSI2SD from a general register.
extern const tcg::helper_info cvtsi2ss, cvtsi2sd;
// (env, s) -> the mask: MOVMSKPS, MOVMSKPD, PMOVMSKB.
extern const tcg::helper_info movmskps, movmskpd, pmovmskb;
// (env, a, b): COMISS/UCOMISS/COMISD/UCOMISD set ZF PF CF (OF SF AF clear).
extern const tcg::helper_info comiss, ucomiss, comisd, ucomisd;
// MMX forms whose lanes differ from the SSE ones' low halves (d, s: the
// low quadwords of xmm_t0 and xmm_t1).
extern const tcg::helper_info mmx_packsswb, mmx_packssdw, mmx_packuswb, mmx_punpckhbw, mmx_punpckhwd, mmx_punpckhdq,
    mmx_pshufw;
// (crc, value, bytes) -> crc: CRC32 (SSE4.2) over the value's low bytes.
extern const tcg::helper_info crc32;
// (env, value): LDMXCSR (#GP for reserved bits).
extern const tcg::helper_info ldmxcsr;
// (env, addr, rex_w): FXSAVE and FXRSTOR of the 512-byte area at addr.
extern const tcg::helper_info fxsave, fxrstor;

} // namespace qf::x86::helper::sse
