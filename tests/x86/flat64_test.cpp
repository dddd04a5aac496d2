// A 64-bit flat code blob (tests/x86/blobs/flat64.asm, assembled by nasm at
// build time) runs end to end through the TCG engine, on both backends.
#include "flat_rig.hpp"

#include "qf/machine/firmware.hpp"

#include <catch2/catch.hpp>
#include <immintrin.h>

using namespace qf::x86;

TEST_CASE("a 64-bit flat code blob runs end to end on the JIT and the interpreter") {
    const auto blob = qf::read_file("test blob", QF_TEST_FLAT64_BLOB);
    REQUIRE(!blob.empty());
    const std::int64_t data[16] = {3, -5, 100, 7, 0x7fffffffffff, 12, -100000, 42, 1, 2, 3, 4, 5, 6, 7, 8};
    std::int64_t sum = 0, max = 0;
    for (auto v : data) {
        sum += v;
        max = std::max(max, v);
    }
    for (auto be : {qf::tcg::backend::jit, qf::tcg::backend::interpreter}) {
        const auto o = test::options_for(be);
        test::flat64 m(64 << 20, o);
        m.load(0x100000, blob.data(), blob.size());
        m.enter(0x100000);
        REQUIRE(m.run() == vcpu::stop::halted);
        const state& s = m.st();
        CHECK(s.regs[8] == static_cast<std::uint64_t>(sum));
        CHECK(s.regs[9] == 102334155);  // fib(40)
        CHECK(s.regs[10] == 0);         // the copy compared equal
        CHECK(s.regs[11] == static_cast<std::uint64_t>(max));
        CHECK(s.regs[12] == 102334155);
        CHECK(s.regs[13] == static_cast<std::uint64_t>(sum));
        CHECK(s.regs[R_ESP] == 0x80000);
        std::uint64_t slot;
        std::memcpy(&slot, m.ram() + 0x200100, 8);
        CHECK(slot == 0x1234 + static_cast<std::uint64_t>(sum));
        CHECK(std::memcmp(m.ram() + 0x200000, data, sizeof data) == 0);
        for (int i = 0; i < 64; ++i) CHECK(m.ram()[0x200200 + i] == std::byte{0x5a});
        CHECK(m.ram()[0x200200 + 64] == std::byte{0});
    }
}

namespace {
// Ports for the I/O tests: IN reads a counter; OUT to 0x80 asks the CPU to
// stop, as a device that raises an interrupt does (through the kick).
struct test_ports {
    unsigned reads = 0, writes = 0;
    static std::uint32_t in(void* ctx, qf::tcg::env_base*, std::uint16_t, unsigned) {
        return ++static_cast<test_ports*>(ctx)->reads;
    }
    static void out(void* ctx, qf::tcg::env_base* env, std::uint16_t port, unsigned, std::uint32_t) {
        ++static_cast<test_ports*>(ctx)->writes;
        if (port == 0x80) env->exit_request.store(1);
    }
};
} // namespace

TEST_CASE("IN and OUT go on in their TB unless the access asks the CPU to stop") {
    for (auto be : {qf::tcg::backend::jit, qf::tcg::backend::interpreter}) {
        INFO((be == qf::tcg::backend::jit ? "JIT" : "interpreter"));
        const auto o = test::options_for(be);
        test_ports ports;
        test::flat64 m(16 << 20, o, cpu::max::def, io_bus{&ports, &test_ports::in, &test_ports::out});
        // A loop polling a port: mov ecx, 1000; in al, 0x42; dec ecx; jnz
        // back to the in; hlt. One TB chained to itself: when IN ended its
        // TB, each read was a return to the engine (over 1000 entries).
        const std::uint8_t poll[] = {0xb9, 0xe8, 0x03, 0x00, 0x00, 0xe4, 0x42, 0xff, 0xc9, 0x75, 0xfa, 0xf4};
        m.load(0x1000, poll, sizeof poll);
        m.enter(0x1000);
        const std::uint64_t entries = m.cpu().engine().stats().tb_execs;
        REQUIRE(m.run() == vcpu::stop::halted);
        CHECK(ports.reads == 1000);
        CHECK((m.st().regs[R_EAX] & 0xff) == (1000 & 0xff));
        CHECK(m.cpu().engine().stats().tb_execs - entries < 10);

        // out 0x80, al (the port asks to stop); mov ebx, 1; hlt: the CPU
        // stops after the OUT, at the MOV, which has not run.
        const std::uint8_t stop[] = {0xe6, 0x80, 0xbb, 0x01, 0x00, 0x00, 0x00, 0xf4};
        m.load(0x2000, stop, sizeof stop);
        m.enter(0x2000);
        m.st().regs[R_EBX] = 0;
        CHECK(m.run() == vcpu::stop::kicked);
        CHECK(ports.writes == 1);
        CHECK(m.st().rip == 0x2002);
        CHECK(m.st().regs[R_EBX] == 0);
        m.st().base.exit_request.store(0);
        REQUIRE(m.run() == vcpu::stop::halted);
        CHECK(m.st().regs[R_EBX] == 1);
    }
}

