#include "helpers.hpp"

#include "qf/accel/tcg/engine.hpp"
#include "targets/x86/vcpu.hpp"

#include <x86intrin.h>

namespace qf::x86 {

namespace {


std::uint64_t h_compute_eflags(tcg::env_base* env) { return compute_eflags(state_of(env)); }
void h_write_eflags(tcg::env_base* env, std::uint64_t v, std::uint64_t mask) { load_eflags(state_of(env), v, mask); }
void h_raise(tcg::env_base* env, std::uint64_t vector, std::uint64_t error) {
    raise_exception(state_of(env), static_cast<int>(vector), static_cast<std::uint32_t>(error), no_restore);
}
// Protected mode with CPL > IOPL (and virtual-8086 mode): the TSS I/O
// permission bitmap must clear every bit of the access, or #GP(0).
void check_io(tcg::env_base* env, std::uint64_t port, std::uint64_t size, std::uintptr_t ra) {
    state& s = state_of(env);
    if (!(s.hflags & hflag::pe)) return;
    const unsigned iopl = (s.eflags >> 12) & 3;
    if (!(s.hflags & hflag::vm) && (s.hflags & hflag::cpl_mask) <= iopl) return;
    const unsigned type = s.tr.attr & 0xf;
    if (!(s.tr.attr & seg_attr::present) || (type != 0x9 && type != 0xb) || s.tr.limit < 0x67)
        raise_exception(s, EXCP_GP, 0, ra);
    const auto base = static_cast<std::uint32_t>(read_sys(s, s.tr.base + 0x66, tcg::memop::uw, ra));
    const std::uint64_t at = base + (port >> 3);
    if (at + 1 > s.tr.limit) raise_exception(s, EXCP_GP, 0, ra);
    const std::uint64_t bits = read_sys(s, s.tr.base + at, tcg::memop::uw, ra);
    const std::uint64_t mask = ((1u << size) - 1) << (port & 7);
    if (bits & mask) raise_exception(s, EXCP_GP, 0, ra);
}

// CLI/STI outside real mode need CPL <= IOPL (virtual-8086: IOPL 3).
void h_check_iopl(tcg::env_base* env) {
    state& s = state_of(env);
    const unsigned iopl = (s.eflags >> 12) & 3;
    const unsigned cpl = (s.hflags & hflag::vm) ? 3 : (s.hflags & hflag::cpl_mask);
    if ((s.hflags & hflag::pe) && cpl > iopl) raise_exception(s, EXCP_GP, 0, QF_GETPC());
}

std::uint64_t h_in(tcg::env_base* env, std::uint64_t port, std::uint64_t size) {
    check_io(env, port, size, QF_GETPC());
    const io_bus& io = vcpu_of(env).io();
    return io.in(io.ctx, env, static_cast<std::uint16_t>(port), static_cast<unsigned>(size));
}
void h_out(tcg::env_base* env, std::uint64_t port, std::uint64_t size, std::uint64_t value) {
    check_io(env, port, size, QF_GETPC());
    const io_bus& io = vcpu_of(env).io();
    io.out(io.ctx, env, static_cast<std::uint16_t>(port), static_cast<unsigned>(size), static_cast<std::uint32_t>(value));
}
void h_yield(tcg::env_base* env) { env->exit_request = 1; }
void h_hlt(tcg::env_base* env) {
    state_of(env).halted = 1;
    env->exit_request = 1;
}

// DIV and IDIV on rDX:rAX; #DE on a zero divisor or a quotient that does
// not fit.
template <unsigned SL>
void h_div(tcg::env_base* env, std::uint64_t divisor) {
    state& s = state_of(env);
    constexpr unsigned bits = 8u << SL;
    constexpr std::uint64_t mask = bits == 64 ? ~0ull : (1ull << bits) - 1;
    divisor &= mask;
    if (divisor == 0) raise_exception(s, EXCP_DE, 0, QF_GETPC());
    __extension__ using u128 = unsigned __int128;
    u128 dividend;
    if constexpr (SL == 0) dividend = s.regs[R_EAX] & 0xffff;
    else dividend = (static_cast<u128>(s.regs[R_EDX] & mask) << bits) | (s.regs[R_EAX] & mask);
    const u128 q = dividend / divisor, r = dividend % divisor;
    if (q > mask) raise_exception(s, EXCP_DE, 0, QF_GETPC());
    if constexpr (SL == 0) {
        s.regs[R_EAX] = (s.regs[R_EAX] & ~0xffffull) | static_cast<std::uint64_t>(q) | (static_cast<std::uint64_t>(r) << 8);
    } else if constexpr (SL == 1) {
        s.regs[R_EAX] = (s.regs[R_EAX] & ~0xffffull) | static_cast<std::uint64_t>(q);
        s.regs[R_EDX] = (s.regs[R_EDX] & ~0xffffull) | static_cast<std::uint64_t>(r);
    } else {
        s.regs[R_EAX] = static_cast<std::uint64_t>(q);
        s.regs[R_EDX] = static_cast<std::uint64_t>(r);
    }
}

template <unsigned SL>
void h_idiv(tcg::env_base* env, std::uint64_t divisor_in) {
    state& s = state_of(env);
    constexpr unsigned bits = 8u << SL;
    __extension__ using i128 = __int128;
    __extension__ using u128 = unsigned __int128;
    auto sx = [](u128 v, unsigned b) -> i128 {
        const unsigned sh = 128 - b;
        return static_cast<i128>(v << sh) >> sh;
    };
    const i128 divisor = sx(divisor_in, bits);
    if (divisor == 0) raise_exception(s, EXCP_DE, 0, QF_GETPC());
    constexpr std::uint64_t mask = bits == 64 ? ~0ull : (1ull << bits) - 1;
    i128 dividend;
    if constexpr (SL == 0) dividend = sx(s.regs[R_EAX] & 0xffff, 16);
    else dividend = sx((static_cast<u128>(s.regs[R_EDX] & mask) << bits) | (s.regs[R_EAX] & mask), 2 * bits);
    // The one quotient that overflows 128 bits: INT128_MIN / -1 cannot occur, as the dividend is at most 2*64 bits.
    const i128 q = dividend / divisor, r = dividend % divisor;
    const i128 lim = static_cast<i128>(1) << (bits - 1);
    if (q >= lim || q < -lim) raise_exception(s, EXCP_DE, 0, QF_GETPC());
    const auto uq = static_cast<std::uint64_t>(q) & mask, ur = static_cast<std::uint64_t>(r) & mask;
    if constexpr (SL == 0) {
        s.regs[R_EAX] = (s.regs[R_EAX] & ~0xffffull) | uq | (ur << 8);
    } else if constexpr (SL == 1) {
        s.regs[R_EAX] = (s.regs[R_EAX] & ~0xffffull) | uq;
        s.regs[R_EDX] = (s.regs[R_EDX] & ~0xffffull) | ur;
    } else {
        s.regs[R_EAX] = uq;
        s.regs[R_EDX] = ur;
    }
}

void h_cpuid(tcg::env_base* env) {
    state& s = state_of(env);
    const auto leaf = static_cast<std::uint32_t>(s.regs[R_EAX]), index = static_cast<std::uint32_t>(s.regs[R_ECX]);
    cpuid_result r = cpuid(vcpu_of(env).model(), leaf, index);
    apply_topology(leaf, index, r, vcpu_of(env).topology());
    s.regs[R_EAX] = r.eax;
    s.regs[R_EBX] = r.ebx;
    s.regs[R_ECX] = r.ecx;
    s.regs[R_EDX] = r.edx;
}

void h_rdtsc(tcg::env_base* env) {
    state& s = state_of(env);
    const std::uint64_t t = __rdtsc() + s.tsc_offset;
    s.regs[R_EAX] = t & 0xffff'ffff;
    s.regs[R_EDX] = t >> 32;
}

// POPF: the arithmetic flags, TF, DF, NT, AC, ID always; IOPL at CPL 0; IF
// where CPL <= IOPL. In virtual-8086 mode IOPL must be 3 (#GP) and stays.
void h_popf(tcg::env_base* env, std::uint64_t v, std::uint64_t osize) {
    state& s = state_of(env);
    const unsigned iopl = (s.eflags >> 12) & 3, c = cpl(s);
    const bool vm = s.hflags & hflag::vm;
    if (vm && iopl != 3) raise_exception(s, EXCP_GP, 0, QF_GETPC());
    std::uint64_t mask = eflags_bit::arith | eflags_bit::tf | eflags_bit::df | eflags_bit::nt | eflags_bit::ac | eflags_bit::id;
    if (c == 0 && !vm) mask |= eflags_bit::iopl;
    if (c <= iopl) mask |= eflags_bit::if_;
    if (osize == 1) mask &= 0xffff;
    load_eflags(s, v, mask);
}

void h_rdtscp(tcg::env_base* env) {
    h_rdtsc(env);
    state& s = state_of(env);
    s.regs[R_ECX] = s.tsc_aux & 0xffff'ffff;
}

// The BCD adjustments (outside 64-bit mode), as the SDM gives them. The
// flags the SDM leaves undefined come out as QEMU leaves them: OF from
// before for DAA/DAS, and AAA/AAS change only AF and CF.
void h_bcd(tcg::env_base* env, std::uint64_t kind, std::uint64_t base) {
    state& s = state_of(env);
    const std::uint64_t f = compute_eflags(s);
    const bool cf = f & eflags_bit::cf, af = f & eflags_bit::af;
    unsigned al = s.regs[R_EAX] & 0xff, ah = (s.regs[R_EAX] >> 8) & 0xff;
    std::uint64_t nf = 0;
    auto szp = [&](unsigned v) {
        return (v == 0 ? eflags_bit::zf : 0) | (v & 0x80 ? eflags_bit::sf : 0) |
               (__builtin_parity(v) ? 0 : eflags_bit::pf);
    };
    switch (kind) {
    case 0: {  // DAA
        const unsigned old = al;
        if ((al & 0xf) > 9 || af) al = (al + 6) & 0xff, nf |= eflags_bit::af;
        if (old > 0x99 || cf) al = (al + 0x60) & 0xff, nf |= eflags_bit::cf;
        nf |= szp(al) | (f & eflags_bit::of);
        break;
    }
    case 1: {  // DAS
        const unsigned old = al;
        if ((al & 0xf) > 9 || af) {
            nf |= eflags_bit::af;
            if (al < 6 || cf) nf |= eflags_bit::cf;
            al = (al - 6) & 0xff;
        }
        if (old > 0x99 || cf) al = (al - 0x60) & 0xff, nf |= eflags_bit::cf;
        nf |= szp(al) | (f & eflags_bit::of);
        break;
    }
    case 2:    // AAA
    case 3: {  // AAS
        nf = f & ~(eflags_bit::af | eflags_bit::cf);
        if ((al & 0xf) > 9 || af) {
            const unsigned ax = ((ah << 8) | al) + (kind == 2 ? 0x106u : -0x106u);
            al = ax & 0xf;
            ah = (ax >> 8) & 0xff;
            nf |= eflags_bit::af | eflags_bit::cf;
        } else {
            al &= 0xf;
        }
        break;
    }
    case 4:  // AAM
        if (base == 0) raise_exception(s, EXCP_DE, 0, QF_GETPC());
        ah = al / static_cast<unsigned>(base);
        al = al % static_cast<unsigned>(base);
        nf = szp(al);
        break;
    default:  // AAD
        al = (al + ah * static_cast<unsigned>(base)) & 0xff;
        ah = 0;
        nf = szp(al);
        break;
    }
    s.regs[R_EAX] = (s.regs[R_EAX] & ~0xffffull) | ah << 8 | al;
    s.cc_src = nf & eflags_bit::arith;
    s.cc_op = CC_OP_EFLAGS;
}

// PDEP and PEXT bit by bit (the host may not have BMI2).
std::uint64_t h_pdep(std::uint64_t src, std::uint64_t mask) {
    std::uint64_t r = 0;
    for (std::uint64_t k = 1; mask; mask &= mask - 1, k <<= 1)
        if (src & k) r |= mask & -mask;
    return r;
}
std::uint64_t h_pext(std::uint64_t src, std::uint64_t mask) {
    std::uint64_t r = 0;
    for (std::uint64_t k = 1; mask; mask &= mask - 1, k <<= 1)
        if (src & mask & -mask) r |= k;
    return r;
}

} // namespace

void raise_exception(state& s, int vector, std::uint32_t error_code, std::uintptr_t retaddr) {
    if (retaddr != no_restore) static_cast<tcg::engine*>(s.base.engine)->restore_state(retaddr);
    s.exception_index = vector;
    s.error_code = error_code;
    tcg::cpu_loop_exit(&s.base);
}

namespace helper {
using tcg::helper_flag::no_read_globals;
using tcg::helper_flag::no_side_effects;
using tcg::helper_flag::no_write_globals;
using tcg::make_helper;
const tcg::helper_info compute_eflags = make_helper<&h_compute_eflags>("compute_eflags", no_write_globals | no_side_effects);
const tcg::helper_info cc_compute_all = make_helper<&compute_eflags_lazy>("cc_compute_all", tcg::helper_flag::pure);
const tcg::helper_info cc_compute_c = make_helper<&compute_cf_lazy>("cc_compute_c", tcg::helper_flag::pure);
const tcg::helper_info write_eflags = make_helper<&h_write_eflags>("write_eflags", 0);
const tcg::helper_info raise = make_helper<&h_raise>("raise_exception", 0);
const tcg::helper_info check_iopl = make_helper<&h_check_iopl>("check_iopl", no_write_globals);
const tcg::helper_info in = make_helper<&h_in>("in", no_write_globals);
const tcg::helper_info out = make_helper<&h_out>("out", no_write_globals);
const tcg::helper_info hlt = make_helper<&h_hlt>("hlt", no_write_globals);
const tcg::helper_info yield = make_helper<&h_yield>("yield", no_write_globals);
const tcg::helper_info div[4] = {make_helper<&h_div<0>>("divb", 0), make_helper<&h_div<1>>("divw", 0),
                                 make_helper<&h_div<2>>("divl", 0), make_helper<&h_div<3>>("divq", 0)};
const tcg::helper_info idiv[4] = {make_helper<&h_idiv<0>>("idivb", 0), make_helper<&h_idiv<1>>("idivw", 0),
                                  make_helper<&h_idiv<2>>("idivl", 0), make_helper<&h_idiv<3>>("idivq", 0)};
const tcg::helper_info cpuid = make_helper<&h_cpuid>("cpuid", 0);
const tcg::helper_info rdtsc = make_helper<&h_rdtsc>("rdtsc", 0);
const tcg::helper_info rdtscp = make_helper<&h_rdtscp>("rdtscp", 0);
const tcg::helper_info popf = make_helper<&h_popf>("popf", 0);
const tcg::helper_info bcd = make_helper<&h_bcd>("bcd", 0);
const tcg::helper_info pdep = make_helper<&h_pdep>("pdep", no_read_globals | no_write_globals | no_side_effects);
const tcg::helper_info pext = make_helper<&h_pext>("pext", no_read_globals | no_write_globals | no_side_effects);
} // namespace helper

} // namespace qf::x86
