// The machine's state stream (qf/machine/vmstate.hpp, x86_board::save_vm):
// a machine loaded from it goes on as the saved one did, in the same
// harness or a new one, and a stream of another machine, build or
// configuration is refused with a line naming the section.
#include "../build_path.hpp"
#include "machines/testrig/testrig.hpp"
#include "qf/embed/harness.hpp"
#include "qf/machine/vmstate.hpp"

#include <catch2/catch.hpp>

namespace {

using rig = qf::machines::testrig<qf::accel::tcg<qf::embed::insn_budget>>;
std::string snapshot_bios() { return qft::build_path("QF_SNAPSHOT_BIOS", QF_TEST_SNAPSHOT_BIOS); }
// tests/firmware/snapshot.asm: R at 0:0600 adds 1 to BX, 100 times; BX's
// low byte leaves through isa-debug-exit.
constexpr int status_of(int bx) { return ((bx & 0xff) << 1) | 1; }

struct view {
    std::uint64_t rip, bx, cx;
    std::uint16_t counter;
    bool operator==(const view&) const = default;
};
view look(qf::embed::harness<rig>& h) {
    return {h.regs().rip, h.regs().regs[qf::x86::R_EBX], h.regs().regs[qf::x86::R_ECX], h.read<std::uint16_t>(0x2000)};
}

} // namespace

TEST_CASE("a machine loaded from its state stream goes on where the saved one was") {
    qf::embed::harness<rig> h;
    h.load_bios_file(snapshot_bios());
    REQUIRE(h.run(200).why == qf::embed::stop::budget);
    const auto stream = h.save_vm();
    const view at = look(h);
    const std::string devices_at = h.machine().info_devices();
    REQUIRE(at.bx > 0);
    REQUIRE(at.bx < 100);
    REQUIRE(h.run().exit_status == status_of(100));

    SECTION("in the same harness") {
        h.load_vm(stream);
        CHECK(look(h) == at);
        const auto r = h.run();
        CHECK(r.why == qf::embed::stop::exit);
        CHECK(r.exit_status == status_of(100));
    }
    SECTION("in another harness, as after a migration") {
        qf::embed::harness<rig> other;
        other.load_bios_file(snapshot_bios());
        other.load_vm(stream);
        CHECK(look(other) == at);
        // The devices came along: their reflected state is the same text.
        CHECK(other.machine().info_devices() == devices_at);
        CHECK(other.run().exit_status == status_of(100));
    }
}

