// A 64-bit flat code blob (tests/x86/blobs/flat64.asm, assembled by nasm at
// build time) runs end to end through the TCG engine, on both backends.
#include "flat_rig.hpp"

#include "qf/machine/firmware.hpp"

#include <catch2/catch.hpp>

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
        qf::tcg::engine_options o;
        o.be = be;
        o.tb_size_mib = 16;
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
