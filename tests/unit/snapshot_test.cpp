// The embedding harness's in-process snapshots: what restore() puts back
// (registers, RAM the guest and the test wrote, translated code over
// rewritten RAM, devices) and what it copies (only the pages written since).
#include "../build_path.hpp"
#include "machines/testrig/testrig.hpp"
#include "qf/embed/harness.hpp"

#include <catch2/catch.hpp>

#include <array>

namespace {

using rig = qf::machines::testrig<qf::accel::tcg<qf::embed::insn_budget>>;
std::string snapshot_bios() { return qft::build_path("QF_SNAPSHOT_BIOS", QF_TEST_SNAPSHOT_BIOS); }

// tests/firmware/snapshot.asm: R at 0:0600 adds 1 to BX, 100 times; BX's
// low byte leaves through isa-debug-exit.
constexpr int status_of(int bx) { return ((bx & 0xff) << 1) | 1; }

struct view {
    std::uint64_t rip, bx, cx;
    std::uint16_t counter, stored;
    bool operator==(const view&) const = default;
};
view look(qf::embed::harness<rig>& h) {
    return {h.regs().rip, h.regs().regs[qf::x86::R_EBX], h.regs().regs[qf::x86::R_ECX], h.read<std::uint16_t>(0x2000),
            h.read<std::uint16_t>(0x3000)};
}

} // namespace

TEST_CASE("a harness snapshot puts back the CPU and the RAM written since and copies only that") {
    qf::embed::harness<rig> h;
    h.load_bios_file(snapshot_bios());
    REQUIRE(h.run(200).why == qf::embed::stop::budget);  // inside the loop
    const qf::embed::snapshot s = h.snapshot();
    const view at = look(h);
    CHECK(at.bx > 0);
    CHECK(at.bx < 100);
    CHECK(h.dirty_pages() == 0);

    // To the end: 100 calls of R.
    auto r = h.run();
    CHECK(r.why == qf::embed::stop::exit);
    CHECK(r.exit_status == status_of(100));
    // The loop wrote its two counters' pages and the stack's, nothing else.
    CHECK(h.dirty_pages() == 3);

    h.restore(s);
    CHECK(look(h) == at);
    CHECK(h.dirty_pages() == 0);
    r = h.run();
    CHECK(r.why == qf::embed::stop::exit);
    CHECK(r.exit_status == status_of(100));

    SECTION("code the test rewrote after the snapshot is the snapshot's again") {
        h.restore(s);
        const std::array<std::byte, 4> add2{std::byte{0x83}, std::byte{0xc3}, std::byte{0x02}, std::byte{0xcb}};
        h.write(0x600, add2);  // R: add bx, 2
        r = h.run();
        // What a machine that never took a snapshot does with the same change.
        qf::embed::harness<rig> ref;
        ref.load_bios_file(snapshot_bios());
        ref.run(200);
        ref.write(0x600, add2);
        const int changed = ref.run().exit_status;
        CHECK(changed != status_of(100));
        CHECK(r.exit_status == changed);
        h.restore(s);
        CHECK(h.read<std::uint32_t>(0x600) == 0xcb01c383);
        r = h.run();
        CHECK(r.exit_status == status_of(100));  // R's translated code went with the bytes
    }
    SECTION("restored a thousand times each run ends the same") {
        for (int i = 0; i < 1000; ++i) {
            h.restore(s);
            REQUIRE(h.run(50).why == qf::embed::stop::budget);
        }
        const view mid = look(h);
        h.restore(s);
        h.run(50);
        CHECK(look(h) == mid);
        CHECK(h.run().exit_status == status_of(100));
    }
    SECTION("an older snapshot taken before a newer one is put back whole") {
        h.restore(s);
        h.run(100);
        const qf::embed::snapshot later = h.snapshot();
        const view at_later = look(h);
        h.run();
        h.restore(s);  // not the latest: all of RAM
        CHECK(look(h) == at);
        CHECK(h.run().exit_status == status_of(100));
        h.restore(later);
        CHECK(look(h) == at_later);
    }
    SECTION("a snapshot of another harness is refused") {
        qf::embed::harness<rig> other;
        other.load_bios_file(snapshot_bios());
        CHECK_THROWS_WITH(other.restore(s), Catch::Contains("not a snapshot of this harness"));
    }
}
