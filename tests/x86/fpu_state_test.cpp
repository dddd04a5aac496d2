// x87 and SSE state as software sees it: the FXSAVE image, the x87
// environment and save formats, the CR0/CR4 controls, and #MF raised by
// the waiting instruction after an unmasked exception.
#include "flat_rig.hpp"

#include <catch2/catch.hpp>
#include <cstring>
#include <vector>

using namespace qf::x86;

namespace {

constexpr std::uint64_t code_at = 0x10'0000, area = 0x20'0000;

// [disp32] addressing of `area` (+off): ModRM with reg, SIB 25, disp32.
std::vector<std::uint8_t> at_area(std::uint8_t modrm_reg, std::uint32_t off = 0) {
    const std::uint32_t a = static_cast<std::uint32_t>(area) + off;
    return {static_cast<std::uint8_t>(modrm_reg << 3 | 4), 0x25, static_cast<std::uint8_t>(a), static_cast<std::uint8_t>(a >> 8),
            static_cast<std::uint8_t>(a >> 16), static_cast<std::uint8_t>(a >> 24)};
}

struct program {
    std::vector<std::uint8_t> b;
    // (push_back, not insert: GCC 12 warns falsely about inserting a list)
    program& raw(std::initializer_list<std::uint8_t> x) {
        for (std::uint8_t v : x) b.push_back(v);
        return *this;
    }
    program& mem(std::initializer_list<std::uint8_t> op, std::uint8_t reg, std::uint32_t off = 0) {
        for (std::uint8_t v : op) b.push_back(v);
        const auto m = at_area(reg, off);
        b.insert(b.end(), m.begin(), m.end());
        return *this;
    }
};

struct run_result {
    vcpu::stop why;
    int vector;
    std::uint64_t rip;
};

run_result run(test::flat64& m, const program& p, std::uint64_t cr0_extra = 0, bool osfxsr = true) {
    std::vector<std::uint8_t> code = p.b;
    code.push_back(0xf4);
    m.load(code_at, code.data(), code.size());
    m.cpu().engine().flush();  // new code at the same address
    m.enter(code_at);
    m.st().cr[0] |= cr0_extra;
    if (!osfxsr) m.st().cr[4] &= ~(1ull << 9);
    compute_hflags(m.st());
    const auto why = m.run();
    return {why, m.cpu().last_exception(), m.st().rip};
}

template <class T>
T get(test::flat64& m, std::uint64_t at) {
    T v;
    std::memcpy(&v, m.ram() + at, sizeof v);
    return v;
}

} // namespace

