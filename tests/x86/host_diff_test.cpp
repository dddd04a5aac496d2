// The translator against the host CPU, which is the oracle: each
// instruction form runs natively (in a forked child, registers loaded from
// a struct and stored back after) and in the emulator (64-bit flat mode, on
// the JIT), from the same random registers and flags; every general
// register and the flags the SDM defines for that instruction and those
// operands must agree. Undefined flags are masked per instruction, never
// globally. Prints a line per family.
#include "flat_rig.hpp"

#include <xbyak/xbyak.h>

#include <immintrin.h>

#include <catch2/catch.hpp>
#include <csetjmp>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <cstdio>
#include <functional>
#include <random>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace qf;
using namespace qf::x86;

namespace {

constexpr std::uint64_t CF = 1, PF = 4, AF = 0x10, ZF = 0x40, SF = 0x80, OF = 0x800;
constexpr std::uint64_t OSZAPC = CF | PF | AF | ZF | SF | OF;

// Memory operands address a 64-byte window at the same address natively
// (a fixed mapping in the child) and in the emulator (guest RAM).
constexpr std::uint64_t window = 0x200'0000;
constexpr std::size_t window_size = 64;

struct regs {
    std::uint64_t r[16];
    std::uint64_t flags;
    int fault;  // native: the signal; emulated: 1 + vector
    std::uint8_t mem[window_size];
    alignas(16) std::uint8_t xmm[16][16];
    std::uint32_t mxcsr = 0x1f80;
    alignas(16) std::uint8_t fx[512];  // x87 state as FXSAVE lays it out, for x87 cases
};

struct test_case {
    std::vector<std::uint8_t> code;
    regs in;
    std::uint64_t flag_mask;  // flags to compare
    bool x87 = false;         // with the x87 state of in.fx
    // DPPS and DPPD: which input NaN each written lane gets is the
    // microarchitecture's (some Intel parts give different lanes different
    // NaNs, against the SDM's one broadcast sum, which QEMU and we follow).
    // Lanes of this many bytes that are NaN in both results count as equal.
    unsigned nan_lane_bytes = 0;
};

// ---- native execution -------------------------------------------------------

sigjmp_buf native_jmp;
volatile sig_atomic_t native_sig = 0;
void on_fault(int sig) {
    native_sig = sig;
    siglongjmp(native_jmp, 1);
}

// The instruction between a register load and a register store; rsp is
// the test's when it sets one.
class native_stub : public Xbyak::CodeGenerator {
public:
    native_stub(const std::vector<std::uint8_t>& insn, bool own_stack, bool x87) : CodeGenerator(4096) {
        using namespace Xbyak::util;
        Xbyak::Label host_rsp, test_rsp, host_mxcsr;
        for (const auto& r : {rbx, rbp, r12, r13, r14, r15}) push(r);
        push(rdi);
        mov(ptr[rip + host_rsp], rsp);
        stmxcsr(ptr[rip + host_mxcsr]);
        if (x87) fxrstor64(ptr[rdi + offsetof(regs, fx)]);
        for (int i = 0; i < 16; ++i) movdqu(Xbyak::Xmm(i), ptr[rdi + offsetof(regs, xmm) + 16 * i]);
        ldmxcsr(ptr[rdi + offsetof(regs, mxcsr)]);
        push(qword[rdi + 128]);
        popfq();
        const Xbyak::Reg64 order[] = {rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15};
        for (int i = 0; i < 16; ++i)
            if (i != 7 && (i != 4 || own_stack)) mov(order[i], qword[rdi + 8 * i]);
        mov(rdi, qword[rdi + 56]);
        for (std::uint8_t b : insn) db(b);
        mov(ptr[rip + test_rsp], rsp);
        mov(rsp, ptr[rip + host_rsp]);
        pushfq();
        cld();  // the test may leave DF set; the C code after it may not
        push(rdi);
        mov(rdi, qword[rsp + 16]);
        for (int i = 0; i < 16; ++i)
            if (i != 4 && i != 7) mov(qword[rdi + 8 * i], order[i]);
        pop(rax);
        mov(qword[rdi + 56], rax);
        pop(rax);
        mov(qword[rdi + 128], rax);
        mov(rax, ptr[rip + test_rsp]);
        mov(qword[rdi + 32], rax);
        for (int i = 0; i < 16; ++i) movdqu(ptr[rdi + offsetof(regs, xmm) + 16 * i], Xbyak::Xmm(i));
        stmxcsr(ptr[rdi + offsetof(regs, mxcsr)]);
        if (x87) {
            db(0x48), db(0x0f), db(0xae), db(0x87), dd(offsetof(regs, fx));  // fxsave64 [rdi + fx]
            fninit();  // a pending unmasked exception would trap the C code
        }
        ldmxcsr(ptr[rip + host_mxcsr]);
        pop(rdi);
        for (const auto& r : {r15, r14, r13, r12, rbp, rbx}) pop(r);
        ret();
        align(8);
        L(host_rsp);
        dq(0);
        L(test_rsp);
        dq(0);
        L(host_mxcsr);
        dd(0x1f80);
    }
};

// Runs every case natively in a child process; results through shared memory.
std::vector<regs> run_native(const std::vector<test_case>& cases) {
    const std::size_t bytes = sizeof(regs) * cases.size();
    void* shm = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    REQUIRE(shm != MAP_FAILED);
    auto* out = static_cast<regs*>(shm);
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        // Faults are taken on their own stack: the test's is the window.
        static std::uint8_t alt[64 * 1024];
        stack_t ss{};
        ss.ss_sp = alt;
        ss.ss_size = sizeof alt;
        sigaltstack(&ss, nullptr);
        struct sigaction sa{};
        sa.sa_handler = on_fault;
        sa.sa_flags = SA_ONSTACK | SA_NODEFER;
        for (int sig : {SIGFPE, SIGILL, SIGSEGV, SIGBUS, SIGTRAP}) sigaction(sig, &sa, nullptr);
        void* w = mmap(reinterpret_cast<void*>(window), 4096, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        if (w != reinterpret_cast<void*>(window)) _exit(2);
        for (std::size_t i = 0; i < cases.size(); ++i) {
            regs r = cases[i].in;
            r.fault = 0;
            std::memcpy(w, r.mem, window_size);
            native_stub stub(cases[i].code, r.r[4] != 0, cases[i].x87);
            auto fn = stub.getCode<void (*)(regs*)>();
            if (sigsetjmp(native_jmp, 1) == 0) {
                fn(&r);
            } else {
                _mm_setcsr(0x1f80);  // the test's MXCSR may unmask exceptions
                asm volatile("fninit");
                r = cases[i].in;
                r.fault = native_sig;
            }
            std::memcpy(r.mem, w, window_size);
            out[i] = r;
        }
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
    std::vector<regs> res(out, out + cases.size());
    munmap(shm, bytes);
    return res;
}

// ---- x87 state in the FXSAVE layout -------------------------------------------------

void fx_to_state(const std::uint8_t* fx, state& s) {
    std::memcpy(&s.fcw, fx, 2);
    std::memcpy(&s.fsw, fx + 2, 2);
    s.ftw = fx[4];
    const unsigned top = (s.fsw >> 11) & 7;
    for (unsigned i = 0; i < 8; ++i) {
        std::memcpy(&s.fpr[(top + i) & 7].mant, fx + 32 + 16 * i, 8);
        std::memcpy(&s.fpr[(top + i) & 7].sign_exp, fx + 40 + 16 * i, 2);
    }
}
void state_to_fx(const state& s, std::uint8_t* fx) {
    std::memcpy(fx, &s.fcw, 2);
    std::memcpy(fx + 2, &s.fsw, 2);
    fx[4] = s.ftw;
    const unsigned top = (s.fsw >> 11) & 7;
    for (unsigned i = 0; i < 8; ++i) {
        std::memcpy(fx + 32 + 16 * i, &s.fpr[(top + i) & 7].mant, 8);
        std::memcpy(fx + 40 + 16 * i, &s.fpr[(top + i) & 7].sign_exp, 2);
    }
}
// What FXSAVE stores that the x87 cases compare: control, status, tags and
// the eight registers (not the last-instruction pointers).
bool same_x87(const std::uint8_t* a, const std::uint8_t* b) {
    if (std::memcmp(a, b, 5) != 0) return false;
    for (unsigned i = 0; i < 8; ++i)
        if (std::memcmp(a + 32 + 16 * i, b + 32 + 16 * i, 10) != 0) return false;
    return true;
}

// The sixteen XMM registers; with lane_bytes (4 or 8), lanes that hold a
// NaN in both count as equal (test_case::nan_lane_bytes).
bool is_nan_lane(const std::uint8_t* p, unsigned bytes) {
    if (bytes == 4) {
        std::uint32_t v;
        std::memcpy(&v, p, 4);
        return (v & 0x7f80'0000u) == 0x7f80'0000u && (v & 0x007f'ffffu) != 0;
    }
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    return (v & 0x7ff0'0000'0000'0000ull) == 0x7ff0'0000'0000'0000ull && (v & 0x000f'ffff'ffff'ffffull) != 0;
}
bool same_xmm(const std::uint8_t (&a)[16][16], const std::uint8_t (&b)[16][16], unsigned lane_bytes) {
    if (!lane_bytes) return std::memcmp(a, b, sizeof a) == 0;
    for (unsigned x = 0; x < 16; ++x)
        for (unsigned at = 0; at < 16; at += lane_bytes)
            if (std::memcmp(a[x] + at, b[x] + at, lane_bytes) != 0 &&
                !(is_nan_lane(a[x] + at, lane_bytes) && is_nan_lane(b[x] + at, lane_bytes)))
                return false;
    return true;
}

// ---- emulated execution ----------------------------------------------------------

class emulator {
public:
    regs run(const test_case& c) {
        const std::uint64_t at = 0x10'0000 + next_++ * 32;
        if (next_ * 32 + 0x10'0000 + 64 > window) {  // code stays below the window
            next_ = 0;
            rig_.cpu().engine().flush();
        }
        rig_.load(at, c.code.data(), c.code.size());
        rig_.ram()[at + c.code.size()] = std::byte{0xf4};  // HLT
        rig_.load(window, c.in.mem, window_size);
        rig_.enter(at, c.in.flags);
        state& s = rig_.st();
        for (int i = 0; i < 16; ++i) s.regs[i] = c.in.r[i];
        std::memcpy(s.xmm, c.in.xmm, sizeof s.xmm);
        s.mxcsr = c.in.mxcsr;
        if (c.x87) fx_to_state(c.in.fx, s);
        if (!c.in.r[4]) s.regs[R_ESP] = 0x8000;
        regs r{};
        const auto why = rig_.run();
        for (int i = 0; i < 16; ++i) r.r[i] = s.regs[i];
        r.flags = compute_eflags(s);
        r.fault = why == vcpu::stop::exception ? 1 + rig_.cpu().last_exception() : 0;
        std::memcpy(r.xmm, s.xmm, sizeof r.xmm);
        r.mxcsr = s.mxcsr;
        if (c.x87) state_to_fx(s, r.fx);
        std::memcpy(r.mem, rig_.ram() + window, window_size);
        return r;
    }

private:
    test::flat64 rig_;
    unsigned next_ = 0;
};

// ---- instruction forms ----------------------------------------------------------------

std::uint64_t edge(std::mt19937_64& rng) {
    static constexpr std::uint64_t v[] = {0, 1, 2, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fff'ffff, 0x8000'0000,
                                          0xffff'ffff, 0x1'0000'0000, 0x7fff'ffff'ffff'ffff, 0x8000'0000'0000'0000,
                                          ~0ull, ~0ull - 1, 31, 32, 63, 64};
    switch (rng() % 3) {
    case 0: return v[rng() % std::size(v)];
    case 1: return rng() % 300;
    default: return rng();
    }
}

regs random_regs(std::mt19937_64& rng) {
    regs r{};
    for (auto& x : r.r) x = edge(rng);
    r.r[4] = 0;
    r.flags = (rng() & OSZAPC) | 2;
    for (auto& b : r.mem) b = static_cast<std::uint8_t>(rng());
    return r;
}


// A general register other than rsp.
unsigned gpr(std::mt19937_64& rng, bool rex_ok = true) {
    for (;;) {
        const unsigned r = static_cast<unsigned>(rng() % (rex_ok ? 16 : 8));
        if (r != 4) return r;
    }
}

// A memory operand [base + disp8] inside the window: base is neither rsp
// nor r12 (they need a SIB byte), nor `other`.
struct mem_operand {
    unsigned base;
    std::uint8_t disp;
};
mem_operand pick_mem(std::mt19937_64& rng, regs& r, unsigned other) {
    unsigned b;
    do b = gpr(rng);
    while (b == 12 || b == other);
    r.r[b] = window;
    return {b, static_cast<std::uint8_t>(rng() % 40)};
}

struct encoder {
    std::vector<std::uint8_t> b;
    // Operand size prefix and REX for size sl (0..3) and register fields.
    void prefix(unsigned sl, unsigned reg, unsigned rm, bool byte_regs_need_rex) {
        if (sl == 1) b.push_back(0x66);
        std::uint8_t rex = 0;
        if (sl == 3) rex |= 8;
        if (reg & 8) rex |= 4;
        if (rm & 8) rex |= 1;
        if (rex || byte_regs_need_rex) b.push_back(0x40 | rex);
    }
    void modrm(unsigned mod, unsigned reg, unsigned rm) { b.push_back(static_cast<std::uint8_t>(mod << 6 | (reg & 7) << 3 | (rm & 7))); }
    void imm(std::uint64_t v, unsigned bytes) {
        for (unsigned i = 0; i < bytes; ++i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
    }
};


// ---- SSE operands ---------------------------------------------------------------

// Lane values that matter to floating point: zeros, ones, the extremes,
// denormals, infinities, NaNs (quiet and signalling), values near integer
// limits, and random bits.
std::uint32_t float_bits(std::mt19937_64& rng) {
    static constexpr std::uint32_t v[] = {0, 0x80000000, 0x3f800000, 0xbf800000, 0x3fc00000, 0x3dcccccd, 0x7f7fffff,
                                          0xff7fffff, 0x00800000, 0x00000001, 0x007fffff, 0x7f800000, 0xff800000,
                                          0x7fc00000, 0xffc00000, 0x7f800001, 0x7fa00000, 0x4f000000, 0xcf000000,
                                          0x4effffff, 0x501502f9, 0x40490fdb, 0x3f000000, 0x3f7fffff};
    switch (rng() % 4) {
    case 0: case 1: return v[rng() % std::size(v)];
    case 2: return static_cast<std::uint32_t>(rng());
    default: {
        const float f = static_cast<float>(static_cast<std::int64_t>(rng() % 2001) - 1000) / static_cast<float>(1 + rng() % 16);
        std::uint32_t b;
        std::memcpy(&b, &f, 4);
        return b;
    }
    }
}
std::uint64_t double_bits(std::mt19937_64& rng) {
    static constexpr std::uint64_t v[] = {0, 0x8000000000000000, 0x3ff0000000000000, 0xbff0000000000000,
                                          0x3ff8000000000000, 0x3fb999999999999a, 0x7fefffffffffffff,
                                          0x0010000000000000, 0x0000000000000001, 0x000fffffffffffff,
                                          0x7ff0000000000000, 0xfff0000000000000, 0x7ff8000000000000,
                                          0xfff8000000000000, 0x7ff0000000000001, 0x7ff4000000000000,
                                          0x41e0000000000000, 0xc1e0000000000000, 0x43e0000000000000,
                                          0xc3e0000000000000, 0x41dfffffffc00000, 0x400921fb54442d18,
                                          0x47efffffe0000000, 0x36a0000000000000};
    switch (rng() % 4) {
    case 0: case 1: return v[rng() % std::size(v)];
    case 2: return rng();
    default: {
        const double d = static_cast<double>(static_cast<std::int64_t>(rng() % 2001) - 1000) / static_cast<double>(1 + rng() % 16);
        std::uint64_t b;
        std::memcpy(&b, &d, 8);
        return b;
    }
    }
}

void fill_xmm(std::mt19937_64& rng, std::uint8_t* x) {
    for (int half = 0; half < 2; ++half) {
        std::uint64_t q;
        switch (rng() % 3) {
        case 0: q = static_cast<std::uint64_t>(float_bits(rng)) | static_cast<std::uint64_t>(float_bits(rng)) << 32; break;
        case 1: q = double_bits(rng); break;
        default: q = rng() % 2 ? rng() : edge(rng); break;
        }
        std::memcpy(x + 8 * half, &q, 8);
    }
}

regs sse_regs(std::mt19937_64& rng) {
    regs r = random_regs(rng);
    for (auto& x : r.xmm) fill_xmm(rng, x);
    for (std::size_t at = 0; at < window_size; at += 16) fill_xmm(rng, r.mem + at);
    return r;
}

// Rounding, DAZ and FTZ at random, sometimes sticky flags already set,
// and now and then some exceptions unmasked (#XM natively: SIGFPE).
// A quarter of the time the state most programs run in: the default
// control with inexact already set (and maybe others), where the FP
// helpers take their fast path.
std::uint32_t random_mxcsr(std::mt19937_64& rng) {
    if (rng() % 4 == 0) return 0x1fa0 | (static_cast<std::uint32_t>(rng()) & 0x1f);
    std::uint32_t m = 0x1f80 | static_cast<std::uint32_t>(rng() % 4) << 13;
    if (rng() % 4 == 0) m |= 0x8000;  // FTZ
    if (rng() % 4 == 0) m |= 0x40;    // DAZ
    if (rng() % 4 == 0) m |= static_cast<std::uint32_t>(rng()) & 0x3f;
    if (rng() % 8 == 0) m &= ~(static_cast<std::uint32_t>(rng()) & 0x1f80);
    return m;
}

struct sse_op {
    std::uint8_t pfx, op;
    bool mem_only = false;
    bool imm = false;
    std::uint8_t escape = 0;  // 0x38 or 0x3a for the three-byte maps
};

// pfx 0F op /r with xmm registers, or a memory operand in the window:
// usually 16-byte aligned, sometimes not (the aligned forms raise #GP).
// `scalar`: the memory operand is at most 8 bytes, any alignment.
test_case sse_case(std::mt19937_64& rng, regs& r, const sse_op& o, bool scalar) {
    const unsigned reg = rng() % 16;
    encoder e;
    if (o.pfx) e.b.push_back(o.pfx);
    if (o.mem_only || rng() % 3 == 0) {
        mem_operand m = pick_mem(rng, r, 99);
        m.disp = static_cast<std::uint8_t>(scalar ? rng() % 56 : rng() % 8 == 0 ? rng() % 48 : (rng() % 4) * 16);
        const std::uint8_t rex = static_cast<std::uint8_t>((reg & 8 ? 4 : 0) | (m.base & 8 ? 1 : 0));
        if (rex) e.b.push_back(0x40 | rex);
        e.b.push_back(0x0f);
        if (o.escape) e.b.push_back(o.escape);
        e.b.push_back(o.op);
        e.modrm(1, reg, m.base);
        e.b.push_back(m.disp);
    } else {
        const unsigned rmr = rng() % 16;
        const std::uint8_t rex = static_cast<std::uint8_t>((reg & 8 ? 4 : 0) | (rmr & 8 ? 1 : 0));
        if (rex) e.b.push_back(0x40 | rex);
        e.b.push_back(0x0f);
        if (o.escape) e.b.push_back(o.escape);
        e.b.push_back(o.op);
        e.modrm(3, reg, rmr);
    }
    if (o.imm) e.b.push_back(static_cast<std::uint8_t>(rng()));
    return test_case{e.b, r, OSZAPC};
}

// ---- x87 operands --------------------------------------------------------------

// An 80-bit value: zeros, ones, normals near 1 and at the extremes of the
// exponent, denormals, infinities, NaNs, and invalid encodings (unnormals).
void x87_value(std::mt19937_64& rng, std::uint8_t* at) {
    std::uint64_t mant;
    std::uint16_t exp;
    switch (rng() % 8) {
    case 0: exp = 0; mant = rng() % 2 ? 0 : rng() >> 1; break;                      // zero, denormal
    case 1: exp = 0x7fff; mant = rng() % 2 ? 1ull << 63 : (1ull << 63) | rng(); break;  // inf, NaN
    case 2: exp = static_cast<std::uint16_t>(rng() % 2 ? 1 : 0x7ffe); mant = (1ull << 63) | rng(); break;
    case 3: exp = static_cast<std::uint16_t>(rng()); mant = rng() >> 1; break;      // unnormal
    case 4: exp = 0x3fff; mant = 1ull << 63; break;                                 // 1
    default: exp = static_cast<std::uint16_t>(0x3fff - 40 + rng() % 80); mant = (1ull << 63) | (rng() % 3 ? rng() & ~0xffffull : rng()); break;
    }
    if (rng() % 2) exp |= 0x8000;
    std::memcpy(at, &mant, 8);
    std::memcpy(at + 8, &exp, 2);
}

// A random x87 state: precision and rounding control, sometimes exceptions
// unmasked (and then pending flags make the next instruction fault), TOP,
// condition codes, tags and values.
regs x87_regs(std::mt19937_64& rng) {
    regs r = random_regs(rng);
    std::memset(r.fx, 0, sizeof r.fx);
    static constexpr std::uint16_t pc[] = {0x000, 0x200, 0x300, 0x300};
    std::uint16_t fcw = static_cast<std::uint16_t>(0x40 | 0x3f | pc[rng() % 4] | (rng() % 4) << 10);
    if (rng() % 6 == 0) fcw &= static_cast<std::uint16_t>(~(rng() & 0x3f));
    std::uint16_t fsw = static_cast<std::uint16_t>((rng() % 8) << 11 | (rng() & 0x4700));
    if (rng() % 5 == 0) fsw |= static_cast<std::uint16_t>(rng() & 0x3f);
    if (fsw & ~fcw & 0x3f) fsw |= 0x8080;
    std::memcpy(r.fx, &fcw, 2);
    std::memcpy(r.fx + 2, &fsw, 2);
    r.fx[4] = static_cast<std::uint8_t>(rng() % 3 ? 0xff : rng() % 2 ? rng() : 0);
    for (unsigned i = 0; i < 8; ++i) x87_value(rng, r.fx + 32 + 16 * i);
    // Memory operands: integers, floats and 80-bit values of each kind.
    for (std::size_t at = 0; at + 10 <= window_size; at += 10 + rng() % 6) {
        switch (rng() % 4) {
        case 0: x87_value(rng, r.mem + at); break;
        case 1: { const std::uint64_t d = double_bits(rng); std::memcpy(r.mem + at, &d, 8); break; }
        case 2: { const std::uint32_t f = float_bits(rng); std::memcpy(r.mem + at, &f, 4); break; }
        default: { const std::uint64_t v = edge(rng); std::memcpy(r.mem + at, &v, 8); break; }
        }
    }
    return r;
}

struct family {
    const char* name;
    std::function<test_case(std::mt19937_64&)> make;
};

unsigned size_of(std::mt19937_64& rng) { return static_cast<unsigned>(rng() % 4); }
unsigned imm_bytes(unsigned sl) { return sl == 0 ? 1 : sl == 1 ? 2 : 4; }

std::vector<family> families() {
    std::vector<family> f;
    f.push_back({"ALU r/m, r (ADD OR ADC SBB AND SUB XOR CMP)", [](std::mt19937_64& rng) {
        const unsigned op = rng() % 8, sl = size_of(rng), src = gpr(rng), dst = gpr(rng);
        encoder e;
        e.prefix(sl, src, dst, sl == 0 && rng() % 2);
        e.b.push_back(static_cast<std::uint8_t>(op * 8 + (sl ? 1 : 0)));
        e.modrm(3, src, dst);
        const bool logic = op == 1 || op == 4 || op == 6;
        return test_case{e.b, random_regs(rng), logic ? OSZAPC & ~AF : OSZAPC};
    }});
    // ADC and SBB read the carry the one before made: the translator
    // computes an ADC's or SBB's carry-out inline for the next one (and for
    // SETC after it), from the result, the operand and the carry in.
    f.push_back({"ADC/SBB chains: the carry of one into the next and SETB", [](std::mt19937_64& rng) {
        encoder e;
        const unsigned n = 2 + static_cast<unsigned>(rng() % 2);
        for (unsigned i = 0; i < n; ++i) {
            const unsigned op = rng() % 2 ? 2 : 3, sl = size_of(rng), src = gpr(rng), dst = gpr(rng);
            e.prefix(sl, src, dst, sl == 0 && rng() % 2);
            e.b.push_back(static_cast<std::uint8_t>(op * 8 + (sl ? 1 : 0)));
            e.modrm(3, src, dst);
        }
        const unsigned d = gpr(rng);  // setb r8/r: its low byte
        e.prefix(0, 0, d, true);
        e.b.push_back(0x0f);
        e.b.push_back(0x92);
        e.modrm(3, 0, d);
        return test_case{e.b, random_regs(rng), OSZAPC};
    }});
    // The translator takes XOR of a register with itself as a constant 0.
    f.push_back({"XOR and SUB of a register with itself (30-33, 28-2B)", [](std::mt19937_64& rng) {
        const unsigned sl = size_of(rng), r = gpr(rng), xor_ = rng() % 2, dir = rng() % 2;
        encoder e;
        e.prefix(sl, r, r, sl == 0 && rng() % 2);
        e.b.push_back(static_cast<std::uint8_t>((xor_ ? 0x30 : 0x28) + dir * 2 + (sl ? 1 : 0)));
        e.modrm(3, r, r);
        return test_case{e.b, random_regs(rng), xor_ ? OSZAPC & ~AF : OSZAPC};
    }});
    f.push_back({"ALU r/m, imm (80 81 83)", [](std::mt19937_64& rng) {
        const unsigned op = rng() % 8, sl = size_of(rng), dst = gpr(rng);
        const bool short_imm = sl && rng() % 2;
        encoder e;
        e.prefix(sl, 0, dst, false);
        e.b.push_back(sl == 0 ? 0x80 : short_imm ? 0x83 : 0x81);
        e.modrm(3, op, dst);
        e.imm(edge(rng), short_imm ? 1 : imm_bytes(sl));
        const bool logic = op == 1 || op == 4 || op == 6;
        return test_case{e.b, random_regs(rng), logic ? OSZAPC & ~AF : OSZAPC};
    }});
    f.push_back({"TEST, INC, DEC, NOT, NEG", [](std::mt19937_64& rng) {
        const unsigned sl = size_of(rng), dst = gpr(rng), k = rng() % 5;
        encoder e;
        e.prefix(sl, 0, dst, false);
        std::uint64_t mask = OSZAPC;
        switch (k) {
        case 0: e.b.push_back(sl ? 0xf7 : 0xf6); e.modrm(3, 0, dst); e.imm(edge(rng), imm_bytes(sl)); mask &= ~AF; break;
        case 1: e.b.push_back(sl ? 0xff : 0xfe); e.modrm(3, 0, dst); break;
        case 2: e.b.push_back(sl ? 0xff : 0xfe); e.modrm(3, 1, dst); break;
        case 3: e.b.push_back(sl ? 0xf7 : 0xf6); e.modrm(3, 2, dst); break;
        default: e.b.push_back(sl ? 0xf7 : 0xf6); e.modrm(3, 3, dst); break;
        }
        return test_case{e.b, random_regs(rng), mask};
    }});
    f.push_back({"MUL, IMUL (one operand)", [](std::mt19937_64& rng) {
        const unsigned sl = size_of(rng), src = gpr(rng);
        encoder e;
        e.prefix(sl, 0, src, false);
        e.b.push_back(sl ? 0xf7 : 0xf6);
        e.modrm(3, 4 + static_cast<unsigned>(rng() % 2), src);
        return test_case{e.b, random_regs(rng), CF | OF};
    }});
    f.push_back({"DIV, IDIV (with #DE)", [](std::mt19937_64& rng) {
        const unsigned sl = size_of(rng);
        unsigned src = gpr(rng);
        while (src == 0 || src == 2) src = gpr(rng);  // not rAX/rDX: the common case
        encoder e;
        e.prefix(sl, 0, src, false);
        e.b.push_back(sl ? 0xf7 : 0xf6);
        e.modrm(3, 6 + static_cast<unsigned>(rng() % 2), src);
        regs r = random_regs(rng);
        if (rng() % 2) r.r[2] = rng() % 2 ? 0 : ~0ull;  // keep quotients in range often
        return test_case{e.b, r, 0};
    }});
    f.push_back({"IMUL r, r/m (0F AF, 69, 6B)", [](std::mt19937_64& rng) {
        const unsigned sl = 1 + static_cast<unsigned>(rng() % 3), reg = gpr(rng), src = gpr(rng), k = rng() % 3;
        encoder e;
        e.prefix(sl, reg, src, false);
        if (k == 0) { e.b.push_back(0x0f); e.b.push_back(0xaf); e.modrm(3, reg, src); }
        else if (k == 1) { e.b.push_back(0x69); e.modrm(3, reg, src); e.imm(edge(rng), imm_bytes(sl)); }
        else { e.b.push_back(0x6b); e.modrm(3, reg, src); e.imm(edge(rng), 1); }
        return test_case{e.b, random_regs(rng), CF | OF};
    }});
    f.push_back({"shifts and rotates (C0 C1 D0-D3, with RCL/RCR)", [](std::mt19937_64& rng) {
        const unsigned sl = size_of(rng), dst = gpr(rng) == 1 ? 3 : gpr(rng), op = rng() % 8, form = rng() % 3;
        encoder e;
        e.prefix(sl, 0, dst, false);
        regs r = random_regs(rng);
        unsigned count;
        if (form == 0) { e.b.push_back(sl ? 0xd1 : 0xd0); e.modrm(3, op, dst); count = 1; }
        else if (form == 1) { count = static_cast<unsigned>(edge(rng) & 0xff); e.b.push_back(sl ? 0xc1 : 0xc0); e.modrm(3, op, dst); e.imm(count, 1); }
        else { e.b.push_back(sl ? 0xd3 : 0xd2); e.modrm(3, op, dst); count = static_cast<unsigned>(r.r[1] & 0xff); }
        const unsigned bits = 8u << sl, masked = count & (sl == 3 ? 63 : 31);
        std::uint64_t mask = OSZAPC;
        if (masked != 0) {
            if (op < 4) {  // rotates: only CF and OF change; OF only for 1
                if (masked != 1) mask &= ~OF;
            } else {
                mask &= ~AF;
                if (masked != 1) mask &= ~OF;
                if (masked >= bits && (op == 4 || op == 5 || op == 6)) mask &= ~CF;
            }
        }
        if (dst == 1 && form == 2) mask = 0;  // shifting CL by itself: skip flag check
        return test_case{e.b, r, mask};
    }});
    f.push_back({"CMOVcc, SETcc", [](std::mt19937_64& rng) {
        const unsigned cc = rng() % 16, reg = gpr(rng), src = gpr(rng);
        encoder e;
        if (rng() % 2) {
            const unsigned sl = 1 + static_cast<unsigned>(rng() % 3);
            e.prefix(sl, reg, src, false);
            e.b.push_back(0x0f);
            e.b.push_back(static_cast<std::uint8_t>(0x40 + cc));
            e.modrm(3, reg, src);
        } else {
            e.prefix(0, 0, src, false);
            e.b.push_back(0x0f);
            e.b.push_back(static_cast<std::uint8_t>(0x90 + cc));
            e.modrm(3, 0, src);
        }
        return test_case{e.b, random_regs(rng), OSZAPC};
    }});
    f.push_back({"CMP + Jcc (the flags fast paths)", [](std::mt19937_64& rng) {
        const unsigned sl = size_of(rng), a = gpr(rng), b = gpr(rng), cc = rng() % 16, k = rng() % 3;
        encoder e;
        e.prefix(sl, b, a, false);
        // CMP or TEST or SUB, then Jcc over a MOV of 1 into rax; rax = 0 before.
        e.b.push_back(static_cast<std::uint8_t>((k == 0 ? 0x38 : k == 1 ? 0x84 : 0x28) + (sl ? 1 : 0)));
        e.modrm(3, b, a);
        e.b.push_back(0xb8);  // mov eax, 0
        e.imm(0, 4);
        e.b.push_back(static_cast<std::uint8_t>(0x70 + cc));
        e.b.push_back(5);
        e.b.push_back(0xb8);  // mov eax, 1
        e.imm(1, 4);
        return test_case{e.b, random_regs(rng), OSZAPC & ~(k == 1 ? AF : 0)};
    }});
    f.push_back({"shift, INC, DEC or ADD + Jcc (the carry and condition fast paths)", [](std::mt19937_64& rng) {
        const unsigned sl = size_of(rng), a = gpr(rng), b = gpr(rng), k = rng() % 4;
        unsigned cc = rng() % 16;
        encoder e;
        std::uint64_t mask = OSZAPC;
        if (k == 0) {  // SHL SHR SAR by 1..width-1: OF and AF are undefined past one bit
            static constexpr unsigned ops[] = {4, 5, 7};
            const unsigned bits = 8u << sl, count = 1 + static_cast<unsigned>(rng() % (bits - 1));
            cc = 2 + static_cast<unsigned>(rng() % 10);  // B NB Z NZ BE NBE S NS P NP
            e.prefix(sl, 0, a, false);
            e.b.push_back(sl ? 0xc1 : 0xc0);
            e.modrm(3, ops[rng() % 3], a);
            e.b.push_back(static_cast<std::uint8_t>(count));
            mask &= ~(AF | (count > 1 ? OF : 0));
        } else if (k == 1 || k == 2) {  // INC DEC: CF from before
            e.prefix(sl, 0, a, false);
            e.b.push_back(sl ? 0xff : 0xfe);
            e.modrm(3, k == 1 ? 0 : 1, a);
        } else {  // ADD
            e.prefix(sl, b, a, false);
            e.b.push_back(sl ? 0x01 : 0x00);
            e.modrm(3, b, a);
        }
        // Then Jcc over a MOV of 1 into rax, which holds 0 before.
        e.b.push_back(0xb8);
        e.imm(0, 4);
        e.b.push_back(static_cast<std::uint8_t>(0x70 + cc));
        e.b.push_back(5);
        e.b.push_back(0xb8);
        e.imm(1, 4);
        return test_case{e.b, random_regs(rng), mask};
    }});
    f.push_back({"MOV, MOVZX, MOVSX, MOVSXD, XCHG, BSWAP, MOV imm", [](std::mt19937_64& rng) {
        const unsigned reg = gpr(rng), src = gpr(rng), k = rng() % 7;
        encoder e;
        switch (k) {
        case 0: { const unsigned sl = size_of(rng); e.prefix(sl, reg, src, false); e.b.push_back(sl ? 0x89 : 0x88); e.modrm(3, reg, src); break; }
        case 1: { const unsigned sl = 1 + static_cast<unsigned>(rng() % 3); e.prefix(sl, reg, src, false); e.b.push_back(0x0f); e.b.push_back(static_cast<std::uint8_t>(0xb6 + rng() % 2 + (rng() % 2) * 8)); e.modrm(3, reg, src); break; }
        case 2: e.prefix(3, reg, src, false); e.b.push_back(0x63); e.modrm(3, reg, src); break;
        case 3: { const unsigned sl = size_of(rng); e.prefix(sl, reg, src, false); e.b.push_back(sl ? 0x87 : 0x86); e.modrm(3, reg, src); break; }
        case 4: { const unsigned sl = 2 + static_cast<unsigned>(rng() % 2); e.prefix(sl, 0, reg, false); e.b.push_back(0x0f); e.b.push_back(static_cast<std::uint8_t>(0xc8 + (reg & 7))); break; }
        case 5: { const unsigned sl = size_of(rng); e.prefix(sl, 0, reg, false); e.b.push_back(static_cast<std::uint8_t>((sl ? 0xb8 : 0xb0) + (reg & 7))); e.imm(edge(rng), sl == 3 ? 8 : imm_bytes(sl)); break; }
        default: { const unsigned sl = size_of(rng); e.prefix(sl, 0, reg, false); e.b.push_back(sl ? 0xc7 : 0xc6); e.modrm(3, 0, reg); e.imm(edge(rng), imm_bytes(sl)); break; }
        }
        return test_case{e.b, random_regs(rng), OSZAPC};
    }});
    f.push_back({"LEA (every addressing form but RIP-relative)", [](std::mt19937_64& rng) {
        const unsigned sl = 1 + static_cast<unsigned>(rng() % 3), reg = gpr(rng);
        encoder e;
        const bool addr32 = rng() % 3 == 0;
        if (addr32) e.b.push_back(0x67);
        const unsigned base = gpr(rng), index = gpr(rng);
        const unsigned mod = rng() % 3;
        const bool sib = rng() % 2;
        if (sl == 1) e.b.push_back(0x66);
        std::uint8_t rex = static_cast<std::uint8_t>((sl == 3 ? 8 : 0) | ((reg & 8) ? 4 : 0) | (sib && (index & 8) ? 2 : 0) | ((base & 8) ? 1 : 0));
        if (rex) e.b.push_back(0x40 | rex);
        e.b.push_back(0x8d);
        if (sib) {
            e.modrm(mod, reg, 4);
            e.b.push_back(static_cast<std::uint8_t>((rng() % 4) << 6 | (index & 7) << 3 | (base & 7)));
        } else {
            unsigned rm = base & 7;
            if (mod == 0 && rm == 5) rm = 3;  // not RIP-relative
            e.modrm(mod, reg, rm == 4 ? 3 : rm);
        }
        const bool sib_no_base = sib && mod == 0 && (base & 7) == 5;
        if (mod == 1) e.imm(edge(rng), 1);
        else if (mod == 2 || sib_no_base) e.imm(edge(rng), 4);
        return test_case{e.b, random_regs(rng), OSZAPC};
    }});
    f.push_back({"CBW/CWDE/CDQE, CWD/CDQ/CQO, LAHF, SAHF, CMC, CLC, STC", [](std::mt19937_64& rng) {
        encoder e;
        const unsigned k = rng() % 5;
        if (k < 2) {
            const unsigned sl = 1 + static_cast<unsigned>(rng() % 3);
            e.prefix(sl, 0, 0, false);
            e.b.push_back(k == 0 ? 0x98 : 0x99);
        } else if (k == 2) {
            e.b.push_back(rng() % 2 ? 0x9f : 0x9e);
        } else {
            static constexpr std::uint8_t ops[] = {0xf5, 0xf8, 0xf9};
            e.b.push_back(ops[rng() % 3]);
        }
        return test_case{e.b, random_regs(rng), OSZAPC};
    }});
    f.push_back({"ALU with a memory operand (m,r / r,m / m,imm)", [](std::mt19937_64& rng) {
        regs r = random_regs(rng);
        const unsigned op = rng() % 8, sl = size_of(rng), reg = gpr(rng), form = rng() % 3;
        const mem_operand m = pick_mem(rng, r, reg);
        encoder e;
        e.prefix(sl, form == 2 ? 0 : reg, m.base, false);
        if (form < 2) {
            e.b.push_back(static_cast<std::uint8_t>(op * 8 + (form == 1 ? 2 : 0) + (sl ? 1 : 0)));
            e.modrm(1, reg, m.base);
            e.b.push_back(m.disp);
        } else {
            e.b.push_back(sl ? 0x81 : 0x80);
            e.modrm(1, op, m.base);
            e.b.push_back(m.disp);
            e.imm(edge(rng), imm_bytes(sl));
        }
        const bool logic = op == 1 || op == 4 || op == 6;
        return test_case{e.b, r, logic ? OSZAPC & ~AF : OSZAPC};
    }});
    f.push_back({"INC, DEC, NOT, NEG, shifts by one on memory", [](std::mt19937_64& rng) {
        regs r = random_regs(rng);
        const unsigned sl = size_of(rng), k = rng() % 5;
        const mem_operand m = pick_mem(rng, r, 99);
        encoder e;
        e.prefix(sl, 0, m.base, false);
        std::uint64_t mask = OSZAPC;
        if (k < 4) {
            e.b.push_back(k < 2 ? (sl ? 0xff : 0xfe) : (sl ? 0xf7 : 0xf6));
            e.modrm(1, k < 2 ? k : k, m.base);
        } else {
            const unsigned op = static_cast<unsigned>(4 + rng() % 4);  // SHL SHR SAL SAR by 1
            e.b.push_back(sl ? 0xd1 : 0xd0);
            e.modrm(1, op, m.base);
            mask &= ~AF;
        }
        e.b.push_back(m.disp);
        return test_case{e.b, r, mask};
    }});
    f.push_back({"XCHG, CMPXCHG, XADD, MOVZX, MOVSX, SETcc, CMOVcc with memory", [](std::mt19937_64& rng) {
        regs r = random_regs(rng);
        const unsigned reg = gpr(rng), k = rng() % 6;
        mem_operand m = pick_mem(rng, r, reg);
        while (k == 1 && m.base == 0) m = pick_mem(rng, r, reg);  // rAX is CMPXCHG's operand too
        encoder e;
        const unsigned sl = k == 4 ? 0 : 1 + static_cast<unsigned>(rng() % 3);
        e.prefix(sl, reg, m.base, false);
        switch (k) {
        case 0: e.b.push_back(0x87); break;
        case 1: e.b.insert(e.b.end(), {0x0f, 0xb1}); if (rng() % 2) { std::uint64_t v; std::memcpy(&v, r.mem + m.disp, 8); r.r[0] = v; } break;
        case 2: e.b.insert(e.b.end(), {0x0f, 0xc1}); break;
        case 3: e.b.insert(e.b.end(), {0x0f, static_cast<std::uint8_t>(0xb6 + rng() % 2 + (rng() % 2) * 8)}); break;
        case 4: e.b.insert(e.b.end(), {0x0f, static_cast<std::uint8_t>(0x90 + rng() % 16)}); break;
        default: e.b.insert(e.b.end(), {0x0f, static_cast<std::uint8_t>(0x40 + rng() % 16)}); break;
        }
        e.modrm(1, reg, m.base);
        e.b.push_back(m.disp);
        return test_case{e.b, r, OSZAPC};
    }});
    f.push_back({"XLAT, CMPXCHG8B, CMPXCHG16B", [](std::mt19937_64& rng) {
        regs r = random_regs(rng);
        encoder e;
        if (rng() % 3 == 0) {
            r.r[3] = window;
            r.r[0] = (r.r[0] & ~0xffull) | (rng() % window_size);
            e.b.push_back(0xd7);
            return test_case{e.b, r, OSZAPC};
        }
        const bool wide = rng() % 2;
        mem_operand m;
        do m = pick_mem(rng, r, 99);
        while (m.base == 0 || m.base == 1 || m.base == 2 || m.base == 3);  // rAX rCX rDX rBX are operands
        m.disp = static_cast<std::uint8_t>((rng() % 3) * 16);
        if (rng() % 2) {  // make them equal
            std::memcpy(&r.r[0], r.mem + m.disp, 8);
            std::memcpy(&r.r[2], r.mem + m.disp + 8, 8);
            if (!wide) {
                r.r[0] &= 0xffff'ffff;
                std::uint32_t hi;
                std::memcpy(&hi, r.mem + m.disp + 4, 4);
                r.r[2] = (r.r[2] & ~0xffff'ffffull) | hi;
            }
        }
        e.prefix(wide ? 3 : 2, 0, m.base, false);
        e.b.insert(e.b.end(), {0x0f, 0xc7});
        e.modrm(1, 1, m.base);
        e.b.push_back(m.disp);
        return test_case{e.b, r, OSZAPC};
    }});
    f.push_back({"BT, BTS, BTR, BTC (register and immediate offsets)", [](std::mt19937_64& rng) {
        const unsigned sl = 1 + static_cast<unsigned>(rng() % 3), reg = gpr(rng), dst = gpr(rng), k = rng() % 4;
        encoder e;
        e.prefix(sl, reg, dst, false);
        e.b.push_back(0x0f);
        if (rng() % 2) {
            e.b.push_back(static_cast<std::uint8_t>(0xa3 + k * 8));
            e.modrm(3, reg, dst);
        } else {
            e.b.push_back(0xba);
            e.modrm(3, 4 + k, dst);
            e.imm(edge(rng), 1);
        }
        return test_case{e.b, random_regs(rng), CF};
    }});
    f.push_back({"BSF, BSR, POPCNT, LZCNT", [](std::mt19937_64& rng) {
        const unsigned sl = 1 + static_cast<unsigned>(rng() % 3), reg = gpr(rng), src = gpr(rng), k = rng() % 4;
        encoder e;
        if (k >= 2) e.b.push_back(0xf3);
        e.prefix(sl, reg, src, false);
        e.b.push_back(0x0f);
        e.b.push_back(k == 0 ? 0xbc : k == 1 || k == 3 ? 0xbd : 0xb8);
        e.modrm(3, reg, src);
        regs r = random_regs(rng);
        if (rng() % 8 == 0) r.r[src] = 0;
        return test_case{e.b, r, k == 2 ? OSZAPC : k == 3 ? CF | ZF : ZF};
    }});
    f.push_back({"CMPXCHG, XADD", [](std::mt19937_64& rng) {
        const unsigned sl = size_of(rng), reg = gpr(rng), dst = gpr(rng);
        encoder e;
        e.prefix(sl, reg, dst, false);
        e.b.push_back(0x0f);
        e.b.push_back(static_cast<std::uint8_t>((rng() % 2 ? 0xb0 : 0xc0) + (sl ? 1 : 0)));
        e.modrm(3, reg, dst);
        regs r = random_regs(rng);
        if (rng() % 3 == 0) r.r[0] = r.r[dst];  // equal, so CMPXCHG stores
        return test_case{e.b, r, OSZAPC};
    }});
    f.push_back({"SHLD, SHRD (imm8 and CL)", [](std::mt19937_64& rng) {
        const unsigned sl = 2 + static_cast<unsigned>(rng() % 2), reg = gpr(rng), dst = gpr(rng);
        const bool left = rng() % 2, by_cl = rng() % 2;
        encoder e;
        e.prefix(sl, reg, dst, false);
        e.b.push_back(0x0f);
        e.b.push_back(static_cast<std::uint8_t>((left ? 0xa4 : 0xac) + (by_cl ? 1 : 0)));
        e.modrm(3, reg, dst);
        regs r = random_regs(rng);
        unsigned count;
        if (by_cl) count = static_cast<unsigned>(r.r[1] & 0xff);
        else {
            count = static_cast<unsigned>(edge(rng) & 0xff);
            e.imm(count, 1);
        }
        const unsigned masked = count & (sl == 3 ? 63 : 31);
        std::uint64_t mask = OSZAPC;
        if (masked) {
            mask &= ~AF;
            if (masked != 1) mask &= ~OF;
        }
        if (by_cl && (dst == 1 || reg == 1)) mask = 0;  // CL is an operand too: flags only
        return test_case{e.b, r, mask};
    }});

    f.push_back({"PUSH, POP, PUSHF, POPF, ENTER, LEAVE (stack in the window)", [](std::mt19937_64& rng) {
        regs r = random_regs(rng);
        r.r[4] = window + 48 + rng() % 9;  // room for five pushes below, the window's end above
        encoder e;
        const unsigned k = rng() % 7, reg = gpr(rng);
        const bool o16 = rng() % 4 == 0;
        std::uint64_t mask = OSZAPC;
        switch (k) {
        case 0:  // PUSH r, POP r
            if (o16) e.b.push_back(0x66);
            if (reg & 8) e.b.push_back(0x41);
            e.b.push_back(static_cast<std::uint8_t>((rng() % 2 ? 0x50 : 0x58) + (reg & 7)));
            break;
        case 1: {  // PUSH imm8/imm32, then POP r
            if (o16) e.b.push_back(0x66);
            const bool i8 = rng() % 2;
            e.b.push_back(i8 ? 0x6a : 0x68);
            e.imm(edge(rng), i8 ? 1 : o16 ? 2 : 4);
            if (reg & 8) e.b.push_back(0x41);
            e.b.push_back(static_cast<std::uint8_t>(0x58 + (reg & 7)));
            break;
        }
        case 2: {  // PUSH m, POP m
            mem_operand m = pick_mem(rng, r, 99);
            while (m.base == 5) m = pick_mem(rng, r, 99);
            m.disp = static_cast<std::uint8_t>(rng() % 24);
            if (o16) e.b.push_back(0x66);
            if (m.base & 8) e.b.push_back(0x41);
            const bool is_push = rng() % 2;
            e.b.push_back(is_push ? 0xff : 0x8f);
            e.modrm(1, is_push ? 6 : 0, m.base);
            e.b.push_back(m.disp);
            break;
        }
        case 3: {  // PUSHF, POPF of a value with only the arithmetic flags and DF
            const std::uint64_t v = (rng() & (OSZAPC | 0x400)) | 2;
            std::memcpy(r.mem + (r.r[4] - window), &v, 8);
            r.flags |= 0x200;  // IF, which user code always runs with: PUSHF stores it
            if (o16) e.b.push_back(0x66);
            e.b.push_back(rng() % 2 ? 0x9c : 0x9d);
            break;
        }
        case 4:
        case 5: {  // ENTER size, level (frames copied from below rbp)
            r.r[5] = window + 24 + rng() % 33;
            if (o16) e.b.push_back(0x66);
            e.b.push_back(0xc8);
            e.imm(rng() % 16, 2);  // the new stack top stays in the window: the CPU may probe it
            e.b.push_back(static_cast<std::uint8_t>(rng() % 4 + (rng() % 8 == 0 ? 32 : 0)));
            break;
        }
        default:  // LEAVE
            r.r[5] = window + 8 + rng() % 49;
            if (o16) e.b.push_back(0x66);
            e.b.push_back(0xc9);
            break;
        }
        return test_case{e.b, r, mask};
    }});
    f.push_back({"string instructions with REP, REPE, REPNE and DF", [](std::mt19937_64& rng) {
        regs r = random_regs(rng);
        const unsigned kind = rng() % 5, sl = size_of(rng);
        static constexpr std::uint8_t ops[] = {0xa4, 0xaa, 0xac, 0xa6, 0xae};  // MOVS STOS LODS CMPS SCAS
        const bool down = rng() % 2;
        r.flags = (r.flags & ~0x400ull) | (down ? 0x400 : 0);
        const unsigned rep = rng() % 3;  // none, F3, F2
        r.r[1] = rep ? rng() % 5 : r.r[1];
        const std::uint64_t span = (rep ? 4 : 1) << sl;  // at most this far from the start
        auto pos = [&] { return down ? window + 56 - rng() % 8 : window + rng() % (64 - span - 8 + 1); };
        r.r[6] = pos();
        r.r[7] = pos();
        if (kind >= 3 && rng() % 2) std::memcpy(r.mem + 32, r.mem, 32);  // runs of equal elements
        if (kind == 4 && rng() % 2) std::memcpy(&r.r[0], r.mem + (r.r[7] - window), 8);
        encoder e;
        if (rep == 1) e.b.push_back(0xf3);
        if (rep == 2) e.b.push_back(0xf2);
        if (rng() % 4 == 0) e.b.push_back(0x67);  // 32-bit addresses: the window is below 4 GiB
        e.prefix(sl, 0, 0, false);
        e.b.push_back(static_cast<std::uint8_t>(ops[kind] + (sl ? 1 : 0)));
        return test_case{e.b, r, OSZAPC};
    }});
    f.push_back({"MOVBE", [](std::mt19937_64& rng) {
        regs r = random_regs(rng);
        const unsigned sl = 1 + static_cast<unsigned>(rng() % 3), reg = gpr(rng);
        const mem_operand m = pick_mem(rng, r, reg);
        encoder e;
        e.prefix(sl, reg, m.base, false);
        e.b.insert(e.b.end(), {0x0f, 0x38, static_cast<std::uint8_t>(0xf0 + rng() % 2)});
        e.modrm(1, reg, m.base);
        e.b.push_back(m.disp);
        return test_case{e.b, r, OSZAPC};
    }});

    f.push_back({"BMI1, BMI2 (VEX) and TZCNT", [](std::mt19937_64& rng) {
        regs r = random_regs(rng);
        // ANDN, BLSR/BLSMSK/BLSI, BZHI, PEXT, PDEP, MULX, BEXTR, SHLX, SARX, SHRX, RORX, TZCNT
        const unsigned k = rng() % 13, reg = gpr(rng), v = gpr(rng), w = rng() % 2;
        const bool mem = rng() % 4 == 0;
        mem_operand m{};
        unsigned rmr = gpr(rng);
        if (mem) {
            m = pick_mem(rng, r, reg);
            while (m.base == v) m = pick_mem(rng, r, reg);
            rmr = m.base;
        }
        if (k == 6 || k == 9 || k == 10 || k == 11) {  // counts and fields: small ones often
            if (rng() % 2) r.r[v] = (r.r[v] & ~0xffffull) | (rng() % 80) | (rng() % 80) << 8;
        }
        encoder e;
        if (k == 12) {  // TZCNT
            const unsigned sl = 1 + static_cast<unsigned>(rng() % 3);
            e.b.push_back(0xf3);
            e.prefix(sl, reg, rmr, false);
            e.b.insert(e.b.end(), {0x0f, 0xbc});
        } else {
            static constexpr std::uint8_t op[] = {0xf2, 0xf3, 0xf3, 0xf3, 0xf5, 0xf5, 0xf5, 0xf6, 0xf7, 0xf7, 0xf7, 0xf7};
            static constexpr std::uint8_t pp[] = {0, 0, 0, 0, 0, 2, 3, 3, 0, 1, 2, 3};
            const bool rorx = k == 11 && rng() % 3 == 0;
            const unsigned regf = k >= 1 && k <= 3 ? k : reg;  // BLS*: ModRM.reg is the operation, vvvv the destination
            e.b.push_back(0xc4);
            e.b.push_back(static_cast<std::uint8_t>((regf & 8 ? 0 : 0x80) | 0x40 | (rmr & 8 ? 0 : 0x20) | (rorx ? 3 : 2)));
            const unsigned vf = rorx && rng() % 4 ? 0 : v;  // RORX has no vvvv operand: 1111b, or #UD
            e.b.push_back(static_cast<std::uint8_t>(w << 7 | (~vf & 15) << 3 | (rorx ? 3 : pp[k])));
            e.b.push_back(rorx ? 0xf0 : op[k]);
            if (mem) {
                e.modrm(1, regf, m.base);
                e.b.push_back(m.disp);
            } else {
                e.modrm(3, regf, rmr);
            }
            if (rorx) e.b.push_back(static_cast<std::uint8_t>(rng()));
            const std::uint64_t flags = k == 0 ? (OSZAPC & ~AF & ~PF) : k <= 3 || k == 4 ? (CF | ZF | SF | OF) : k == 8 ? (CF | ZF | OF) : 0;
            return test_case{e.b, r, flags};
        }
        if (mem) {
            e.modrm(1, reg, m.base);
            e.b.push_back(m.disp);
        } else {
            e.modrm(3, reg, rmr);
        }
        if (!mem && rng() % 8 == 0) r.r[rmr] = 0;
        return test_case{e.b, r, CF | ZF};
    }});
    f.push_back({"LOCK forms (and LOCK where it is #UD)", [](std::mt19937_64& rng) {
        regs r = random_regs(rng);
        const unsigned reg = gpr(rng), sl = 1 + static_cast<unsigned>(rng() % 3), k = rng() % 8;
        mem_operand m = pick_mem(rng, r, reg);
        while (m.base == 0) m = pick_mem(rng, r, reg);  // rAX is CMPXCHG's operand
        m.disp = static_cast<std::uint8_t>(rng() % 48);
        const bool reg_form = rng() % 10 == 0;  // LOCK with a register operand: #UD
        encoder e;
        e.b.push_back(0xf0);
        e.prefix(sl, reg, m.base, false);
        unsigned modreg = reg;
        switch (k) {
        case 0: e.b.push_back(static_cast<std::uint8_t>((rng() % 7) * 8 + 1)); break;  // ADD OR ADC SBB AND SUB XOR m, r
        case 1: e.b.insert(e.b.end(), {0x0f, 0xc1}); break;                         // XADD
        case 2: e.b.insert(e.b.end(), {0x0f, 0xb1}); break;                         // CMPXCHG
        case 3: e.b.push_back(0x87); break;                                         // XCHG
        case 4: e.b.push_back(0xff); modreg = rng() % 2; break;                     // INC DEC
        case 5: e.b.push_back(0xf7); modreg = 2 + rng() % 2; break;                 // NOT NEG
        case 6: e.b.insert(e.b.end(), {0x0f, static_cast<std::uint8_t>(0xab + (rng() % 3) * 8)}); break;  // BTS BTR BTC m, r
        default: e.b.push_back(0x39); break;                                        // CMP: never lockable, #UD
        }
        if (k == 6) r.r[reg] &= 0x7f;  // bit offsets inside the window
        if (reg_form) e.modrm(3, modreg, m.base);
        else {
            e.modrm(1, modreg, m.base);
            e.b.push_back(m.disp);
        }
        return test_case{e.b, r, OSZAPC & ~(k == 0 ? AF : 0)};
    }});
    f.push_back({"near CALL and RET (imm16), indirect CALL and JMP, LOOP/LOOPE/LOOPNE, JrCXZ", [](std::mt19937_64& rng) {
        regs r = random_regs(rng);
        r.r[4] = window + 48 + (rng() % 2) * 8;
        encoder e;
        const unsigned k = rng() % 4;
        if (k == 0) {  // CALL L; clear the return slot; JMP end; L: RET [imm16]
            const unsigned imm = rng() % 2 ? 0 : (rng() % 3) * 8;
            const std::uint32_t slot = static_cast<std::uint32_t>(-8 - static_cast<int>(imm));
            e.b.insert(e.b.end(), {0xe8, 11, 0, 0, 0});                       // call L (over the next 11 bytes)
            e.b.insert(e.b.end(), {0x48, 0xc7, 0x84, 0x24});                  // mov qword [rsp + slot], 0
            e.imm(slot, 4);
            e.b.push_back(0x00);
            e.b.insert(e.b.end(), {0x00, 0x00, 0x00});
            // The MOV above is 12 bytes: fix the call to skip it and the JMP.
            e.b[1] = 12 + 2;
            e.b.insert(e.b.end(), {0xeb, static_cast<std::uint8_t>(imm ? 3 : 1)});  // jmp end
            if (imm) e.b.insert(e.b.end(), {0xc2, static_cast<std::uint8_t>(imm), 0});
            else e.b.push_back(0xc3);
            return test_case{e.b, r, OSZAPC};
        }
        if (k == 1) {  // CALL/JMP through a register holding a target: LEA rax, [rip + L]
            const bool call = rng() % 2;
            e.b.insert(e.b.end(), {0x48, 0x8d, 0x05, call ? std::uint8_t{13} : std::uint8_t{4}, 0, 0, 0});  // lea rax, [rip + L]
            if (call) {
                e.b.insert(e.b.end(), {0xff, 0xd0});                          // call rax
                e.b.insert(e.b.end(), {0x48, 0xc7, 0x44, 0x24, 0xf8, 0, 0, 0, 0});  // mov qword [rsp - 8], 0
                e.b.insert(e.b.end(), {0xeb, 0x03});                          // jmp end
                e.b.insert(e.b.end(), {0xb1, 0x07});                          // L: mov cl, 7
                e.b.push_back(0xc3);                                          // ret
            } else {
                e.b.insert(e.b.end(), {0xff, 0xe0});                          // jmp rax
                e.b.insert(e.b.end(), {0xb1, 0x05});                          // mov cl, 5 (skipped)
                e.b.insert(e.b.end(), {0xb2, 0x09});                          // L: mov dl, 9
            }
            e.b.insert(e.b.end(), {0x31, 0xc0});                              // end: xor eax, eax
            return test_case{e.b, r, 0};
        }
        // LOOP/LOOPE/LOOPNE/JrCXZ over a MOV, with rCX small, after a CMP.
        r.r[1] = rng() % 3 ? rng() % 3 : edge(rng);
        const bool a32 = rng() % 3 == 0;
        e.b.insert(e.b.end(), {0x48, 0x39, 0xda});  // cmp rdx, rbx
        if (rng() % 2) r.r[2] = r.r[3];
        if (a32) e.b.push_back(0x67);
        e.b.push_back(static_cast<std::uint8_t>(0xe0 + rng() % 4));  // LOOPNE LOOPE LOOP JrCXZ
        e.b.push_back(2);
        e.b.insert(e.b.end(), {0xb0, 0x01});  // mov al, 1
        return test_case{e.b, r, OSZAPC};
    }});
    // ---- SSE ----------------------------------------------------------------
    f.push_back({"SSE/SSE2 moves (reg and memory, aligned and not)", [](std::mt19937_64& rng) {
        regs r = sse_regs(rng);
        static const sse_op ops[] = {
            {0x00, 0x10}, {0x66, 0x10}, {0xf3, 0x10}, {0xf2, 0x10}, {0x00, 0x11}, {0x66, 0x11}, {0xf3, 0x11},
            {0xf2, 0x11}, {0x00, 0x12}, {0x66, 0x12, true}, {0x00, 0x13, true}, {0x66, 0x13, true}, {0x00, 0x16},
            {0x66, 0x16, true}, {0x00, 0x17, true}, {0x66, 0x17, true}, {0x00, 0x28}, {0x66, 0x28}, {0x00, 0x29},
            {0x66, 0x29}, {0x00, 0x2b, true}, {0x66, 0x2b, true}, {0x66, 0x6f}, {0xf3, 0x6f}, {0x66, 0x7f},
            {0xf3, 0x7f}, {0xf3, 0x7e}, {0x66, 0xd6}, {0x66, 0xe7, true}, {0xf2, 0xf0, true}};
        const sse_op& o = ops[rng() % std::size(ops)];
        return sse_case(rng, r, o, false);
    }});
    f.push_back({"SSE2 integer arithmetic, compares, packs, unpacks, shifts", [](std::mt19937_64& rng) {
        regs r = sse_regs(rng);
        static const std::uint8_t ops[] = {0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b,
                                           0x6c, 0x6d, 0x74, 0x75, 0x76, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd8, 0xd9,
                                           0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5,
                                           0xe8, 0xe9, 0xea, 0xeb, 0xec, 0xed, 0xee, 0xef, 0xf1, 0xf2, 0xf3, 0xf4,
                                           0xf5, 0xf6, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0x14, 0x15};
        const std::uint8_t op = ops[rng() % std::size(ops)];
        // Shift counts from a register: small ones often.
        if ((op & 0x0f) >= 1 && (op & 0x0f) <= 3 && op >= 0xd0 && rng() % 2)
            for (auto& x : r.xmm) { std::memset(x, 0, 16); x[0] = static_cast<std::uint8_t>(rng() % 70); }
        return sse_case(rng, r, {0x66, op}, false);
    }});
    f.push_back({"SSE2 shuffles and shifts by an immediate, SSE logic", [](std::mt19937_64& rng) {
        regs r = sse_regs(rng);
        const unsigned k = rng() % 6;
        if (k == 0) {  // PSHUFD PSHUFHW PSHUFLW
            static constexpr std::uint8_t p[] = {0x66, 0xf3, 0xf2};
            return sse_case(rng, r, {p[rng() % 3], 0x70, false, true}, false);
        }
        if (k == 1) return sse_case(rng, r, {static_cast<std::uint8_t>(rng() % 2 ? 0x00 : 0x66), 0xc6, false, true}, false);
        if (k == 2) {  // 71-73 groups: register operand only
            static constexpr std::uint8_t g[][2] = {{0x71, 2}, {0x71, 4}, {0x71, 6}, {0x72, 2}, {0x72, 4}, {0x72, 6},
                                                    {0x73, 2}, {0x73, 3}, {0x73, 6}, {0x73, 7}};
            const auto& e = g[rng() % std::size(g)];
            const unsigned x = rng() % 16;
            encoder en;
            en.b.push_back(0x66);
            if (x & 8) en.b.push_back(0x41);
            en.b.insert(en.b.end(), {0x0f, e[0]});
            en.modrm(3, e[1], x);
            en.b.push_back(static_cast<std::uint8_t>(rng() % 3 ? rng() % 20 : rng()));
            return test_case{en.b, r, OSZAPC};
        }
        const std::uint8_t op = static_cast<std::uint8_t>(0x54 + rng() % 4);  // AND ANDN OR XOR PS/PD
        return sse_case(rng, r, {static_cast<std::uint8_t>(rng() % 2 ? 0x00 : 0x66), op}, false);
    }});
    f.push_back({"SSE/SSE2 floating point with MXCSR (rounding, DAZ, FTZ, #XM)", [](std::mt19937_64& rng) {
        regs r = sse_regs(rng);
        r.mxcsr = random_mxcsr(rng);
        static constexpr std::uint8_t ops[] = {0x51, 0x58, 0x59, 0x5c, 0x5d, 0x5e, 0x5f, 0xc2, 0x52, 0x53};
        static constexpr std::uint8_t pfx[] = {0x00, 0x66, 0xf3, 0xf2};
        const std::uint8_t op = ops[rng() % std::size(ops)];
        std::uint8_t p = pfx[rng() % 4];
        if (op == 0x52 || op == 0x53) p = rng() % 2 ? 0x00 : 0xf3;
        return sse_case(rng, r, {p, op, false, op == 0xc2}, p == 0xf3 || p == 0xf2);
    }});
    f.push_back({"SSE/SSE2 conversions and (U)COMISS/SD", [](std::mt19937_64& rng) {
        regs r = sse_regs(rng);
        r.mxcsr = random_mxcsr(rng);
        const unsigned k = rng() % 4;
        if (k == 0) {  // packed and scalar conversions between formats
            static constexpr std::uint8_t e[][2] = {{0x00, 0x5a}, {0x66, 0x5a}, {0xf3, 0x5a}, {0xf2, 0x5a}, {0x00, 0x5b},
                                                    {0x66, 0x5b}, {0xf3, 0x5b}, {0x66, 0xe6}, {0xf3, 0xe6}, {0xf2, 0xe6}};
            const auto& x = e[rng() % std::size(e)];
            return sse_case(rng, r, {x[0], x[1]}, x[0] == 0xf3 || x[0] == 0xf2 || (x[0] == 0 && x[1] == 0x5a) || (x[0] == 0xf3 && x[1] == 0xe6));
        }
        if (k == 1) {  // (U)COMISS (U)COMISD: flags
            test_case t = sse_case(rng, r, {static_cast<std::uint8_t>(rng() % 2 ? 0x00 : 0x66), static_cast<std::uint8_t>(0x2e + rng() % 2)}, true);
            return t;
        }
        // CVTSI2SS/SD from a register or memory; CVT(T)SS2SI/SD2SI to a register.
        const bool w = rng() % 2, dbl = rng() % 2;
        const unsigned xr = rng() % 16, gr = gpr(rng);
        encoder en;
        en.b.push_back(dbl ? 0xf2 : 0xf3);
        const bool to_int = k == 3;
        const unsigned reg = to_int ? gr : xr, rmr = to_int ? xr : gr;
        const std::uint8_t rex = static_cast<std::uint8_t>((w ? 8 : 0) | (reg & 8 ? 4 : 0) | (rmr & 8 ? 1 : 0));
        if (rex) en.b.push_back(0x40 | rex);
        en.b.insert(en.b.end(), {0x0f, static_cast<std::uint8_t>(to_int ? 0x2c + rng() % 2 : 0x2a)});
        en.modrm(3, reg, rmr);
        return test_case{en.b, r, OSZAPC};
    }});
    f.push_back({"MOVD/MOVQ, MOVMSKPS/PD, PMOVMSKB, PINSRW, PEXTRW", [](std::mt19937_64& rng) {
        regs r = sse_regs(rng);
        const unsigned k = rng() % 5, xr = rng() % 16, gr = gpr(rng);
        encoder en;
        const bool w = rng() % 2;
        switch (k) {
        case 0: case 1: {  // 66 (REX.W) 0F 6E / 7E
            en.b.push_back(0x66);
            const std::uint8_t rex = static_cast<std::uint8_t>((w ? 8 : 0) | (xr & 8 ? 4 : 0) | (gr & 8 ? 1 : 0));
            if (rex) en.b.push_back(0x40 | rex);
            en.b.insert(en.b.end(), {0x0f, static_cast<std::uint8_t>(k == 0 ? 0x6e : 0x7e)});
            en.modrm(3, xr, gr);
            break;
        }
        case 2: {  // MOVMSKPS/PD, PMOVMSKB: general register <- xmm
            const unsigned v = rng() % 3;
            if (v) en.b.push_back(0x66);
            const std::uint8_t rex = static_cast<std::uint8_t>((gr & 8 ? 4 : 0) | (xr & 8 ? 1 : 0));
            if (rex) en.b.push_back(0x40 | rex);
            en.b.insert(en.b.end(), {0x0f, static_cast<std::uint8_t>(v == 2 ? 0xd7 : 0x50)});
            en.modrm(3, gr, xr);
            break;
        }
        case 3: {  // PINSRW xmm, r32, imm
            en.b.push_back(0x66);
            const std::uint8_t rex = static_cast<std::uint8_t>((xr & 8 ? 4 : 0) | (gr & 8 ? 1 : 0));
            if (rex) en.b.push_back(0x40 | rex);
            en.b.insert(en.b.end(), {0x0f, 0xc4});
            en.modrm(3, xr, gr);
            en.b.push_back(static_cast<std::uint8_t>(rng()));
            break;
        }
        default: {  // PEXTRW r32, xmm, imm
            en.b.push_back(0x66);
            const std::uint8_t rex = static_cast<std::uint8_t>((gr & 8 ? 4 : 0) | (xr & 8 ? 1 : 0));
            if (rex) en.b.push_back(0x40 | rex);
            en.b.insert(en.b.end(), {0x0f, 0xc5});
            en.modrm(3, gr, xr);
            en.b.push_back(static_cast<std::uint8_t>(rng()));
            break;
        }
        }
        return test_case{en.b, r, OSZAPC};
    }});
    f.push_back({"SSE3: ADDSUB, HADD, HSUB, MOVDDUP, MOVSLDUP, MOVSHDUP", [](std::mt19937_64& rng) {
        regs r = sse_regs(rng);
        r.mxcsr = random_mxcsr(rng);
        static constexpr std::uint8_t e[][2] = {{0x66, 0xd0}, {0xf2, 0xd0}, {0x66, 0x7c}, {0xf2, 0x7c}, {0x66, 0x7d},
                                                {0xf2, 0x7d}, {0xf2, 0x12}, {0xf3, 0x12}, {0xf3, 0x16}};
        const auto& x = e[rng() % std::size(e)];
        return sse_case(rng, r, {x[0], x[1]}, x[0] == 0xf2 && x[1] == 0x12);
    }});

    // ---- x87 ----------------------------------------------------------------------
    f.push_back({"x87 register forms: arithmetic, compares, FCOMI, FCMOVcc, FXCH, constants, transcendentals", [](std::mt19937_64& rng) {
        regs r = x87_regs(rng);
        static const std::vector<std::pair<std::uint8_t, std::uint8_t>> ops = [] {
            std::vector<std::pair<std::uint8_t, std::uint8_t>> v;
            for (unsigned m = 0xc0; m < 0x100; ++m) v.emplace_back(0xd8, m);  // FADD..FDIVR ST0, STi; FCOM, FCOMP
            for (unsigned m = 0xc0; m < 0xd0; ++m) v.emplace_back(0xdc, m);   // FADD FMUL STi, ST0
            for (unsigned m = 0xe0; m < 0x100; ++m) v.emplace_back(0xdc, m);  // FSUBR FSUB FDIVR FDIV STi, ST0
            for (unsigned m = 0xc0; m < 0xd0; ++m) v.emplace_back(0xde, m);   // FADDP FMULP
            for (unsigned m = 0xe0; m < 0x100; ++m) v.emplace_back(0xde, m);  // FSUBRP FSUBP FDIVRP FDIVP
            v.emplace_back(0xde, 0xd9);                                       // FCOMPP
            for (unsigned m = 0xc0; m < 0xd0; ++m) v.emplace_back(0xd9, m);   // FLD STi, FXCH
            for (unsigned m : {0xd0, 0xe0, 0xe1, 0xe4, 0xe5, 0xe8, 0xe9, 0xea, 0xeb, 0xec, 0xed, 0xee, 0xf0, 0xf1, 0xf2,
                               0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff})
                v.emplace_back(0xd9, m);
            for (unsigned m = 0xc0; m < 0xc8; ++m) v.emplace_back(0xdd, m);   // FFREE
            for (unsigned m = 0xd0; m < 0xf0; ++m) v.emplace_back(0xdd, m);   // FST FSTP STi, FUCOM FUCOMP
            v.emplace_back(0xda, 0xe9);                                       // FUCOMPP
            for (unsigned m = 0xc0; m < 0xe0; ++m) {                          // FCMOVcc
                v.emplace_back(0xda, m);
                v.emplace_back(0xdb, m);
            }
            for (unsigned m = 0xe8; m < 0xf8; ++m) {                          // FUCOMI FCOMI (P)
                v.emplace_back(0xdb, m);
                v.emplace_back(0xdf, m);
            }
            v.emplace_back(0xdb, 0xe2);  // FNCLEX
            v.emplace_back(0xdb, 0xe3);  // FNINIT
            v.emplace_back(0xdf, 0xe0);  // FNSTSW AX
            return v;
        }();
        const auto& o = ops[rng() % ops.size()];
        test_case t{{o.first, o.second}, r, OSZAPC};
        t.x87 = true;
        return t;
    }});
    f.push_back({"x87 memory forms: FLD FST FSTP FILD FIST FISTP FISTTP FBLD FBSTP, m32/m64/m80/int arithmetic, FLDCW FNSTCW FNSTSW", [](std::mt19937_64& rng) {
        regs r = x87_regs(rng);
        static constexpr std::uint8_t forms[][2] = {
            {0xd8, 0}, {0xd8, 1}, {0xd8, 2}, {0xd8, 3}, {0xd8, 4}, {0xd8, 5}, {0xd8, 6}, {0xd8, 7}, {0xdc, 0}, {0xdc, 1},
            {0xdc, 2}, {0xdc, 3}, {0xdc, 4}, {0xdc, 5}, {0xdc, 6}, {0xdc, 7}, {0xda, 0}, {0xda, 1}, {0xda, 2}, {0xda, 3},
            {0xda, 4}, {0xda, 5}, {0xda, 6}, {0xda, 7}, {0xde, 0}, {0xde, 1}, {0xde, 2}, {0xde, 3}, {0xde, 4}, {0xde, 5},
            {0xde, 6}, {0xde, 7}, {0xd9, 0}, {0xd9, 2}, {0xd9, 3}, {0xd9, 5}, {0xd9, 7}, {0xdd, 0}, {0xdd, 1}, {0xdd, 2},
            {0xdd, 3}, {0xdd, 7}, {0xdb, 0}, {0xdb, 1}, {0xdb, 2}, {0xdb, 3}, {0xdb, 5}, {0xdb, 7}, {0xdf, 0}, {0xdf, 1},
            {0xdf, 2}, {0xdf, 3}, {0xdf, 4}, {0xdf, 5}, {0xdf, 6}, {0xdf, 7}};
        const auto& fm = forms[rng() % std::size(forms)];
        mem_operand m = pick_mem(rng, r, 99);
        m.disp = static_cast<std::uint8_t>(rng() % 54);
        if (fm[0] == 0xd9 && fm[1] == 5) {  // FLDCW: a sensible control word, sometimes unmasking
            const std::uint16_t cw = static_cast<std::uint16_t>((0x37f & ~(rng() % 4 == 0 ? rng() & 0x3f : 0)) | (rng() % 4) << 10);
            std::memcpy(r.mem + m.disp, &cw, 2);
        }
        encoder e;
        if (m.base & 8) e.b.push_back(0x41);
        e.b.push_back(fm[0]);
        e.modrm(1, fm[1], m.base);
        e.b.push_back(m.disp);
        test_case t{e.b, r, OSZAPC};
        t.x87 = true;
        return t;
    }});

    f.push_back({"SSSE3, SSE4.1, SSE4.2 (0F38, 0F3A, CRC32, PCMPxSTRx)", [](std::mt19937_64& rng) {
        regs r = sse_regs(rng);
        r.mxcsr = random_mxcsr(rng);
        const unsigned k = rng() % 6;
        encoder e;
        if (k <= 2) {  // 66 0F38 xx
            static constexpr std::uint8_t ops[] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
                                                   0x10, 0x14, 0x15, 0x17, 0x1c, 0x1d, 0x1e, 0x20, 0x21, 0x22, 0x23, 0x24,
                                                   0x25, 0x28, 0x29, 0x2a, 0x2b, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x37,
                                                   0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f, 0x40, 0x41};
            const std::uint8_t op = ops[rng() % std::size(ops)];
            const bool small = (op >= 0x20 && op <= 0x25) || (op >= 0x30 && op <= 0x35);
            return sse_case(rng, r, {0x66, op, op == 0x2a, false, 0x38}, small);  // MOVNTDQA: memory only
        }
        if (k <= 4) {  // 66 0F3A xx ib
            static constexpr std::uint8_t ops[] = {0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x21, 0x40,
                                                   0x41, 0x42, 0x60, 0x61, 0x62, 0x63};
            const std::uint8_t op = ops[rng() % std::size(ops)];
            if (op >= 0x60) {  // explicit lengths, small mostly
                r.r[0] = rng() % 4 ? rng() % 20 : edge(rng);
                r.r[2] = rng() % 4 ? rng() % 20 : edge(rng);
            }
            test_case t = sse_case(rng, r, {0x66, op, false, true, 0x3a}, op == 0x0a || op == 0x0b || op == 0x21 || op >= 0x60);
            if (op == 0x40 || op == 0x41) t.nan_lane_bytes = op == 0x40 ? 4 : 8;
            if (op >= 0x60 && rng() % 2) {  // REX.W: 64-bit lengths (the REX, if any, follows the 66)
                if ((t.code[1] & 0xf0) == 0x40) t.code[1] |= 8;
                else t.code.insert(t.code.begin() + 1, 0x48);
            }
            return t;
        }
        // PEXTRx/EXTRACTPS, PINSRB/D/Q with general registers, CRC32.
        const unsigned x = rng() % 16, g = gpr(rng), which = rng() % 7;
        const bool w = rng() % 2;
        if (which == 6) {  // CRC32 r, r/m8 or r/m16/32/64
            const unsigned sl = size_of(rng), src = gpr(rng);
            e.b.push_back(0xf2);
            e.prefix(sl, g, src, false);
            e.b.insert(e.b.end(), {0x0f, 0x38, static_cast<std::uint8_t>(sl ? 0xf1 : 0xf0)});
            e.modrm(3, g, src);
            return test_case{e.b, r, OSZAPC};
        }
        static constexpr std::uint8_t ops[] = {0x14, 0x15, 0x16, 0x17, 0x20, 0x22};
        const std::uint8_t op = ops[which];
        e.b.push_back(0x66);
        const std::uint8_t rex = static_cast<std::uint8_t>((w ? 8 : 0) | (x & 8 ? 4 : 0) | (g & 8 ? 1 : 0));
        if (rex) e.b.push_back(0x40 | rex);
        e.b.insert(e.b.end(), {0x0f, 0x3a, op});
        e.modrm(3, x, g);
        e.b.push_back(static_cast<std::uint8_t>(rng()));
        return test_case{e.b, r, OSZAPC};
    }});

    f.push_back({"MMX (and SSE's, SSE2's MMX forms), EMMS", [](std::mt19937_64& rng) {
        regs r = x87_regs(rng);
        std::uint16_t fsw, fcw;
        std::memcpy(&fsw, r.fx + 2, 2);
        std::memcpy(&fcw, r.fx, 2);
        fsw &= 0x477f;  // TOP 0 (the stack order is the registers'); ES and B as the flags and masks say
        if (fsw & ~fcw & 0x3f) fsw |= 0x8080;
        std::memcpy(r.fx + 2, &fsw, 2);
        for (unsigned i = 0; i < 8; ++i) {
            const std::uint64_t v = rng() % 3 ? rng() : edge(rng);
            std::memcpy(r.fx + 32 + 16 * i, &v, 8);
        }
        static constexpr std::uint8_t ops[] = {0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b,
                                               0x6e, 0x6f, 0x74, 0x75, 0x76, 0x7e, 0x7f, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5,
                                               0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xe1, 0xe2, 0xe3,
                                               0xe4, 0xe5, 0xe8, 0xe9, 0xea, 0xeb, 0xec, 0xed, 0xee, 0xef, 0xf1, 0xf2,
                                               0xf3, 0xf4, 0xf5, 0xf6, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0x77,
                                               0x70, 0x71, 0x72, 0x73, 0xc4, 0xc5, 0xd7};
        const std::uint8_t op = ops[rng() % std::size(ops)];
        const unsigned reg = rng() % 8;
        encoder e;
        const bool gpr_form = op == 0x6e || op == 0x7e || op == 0xc4 || op == 0xc5 || op == 0xd7;
        const bool reg_only = op == 0x71 || op == 0x72 || op == 0x73 || op == 0xc5 || op == 0xd7;
        const bool mem = !reg_only && rng() % 3 == 0;
        if (op == 0x77) {
            e.b.insert(e.b.end(), {0x0f, 0x77});
        } else if (mem) {
            const mem_operand m = pick_mem(rng, r, 99);
            std::uint8_t rex = static_cast<std::uint8_t>(m.base & 8 ? 1 : 0);
            if ((op == 0x6e || op == 0x7e) && rng() % 2) rex |= 8;
            if (rex) e.b.push_back(0x40 | rex);
            e.b.insert(e.b.end(), {0x0f, op});
            e.modrm(1, reg, m.base);
            e.b.push_back(static_cast<std::uint8_t>(rng() % 56));
        } else {
            unsigned rmr = rng() % 8, regf = reg;
            if (op == 0x71 || op == 0x72 || op == 0x73) {
                static constexpr unsigned sub[3][3] = {{2, 4, 6}, {2, 4, 6}, {2, 6, 2}};
                regf = sub[op - 0x71][rng() % 3];
            }
            std::uint8_t rex = 0;
            if (gpr_form) {
                const unsigned g = gpr(rng);
                if (op == 0xc5 || op == 0xd7) { regf = g; rex |= g & 8 ? 4 : 0; }
                else { rmr = g; rex |= g & 8 ? 1 : 0; }
                if ((op == 0x6e || op == 0x7e) && rng() % 2) rex |= 8;
            }
            if (rex) e.b.push_back(0x40 | rex);
            e.b.insert(e.b.end(), {0x0f, op});
            e.modrm(3, regf, rmr);
        }
        if (op == 0x70 || op == 0x71 || op == 0x72 || op == 0x73 || op == 0xc4 || op == 0xc5)
            e.b.push_back(static_cast<std::uint8_t>(op >= 0x71 && op <= 0x73 && rng() % 2 ? rng() % 70 : rng()));
        test_case t{e.b, r, OSZAPC};
        t.x87 = true;
        return t;
    }});

    f.push_back({"SSE with MMX operands: CVTPI2PS/PD, CVT(T)PS2PI, CVT(T)PD2PI, MOVQ2DQ, MOVDQ2Q, MASKMOVQ", [](std::mt19937_64& rng) {
        regs r = x87_regs(rng);
        std::uint16_t fsw, fcw;
        std::memcpy(&fsw, r.fx + 2, 2);
        std::memcpy(&fcw, r.fx, 2);
        fsw &= 0x477f;  // TOP 0; ES and B as the flags and masks say
        if (fsw & ~fcw & 0x3f) fsw |= 0x8080;
        std::memcpy(r.fx + 2, &fsw, 2);
        for (unsigned i = 0; i < 8; ++i) {
            const std::uint64_t v = rng() % 2 ? (rng() & 0x0000ffff0000ffffull) * (rng() % 2 ? 1 : 0x3fff) : rng();
            std::memcpy(r.fx + 32 + 16 * i, &v, 8);
        }
        for (auto& x : r.xmm) fill_xmm(rng, x);
        for (std::size_t at = 0; at < window_size; at += 16) fill_xmm(rng, r.mem + at);
        r.mxcsr = random_mxcsr(rng);
        const unsigned k = rng() % 9;
        static constexpr std::uint8_t pfx[] = {0x00, 0x00, 0x00, 0x66, 0x66, 0x66, 0xf3, 0xf2, 0x00};
        static constexpr std::uint8_t op[] = {0x2a, 0x2c, 0x2d, 0x2a, 0x2c, 0x2d, 0xd6, 0xd6, 0xf7};
        encoder e;
        if (pfx[k]) e.b.push_back(pfx[k]);
        const unsigned reg = rng() % 8, rmr = rng() % 8;
        const bool mem = k < 6 && rng() % 3 == 0;
        if (k == 8) {  // MASKMOVQ: to DS:rDI, in the window
            r.r[7] = window + rng() % 56;
        }
        if (mem) {
            mem_operand m = pick_mem(rng, r, 7);
            m.disp = static_cast<std::uint8_t>(k >= 4 ? (rng() % 4) * 16 : rng() % 56);  // CVT(T)PD2PI: aligned m128
            if (m.base & 8) e.b.push_back(0x41);
            e.b.insert(e.b.end(), {0x0f, op[k]});
            e.modrm(1, reg, m.base);
            e.b.push_back(m.disp);
        } else {
            e.b.insert(e.b.end(), {0x0f, op[k]});
            e.modrm(3, reg, rmr);
        }
        test_case t{e.b, r, OSZAPC};
        t.x87 = true;
        return t;
    }});
    return f;
}

// An XMM register as two quadwords, high first.
std::string hex16(const std::uint8_t* x) {
    std::uint64_t q[2];
    std::memcpy(q, x, 16);
    char b[40];
    std::snprintf(b, sizeof b, "%016llx:%016llx", static_cast<unsigned long long>(q[1]), static_cast<unsigned long long>(q[0]));
    return b;
}

std::string hex(const std::vector<std::uint8_t>& b) {
    std::string s;
    char x[4];
    for (auto v : b) {
        std::snprintf(x, sizeof x, "%02x", v);
        s += x;
    }
    return s;
}

} // namespace

TEST_CASE("the translator agrees with the host CPU on every instruction family") {
    emulator emu;
    unsigned total = 0;
    // QF_DIFF_CASES=N runs N cases a family instead of 2000 (for deeper runs by hand).
    const char* n = std::getenv("QF_DIFF_CASES");
    const int case_count = n ? std::max(1, std::atoi(n)) : 2000;
    for (const family& fam : families()) {
        std::mt19937_64 rng(std::hash<std::string>{}(fam.name));
        std::vector<test_case> cases;
        for (int i = 0; i < case_count; ++i) cases.push_back(fam.make(rng));
        const std::vector<regs> native = run_native(cases);
        unsigned bad = 0, faults = 0;
        std::string first;
        for (std::size_t i = 0; i < cases.size(); ++i) {
            if (std::getenv("QF_DIFF_TRACE")) std::fprintf(stderr, "case %s\n", hex(cases[i].code).c_str());
            const regs got = emu.run(cases[i]);
            const regs& want = native[i];
            bool same = (got.fault != 0) == (want.fault != 0);
            if (want.fault) {
                ++faults;
                // #DE, #MF and #XM are SIGFPE, #GP is SIGSEGV, #UD SIGILL.
                same = same && ((want.fault == SIGFPE && (got.fault == 1 + 0 || got.fault == 1 + 16 || got.fault == 1 + 19)) ||
                                (want.fault == SIGILL && got.fault == 1 + 6) ||
                                (want.fault == SIGSEGV && got.fault == 1 + 13));
            } else if (same) {
                for (int r = 0; r < 16; ++r) same = same && ((r == 4 && !cases[i].in.r[4]) || got.r[r] == want.r[r]);
                same = same && ((got.flags ^ want.flags) & cases[i].flag_mask) == 0;
                same = same && std::memcmp(got.mem, want.mem, window_size) == 0;
                same = same && same_xmm(got.xmm, want.xmm, cases[i].nan_lane_bytes) && got.mxcsr == want.mxcsr;
                same = same && (!cases[i].x87 || same_x87(got.fx, want.fx));
            }
            if (!same) {
                if (++bad <= 3) {
                    char line[512];
                    std::snprintf(line, sizeof line, "  %s: in flags %03llx -> host %03llx fault %d, qforge %03llx fault %d\n",
                                  hex(cases[i].code).c_str(), static_cast<unsigned long long>(cases[i].in.flags),
                                  static_cast<unsigned long long>(want.flags & 0xfff), want.fault,
                                  static_cast<unsigned long long>(got.flags & 0xfff), got.fault);
                    first += line;
                    for (int r = 0; r < 16; ++r)
                        if ((r != 4 || cases[i].in.r[4]) && got.r[r] != want.r[r]) {
                            std::snprintf(line, sizeof line, "    r%d: in %016llx host %016llx qforge %016llx\n", r,
                                          static_cast<unsigned long long>(cases[i].in.r[r]),
                                          static_cast<unsigned long long>(want.r[r]), static_cast<unsigned long long>(got.r[r]));
                            first += line;
                        }
                    for (int x = 0; x < 16; ++x)
                        if (std::memcmp(got.xmm[x], want.xmm[x], 16) != 0) {
                            std::snprintf(line, sizeof line, "    xmm%d: in %s host %s qforge %s\n", x,
                                          hex16(cases[i].in.xmm[x]).c_str(), hex16(want.xmm[x]).c_str(),
                                          hex16(got.xmm[x]).c_str());
                            first += line;
                        }
                    if (cases[i].x87 && !same_x87(got.fx, want.fx)) {
                        std::uint16_t w[3], g[3];
                        std::memcpy(w, want.fx, 6);
                        std::memcpy(g, got.fx, 6);
                        std::snprintf(line, sizeof line, "    x87 fcw/fsw/ftw in %04x %04x %02x host %04x %04x %02x qforge %04x %04x %02x\n",
                                      cases[i].in.fx[0] | cases[i].in.fx[1] << 8, cases[i].in.fx[2] | cases[i].in.fx[3] << 8,
                                      cases[i].in.fx[4], w[0], w[1], w[2] & 0xff, g[0], g[1], g[2] & 0xff);
                        first += line;
                        for (unsigned k = 0; k < 8; ++k)
                            if (std::memcmp(got.fx + 32 + 16 * k, want.fx + 32 + 16 * k, 10) != 0) {
                                std::uint64_t wm, gm, im;
                                std::uint16_t we, ge, ie;
                                std::memcpy(&wm, want.fx + 32 + 16 * k, 8);
                                std::memcpy(&we, want.fx + 40 + 16 * k, 2);
                                std::memcpy(&gm, got.fx + 32 + 16 * k, 8);
                                std::memcpy(&ge, got.fx + 40 + 16 * k, 2);
                                std::memcpy(&im, cases[i].in.fx + 32 + 16 * k, 8);
                                std::memcpy(&ie, cases[i].in.fx + 40 + 16 * k, 2);
                                std::snprintf(line, sizeof line, "    st%u: in %04x:%016llx host %04x:%016llx qforge %04x:%016llx\n", k,
                                              ie, static_cast<unsigned long long>(im), we,
                                              static_cast<unsigned long long>(wm), ge, static_cast<unsigned long long>(gm));
                                first += line;
                            }
                    }
                    if (std::memcmp(got.mem, want.mem, window_size) != 0) {
                        std::string m = "    memory (offset: in host qforge):";
                        for (std::size_t k = 0; k < window_size; ++k)
                            if (got.mem[k] != want.mem[k]) {
                                char b[32];
                                std::snprintf(b, sizeof b, " %zu: %02x %02x %02x", k, cases[i].in.mem[k], want.mem[k], got.mem[k]);
                                m += b;
                            }
                        first += m + "\n";
                    }
                    if (got.mxcsr != want.mxcsr) {
                        std::snprintf(line, sizeof line, "    mxcsr: in %08x host %08x qforge %08x\n", cases[i].in.mxcsr,
                                      want.mxcsr, got.mxcsr);
                        first += line;
                    }
                }
            }
        }
        total += static_cast<unsigned>(cases.size());
        std::printf("host diff: %-58s %5zu cases, %4u faulting, %u disagree\n%s", fam.name, cases.size(), faults, bad,
                    first.c_str());
        INFO(fam.name << "\n" << first);
        CHECK(bad == 0);
    }
    CHECK(total > 0);
}
