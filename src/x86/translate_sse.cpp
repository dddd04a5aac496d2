// The SSE, SSE2 and SSE3 instructions of the 0F map. Moves, the bitwise
// operations and 64-bit lane arithmetic are inline IR on the XMM registers
// in the state; everything else calls a helper (sse_helpers.hpp) with the
// registers' offsets, a memory operand going through xmm_t0.
#include "sse_helpers.hpp"
#include "translator.hpp"
#include "x87_helpers.hpp"

#include <cstddef>

namespace qf::x86::detail {

namespace {

namespace hs = helper::sse;

std::int32_t xo(unsigned i) { return static_cast<std::int32_t>(offsetof(state, xmm) + 16 * i); }
constexpr auto t0 = static_cast<std::int32_t>(offsetof(state, xmm_t0));

// How the second operand is read.
enum class src : std::uint8_t {
    p128,  // xmm/m128, 16-byte aligned
    u128,  // xmm/m128, any alignment
    m16,   // xmm/m16: the low word
    m64,   // xmm/m64: the low quadword
    s32,   // xmm/m32: a scalar single
    s64,   // xmm/m64: a scalar double
};

struct form {
    std::uint8_t op, pfx;
    src s;
    bool imm;
    const tcg::helper_info* h;
    feature need;
};

// The helper-backed forms. pfx is the mandatory prefix (0, 66, F3, F2).
const form forms[] = {
    {0x14, 0x00, src::p128, false, &hs::unpcklps, feat::sse},
    {0x15, 0x00, src::p128, false, &hs::unpckhps, feat::sse},
    {0x14, 0x66, src::p128, false, &hs::punpcklqdq, feat::sse2},  // UNPCKLPD: the same lanes
    {0x15, 0x66, src::p128, false, &hs::punpckhqdq, feat::sse2},  // UNPCKHPD
    {0x12, 0xf2, src::m64, false, &hs::movddup, feat::sse3},
    {0x12, 0xf3, src::p128, false, &hs::movsldup, feat::sse3},
    {0x16, 0xf3, src::p128, false, &hs::movshdup, feat::sse3},
    {0x51, 0x00, src::p128, false, &hs::sqrtps, feat::sse},
    {0x51, 0x66, src::p128, false, &hs::sqrtpd, feat::sse2},
    {0x51, 0xf3, src::s32, false, &hs::sqrtss, feat::sse},
    {0x51, 0xf2, src::s64, false, &hs::sqrtsd, feat::sse2},
    {0x52, 0x00, src::p128, false, &hs::rsqrtps, feat::sse},
    {0x52, 0xf3, src::s32, false, &hs::rsqrtss, feat::sse},
    {0x53, 0x00, src::p128, false, &hs::rcpps, feat::sse},
    {0x53, 0xf3, src::s32, false, &hs::rcpss, feat::sse},
    {0x58, 0x00, src::p128, false, &hs::addps, feat::sse},
    {0x58, 0x66, src::p128, false, &hs::addpd, feat::sse2},
    {0x58, 0xf3, src::s32, false, &hs::addss, feat::sse},
    {0x58, 0xf2, src::s64, false, &hs::addsd, feat::sse2},
    {0x59, 0x00, src::p128, false, &hs::mulps, feat::sse},
    {0x59, 0x66, src::p128, false, &hs::mulpd, feat::sse2},
    {0x59, 0xf3, src::s32, false, &hs::mulss, feat::sse},
    {0x59, 0xf2, src::s64, false, &hs::mulsd, feat::sse2},
    {0x5a, 0x00, src::m64, false, &hs::cvtps2pd, feat::sse2},
    {0x5a, 0x66, src::p128, false, &hs::cvtpd2ps, feat::sse2},
    {0x5a, 0xf3, src::s32, false, &hs::cvtss2sd, feat::sse2},
    {0x5a, 0xf2, src::s64, false, &hs::cvtsd2ss, feat::sse2},
    {0x5b, 0x00, src::p128, false, &hs::cvtdq2ps, feat::sse2},
    {0x5b, 0x66, src::p128, false, &hs::cvtps2dq, feat::sse2},
    {0x5b, 0xf3, src::p128, false, &hs::cvttps2dq, feat::sse2},
    {0x5c, 0x00, src::p128, false, &hs::subps, feat::sse},
    {0x5c, 0x66, src::p128, false, &hs::subpd, feat::sse2},
    {0x5c, 0xf3, src::s32, false, &hs::subss, feat::sse},
    {0x5c, 0xf2, src::s64, false, &hs::subsd, feat::sse2},
    {0x5d, 0x00, src::p128, false, &hs::minps, feat::sse},
    {0x5d, 0x66, src::p128, false, &hs::minpd, feat::sse2},
    {0x5d, 0xf3, src::s32, false, &hs::minss, feat::sse},
    {0x5d, 0xf2, src::s64, false, &hs::minsd, feat::sse2},
    {0x5e, 0x00, src::p128, false, &hs::divps, feat::sse},
    {0x5e, 0x66, src::p128, false, &hs::divpd, feat::sse2},
    {0x5e, 0xf3, src::s32, false, &hs::divss, feat::sse},
    {0x5e, 0xf2, src::s64, false, &hs::divsd, feat::sse2},
    {0x5f, 0x00, src::p128, false, &hs::maxps, feat::sse},
    {0x5f, 0x66, src::p128, false, &hs::maxpd, feat::sse2},
    {0x5f, 0xf3, src::s32, false, &hs::maxss, feat::sse},
    {0x5f, 0xf2, src::s64, false, &hs::maxsd, feat::sse2},
    {0x60, 0x66, src::p128, false, &hs::punpcklbw, feat::sse2},
    {0x61, 0x66, src::p128, false, &hs::punpcklwd, feat::sse2},
    {0x62, 0x66, src::p128, false, &hs::punpckldq, feat::sse2},
    {0x63, 0x66, src::p128, false, &hs::packsswb, feat::sse2},
    {0x64, 0x66, src::p128, false, &hs::pcmpgtb, feat::sse2},
    {0x65, 0x66, src::p128, false, &hs::pcmpgtw, feat::sse2},
    {0x66, 0x66, src::p128, false, &hs::pcmpgtd, feat::sse2},
    {0x67, 0x66, src::p128, false, &hs::packuswb, feat::sse2},
    {0x68, 0x66, src::p128, false, &hs::punpckhbw, feat::sse2},
    {0x69, 0x66, src::p128, false, &hs::punpckhwd, feat::sse2},
    {0x6a, 0x66, src::p128, false, &hs::punpckhdq, feat::sse2},
    {0x6b, 0x66, src::p128, false, &hs::packssdw, feat::sse2},
    {0x6c, 0x66, src::p128, false, &hs::punpcklqdq, feat::sse2},
    {0x6d, 0x66, src::p128, false, &hs::punpckhqdq, feat::sse2},
    {0x70, 0x66, src::p128, true, &hs::pshufd, feat::sse2},
    {0x70, 0xf3, src::p128, true, &hs::pshufhw, feat::sse2},
    {0x70, 0xf2, src::p128, true, &hs::pshuflw, feat::sse2},
    {0x74, 0x66, src::p128, false, &hs::pcmpeqb, feat::sse2},
    {0x75, 0x66, src::p128, false, &hs::pcmpeqw, feat::sse2},
    {0x76, 0x66, src::p128, false, &hs::pcmpeqd, feat::sse2},
    {0x7c, 0x66, src::p128, false, &hs::haddpd, feat::sse3},
    {0x7c, 0xf2, src::p128, false, &hs::haddps, feat::sse3},
    {0x7d, 0x66, src::p128, false, &hs::hsubpd, feat::sse3},
    {0x7d, 0xf2, src::p128, false, &hs::hsubps, feat::sse3},
    {0xc2, 0x00, src::p128, true, &hs::cmpps, feat::sse},
    {0xc2, 0x66, src::p128, true, &hs::cmppd, feat::sse2},
    {0xc2, 0xf3, src::s32, true, &hs::cmpss, feat::sse},
    {0xc2, 0xf2, src::s64, true, &hs::cmpsd, feat::sse2},
    {0xc6, 0x00, src::p128, true, &hs::shufps, feat::sse},
    {0xc6, 0x66, src::p128, true, &hs::shufpd, feat::sse2},
    {0xd0, 0x66, src::p128, false, &hs::addsubpd, feat::sse3},
    {0xd0, 0xf2, src::p128, false, &hs::addsubps, feat::sse3},
    {0xd1, 0x66, src::p128, false, &hs::psrlw, feat::sse2},
    {0xd2, 0x66, src::p128, false, &hs::psrld, feat::sse2},
    {0xd3, 0x66, src::p128, false, &hs::psrlq, feat::sse2},
    {0xd5, 0x66, src::p128, false, &hs::pmullw, feat::sse2},
    {0xd8, 0x66, src::p128, false, &hs::psubusb, feat::sse2},
    {0xd9, 0x66, src::p128, false, &hs::psubusw, feat::sse2},
    {0xda, 0x66, src::p128, false, &hs::pminub, feat::sse2},
    {0xdc, 0x66, src::p128, false, &hs::paddusb, feat::sse2},
    {0xdd, 0x66, src::p128, false, &hs::paddusw, feat::sse2},
    {0xde, 0x66, src::p128, false, &hs::pmaxub, feat::sse2},
    {0xe0, 0x66, src::p128, false, &hs::pavgb, feat::sse2},
    {0xe1, 0x66, src::p128, false, &hs::psraw, feat::sse2},
    {0xe2, 0x66, src::p128, false, &hs::psrad, feat::sse2},
    {0xe3, 0x66, src::p128, false, &hs::pavgw, feat::sse2},
    {0xe4, 0x66, src::p128, false, &hs::pmulhuw, feat::sse2},
    {0xe5, 0x66, src::p128, false, &hs::pmulhw, feat::sse2},
    {0xe6, 0x66, src::p128, false, &hs::cvttpd2dq, feat::sse2},
    {0xe6, 0xf3, src::m64, false, &hs::cvtdq2pd, feat::sse2},
    {0xe6, 0xf2, src::p128, false, &hs::cvtpd2dq, feat::sse2},
    {0xe8, 0x66, src::p128, false, &hs::psubsb, feat::sse2},
    {0xe9, 0x66, src::p128, false, &hs::psubsw, feat::sse2},
    {0xea, 0x66, src::p128, false, &hs::pminsw, feat::sse2},
    {0xec, 0x66, src::p128, false, &hs::paddsb, feat::sse2},
    {0xed, 0x66, src::p128, false, &hs::paddsw, feat::sse2},
    {0xee, 0x66, src::p128, false, &hs::pmaxsw, feat::sse2},
    {0xf1, 0x66, src::p128, false, &hs::psllw, feat::sse2},
    {0xf2, 0x66, src::p128, false, &hs::pslld, feat::sse2},
    {0xf3, 0x66, src::p128, false, &hs::psllq, feat::sse2},
    {0xf4, 0x66, src::p128, false, &hs::pmuludq, feat::sse2},
    {0xf5, 0x66, src::p128, false, &hs::pmaddwd, feat::sse2},
    {0xf6, 0x66, src::p128, false, &hs::psadbw, feat::sse2},
    {0xf8, 0x66, src::p128, false, &hs::psubb, feat::sse2},
    {0xf9, 0x66, src::p128, false, &hs::psubw, feat::sse2},
    {0xfa, 0x66, src::p128, false, &hs::psubd, feat::sse2},
    {0xfc, 0x66, src::p128, false, &hs::paddb, feat::sse2},
    {0xfd, 0x66, src::p128, false, &hs::paddw, feat::sse2},
    {0xfe, 0x66, src::p128, false, &hs::paddd, feat::sse2},
};

// 66 0F38 and 66 0F3A: SSSE3, SSE4.1, SSE4.2.
const form forms38[] = {
    {0x00, 0x66, src::p128, false, &hs::pshufb, feat::ssse3},
    {0x01, 0x66, src::p128, false, &hs::phaddw, feat::ssse3},
    {0x02, 0x66, src::p128, false, &hs::phaddd, feat::ssse3},
    {0x03, 0x66, src::p128, false, &hs::phaddsw, feat::ssse3},
    {0x04, 0x66, src::p128, false, &hs::pmaddubsw, feat::ssse3},
    {0x05, 0x66, src::p128, false, &hs::phsubw, feat::ssse3},
    {0x06, 0x66, src::p128, false, &hs::phsubd, feat::ssse3},
    {0x07, 0x66, src::p128, false, &hs::phsubsw, feat::ssse3},
    {0x08, 0x66, src::p128, false, &hs::psignb, feat::ssse3},
    {0x09, 0x66, src::p128, false, &hs::psignw, feat::ssse3},
    {0x0a, 0x66, src::p128, false, &hs::psignd, feat::ssse3},
    {0x0b, 0x66, src::p128, false, &hs::pmulhrsw, feat::ssse3},
    {0x10, 0x66, src::p128, false, &hs::pblendvb, feat::sse4_1},
    {0x14, 0x66, src::p128, false, &hs::blendvps, feat::sse4_1},
    {0x15, 0x66, src::p128, false, &hs::blendvpd, feat::sse4_1},
    {0x17, 0x66, src::p128, false, &hs::ptest, feat::sse4_1},
    {0x1c, 0x66, src::p128, false, &hs::pabsb, feat::ssse3},
    {0x1d, 0x66, src::p128, false, &hs::pabsw, feat::ssse3},
    {0x1e, 0x66, src::p128, false, &hs::pabsd, feat::ssse3},
    {0x20, 0x66, src::m64, false, &hs::pmovsxbw, feat::sse4_1},
    {0x21, 0x66, src::s32, false, &hs::pmovsxbd, feat::sse4_1},
    {0x22, 0x66, src::m16, false, &hs::pmovsxbq, feat::sse4_1},
    {0x23, 0x66, src::m64, false, &hs::pmovsxwd, feat::sse4_1},
    {0x24, 0x66, src::s32, false, &hs::pmovsxwq, feat::sse4_1},
    {0x25, 0x66, src::m64, false, &hs::pmovsxdq, feat::sse4_1},
    {0x28, 0x66, src::p128, false, &hs::pmuldq, feat::sse4_1},
    {0x29, 0x66, src::p128, false, &hs::pcmpeqq, feat::sse4_1},
    {0x2b, 0x66, src::p128, false, &hs::packusdw, feat::sse4_1},
    {0x30, 0x66, src::m64, false, &hs::pmovzxbw, feat::sse4_1},
    {0x31, 0x66, src::s32, false, &hs::pmovzxbd, feat::sse4_1},
    {0x32, 0x66, src::m16, false, &hs::pmovzxbq, feat::sse4_1},
    {0x33, 0x66, src::m64, false, &hs::pmovzxwd, feat::sse4_1},
    {0x34, 0x66, src::s32, false, &hs::pmovzxwq, feat::sse4_1},
    {0x35, 0x66, src::m64, false, &hs::pmovzxdq, feat::sse4_1},
    {0x37, 0x66, src::p128, false, &hs::pcmpgtq, feat::sse4_2},
    {0x38, 0x66, src::p128, false, &hs::pminsb, feat::sse4_1},
    {0x39, 0x66, src::p128, false, &hs::pminsd, feat::sse4_1},
    {0x3a, 0x66, src::p128, false, &hs::pminuw, feat::sse4_1},
    {0x3b, 0x66, src::p128, false, &hs::pminud, feat::sse4_1},
    {0x3c, 0x66, src::p128, false, &hs::pmaxsb, feat::sse4_1},
    {0x3d, 0x66, src::p128, false, &hs::pmaxsd, feat::sse4_1},
    {0x3e, 0x66, src::p128, false, &hs::pmaxuw, feat::sse4_1},
    {0x3f, 0x66, src::p128, false, &hs::pmaxud, feat::sse4_1},
    {0x40, 0x66, src::p128, false, &hs::pmulld, feat::sse4_1},
    {0x41, 0x66, src::p128, false, &hs::phminposuw, feat::sse4_1},
};
const form forms3a[] = {
    {0x08, 0x66, src::p128, true, &hs::roundps, feat::sse4_1},
    {0x09, 0x66, src::p128, true, &hs::roundpd, feat::sse4_1},
    {0x0a, 0x66, src::s32, true, &hs::roundss, feat::sse4_1},
    {0x0b, 0x66, src::s64, true, &hs::roundsd, feat::sse4_1},
    {0x0c, 0x66, src::p128, true, &hs::blendps, feat::sse4_1},
    {0x0d, 0x66, src::p128, true, &hs::blendpd, feat::sse4_1},
    {0x0e, 0x66, src::p128, true, &hs::pblendw, feat::sse4_1},
    {0x0f, 0x66, src::p128, true, &hs::palignr, feat::ssse3},
    {0x21, 0x66, src::s32, true, &hs::insertps, feat::sse4_1},
    {0x40, 0x66, src::p128, true, &hs::dpps, feat::sse4_1},
    {0x41, 0x66, src::p128, true, &hs::dppd, feat::sse4_1},
    {0x42, 0x66, src::p128, true, &hs::mpsadbw, feat::sse4_1},
    {0x60, 0x66, src::u128, true, &hs::pcmpestrm, feat::sse4_2},
    {0x61, 0x66, src::u128, true, &hs::pcmpestri, feat::sse4_2},
    {0x62, 0x66, src::u128, true, &hs::pcmpistrm, feat::sse4_2},
    {0x63, 0x66, src::u128, true, &hs::pcmpistri, feat::sse4_2},
};

} // namespace

bool translator::is_sse_opcode(unsigned op) {
    return (op >= 0x10 && op <= 0x17) || (op >= 0x28 && op <= 0x2f) || (op >= 0x50 && op <= 0x7f) ||
           (op >= 0xc2 && op <= 0xc6) || op >= 0xd0 || op == 0xae;
}

// CR0.EM, CR4.OSFXSR and CR0.TS, as the SDM orders them for SSE.
bool translator::sse_gate() {
    const std::uint32_t hf = tr_.key().flags;
    if ((hf & hflag::em) || !(hf & hflag::osfxsr)) {
        exception(EXCP_UD);
        return false;
    }
    if (hf & hflag::ts) {
        exception(EXCP_NM);
        return false;
    }
    return true;
}

temp translator::check_aligned(temp a, unsigned n) {
    const temp low = tmp();
    c_.binopi(opc::and_, low, a, n - 1);
    const label ok = c_.new_label();
    const temp keep = c_.new_local(type::i64), lowl = c_.new_local(type::i64);
    c_.mov(keep, a);
    derive_addr(keep, a);
    c_.mov(lowl, low);
    c_.brcond(cond::eq, lowl, cst(0), ok);
    exception(EXCP_GP);
    c_.set_label(ok);
    return keep;
}

void translator::env_load_mem(std::int32_t off, temp a, unsigned bytes) {
    if (bytes == 2) {
        c_.st(ld_mem(a, 1), c_.env(), memop::uw, off);
        return;
    }
    if (bytes == 4) {
        c_.st(ld_mem(a, 2), c_.env(), memop::ul, off);
        return;
    }
    c_.st(ld_mem(a, 3), c_.env(), memop::uq, off);
    if (bytes == 16) {
        const temp a8 = tmp();
        c_.addi(a8, a, 8);
        derive_addr(a8, a);
        c_.st(ld_mem(a8, 3), c_.env(), memop::uq, off + 8);
    }
}

void translator::env_store_mem(temp a, std::int32_t off, unsigned bytes) {
    const temp v = tmp();
    if (bytes == 4) {
        c_.ld(v, c_.env(), memop::ul, off);
        st_mem(a, 2, v);
        return;
    }
    c_.ld(v, c_.env(), memop::uq, off);
    st_mem(a, 3, v);
    if (bytes == 16) {
        const temp a8 = tmp(), v8 = tmp();
        c_.addi(a8, a, 8);
        derive_addr(a8, a);
        c_.ld(v8, c_.env(), memop::uq, off + 8);
        st_mem(a8, 3, v8);
    }
}

// MASKMOVQ/MASKMOVDQU: each byte of the register at data whose byte at mask
// has its top bit set goes to DS:rDI + i (DS may be overridden).
void translator::maskmov(unsigned bytes, std::int32_t data, std::int32_t mask) {
    const temp base = c_.new_local(type::i64);
    const temp di = linear(ld_reg(d_.asize, R_EDI), d_.seg >= 0 ? int{d_.seg} : int{R_DS});
    c_.mov(base, di);
    derive_addr(base, di);
    for (unsigned i = 0; i < bytes; ++i) {
        const label skip = c_.new_label();
        const temp m = tmp();
        c_.ld(m, c_.env(), memop::ub, mask + static_cast<std::int32_t>(i));
        c_.binopi(opc::and_, m, m, 0x80);
        c_.brcond(cond::eq, m, cst(0), skip);
        const temp v = tmp(), a = tmp();
        c_.ld(v, c_.env(), memop::ub, data + static_cast<std::int32_t>(i));
        c_.addi(a, base, i);
        derive_addr(a, base);
        st_mem(a, 0, v);
        c_.set_label(skip);
    }
}

void translator::env_copy(std::int32_t dst, std::int32_t from, unsigned bytes) {
    for (unsigned at = 0; at < bytes; at += 8) {
        const temp v = tmp();
        const std::uint32_t mop = bytes == 4 ? memop::ul : memop::uq;
        c_.ld(v, c_.env(), mop, from + static_cast<std::int32_t>(at));
        c_.st(v, c_.env(), mop, dst + static_cast<std::int32_t>(at));
    }
}

void translator::env_zero(std::int32_t dst, unsigned bytes) {
    for (unsigned at = 0; at < bytes; at += 8) c_.st(cst(0), c_.env(), memop::uq, dst + static_cast<std::int32_t>(at));
}

// The second operand's offset: its register's, or xmm_t0 with the memory
// operand in it.
std::int32_t translator::sse_source(unsigned bytes, bool aligned) {
    if (d_.mod() == 3) return xo(d_.rm());
    temp a = ea();
    if (aligned) a = check_aligned(a, 16);
    env_load_mem(t0, a, bytes);
    return t0;
}

void translator::call_sse(const tcg::helper_info& h, std::int32_t d, std::int32_t s, std::uint64_t imm) {
    const temp args[] = {c_.env(), cst(static_cast<std::uint64_t>(d)), cst(static_cast<std::uint64_t>(s)), cst(imm)};
    c_.call(h, temp{}, args);
}

// Two 64-bit lanes: d = op(d, s); AND-NOT complements d first.
void translator::lanes64(opc o, bool not_first, std::int32_t d, std::int32_t s) {
    for (std::int32_t lane = 0; lane < 16; lane += 8) {
        const temp a = tmp(), b = tmp(), r = tmp();
        c_.ld(a, c_.env(), memop::uq, d + lane);
        c_.ld(b, c_.env(), memop::uq, s + lane);
        if (not_first) c_.unop(opc::not_, a, a);
        c_.binop(o, r, a, b);
        c_.st(r, c_.env(), memop::uq, d + lane);
    }
}

// The helper-backed form for this opcode and prefix: 1 translated, 0 ended
// the TB (an exception), -1 none.
int translator::sse_table(const void* table, std::size_t n) {
    const auto* fs = static_cast<const form*>(table);
    for (std::size_t i = 0; i < n; ++i) {
        const form& f = fs[i];
        if (f.op != d_.op || f.pfx != d_.mandatory) continue;
        if (!require(f.need)) return 0;
        const std::int32_t s = f.s == src::p128 ? sse_source(16, true)
                             : f.s == src::u128 ? sse_source(16, false)
                             : f.s == src::m16  ? sse_source(2, false)
                             : f.s == src::s32  ? sse_source(4, false)
                                                : sse_source(8, false);
        std::uint64_t imm = f.imm ? d_.imm & 0xff : 0;
        if (f.h == &hs::pcmpestri || f.h == &hs::pcmpestrm) imm |= static_cast<std::uint64_t>(d_.rex_w()) << 8;
        call_sse(*f.h, xo(d_.reg()), s, imm);
        return 1;
    }
    return -1;
}

// 0F38 and 0F3A without VEX: SSSE3, SSE4.1, SSE4.2.
bool translator::sse4(bool map3a) {
    const unsigned op = d_.op, pfx = d_.mandatory, r = d_.reg();
    const bool mem = d_.mod() != 3;
    if (!map3a && (op == 0xf0 || op == 0xf1) && pfx == 0xf2) {  // CRC32 r, r/m8 / r/m16/32/64
        if (!require(feat::sse4_2)) return false;
        const unsigned sl = op == 0xf0 ? 0 : d_.osize;
        const temp v = ld(rm(), sl), crc = tmp();
        const unsigned dsl = d_.rex_w() ? 3 : 2;
        const temp args[] = {ld_reg(2, r), v, cst(1u << sl)};
        c_.call(hs::crc32, crc, args);
        st_reg(dsl, r, crc);
        return true;
    }
    if (!sse_gate()) return false;
    if (const int done = map3a ? sse_table(forms3a, std::size(forms3a)) : sse_table(forms38, std::size(forms38)); done >= 0)
        return done != 0;
    if (pfx == 0x66 && !map3a && op == 0x2a && mem) {  // MOVNTDQA
        if (!require(feat::sse4_1)) return false;
        env_load_mem(xo(r), check_aligned(ea(), 16), 16);
        return true;
    }
    if (pfx == 0x66 && map3a && op >= 0x14 && op <= 0x17) {  // PEXTRB PEXTRW PEXTRD/Q EXTRACTPS to r/m
        if (!require(feat::sse4_1)) return false;
        const unsigned sl = op == 0x14 ? 0 : op == 0x15 ? 1 : (op == 0x16 && d_.rex_w()) ? 3 : 2;
        const unsigned lanes = 16u >> sl;
        const temp v = tmp();
        const std::int32_t at = xo(r) + static_cast<std::int32_t>((d_.imm & (lanes - 1)) << sl);
        c_.ld(v, c_.env(), sl == 0 ? memop::ub : sl == 1 ? memop::uw : sl == 2 ? memop::ul : memop::uq, at);
        const rm_ref dst = rm();
        if (dst.mem) st_mem(dst.addr, sl, v);
        else st_reg(sl == 3 ? 3 : 2, dst.reg, v);  // a register gets the lane zero-extended
        return true;
    }
    if (pfx == 0x66 && map3a && (op == 0x20 || op == 0x22)) {  // PINSRB, PINSRD/Q from r/m
        if (!require(feat::sse4_1)) return false;
        const unsigned sl = op == 0x20 ? 0 : d_.rex_w() ? 3 : 2;
        const unsigned lanes = 16u >> sl;
        const rm_ref from = rm();
        const temp v = ld(from, from.mem || sl != 0 ? sl : 2);  // PINSRB's register is r32, not a byte register
        const std::int32_t at = xo(r) + static_cast<std::int32_t>((d_.imm & (lanes - 1)) << sl);
        c_.st(v, c_.env(), sl == 0 ? memop::ub : sl == 2 ? memop::ul : memop::uq, at);
        return true;
    }
    unimplemented();
    return false;
}

// MMX: the registers are the x87 registers' significands; every MMX
// instruction but EMMS leaves TOP 0 and all tags valid, and a written
// register's exponent all ones. Operations go through the SSE helpers on
// the low quadwords of xmm_t0 and xmm_t1.
namespace {
std::int32_t mm_off(unsigned i) { return static_cast<std::int32_t>(offsetof(state, fpr) + i * sizeof(x87_reg)); }
constexpr auto t1 = static_cast<std::int32_t>(offsetof(state, xmm_t1));

struct mmx_form {
    std::uint8_t op;
    const tcg::helper_info* h;
    feature need;
};
const mmx_form mmx_forms[] = {
    {0x60, &hs::punpcklbw, feat::mmx},      {0x61, &hs::punpcklwd, feat::mmx},      {0x62, &hs::punpckldq, feat::mmx},
    {0x63, &hs::mmx_packsswb, feat::mmx},   {0x64, &hs::pcmpgtb, feat::mmx},        {0x65, &hs::pcmpgtw, feat::mmx},
    {0x66, &hs::pcmpgtd, feat::mmx},        {0x67, &hs::mmx_packuswb, feat::mmx},   {0x68, &hs::mmx_punpckhbw, feat::mmx},
    {0x69, &hs::mmx_punpckhwd, feat::mmx},  {0x6a, &hs::mmx_punpckhdq, feat::mmx},  {0x6b, &hs::mmx_packssdw, feat::mmx},
    {0x74, &hs::pcmpeqb, feat::mmx},        {0x75, &hs::pcmpeqw, feat::mmx},        {0x76, &hs::pcmpeqd, feat::mmx},
    {0xd1, &hs::psrlw, feat::mmx},          {0xd2, &hs::psrld, feat::mmx},          {0xd3, &hs::psrlq, feat::mmx},
    {0xd5, &hs::pmullw, feat::mmx},         {0xd8, &hs::psubusb, feat::mmx},        {0xd9, &hs::psubusw, feat::mmx},
    {0xdc, &hs::paddusb, feat::mmx},        {0xdd, &hs::paddusw, feat::mmx},        {0xe1, &hs::psraw, feat::mmx},
    {0xe2, &hs::psrad, feat::mmx},          {0xe5, &hs::pmulhw, feat::mmx},         {0xe8, &hs::psubsb, feat::mmx},
    {0xe9, &hs::psubsw, feat::mmx},         {0xec, &hs::paddsb, feat::mmx},         {0xed, &hs::paddsw, feat::mmx},
    {0xf1, &hs::psllw, feat::mmx},          {0xf2, &hs::pslld, feat::mmx},          {0xf3, &hs::psllq, feat::mmx},
    {0xf5, &hs::pmaddwd, feat::mmx},        {0xf8, &hs::psubb, feat::mmx},          {0xf9, &hs::psubw, feat::mmx},
    {0xfa, &hs::psubd, feat::mmx},          {0xfc, &hs::paddb, feat::mmx},          {0xfd, &hs::paddw, feat::mmx},
    {0xfe, &hs::paddd, feat::mmx},
    // SSE's and SSE2's additions on MMX registers.
    {0xda, &hs::pminub, feat::sse},         {0xde, &hs::pmaxub, feat::sse},         {0xe0, &hs::pavgb, feat::sse},
    {0xe3, &hs::pavgw, feat::sse},          {0xe4, &hs::pmulhuw, feat::sse},        {0xea, &hs::pminsw, feat::sse},
    {0xee, &hs::pmaxsw, feat::sse},         {0xf6, &hs::psadbw, feat::sse},         {0xf4, &hs::pmuludq, feat::sse2},
};
} // namespace

bool translator::is_mmx_opcode(unsigned op) {
    return (op >= 0x60 && op <= 0x7f && op != 0x6c && op != 0x6d && op != 0x78 && op != 0x79 && op != 0x7a &&
            op != 0x7b && op != 0x7c && op != 0x7d) ||
           (op >= 0xd1 && op <= 0xfe && op != 0xd6 && op != 0xe6 && op != 0xf0 && op != 0xf7 && op != 0xff) ||
           op == 0xc4 || op == 0xc5;
}

// A pending x87 exception is delivered first (#MF).
void translator::mmx_pending() {
    sync_rip(eip());
    const temp args[] = {c_.env()};
    c_.call(helper::x87::fwait, temp{}, args);
}

// The x87-to-MMX transition: TOP 0, all tags valid.
void translator::mmx_enter() {
    mmx_pending();
    const auto fsw = static_cast<std::int32_t>(offsetof(state, fsw));
    const temp sw = tmp();
    c_.ld(sw, c_.env(), memop::uw, fsw);
    c_.binopi(opc::and_, sw, sw, ~std::uint64_t{0x3800});
    c_.st(sw, c_.env(), memop::uw, fsw);
    c_.st(cst(0xff), c_.env(), memop::ub, static_cast<std::int32_t>(offsetof(state, ftw)));
}

void translator::mmx_write(unsigned k, temp v) {
    c_.st(v, c_.env(), memop::uq, mm_off(k));
    c_.st(cst(0xffff), c_.env(), memop::uw, mm_off(k) + 8);  // the exponent: all ones
}

// The SSE instructions with an MMX operand: CVTPI2PS CVTPS2PI CVTTPS2PI,
// CVTPI2PD CVTPD2PI CVTTPD2PI, MOVQ2DQ MOVDQ2Q, MASKMOVQ.
bool translator::sse_mmx() {
    const unsigned op = d_.op, pfx = d_.mandatory, r = d_.reg();
    const bool mem = d_.mod() != 3;
    if (!sse_gate()) return false;
    if (!require(pfx == 0 && op != 0xd6 ? feat::sse : feat::sse2)) return false;
    const auto load_mm_or_m64 = [&](std::int32_t to) {  // the source into `to`'s low quadword, the high one 0
        if (mem) {
            env_load_mem(to, ea(), 8);
        } else {
            mmx_enter();
            env_copy(to, mm_off(d_.rm() & 7), 8);
        }
        env_zero(to + 8, 8);
    };
    switch (op) {
    case 0x2a:  // CVTPI2PS xmm, mm/m64 (the high quadword stays); CVTPI2PD xmm, mm/m64
        load_mm_or_m64(t1);
        call_sse(pfx == 0 ? hs::cvtdq2ps : hs::cvtdq2pd, t0, t1, 0);
        env_copy(xo(r), t0, pfx == 0 ? 8 : 16);
        return true;
    case 0x2c:    // CVTTPS2PI, CVTTPD2PI mm, xmm/m
    case 0x2d: {  // CVTPS2PI, CVTPD2PI
        const std::int32_t src = pfx == 0 ? sse_source(8, false) : sse_source(16, true);
        if (pfx == 0) {  // two singles: widen, the rest 0
            env_copy(t1, src, 8);
            env_zero(t1 + 8, 8);
        }
        mmx_enter();
        const tcg::helper_info& h = pfx == 0 ? (op == 0x2c ? hs::cvttps2dq : hs::cvtps2dq) : (op == 0x2c ? hs::cvttpd2dq : hs::cvtpd2dq);
        call_sse(h, t0, pfx == 0 ? t1 : src, 0);
        const temp v = tmp();
        c_.ld(v, c_.env(), memop::uq, t0);
        mmx_write(d_.reg_low3(), v);
        return true;
    }
    case 0xd6: {  // MOVQ2DQ xmm, mm (F3); MOVDQ2Q mm, xmm (F2)
        if (mem) break;
        mmx_enter();
        const temp v = tmp();
        if (pfx == 0xf3) {
            c_.ld(v, c_.env(), memop::uq, mm_off(d_.rm() & 7));
            c_.st(v, c_.env(), memop::uq, xo(r));
            env_zero(xo(r) + 8, 8);
        } else {
            c_.ld(v, c_.env(), memop::uq, xo(d_.rm()));
            mmx_write(d_.reg_low3(), v);
        }
        return true;
    }
    case 0xf7:  // MASKMOVQ mm1, mm2: the bytes of mm1 whose mm2 byte has its top bit set, to DS:rDI
        if (mem) break;
        mmx_enter();
        maskmov(8, mm_off(d_.reg_low3()), mm_off(d_.rm() & 7));
        return true;
    default: break;
    }
    unimplemented();
    return false;
}

bool translator::mmx() {
    const unsigned op = d_.op, r = d_.reg_low3();
    const bool mem = d_.mod() != 3;
    const std::uint32_t hf = tr_.key().flags;
    if (hf & hflag::em) {
        exception(EXCP_UD);
        return false;
    }
    if (hf & hflag::ts) {
        exception(EXCP_NM);
        return false;
    }
    const bool sse_ext = op == 0x70 || op == 0xc4 || op == 0xc5 || op == 0xd7 || op == 0xe7;
    if (!require(sse_ext ? feat::sse : feat::mmx)) return false;
    if (op == 0x77) {  // EMMS: every register empty
        mmx_pending();
        c_.st(cst(0), c_.env(), memop::ub, static_cast<std::int32_t>(offsetof(state, ftw)));
        return true;
    }
    mmx_enter();
    const auto write_mm = [&](unsigned k, temp v) { mmx_write(k, v); };
    const auto src64 = [&]() -> temp {  // mm/m64
        const temp v = tmp();
        if (mem) return ld_mem(ea(), 3);
        c_.ld(v, c_.env(), memop::uq, mm_off(d_.rm() & 7));
        return v;
    };
    switch (op) {
    case 0x6e: {  // MOVD/MOVQ mm, r/m
        const temp v = ld(rm(), d_.rex_w() ? 3 : 2);
        write_mm(r, v);
        return true;
    }
    case 0x7e: {  // MOVD/MOVQ r/m, mm
        const temp v = tmp();
        const bool w = d_.rex_w();
        c_.ld(v, c_.env(), w ? memop::uq : memop::ul, mm_off(r));
        st(rm(), w ? 3 : 2, v);
        return true;
    }
    case 0x6f: write_mm(r, src64()); return true;  // MOVQ mm, mm/m64
    case 0x7f:                                      // MOVQ mm/m64, mm
    case 0xe7: {                                    // MOVNTQ m64, mm
        if (op == 0xe7 && !mem) break;
        const temp v = tmp();
        c_.ld(v, c_.env(), memop::uq, mm_off(r));
        if (mem) st_mem(ea(), 3, v);
        else write_mm(d_.rm() & 7, v);
        return true;
    }
    case 0xdb: case 0xdf: case 0xeb: case 0xef: {  // PAND PANDN POR PXOR
        const temp b = src64(), a = tmp(), res = tmp();
        c_.ld(a, c_.env(), memop::uq, mm_off(r));
        if (op == 0xdf) c_.unop(opc::not_, a, a);
        c_.binop(op == 0xeb ? opc::or_ : op == 0xef ? opc::xor_ : opc::and_, res, a, b);
        write_mm(r, res);
        return true;
    }
    case 0xd4: case 0xfb: {  // PADDQ PSUBQ (SSE2)
        if (!require(feat::sse2)) return false;
        const temp b = src64(), a = tmp(), res = tmp();
        c_.ld(a, c_.env(), memop::uq, mm_off(r));
        c_.binop(op == 0xd4 ? opc::add : opc::sub, res, a, b);
        write_mm(r, res);
        return true;
    }
    case 0xc4: {  // PINSRW mm, r32/m16, imm8
        const temp v = ld(rm(), 1);
        c_.st(v, c_.env(), memop::uw, mm_off(r) + 2 * static_cast<std::int32_t>(d_.imm & 3));
        c_.st(cst(0xffff), c_.env(), memop::uw, mm_off(r) + 8);
        return true;
    }
    case 0xc5: {  // PEXTRW r32, mm, imm8
        if (mem) break;
        const temp v = tmp();
        c_.ld(v, c_.env(), memop::uw, mm_off(d_.rm() & 7) + 2 * static_cast<std::int32_t>(d_.imm & 3));
        st_reg(2, d_.reg(), v);
        return true;
    }
    case 0xd7: {  // PMOVMSKB r32, mm
        if (mem) break;
        const temp v = tmp(), m = tmp();
        c_.ld(v, c_.env(), memop::uq, mm_off(d_.rm() & 7));
        c_.st(v, c_.env(), memop::uq, t1);
        c_.st(cst(0), c_.env(), memop::uq, t1 + 8);
        const temp args[] = {c_.env(), cst(static_cast<std::uint64_t>(t1))};
        c_.call(hs::pmovmskb, m, args);
        st_reg(2, d_.reg(), m);
        return true;
    }
    case 0x71: case 0x72: case 0x73: {  // shifts by an immediate
        if (mem) break;
        const unsigned k = d_.reg_low3();
        static const tcg::helper_info* const by[3][8] = {
            {nullptr, nullptr, &hs::psrlw_i, nullptr, &hs::psraw_i, nullptr, &hs::psllw_i, nullptr},
            {nullptr, nullptr, &hs::psrld_i, nullptr, &hs::psrad_i, nullptr, &hs::pslld_i, nullptr},
            {nullptr, nullptr, &hs::psrlq_i, nullptr, nullptr, nullptr, &hs::psllq_i, nullptr},
        };
        const tcg::helper_info* h = by[op - 0x71][k];
        if (!h) break;
        const unsigned m = d_.rm() & 7;
        const temp v = tmp();
        c_.ld(v, c_.env(), memop::uq, mm_off(m));
        c_.st(v, c_.env(), memop::uq, t0);
        call_sse(*h, t0, t0, d_.imm & 0xff);
        const temp res = tmp();
        c_.ld(res, c_.env(), memop::uq, t0);
        write_mm(m, res);
        return true;
    }
    default: break;
    }
    const tcg::helper_info* h = op == 0x70 ? &hs::mmx_pshufw : nullptr;
    feature need = feat::sse;
    for (const mmx_form& f : mmx_forms)
        if (f.op == op) {
            h = f.h;
            need = f.need;
        }
    if (!h) {
        unimplemented();
        return false;
    }
    if (!require(need)) return false;
    const temp a = tmp();
    c_.ld(a, c_.env(), memop::uq, mm_off(r));
    c_.st(a, c_.env(), memop::uq, t0);
    c_.st(src64(), c_.env(), memop::uq, t1);
    c_.st(cst(0), c_.env(), memop::uq, t1 + 8);  // shift counts read the whole operand
    call_sse(*h, t0, t1, op == 0x70 ? d_.imm & 0xff : 0);
    const temp res = tmp();
    c_.ld(res, c_.env(), memop::uq, t0);
    write_mm(r, res);
    return true;
}

bool translator::sse() {
    const unsigned op = d_.op, pfx = d_.mandatory;
    if (pfx == 0 && is_mmx_opcode(op)) return mmx();
    if (((op == 0x2a || op == 0x2c || op == 0x2d) && (pfx == 0 || pfx == 0x66)) || (op == 0xd6 && (pfx == 0xf3 || pfx == 0xf2)) ||
        (op == 0xf7 && pfx == 0))
        return sse_mmx();
    if (op == 0xae) return sse_group15();
    if (!sse_gate()) return false;
    const unsigned r = d_.reg();
    const bool mem = d_.mod() != 3;

    if (const int done = sse_table(forms, std::size(forms)); done >= 0) return done != 0;

    switch (op) {
    case 0x10:    // MOVUPS MOVUPD MOVSS MOVSD (load)
    case 0x11: {  // ... (store)
        if (!require(pfx == 0x00 || pfx == 0xf3 ? feat::sse : feat::sse2)) return false;
        const unsigned bytes = pfx == 0xf3 ? 4 : pfx == 0xf2 ? 8 : 16;
        if (op == 0x10) {
            if (mem) {
                env_load_mem(xo(r), ea(), bytes);
                if (bytes == 4) c_.st(cst(0), c_.env(), memop::ul, xo(r) + 4);
                if (bytes < 16) env_zero(xo(r) + 8, 8);
            } else {
                env_copy(xo(r), xo(d_.rm()), bytes);
            }
        } else {
            if (mem) env_store_mem(ea(), xo(r), bytes);
            else env_copy(xo(d_.rm()), xo(r), bytes);
        }
        return true;
    }
    case 0x12:  // MOVLPS MOVLPD (load), MOVHLPS
    case 0x16:  // MOVHPS MOVHPD (load), MOVLHPS
        if (pfx != 0x00 && pfx != 0x66) break;
        if (!require(pfx == 0x00 ? feat::sse : feat::sse2)) return false;
        if (mem) env_load_mem(xo(r) + (op == 0x16 ? 8 : 0), ea(), 8);
        else if (pfx == 0x00) env_copy(xo(r) + (op == 0x16 ? 8 : 0), xo(d_.rm()) + (op == 0x16 ? 0 : 8), 8);
        else break;
        return true;
    case 0x13:  // MOVLPS MOVLPD (store)
    case 0x17:  // MOVHPS MOVHPD (store)
        if ((pfx != 0x00 && pfx != 0x66) || !mem) break;
        if (!require(pfx == 0x00 ? feat::sse : feat::sse2)) return false;
        env_store_mem(ea(), xo(r) + (op == 0x17 ? 8 : 0), 8);
        return true;
    case 0x28:  // MOVAPS MOVAPD (load)
    case 0x29:  // ... (store)
    case 0x2b:  // MOVNTPS MOVNTPD
        if (pfx != 0x00 && pfx != 0x66) break;
        if (op == 0x2b && !mem) break;
        if (!require(pfx == 0x00 ? feat::sse : feat::sse2)) return false;
        if (!mem) {
            if (op == 0x28) env_copy(xo(r), xo(d_.rm()), 16);
            else env_copy(xo(d_.rm()), xo(r), 16);
        } else if (op == 0x28) {
            env_load_mem(xo(r), check_aligned(ea(), 16), 16);
        } else {
            env_store_mem(check_aligned(ea(), 16), xo(r), 16);
        }
        return true;
    case 0x2a: {  // CVTSI2SS CVTSI2SD
        if (pfx != 0xf3 && pfx != 0xf2) break;
        if (!require(pfx == 0xf3 ? feat::sse : feat::sse2)) return false;
        const bool w = d_.rex_w();
        const temp v = ld(rm(), w ? 3 : 2);
        const temp args[] = {c_.env(), cst(static_cast<std::uint64_t>(xo(r))), v, cst(w)};
        c_.call(pfx == 0xf3 ? hs::cvtsi2ss : hs::cvtsi2sd, temp{}, args);
        return true;
    }
    case 0x2c:    // CVTTSS2SI CVTTSD2SI
    case 0x2d: {  // CVTSS2SI CVTSD2SI
        if (pfx != 0xf3 && pfx != 0xf2) break;
        if (!require(pfx == 0xf3 ? feat::sse : feat::sse2)) return false;
        const bool w = d_.rex_w();
        const std::int32_t s = sse_source(pfx == 0xf3 ? 4 : 8, false);
        const temp v = tmp();
        const temp args[] = {c_.env(), cst(static_cast<std::uint64_t>(s)), cst(w)};
        c_.call(pfx == 0xf3 ? (op == 0x2c ? hs::cvttss2si : hs::cvtss2si) : (op == 0x2c ? hs::cvttsd2si : hs::cvtsd2si),
                v, args);
        st_reg(w ? 3 : 2, r, v);
        return true;
    }
    case 0x2e:    // UCOMISS UCOMISD
    case 0x2f: {  // COMISS COMISD
        if (pfx != 0x00 && pfx != 0x66) break;
        if (!require(pfx == 0x00 ? feat::sse : feat::sse2)) return false;
        const std::int32_t s = sse_source(pfx == 0x00 ? 4 : 8, false);
        const temp args[] = {c_.env(), cst(static_cast<std::uint64_t>(xo(r))), cst(static_cast<std::uint64_t>(s))};
        c_.call(pfx == 0x00 ? (op == 0x2e ? hs::ucomiss : hs::comiss) : (op == 0x2e ? hs::ucomisd : hs::comisd), temp{},
                args);
        cc_static_ = CC_OP_EFLAGS;
        return true;
    }
    case 0x50:    // MOVMSKPS MOVMSKPD
    case 0xd7: {  // PMOVMSKB
        if (mem || (op == 0x50 && pfx != 0x00 && pfx != 0x66) || (op == 0xd7 && pfx != 0x66)) break;
        if (!require(op == 0x50 && pfx == 0x00 ? feat::sse : feat::sse2)) return false;
        const temp v = tmp();
        const temp args[] = {c_.env(), cst(static_cast<std::uint64_t>(xo(d_.rm())))};
        c_.call(op == 0xd7 ? hs::pmovmskb : pfx == 0x00 ? hs::movmskps : hs::movmskpd, v, args);
        st_reg(2, r, v);
        return true;
    }
    case 0x54: case 0x55: case 0x56: case 0x57:  // ANDPS ANDNPS ORPS XORPS (and PD)
    case 0xdb: case 0xdf: case 0xeb: case 0xef:  // PAND PANDN POR PXOR
    case 0xd4: case 0xfb: {                      // PADDQ PSUBQ
        if (op >= 0xd0 ? pfx != 0x66 : (pfx != 0x00 && pfx != 0x66)) break;
        if (!require(pfx == 0x00 ? feat::sse : feat::sse2)) return false;
        const std::int32_t s = sse_source(16, true);
        const unsigned k = op < 0x58 ? op - 0x54 : op == 0xdb ? 0 : op == 0xdf ? 1 : op == 0xeb ? 2 : op == 0xef ? 3 : op == 0xd4 ? 4 : 5;
        static constexpr opc ops[] = {opc::and_, opc::and_, opc::or_, opc::xor_, opc::add, opc::sub};
        lanes64(ops[k], k == 1, xo(r), s);
        return true;
    }
    case 0x6e: {  // MOVD/MOVQ xmm, r/m
        if (pfx != 0x66) break;
        if (!require(feat::sse2)) return false;
        const temp v = ld(rm(), d_.rex_w() ? 3 : 2);
        c_.st(v, c_.env(), memop::uq, xo(r));
        env_zero(xo(r) + 8, 8);
        return true;
    }
    case 0x7e:  // MOVD/MOVQ r/m, xmm; MOVQ xmm, xmm/m64
        if (pfx == 0x66) {
            if (!require(feat::sse2)) return false;
            const temp v = tmp();
            const bool w = d_.rex_w();
            c_.ld(v, c_.env(), w ? memop::uq : memop::ul, xo(r));
            st(rm(), w ? 3 : 2, v);
            return true;
        }
        if (pfx == 0xf3) {
            if (!require(feat::sse2)) return false;
            if (mem) env_load_mem(xo(r), ea(), 8);
            else env_copy(xo(r), xo(d_.rm()), 8);
            env_zero(xo(r) + 8, 8);
            return true;
        }
        break;
    case 0x6f:  // MOVDQA MOVDQU (load)
    case 0x7f:  // ... (store)
        if (pfx != 0x66 && pfx != 0xf3) break;
        if (!require(feat::sse2)) return false;
        if (!mem) {
            if (op == 0x6f) env_copy(xo(r), xo(d_.rm()), 16);
            else env_copy(xo(d_.rm()), xo(r), 16);
        } else {
            temp a = ea();
            if (pfx == 0x66) a = check_aligned(a, 16);
            if (op == 0x6f) env_load_mem(xo(r), a, 16);
            else env_store_mem(a, xo(r), 16);
        }
        return true;
    case 0xf0:  // LDDQU
        if (pfx != 0xf2 || !mem) break;
        if (!require(feat::sse3)) return false;
        env_load_mem(xo(r), ea(), 16);
        return true;
    case 0xe7:  // MOVNTDQ
        if (pfx != 0x66 || !mem) break;
        if (!require(feat::sse2)) return false;
        env_store_mem(check_aligned(ea(), 16), xo(r), 16);
        return true;
    case 0xd6:  // MOVQ xmm/m64, xmm
        if (pfx != 0x66) break;
        if (!require(feat::sse2)) return false;
        if (mem) {
            env_store_mem(ea(), xo(r), 8);
        } else {
            env_copy(xo(d_.rm()), xo(r), 8);
            env_zero(xo(d_.rm()) + 8, 8);
        }
        return true;
    case 0xc3:  // MOVNTI
        if (pfx != 0x00 || !mem) break;
        if (!require(feat::sse2)) return false;
        {
            const unsigned sl = d_.rex_w() ? 3 : 2;
            const rm_ref dst = rm();
            st(dst, sl, ld_reg(sl, r));
        }
        return true;
    case 0xc4: {  // PINSRW xmm, r32/m16, imm8
        if (pfx != 0x66) break;
        if (!require(feat::sse2)) return false;
        const temp v = ld(rm(), 1);
        c_.st(v, c_.env(), memop::uw, xo(r) + 2 * static_cast<std::int32_t>(d_.imm & 7));
        return true;
    }
    case 0xc5: {  // PEXTRW r32, xmm, imm8
        if (pfx != 0x66 || mem) break;
        if (!require(feat::sse2)) return false;
        const temp v = tmp();
        c_.ld(v, c_.env(), memop::uw, xo(d_.rm()) + 2 * static_cast<std::int32_t>(d_.imm & 7));
        st_reg(2, r, v);
        return true;
    }
    case 0x71: case 0x72: case 0x73: {  // shifts by an immediate
        if (pfx != 0x66 || mem) break;
        if (!require(feat::sse2)) return false;
        const unsigned k = d_.reg_low3();
        static const tcg::helper_info* const by[3][8] = {
            {nullptr, nullptr, &hs::psrlw_i, nullptr, &hs::psraw_i, nullptr, &hs::psllw_i, nullptr},
            {nullptr, nullptr, &hs::psrld_i, nullptr, &hs::psrad_i, nullptr, &hs::pslld_i, nullptr},
            {nullptr, nullptr, &hs::psrlq_i, &hs::psrldq_i, nullptr, nullptr, &hs::psllq_i, &hs::pslldq_i},
        };
        const tcg::helper_info* h = by[op - 0x71][k];
        if (!h) break;
        call_sse(*h, xo(d_.rm()), xo(d_.rm()), d_.imm & 0xff);
        return true;
    }
    case 0xf7:  // MASKMOVDQU: the bytes whose mask byte has its top bit set, to DS:rDI
        if (pfx != 0x66 || mem) break;
        if (!require(feat::sse2)) return false;
        maskmov(16, xo(r), xo(d_.rm()));
        return true;
    default: break;
    }
    unimplemented();
    return false;
}

// 0F AE: FXSAVE FXRSTOR LDMXCSR STMXCSR CLFLUSH with memory; the fences
// with a register form.
bool translator::sse_group15() {
    const unsigned k = d_.reg_low3();
    const std::uint32_t hf = tr_.key().flags;
    if (d_.mod() == 3) {
        if (d_.mandatory == 0 && k >= 5) return require(k == 6 ? feat::sse2 : feat::sse);  // LFENCE MFENCE SFENCE
        unimplemented();
        return false;
    }
    if (d_.mandatory != 0) {
        unimplemented();
        return false;
    }
    switch (k) {
    case 0:    // FXSAVE
    case 1: {  // FXRSTOR
        if (!require(feat::fxsr)) return false;
        if (hf & (hflag::em | hflag::ts)) {
            exception(EXCP_NM);
            return false;
        }
        const temp a = ea();
        seg_check(a, 512, k == 0);
        const temp args[] = {c_.env(), a, cst(d_.rex_w())};
        sync_rip(eip());
        c_.call(k == 0 ? hs::fxsave : hs::fxrstor, temp{}, args);
        return true;
    }
    case 2:    // LDMXCSR
    case 3: {  // STMXCSR
        if (!require(feat::sse) || !sse_gate()) return false;
        const temp a = ea();
        if (k == 2) {
            const temp args[] = {c_.env(), ld_mem(a, 2)};
            c_.call(hs::ldmxcsr, temp{}, args);
        } else {
            const temp v = tmp();
            c_.ld(v, c_.env(), memop::ul, static_cast<std::int32_t>(offsetof(state, mxcsr)));
            st_mem(a, 2, v);
        }
        return true;
    }
    case 7:  // CLFLUSH: nothing is cached here
        if (!require(feat::clflush)) return false;
        ea();
        return true;
    default:  // XSAVE and friends: no XSAVE feature
        exception(EXCP_UD);
        return false;
    }
}

} // namespace qf::x86::detail
