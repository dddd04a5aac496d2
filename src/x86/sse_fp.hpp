#pragma once
// What the SSE helper files share: the XMM registers by offset, and the
// guest's MXCSR around a floating-point operation on the host. Internal to
// the x86 library.
#include "helpers.hpp"

#include <immintrin.h>

namespace qf::x86::sse_fp {

inline std::uint8_t* bytes(tcg::env_base* env) { return reinterpret_cast<std::uint8_t*>(env); }
// A register as two 8-byte loads: generated code writes XMM registers in
// 8-byte halves (MOVQ, MOVD, 64-bit loads), and one 16-byte load of two
// such stores cannot be forwarded from them - a stall of some 15 cycles
// on each dependent helper (a third of a SHA-256 kernel's time).
inline __m128i ld(tcg::env_base* env, std::uint64_t off) {
    const auto* p = reinterpret_cast<const double*>(bytes(env) + off);
    return _mm_castpd_si128(_mm_loadh_pd(_mm_castsi128_pd(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))), p + 1));
}
inline void st(tcg::env_base* env, std::uint64_t off, __m128i v) { _mm_store_si128(reinterpret_cast<__m128i*>(bytes(env) + off), v); }
inline xmm_reg& reg(tcg::env_base* env, std::uint64_t off) { return *reinterpret_cast<xmm_reg*>(bytes(env) + off); }

inline constexpr std::uint32_t mxcsr_flags = mxcsr_bit::flags, mxcsr_masks = mxcsr_bit::masks,
                               mxcsr_mask_supported = 0xffff;

// The common case: the guest's MXCSR control is the host's own default
// (every exception masked, round to nearest, no DAZ or FTZ). Then the
// host's MXCSR stays as it is, and its sticky flags may hold any of the
// guest's: only flags the guest lacks must be clear before an operation,
// for the flags read after it to be the ones it raised or the guest had.
// In the steady state that is no LDMXCSR at all - writing MXCSR stalls the
// next read of it, and the N-body kernel spent 90 % of its time there.
inline constexpr std::uint32_t default_control = 0x1f80;
inline bool fast_enter(const state& s) {
    if ((s.mxcsr & ~mxcsr_flags & mxcsr_mask_supported) != default_control) return false;
    const std::uint32_t h = _mm_getcsr();
    if ((h & ~mxcsr_flags) != default_control || (h & mxcsr_flags & ~s.mxcsr) != 0) _mm_setcsr(default_control);
    asm volatile("" ::: "memory");  // the operands are loaded after this
    return true;
}

// QEMU's "hardfloat", for add, sub, mul, div and sqrt. MXCSR's inexact flag
// is sticky, and almost every program sets it with its first rounded
// result: from then on, with the default control, an operation whose
// inputs are each zero or normal and whose result is normal (or a zero
// that raises nothing) cannot raise a flag the guest lacks. It then runs
// with no MXCSR access - each read of MXCSR waits for the floating-point
// work before it, and two of them were most of an N-body step. Anything
// else (NaN, infinity, denormal, overflow, underflow, a division by zero)
// goes again the full way. The host's control is the default whenever
// generated code runs: only fp_exec and fp_scope change it, and they put
// it back.
enum class hard_op { add, mul, div, sqrt };
inline bool hard_ready(const state& s) {
    constexpr std::uint32_t pe = mxcsr_bit::pe;
    return (s.mxcsr & ~mxcsr_flags & mxcsr_mask_supported) == default_control && (s.mxcsr & pe);
}
template <class U, unsigned Frac, unsigned Exp>
struct ieee {
    using emax_type = U;
    static constexpr U emax = (U{1} << Exp) - 1;
    static bool normal(U u) { return static_cast<U>(((u >> Frac) & emax) - 1) < emax - 1; }
    static bool zero(U u) { return static_cast<U>(u << 1) == 0; }
    template <hard_op K>
    static bool lane(U a, U b, U r) {
        if constexpr (K == hard_op::sqrt) return normal(b) ? !(b >> (Frac + Exp)) : zero(b);
        if (!(normal(a) || zero(a)) || !(normal(b) || zero(b))) return false;
        if (K == hard_op::div && zero(b)) return false;
        // An exact cancellation is a zero without flags; a product or
        // quotient of non-zeros that is zero has underflowed.
        if (zero(r)) return K == hard_op::add || zero(a) || (K == hard_op::mul && zero(b));
        // A product or quotient that rounded up to the smallest normal was
        // tiny before rounding: underflow (QEMU's hardfloat takes
        // |r| <= min normal the slow way too). A tiny sum is always exact.
        if (K != hard_op::add && static_cast<U>(static_cast<U>(r << 1) >> 1) == (U{1} << Frac)) return false;
        return normal(r);
    }
};
using ieee64 = ieee<std::uint64_t, 52, 11>;
using ieee32 = ieee<std::uint32_t, 23, 8>;
// Whether lanes [0, N) of r, computed from a and b, raised nothing new.
template <hard_op K, class F, unsigned N>
bool hard_ok(__m128i a, __m128i b, __m128i r) {
    using U = typename F::emax_type;
    alignas(16) U x[16 / sizeof(U)], y[16 / sizeof(U)], z[16 / sizeof(U)];
    _mm_store_si128(reinterpret_cast<__m128i*>(x), a);
    _mm_store_si128(reinterpret_cast<__m128i*>(y), b);
    _mm_store_si128(reinterpret_cast<__m128i*>(z), r);
    for (unsigned i = 0; i < N; ++i)
        if (!F::template lane<K>(x[i], y[i], z[i])) return false;
    return true;
}