TEST_CASE("a state stream of another machine or build or configuration is refused by name and changes nothing") {
    qf::embed::harness<rig> h;
    h.load_bios_file(snapshot_bios());
    REQUIRE(h.run(200).why == qf::embed::stop::budget);
    const auto stream = h.save_vm();
    const view at = look(h);

    qf::options big;
    big.ram_size = 256ull << 20;
    qf::embed::harness<rig> other(big);
    other.load_bios_file(snapshot_bios());
    CHECK_THROWS_WITH(other.load_vm(stream), Catch::Contains("section 'machine': RAM is 128 MiB there, 256 MiB here"));

    CHECK_THROWS_WITH(h.load_vm(std::span(stream).first(20)), Catch::Contains("vmstate"));
    auto bad = stream;
    bad[0] = std::byte{'X'};
    CHECK_THROWS_WITH(h.load_vm(bad), Catch::Contains("not a qforge state stream"));

    // A device section from a newer build: its version, by name.
    auto newer = stream;
    const std::string name = "i8254";
    auto it = std::search(newer.begin(), newer.end(), reinterpret_cast<const std::byte*>(name.data()),
                          reinterpret_cast<const std::byte*>(name.data()) + name.size());
    REQUIRE(it != newer.end());
    // The name's length (u16) precedes it; the version (u32) follows it.
    auto version = it + static_cast<std::ptrdiff_t>(name.size());
    *version = std::byte{7};
    h.run(50);
    const view later = look(h);
    const std::string devices_later = h.machine().info_devices();
    CHECK_THROWS_WITH(h.load_vm(newer), Catch::Contains("section 'i8254") && Catch::Contains("is version 7, this build reads up to 1"));
    CHECK(look(h) == later);  // refused: nothing changed
    CHECK(h.machine().info_devices() == devices_later);
    CHECK_FALSE(later == at);

    // Sections rewritten: the stream with one section's payload changed.
    auto edited = [&](const std::string& which, auto&& change) {
        auto secs = qf::vmstate::read(stream);
        qf::vmstate::writer w;
        for (auto& sec : secs) {
            std::vector<std::byte> payload(sec.payload.begin(), sec.payload.end());
            if (sec.name == which) change(payload);
            w.section(sec.name, sec.version, payload);
        }
        return w.finish();
    };
    // Another build's CPU layout: refused before RAM, devices or CPU change.
    CHECK_THROWS_WITH(h.load_vm(edited("cpu#0", [](auto& p) { p.pop_back(); })),
                      Catch::Contains("the CPU state is") && Catch::Contains("another build's layout"));
    CHECK(look(h) == later);
    CHECK(h.machine().info_devices() == devices_later);
    // Registers no PIT can hold (a zero divisor), and a bool that is no bool.
    auto pit_count0 = edited("i8254", [](auto& p) {
        // The first field, ch: its first channel's count (u32) after the count, name and size.
        const std::ptrdiff_t count_at = 2 + 2 + 2 + 4;
        std::fill(p.begin() + count_at, p.begin() + count_at + 4, std::byte{0});
    });
    CHECK_THROWS_WITH(h.load_vm(pit_count0), Catch::Contains("section 'i8254': a counter's registers are not a PIT's"));
    auto bad_bool = edited("i8254", [](auto& p) { p.back() = std::byte{2}; });  // irq_disabled, the last field
    CHECK_THROWS_WITH(h.load_vm(bad_bool), Catch::Contains("field 'irq_disabled' holds a truth value that is neither 0 nor 1"));
    CHECK(look(h) == later);
    CHECK(h.machine().info_devices() == devices_later);
}

TEST_CASE("a stream cut into sections as its bytes come gives the sections taken once whole and keeps the rest for read") {
    qf::vmstate::writer w;
    std::vector<std::byte> big(70000);
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = std::byte(i * 7);
    const std::byte small[] = {std::byte{1}, std::byte{2}, std::byte{3}};
    w.section("machine", 1, small);
    w.section("ram", 2, big);
    w.section("cpu#0", 3, small);
    w.section("ram", 2, std::span(big).first(5));
    w.section("devices", 1, {});
    const auto stream = w.finish();
    for (const std::size_t chunk : {std::size_t{1}, std::size_t{7}, std::size_t{4096}, stream.size()}) {
        INFO("chunk " << chunk);
        std::vector<std::pair<std::string, std::size_t>> taken;
        qf::vmstate::splitter sp([&](const qf::vmstate::section& s) {
            if (s.name != "ram") return false;
            CHECK(s.version == 2);
            CHECK(std::equal(s.payload.begin(), s.payload.end(), big.begin()));
            taken.emplace_back(s.name, s.payload.size());
            return true;
        });
        for (std::size_t at = 0; at < stream.size(); at += chunk)
            sp.feed(std::span(stream).subspan(at, std::min(chunk, stream.size() - at)));
        CHECK(taken == std::vector<std::pair<std::string, std::size_t>>{{"ram", big.size()}, {"ram", 5}});
        const auto rest = qf::vmstate::read(sp.kept());
        REQUIRE(rest.size() == 3);
        CHECK(rest[0].name == "machine");
        CHECK(rest[1].name == "cpu#0");
        CHECK(rest[1].version == 3);
        CHECK(rest[2].name == "devices");
        CHECK(sp.buffered() == sp.kept().size());
    }
    // Bytes that are not a stream go through as they are, for read() to refuse.
    qf::vmstate::splitter junk([](const qf::vmstate::section&) { return true; });
    const std::string text = "not a stream at all";
    junk.feed(std::as_bytes(std::span(text)));
    CHECK(junk.kept().size() == text.size());
    CHECK_THROWS_WITH(qf::vmstate::read(junk.kept()), Catch::Contains("not a qforge state stream"));
}
