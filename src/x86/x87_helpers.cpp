#include "x87_helpers.hpp"

#include "helpers.hpp"

#include <immintrin.h>

#include <array>
#include <cstring>
#include <utility>

namespace qf::x86 {

namespace {

constexpr std::uint16_t fsw_es = 0x80, fsw_b = 0x8000, fsw_flags = 0x7f;  // IE DE ZE OE UE PE SF
constexpr int EXCP_MF = 16;

// The 512-byte FXSAVE image the host FPU is loaded from and saved to.
struct alignas(16) fx_image {
    std::uint8_t b[512];
    template <class T>
    T get(unsigned at) const {
        T v;
        std::memcpy(&v, b + at, sizeof v);
        return v;
    }
    template <class T>
    void put(unsigned at, T v) {
        std::memcpy(b + at, &v, sizeof v);
    }
};

unsigned top_of(const state& s) { return (s.fsw >> 11) & 7; }

// The guest's x87 registers in the image, with its control word (the
// exceptions it unmasks too) but no flags pending, and the host's MXCSR.
// The host never traps: an unmasked exception only pends (ES) until the
// next waiting x87 instruction, and after the instruction come FXSAVE and
// FNINIT, which do not wait.
void to_image(const state& s, fx_image& im) {
    std::memset(im.b, 0, sizeof im.b);
    im.put<std::uint16_t>(0, s.fcw);
    im.put<std::uint16_t>(2, static_cast<std::uint16_t>(s.fsw & ~(fsw_b | fsw_es | fsw_flags)));
    im.b[4] = s.ftw;
    im.put<std::uint32_t>(24, _mm_getcsr());
    const unsigned top = top_of(s);
    for (unsigned i = 0; i < 8; ++i) {
        im.put(32 + 16 * i, s.fpr[(top + i) & 7].mant);
        im.put(40 + 16 * i, s.fpr[(top + i) & 7].sign_exp);
    }
}

// The host FPU runs `stub` on the image; the ABI's state (empty stack,
// control word 037F) is back afterwards.
using stub_fn = unsigned (*)(void* buf);
unsigned run(const fx_image& in, fx_image& out, stub_fn stub, void* buf) {
    asm volatile("fxrstor64 %0" : : "m"(in) : "memory");
    const unsigned flags = stub(buf);
    asm volatile("fxsave64 %0\n\tfninit" : "=m"(out) : : "memory");
    return flags;
}

// A register form: the instruction, then ZF PF CF (FCOMI's result).
template <unsigned Op, unsigned ModRM>
unsigned reg_stub(void*) {
    unsigned char z, p, c;
    asm volatile(".byte %c3, %c4\n\tsetz %0\n\tsetp %1\n\tsetc %2"
                 : "=q"(z), "=q"(p), "=q"(c)
                 : "i"(Op), "i"(ModRM)
                 : "cc", "memory");
    return static_cast<unsigned>(z << 6 | p << 2 | c);
}
// A memory form with its operand at [rdi].
template <unsigned Op, unsigned Reg>
unsigned mem_stub(void* buf) {
    asm volatile(".byte %c0, %c1" : : "i"(Op), "i"((Reg << 3) | 7), "D"(buf) : "memory");
    return 0;
}
// FCMOVE ST(0), ST(I) with ZF set (moves) or clear (does not).
template <unsigned I, bool Move>
unsigned fcmove_stub(void*) {
    if constexpr (Move) asm volatile("xor %%eax, %%eax\n\t.byte 0xda, %c0" : : "i"(0xc8 + I) : "eax", "cc", "memory");
    else asm volatile("or $1, %%eax\n\t.byte 0xda, %c0" : : "i"(0xc8 + I) : "eax", "cc", "memory");
    return 0;
}

template <std::size_t... I>
constexpr std::array<stub_fn, 512> reg_stubs(std::index_sequence<I...>) {
    return {&reg_stub<0xd8 + I / 64, 0xc0 + I % 64>...};
}
template <std::size_t... I>
constexpr std::array<stub_fn, 64> mem_stubs(std::index_sequence<I...>) {
    return {&mem_stub<0xd8 + I / 8, I % 8>...};
}
template <std::size_t... I>
constexpr std::array<stub_fn, 16> fcmove_stubs(std::index_sequence<I...>) {
    return {&fcmove_stub<I % 8, (I >= 8)>...};
}
constexpr auto reg_table = reg_stubs(std::make_index_sequence<512>());
constexpr auto mem_table = mem_stubs(std::make_index_sequence<64>());
constexpr auto fcmove_table = fcmove_stubs(std::make_index_sequence<16>());

// The memory operand of a D8-DF form: its size, and whether it is stored.
struct mem_form {
    unsigned bytes;
    bool store;
};
mem_form mem_form_of(unsigned op, unsigned reg) {
    switch (op) {
    case 0xd8: case 0xda: return {4, false};
    case 0xdc: return {8, false};
    case 0xde: return {2, false};
    case 0xd9: return {4, reg != 0};
    case 0xdb: return reg >= 5 ? mem_form{10, reg == 7} : mem_form{4, reg != 0};
    case 0xdd: return {8, reg != 0};
    default:  // DF
        if (reg == 4 || reg == 6) return {10, reg == 6};
        if (reg == 5 || reg == 7) return {8, reg == 7};
        return {2, reg != 0};
    }
}

std::uint32_t mop_at(state& s, std::uint32_t size_mop) { return tcg::memop::with_mmu(size_mop, mmu_index(s)); }

void load_bytes(state& s, std::uint64_t a, std::uint8_t* buf, unsigned n, std::uintptr_t ra) {
    using namespace tcg::memop;
    for (unsigned at = 0; at < n;) {
        const unsigned k = n - at >= 8 ? 8 : n - at >= 4 ? 4 : 2;
        const std::uint64_t v = tcg::guest_load(&s.base, a + at, mop_at(s, k == 8 ? uq : k == 4 ? ul : uw), ra);
        std::memcpy(buf + at, &v, k);
        at += k;
    }
}
void store_bytes(state& s, std::uint64_t a, const std::uint8_t* buf, unsigned n, std::uintptr_t ra) {
    using namespace tcg::memop;
    for (unsigned at = 0; at < n;) {
        const unsigned k = n - at >= 8 ? 8 : n - at >= 4 ? 4 : 2;
        std::uint64_t v = 0;
        std::memcpy(&v, buf + at, k);
        tcg::guest_store(&s.base, a + at, v, mop_at(s, k == 8 ? uq : k == 4 ? ul : uw), ra);
        at += k;
    }
}

// A waiting instruction delivers a pending unmasked exception first.
void check_pending(state& s, std::uintptr_t ra) {
    if (s.fsw & fsw_es) raise_exception(s, EXCP_MF, 0, ra);
}

void record(state& s, unsigned op, unsigned modrm, std::uint64_t addr, std::uint64_t eip) {
    s.fop = static_cast<std::uint16_t>(((op & 7) << 8) | modrm);
    s.fip = eip;
    if ((modrm >> 6) != 3) s.fdp = addr;
}

// Runs one instruction through the host and commits it; the host's
// flags (for FCOMI) come back.
unsigned execute(state& s, unsigned op, unsigned modrm, std::uint64_t addr, std::uint64_t eip, stub_fn stub,
                 std::uintptr_t ra) {
    check_pending(s, ra);
    fx_image in, out;
    to_image(s, in);
    alignas(16) std::uint8_t buf[16] = {};
    const bool mem = (modrm >> 6) != 3;
    mem_form mf{0, false};
    if (mem) {
        mf = mem_form_of(op, (modrm >> 3) & 7);
        if (!mf.store) load_bytes(s, addr, buf, mf.bytes, ra);
    }
    const unsigned eflags = run(in, out, stub, buf);
    const auto hfsw = out.get<std::uint16_t>(2);
    // An unmasked exception other than PE stores nothing to memory; the host
    // has done the rest (no result for IE DE ZE, biased exponents for OE UE).
    const unsigned unmasked = hfsw & ~s.fcw & 0x3f;  // the image had no flags: these are new
    if (mem && mf.store && !(unmasked & 0x1f)) store_bytes(s, addr, buf, mf.bytes, ra);  // may fault: nothing is committed yet
    record(s, op, modrm, addr, eip);
    s.fsw = static_cast<std::uint16_t>(hfsw | (s.fsw & fsw_flags));  // the flags are sticky
    s.ftw = out.b[4];
    const unsigned top = top_of(s);
    for (unsigned i = 0; i < 8; ++i) {
        s.fpr[(top + i) & 7].mant = out.get<std::uint64_t>(32 + 16 * i);
        s.fpr[(top + i) & 7].sign_exp = out.get<std::uint16_t>(40 + 16 * i);
    }
    return eflags;
}

stub_fn stub_for(unsigned op, unsigned modrm) {
    if ((modrm >> 6) == 3) return reg_table[(op - 0xd8) * 64 + (modrm - 0xc0)];
    return mem_table[(op - 0xd8) * 8 + ((modrm >> 3) & 7)];
}

void h_exec(tcg::env_base* env, std::uint64_t op, std::uint64_t modrm, std::uint64_t addr, std::uint64_t eip) {
    state& s = state_of(env);
    execute(s, static_cast<unsigned>(op), static_cast<unsigned>(modrm), addr, eip,
            stub_for(static_cast<unsigned>(op), static_cast<unsigned>(modrm)), QF_GETPC());
}

void h_exec_comi(tcg::env_base* env, std::uint64_t op, std::uint64_t modrm, std::uint64_t addr, std::uint64_t eip) {
    state& s = state_of(env);
    const unsigned f = execute(s, static_cast<unsigned>(op), static_cast<unsigned>(modrm), addr, eip,
                               stub_for(static_cast<unsigned>(op), static_cast<unsigned>(modrm)), QF_GETPC());
    s.cc_src = f;
    s.cc_op = CC_OP_EFLAGS;
}

void h_fwait(tcg::env_base* env) { check_pending(state_of(env), QF_GETPC()); }

void h_fcmov(tcg::env_base* env, std::uint64_t i, std::uint64_t move, std::uint64_t eip, std::uint64_t op_modrm) {
    state& s = state_of(env);
    execute(s, static_cast<unsigned>(op_modrm >> 8), static_cast<unsigned>(op_modrm & 0xff), 0, eip,
            fcmove_table[(move ? 8 : 0) + (i & 7)], QF_GETPC());
}

// FNSTENV/FLDENV (0/1), FNSAVE/FRSTOR (2/3), FLDCW (4) in the protected-
// mode layouts (the 14- and 28-byte environments; real mode uses them too).
void h_env_op(tcg::env_base* env, std::uint64_t which, std::uint64_t a, std::uint64_t o32) {
    using namespace tcg::memop;
    state& s = state_of(env);
    const std::uintptr_t ra = QF_GETPC();
    const unsigned w = o32 ? 4 : 2, env_size = o32 ? 28 : 14;
    const std::uint32_t mw = o32 ? ul : uw;
    if (which == 4) {  // FLDCW waits: a pending exception is delivered first
        check_pending(s, ra);
        s.fcw = static_cast<std::uint16_t>(tcg::guest_load(&s.base, a, mop_at(s, uw), ra));
        // A flag the new control word unmasks now pends.
        if (s.fsw & ~s.fcw & 0x3f) s.fsw |= fsw_es | fsw_b;
        else s.fsw &= static_cast<std::uint16_t>(~(fsw_es | fsw_b));
        return;
    }
    if (which == 0 || which == 2) {
        const std::uint64_t fields[7] = {s.fcw, s.fsw, fpu_tag_word(s), s.fip & 0xffff'ffff,
                                         o32 ? static_cast<std::uint64_t>(s.fop) << 16 : 0, s.fdp & 0xffff'ffff, 0};
        for (unsigned i = 0; i < 7; ++i) tcg::guest_store(&s.base, a + w * i, fields[i], mop_at(s, mw), ra);
        if (which == 2) {
            const unsigned top = top_of(s);
            for (unsigned i = 0; i < 8; ++i) {
                const x87_reg& r = s.fpr[(top + i) & 7];
                tcg::guest_store(&s.base, a + env_size + 10 * i, r.mant, mop_at(s, uq), ra);
                tcg::guest_store(&s.base, a + env_size + 10 * i + 8, r.sign_exp, mop_at(s, uw), ra);
            }
            // FNSAVE then initializes the FPU.
            s.fcw = 0x37f;
            s.fsw = s.fop = 0;
            s.ftw = 0;
            s.fip = s.fdp = 0;
        } else {
            s.fcw |= 0x3f;  // FNSTENV masks every exception afterwards
        }
        return;
    }
    std::uint64_t f[7];
    for (unsigned i = 0; i < 7; ++i) f[i] = tcg::guest_load(&s.base, a + w * i, mop_at(s, mw), ra);
    x87_reg st[8];
    if (which == 3)
        for (unsigned i = 0; i < 8; ++i) {
            st[i].mant = tcg::guest_load(&s.base, a + env_size + 10 * i, mop_at(s, uq), ra);
            st[i].sign_exp = static_cast<std::uint16_t>(tcg::guest_load(&s.base, a + env_size + 10 * i + 8, mop_at(s, uw), ra));
        }
    s.fcw = static_cast<std::uint16_t>(f[0]);
    s.fsw = static_cast<std::uint16_t>(f[1]);
    std::uint8_t ftw = 0;
    for (unsigned r = 0; r < 8; ++r)
        if (((f[2] >> (2 * r)) & 3) != 3) ftw |= static_cast<std::uint8_t>(1u << r);
    s.ftw = ftw;
    s.fip = f[3];
    s.fop = o32 ? static_cast<std::uint16_t>((f[4] >> 16) & 0x7ff) : 0;
    s.fdp = f[5];
    if (which == 3) {
        const unsigned top = top_of(s);
        for (unsigned i = 0; i < 8; ++i) s.fpr[(top + i) & 7] = st[i];
    }
    // The loaded status word's flags pend if the control word unmasks them.
    if (s.fsw & ~s.fcw & 0x3f) s.fsw |= fsw_es | fsw_b;
    else s.fsw &= static_cast<std::uint16_t>(~(fsw_es | fsw_b));
}

} // namespace

std::uint16_t fpu_tag_word(const state& s) {
    std::uint16_t t = 0;
    for (unsigned r = 0; r < 8; ++r) {
        unsigned tag = 3;
        if ((s.ftw >> r) & 1) {
            const x87_reg& v = s.fpr[r];
            const unsigned e = v.sign_exp & 0x7fff;
            if (e == 0x7fff || (e == 0 && v.mant != 0) || (e != 0 && !(v.mant >> 63))) tag = 2;
            else if (e == 0) tag = 1;
            else tag = 0;
        }
        t |= static_cast<std::uint16_t>(tag << (2 * r));
    }
    return t;
}

namespace helper::x87 {
using tcg::make_helper;
using tcg::helper_flag::no_read_globals;
using tcg::helper_flag::no_write_globals;
const tcg::helper_info exec = make_helper<&h_exec>("x87_exec", no_write_globals);
const tcg::helper_info exec_comi = make_helper<&h_exec_comi>("x87_exec_comi", 0);
const tcg::helper_info fwait = make_helper<&h_fwait>("fwait", no_write_globals);
const tcg::helper_info fcmov = make_helper<&h_fcmov>("fcmov", no_write_globals);
const tcg::helper_info env_op = make_helper<&h_env_op>("x87_env", no_write_globals);
} // namespace helper::x87

} // namespace qf::x86