TEST_CASE("FXSAVE stores the x87, MXCSR and XMM state in the SDM's layout, and FXRSTOR loads it") {
    test::flat64 m(64 << 20);
    program p;
    p.raw({0xdb, 0xe3})                    // fninit
        .raw({0xd9, 0xe8})                 // fld1
        .raw({0xd9, 0xeb})                 // fldpi
        .raw({0x66, 0x0f, 0x76, 0xc0})     // pcmpeqd xmm0, xmm0 (all ones)
        .mem({0x0f, 0xae}, 0);             // fxsave [area]
    REQUIRE(run(m, p).why == vcpu::stop::halted);
    CHECK(get<std::uint16_t>(m, area) == 0x37f);             // FCW
    CHECK(get<std::uint16_t>(m, area + 2) == 6 << 11);       // FSW: TOP 6
    CHECK(get<std::uint8_t>(m, area + 4) == 0xc0);           // abridged tags: R6, R7
    CHECK(get<std::uint32_t>(m, area + 24) == 0x1f80);       // MXCSR
    CHECK(get<std::uint32_t>(m, area + 28) == 0xffff);       // MXCSR_MASK
    CHECK(get<std::uint64_t>(m, area + 32) == 0xc90f'daa2'2168'c235ull);  // ST0 = pi
    CHECK(get<std::uint16_t>(m, area + 40) == 0x4000);
    CHECK(get<std::uint64_t>(m, area + 48) == 1ull << 63);   // ST1 = 1
    CHECK(get<std::uint16_t>(m, area + 56) == 0x3fff);
    CHECK(get<std::uint64_t>(m, area + 160) == ~0ull);       // XMM0
    CHECK(get<std::uint64_t>(m, area + 168) == ~0ull);

    // Change the image, load it, and the state follows.
    const std::uint32_t mxcsr = 0x3f80;
    std::memcpy(m.ram() + area + 24, &mxcsr, 4);
    const std::uint64_t x1 = 0x1234'5678'9abc'def0;
    std::memcpy(m.ram() + area + 176, &x1, 8);
    program q;
    q.mem({0x0f, 0xae}, 1);  // fxrstor [area]
    REQUIRE(run(m, q).why == vcpu::stop::halted);
    CHECK(m.st().mxcsr == 0x3f80);
    CHECK(m.st().xmm[1].q[0] == x1);
    CHECK(m.st().fsw == 6 << 11);
    CHECK(m.st().fpr[6].sign_exp == 0x4000);

    // A reserved MXCSR bit in the image is #GP, and so is a misaligned area.
    const std::uint32_t bad = 0x1'0000;
    std::memcpy(m.ram() + area + 24, &bad, 4);
    auto r = run(m, q);
    CHECK(r.why == vcpu::stop::exception);
    CHECK(r.vector == 13);
    program mis;
    mis.mem({0x0f, 0xae}, 0, 8);
    r = run(m, mis);
    CHECK(r.why == vcpu::stop::exception);
    CHECK(r.vector == 13);
}

TEST_CASE("FNSTENV and FLDENV, FNSAVE and FRSTOR round-trip the x87 state") {
    test::flat64 m(64 << 20);
    program p;
    p.raw({0xdb, 0xe3, 0xd9, 0xe8, 0xd9, 0xee})  // fninit, fld1, fldz
        .mem({0xd9}, 6)                          // fnstenv [area]
        .raw({0xdb, 0xe3})                       // fninit
        .mem({0xd9}, 4);                         // fldenv [area]
    REQUIRE(run(m, p).why == vcpu::stop::halted);
    // The full tag word: R7 valid (00), R6 zero (01), the rest empty (11).
    CHECK(get<std::uint16_t>(m, area + 8) == 0x1fff);
    CHECK(get<std::uint16_t>(m, area + 4) == 6 << 11);
    CHECK(m.st().ftw == 0xc0);
    CHECK(m.st().fsw == 6 << 11);
    CHECK(m.st().fcw == 0x37f);

    program q;
    q.raw({0xdb, 0xe3, 0xd9, 0xeb})  // fninit, fldpi
        .mem({0xdd}, 6)              // fnsave [area]: then FNINIT
        .raw({0xd9, 0xe8})           // fld1 (on the initialised FPU)
        .mem({0xdd}, 4);             // frstor [area]
    REQUIRE(run(m, q).why == vcpu::stop::halted);
    CHECK(get<std::uint64_t>(m, area + 28) == 0xc90f'daa2'2168'c235ull);  // ST0 after the 28-byte environment
    CHECK(m.st().ftw == 0x80);
    CHECK(m.st().fsw == 7 << 11);
    CHECK(m.st().fpr[7].sign_exp == 0x4000);
}

TEST_CASE("CR0.EM, CR0.TS and CR4.OSFXSR gate x87 and SSE instructions") {
    test::flat64 m(16 << 20);
    program x87, sse;
    x87.raw({0xd9, 0xe8});        // fld1
    sse.raw({0x0f, 0x28, 0xc1});  // movaps xmm0, xmm1
    CHECK(run(m, x87).why == vcpu::stop::halted);
    CHECK(run(m, sse).why == vcpu::stop::halted);
    auto r = run(m, x87, 1u << 3);  // TS
    CHECK((r.why == vcpu::stop::exception && r.vector == 7));
    r = run(m, sse, 1u << 3);
    CHECK((r.why == vcpu::stop::exception && r.vector == 7));
    r = run(m, x87, 1u << 2);  // EM: x87 #NM, SSE #UD
    CHECK((r.why == vcpu::stop::exception && r.vector == 7));
    r = run(m, sse, 1u << 2);
    CHECK((r.why == vcpu::stop::exception && r.vector == 6));
    r = run(m, sse, 0, false);  // no OSFXSR
    CHECK((r.why == vcpu::stop::exception && r.vector == 6));
    CHECK(run(m, x87, 0, false).why == vcpu::stop::halted);
}

TEST_CASE("an unmasked x87 exception pends until the next waiting instruction raises #MF") {
    test::flat64 m(16 << 20);
    const std::uint16_t cw = 0x37b;  // ZE unmasked
    std::memcpy(m.ram() + area + 0x400, &cw, 2);
    program p;
    p.raw({0xdb, 0xe3})              // fninit
        .mem({0xd9}, 5, 0x400)       // fldcw [area + 0x400]
        .raw({0xd9, 0xee, 0xd9, 0xe8})  // fldz, fld1
        .raw({0xd8, 0xf1})           // fdiv st0, st1: 1/0, ZE pends
        .raw({0xdf, 0xe0})           // fnstsw ax: does not wait
        .raw({0xd9, 0xe8});          // fld1: waits, #MF here
    const std::uint64_t fault_at = code_at + p.b.size() - 2;
    const auto r = run(m, p);
    CHECK(r.why == vcpu::stop::exception);
    CHECK(r.vector == 16);
    CHECK(r.rip == fault_at);
    CHECK((m.st().regs[R_EAX] & 0x84) == 0x84);  // ES and ZE, stored by FNSTSW
    CHECK(m.st().fpr[6].sign_exp == 0x3fff);     // the division left ST0 alone
}