TEST_CASE("a TB that starts by reading CF computes it right whatever flags it is entered with") {
    // INC and JB first in a TB read CF from flags an earlier TB left: the TB
    // guesses the lazy-flags kind it was translated with and checks it at
    // run time. Entered again after a different kind of flag-setting
    // instruction (the guess wrong), or after the same kind with the other
    // CF, it must still see the right CF.
    for (auto be : {qf::tcg::backend::jit, qf::tcg::backend::interpreter}) {
        INFO((be == qf::tcg::backend::jit ? "JIT" : "interpreter"));
        const auto o = test::options_for(be);
        test::flat64 m(16 << 20, o);
        auto put = [&](std::uint64_t at, std::initializer_list<std::uint8_t> bytes) {
            std::vector<std::uint8_t> v(bytes);
            m.load(at, v.data(), v.size());
        };
        auto jmp = [&](std::uint64_t at, std::uint64_t to) {
            const auto rel = static_cast<std::uint32_t>(to - (at + 5));
            put(at, {0xe9, std::uint8_t(rel), std::uint8_t(rel >> 8), std::uint8_t(rel >> 16), std::uint8_t(rel >> 24)});
        };
        // Flag setters, each then jumping to L (0x3000) or L2 (0x3100).
        put(0x1000, {0x48, 0x39, 0xd8});  // cmp rax, rbx: SUB, CF = rax < rbx
        jmp(0x1003, 0x3000);
        put(0x1100, {0x48, 0x85, 0xc0});  // test rax, rax: LOGIC, CF = 0
        jmp(0x1103, 0x3000);
        put(0x1200, {0x48, 0x01, 0xd8});  // add rax, rbx: ADD, CF = carry out
        jmp(0x1203, 0x3000);
        put(0x2000, {0x48, 0x39, 0xd8});  // cmp rax, rbx
        jmp(0x2003, 0x3100);
        put(0x2100, {0x48, 0x85, 0xc0});  // test rax, rax
        jmp(0x2103, 0x3100);
        // L: inc rdx (keeps CF); adc rcx, 0; hlt - rcx counts the CFs seen.
        put(0x3000, {0x48, 0xff, 0xc2, 0x48, 0x83, 0xd1, 0x00, 0xf4});
        // L2: jb T; mov r8d, 0; hlt; T: mov r8d, 1; hlt
        put(0x3100, {0x72, 0x07, 0x41, 0xb8, 0x00, 0x00, 0x00, 0x00, 0xf4, 0x41, 0xb8, 0x01, 0x00, 0x00, 0x00, 0xf4});

        struct run { std::uint64_t entry, rax, rbx; bool cf; };
        const run runs[] = {
            {0x1000, 1, 2, true},    // translated after a SUB with CF
            {0x1000, 3, 2, false},   // the same kind, no CF
            {0x1100, 1, 2, false},   // LOGIC: the guess is wrong
            {0x1200, ~0ull, 2, true},  // ADD with a carry: wrong again
            {0x1200, 1, 2, false},
            {0x1000, 0, 5, true},    // back to the guessed kind
        };
        std::uint64_t rcx = 0;
        for (const run& r : runs) {
            INFO("entry " << std::hex << r.entry << " rax " << r.rax << " rbx " << r.rbx);
            m.enter(r.entry);
            m.st().regs[R_EAX] = r.rax;
            m.st().regs[R_EBX] = r.rbx;
            m.st().regs[R_ECX] = rcx;
            REQUIRE(m.run() == vcpu::stop::halted);
            rcx += r.cf;
            CHECK(m.st().regs[R_ECX] == rcx);
        }
        const run jb_runs[] = {{0x2000, 1, 2, true}, {0x2000, 2, 1, false}, {0x2100, 1, 2, false}, {0x2000, 0, 9, true}};
        for (const run& r : jb_runs) {
            INFO("entry " << std::hex << r.entry << " rax " << r.rax << " rbx " << r.rbx);
            m.enter(r.entry);
            m.st().regs[R_EAX] = r.rax;
            m.st().regs[R_EBX] = r.rbx;
            m.st().regs[8] = 7;
            REQUIRE(m.run() == vcpu::stop::halted);
            CHECK(m.st().regs[8] == (r.cf ? 1u : 0u));
        }
    }
}