// The guest's MXCSR on the host for one operation: its rounding, DAZ and
// FTZ, every exception masked (an unmasked one would trap the emulator).
// finish() puts the host's back and reports the flags: the guest's MXCSR
// takes them, and an unmasked one raises #XM (#UD without OSXMMEXCPT).
class fp_scope {
public:
    explicit fp_scope(state& s) : s_(s), fast_(fast_enter(s)) {
        if (fast_) return;
        host_ = _mm_getcsr();
        _mm_setcsr((s.mxcsr & ~mxcsr_flags) | mxcsr_masks);
        asm volatile("" ::: "memory");  // the operands are loaded after this
    }
    void finish(std::uintptr_t ra, std::uint32_t extra = 0) {
        const std::uint32_t flags = (_mm_getcsr() & mxcsr_flags) | extra;
        if (!fast_) _mm_setcsr(host_);
        s_.mxcsr |= flags;
        if (flags & ~(s_.mxcsr >> 7) & mxcsr_flags)
            raise_exception(s_, (s_.cr[4] & (1u << 10)) ? 19 : EXCP_UD, 0, ra);
    }

private:
    state& s_;
    bool fast_;
    std::uint32_t host_ = 0;
};

// The result is computed before the flags are read (the compiler does not
// know that MXCSR orders floating-point work).
template <class T>
void pin(T& v) {
    asm volatile("" : "+x"(v));
}

// op() (which loads its operands itself) under the guest's MXCSR, as
// fp_scope; its result. With underflow unmasked every tiny result, exact
// or not and intermediate ones too (DPPS), must raise #XM (SDM vol. 1,
// 11.5.2.4), which the masked computation flags only when inexact: op()
// then runs again with FTZ, which flags every tiny result.
template <class F>
auto fp_exec(state& s, std::uintptr_t ra, F&& op) {
    constexpr std::uint32_t ue = mxcsr_bit::ue, ftz = mxcsr_bit::fz;
    if (fast_enter(s)) {  // every exception masked: nothing to raise
        auto r = op();
        pin(r);
        s.mxcsr |= _mm_getcsr() & mxcsr_flags;
        return r;
    }
    const std::uint32_t host = _mm_getcsr(), base = (s.mxcsr & ~mxcsr_flags) | mxcsr_masks;
    _mm_setcsr(base);
    asm volatile("" ::: "memory");
    auto r = op();
    pin(r);
    std::uint32_t flags = _mm_getcsr() & mxcsr_flags;
    if (!(s.mxcsr & (ue << 7)) && !(flags & ue)) {
        _mm_setcsr(base | ftz);
        asm volatile("" ::: "memory");
        auto again = op();
        pin(again);
        flags |= _mm_getcsr() & ue;
    }
    _mm_setcsr(host);
    s.mxcsr |= flags;
    if (flags & ~(s.mxcsr >> 7) & mxcsr_flags) raise_exception(s, (s.cr[4] & (1u << 10)) ? 19 : EXCP_UD, 0, ra);
    return r;
}

} // namespace qf::x86::sse_fp