TEST_CASE("INVLPG of one address in a 2 MiB page drops every 4 KiB piece of it the TLB holds") {
    for (auto be : {qf::tcg::backend::jit, qf::tcg::backend::interpreter}) {
        INFO((be == qf::tcg::backend::jit ? "JIT" : "interpreter"));
        const auto o = test::options_for(be);
        test::flat64 m(8 << 20, o);
        auto put = [&](std::uint64_t at, std::uint64_t v) { std::memcpy(m.ram() + at, &v, 8); };
        // 4-level tables: 0-2 MiB identity (the code), 0x40000000 a 2 MiB
        // page at 0x200000 that the code moves to 0x400000.
        put(0x10000, 0x11003);
        put(0x11000, 0x12003);
        put(0x11008, 0x13003);
        put(0x12000, 0x83);
        put(0x13000, 0x200083);
        put(0x200000, 0xaaaa);
        put(0x201000, 0x1111);
        put(0x400000, 0xbbbb);
        put(0x401000, 0x2222);
        // mov rax, [0x40000000]; mov rbx, [0x40001000] (both pieces in the
        // TLB); mov qword [0x13000], 0x400083; invlpg [0x40000000];
        // mov rcx, [0x40001000]; mov rdx, [0x40000000]; hlt
        const std::uint8_t code[] = {0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x00, 0x40, 0x48, 0x8b, 0x1c, 0x25, 0x00, 0x10,
                                     0x00, 0x40, 0x48, 0xc7, 0x04, 0x25, 0x00, 0x30, 0x01, 0x00, 0x83, 0x00, 0x40, 0x00,
                                     0x0f, 0x01, 0x3c, 0x25, 0x00, 0x00, 0x00, 0x40, 0x48, 0x8b, 0x0c, 0x25, 0x00, 0x10,
                                     0x00, 0x40, 0x48, 0x8b, 0x14, 0x25, 0x00, 0x00, 0x00, 0x40, 0xf4};
        m.load(0x1000, code, sizeof code);
        m.enter(0x1000);
        state& s = m.st();
        s.cr[3] = 0x10000;
        s.cr[4] |= 1u << 5;     // PAE
        s.cr[0] |= 1u << 31;    // PG
        compute_hflags(s);
        REQUIRE(m.run() == vcpu::stop::halted);
        CHECK(s.regs[R_EAX] == 0xaaaa);
        CHECK(s.regs[R_EBX] == 0x1111);
        CHECK(s.regs[R_ECX] == 0x2222);  // the other piece: stale 0x1111 if it stayed
        CHECK(s.regs[R_EDX] == 0xbbbb);
    }
}

// Products and quotients that round up to the smallest normal number were
// tiny before rounding: underflow as well as inexact, which a fast path
// that looks only at the rounded result misses. Fixed vectors, each
// checked against this host's own MULSS/MULSD/DIVSS.
TEST_CASE("MULSS MULSD and DIVSS that round up to the smallest normal raise underflow as the host does") {
    struct vec {
        std::uint8_t op[4];  // f3/f2 0f 59/5e c1: op xmm0, xmm1
        std::uint64_t a, b;
    };
    const vec vs[] = {
        {{0xf3, 0x0f, 0x59, 0xc1}, 0x3f7fffff, 0x00800000},                    // mulss
        {{0xf3, 0x0f, 0x5e, 0xc1}, 0x3f7fffff, 0x7e800000},                    // divss
        {{0xf2, 0x0f, 0x59, 0xc1}, 0x3fefffffffffffff, 0x0010000000000000},    // mulsd
        {{0xf3, 0x0f, 0x59, 0xc1}, 0x3f800000, 0x00800000},                    // exact: no underflow
    };
    for (const vec& v : vs) {
        // The host: the same instruction under the same MXCSR (default
        // control, inexact already set).
        __m128i x = _mm_cvtsi64_si128(static_cast<long long>(v.a)), y = _mm_cvtsi64_si128(static_cast<long long>(v.b));
        const unsigned saved = _mm_getcsr();
        _mm_setcsr(0x1fa0);
        if (v.op[0] == 0xf2) asm volatile("mulsd %1, %0" : "+x"(x) : "x"(y));
        else if (v.op[2] == 0x5e) asm volatile("divss %1, %0" : "+x"(x) : "x"(y));
        else asm volatile("mulss %1, %0" : "+x"(x) : "x"(y));
        const unsigned host_csr = _mm_getcsr();
        _mm_setcsr(saved);
        const auto host_r = static_cast<std::uint64_t>(_mm_cvtsi128_si64(x));
        for (auto be : {qf::tcg::backend::jit, qf::tcg::backend::interpreter}) {
            const auto o = test::options_for(be);
            test::flat64 m(16 << 20, o);
            const std::uint8_t code[] = {v.op[0], v.op[1], v.op[2], v.op[3], 0xf4};
            m.load(0x1000, code, sizeof code);
            m.enter(0x1000);
            state& s = m.st();
            s.xmm[0].q[0] = v.a;
            s.xmm[0].q[1] = 0;
            s.xmm[1].q[0] = v.b;
            s.xmm[1].q[1] = 0;
            s.mxcsr = 0x1fa0;
            REQUIRE(m.run() == vcpu::stop::halted);
            INFO("op " << std::hex << int(v.op[0]) << " " << int(v.op[2]) << " a " << v.a << " b " << v.b);
            CHECK(s.xmm[0].q[0] == host_r);
            CHECK(s.mxcsr == host_csr);
        }
    }
}

TEST_CASE("a loop that rewrites its own code keeps being flushed, so its dead TBs do not pile up") {
    for (auto be : {qf::tcg::backend::jit, qf::tcg::backend::interpreter}) {
        INFO((be == qf::tcg::backend::jit ? "JIT" : "interpreter"));
        const auto o = test::options_for(be);
        test::flat64 m(16 << 20, o);
        // mov ecx, 40000; l: mov eax, imm32; inc dword [rip-10] (the imm);
        // dec ecx; jnz l; hlt - every pass invalidates the TB it runs.
        const std::uint8_t code[] = {0xb9, 0x40, 0x9c, 0x00, 0x00, 0xb8, 0x00, 0x00, 0x00, 0x00, 0xff, 0x05,
                                     0xf6, 0xff, 0xff, 0xff, 0xff, 0xc9, 0x75, 0xf1, 0xf4};
        m.load(0x1000, code, sizeof code);
        m.enter(0x1000);
        const auto before = m.cpu().engine().stats();
        REQUIRE(m.run() == vcpu::stop::halted);
        CHECK(m.st().regs[R_EAX] == 39999);
        const auto after = m.cpu().engine().stats();
        CHECK(after.invalidated - before.invalidated >= 40000);
        // A flush at least every max_dead_tbs invalidations (the JIT's 16 MiB
        // buffer would not have filled).
        CHECK(after.flushes - before.flushes >= (after.invalidated - before.invalidated) / (qf::tcg::engine::max_dead_tbs + 1));
        CHECK(after.flushes - before.flushes >= 2);
    }
}
