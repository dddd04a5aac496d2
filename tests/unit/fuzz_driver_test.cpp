// The firmware fuzzing driver (qforge-fuzz's engine) on examples/fuzz-firmware:
// what it calls a run's end, the coverage it records, and that each run
// starts from the same snapshot.
#include "../build_path.hpp"
#include "machines/testrig/testrig.hpp"
#include "qf/embed/fuzz_driver.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <string_view>
#include <vector>

namespace {

using rig = qf::machines::testrig<qf::accel::tcg<qf::embed::fuzz_hooks>>;
using kind = qf::embed::fuzz_outcome::kind;
std::string parser_bios() { return qft::build_path("QF_FUZZ_PARSER_BIOS", QF_TEST_FUZZ_PARSER_BIOS); }

std::vector<std::byte> bytes(std::string_view s) {
    std::vector<std::byte> v(s.size());
    std::transform(s.begin(), s.end(), v.begin(), [](char c) { return std::byte(static_cast<unsigned char>(c)); });
    return v;
}
// examples/fuzz-firmware's seed and its planted bug (a patch record whose
// offset wraps past 2^32).
const auto seed = bytes(std::string_view("QFCF\x01\x02\x01\x05hello\x02\x03\x00\x01\x02", 18));
const auto wrap = bytes(std::string_view("QFCF\x01\x01\x04\x05\xff\xff\xff\xff\x41", 13));

qf::embed::fuzz_spec parser_spec() {
    qf::embed::fuzz_spec s;
    s.input_gpa = 0x200000;
    s.crash_vectors = 1u << 14;
    return s;
}

} // namespace

TEST_CASE("the fuzz driver runs each input from the ready port's snapshot and records its edges") {
    qf::embed::fuzz_driver<rig> d({}, parser_spec());
    d.boot(parser_bios());
    std::vector<std::uint8_t> map(1u << 16);
    d.set_coverage_map(map);

    auto o = d.run_one(seed);
    CHECK(o.what == kind::ok);
    CHECK(o.why == "done");
    const auto first = map;
    const auto edges = std::count_if(map.begin(), map.end(), [](std::uint8_t b) { return b != 0; });
    CHECK(edges > 10);

    std::fill(map.begin(), map.end(), 0);
    o = d.run_one(wrap);
    CHECK(o.what == kind::crash);
    CHECK(o.why == "exception 14 (#PF)");
    CHECK(map != first);

    // From the snapshot again: the same path, edge for edge and count for count.
    std::fill(map.begin(), map.end(), 0);
    CHECK(d.run_one(seed).what == kind::ok);
    CHECK(map == first);

    // A cut input: the firmware sees the length it was given and stops at
    // its first check (fewer edges than the whole seed's).
    std::fill(map.begin(), map.end(), 0);
    o = d.run_one(std::span(seed).first(3));
    CHECK(o.what == kind::ok);
    CHECK(std::count_if(map.begin(), map.end(), [](std::uint8_t b) { return b != 0; }) < edges);
}

TEST_CASE("the fuzz driver's other ends of a run: a timeout or a crash port or a triple fault") {
    SECTION("a block budget") {
        auto s = parser_spec();
        s.timeout_blocks = 3;
        qf::embed::fuzz_driver<rig> d({}, s);
        d.boot(parser_bios());
        auto o = d.run_one(seed);
        CHECK(o.what == kind::timeout);
        CHECK(o.why == "timeout (3 blocks)");
    }
    SECTION("a timeout as a crash") {
        auto s = parser_spec();
        s.timeout_blocks = 3;
        s.crash_on_timeout = true;
        qf::embed::fuzz_driver<rig> d({}, s);
        d.boot(parser_bios());
        CHECK(d.run_one(seed).what == kind::crash);
    }
    SECTION("a write to the crash port") {
        auto s = parser_spec();
        s.done_port = 0x5f3;
        s.crash_port = 0x5f1;  // where the parser reports its result
        qf::embed::fuzz_driver<rig> d({}, s);
        d.boot(parser_bios());
        auto o = d.run_one(seed);
        CHECK(o.what == kind::crash);
        CHECK(o.why == "a write to port 0x5f1");
    }
    SECTION("without #PF among the crash vectors, the triple fault it leads to (no IDT)") {
        auto s = parser_spec();
        s.crash_vectors = 0;
        qf::embed::fuzz_driver<rig> d({}, s);
        d.boot(parser_bios());
        auto o = d.run_one(wrap);
        CHECK(o.what == kind::crash);
        CHECK(o.why == "triple fault (or a reset)");
        CHECK(d.run_one(seed).what == kind::ok);  // and the next run starts over
    }
}

TEST_CASE("the fuzz driver refuses a firmware that never says it is ready and an input area that is not RAM") {
    auto s = parser_spec();
    s.ready_port = 0x5f7;
    qf::embed::fuzz_driver<rig> d({}, s);
    CHECK_THROWS_WITH(d.boot(parser_bios()), Catch::Contains("before writing to the ready port 0x5f7"));

    auto t = parser_spec();
    t.input_gpa = 0xfff00000;  // the BIOS ROM's alias at the top of 4 GiB
    qf::embed::fuzz_driver<rig> e({}, t);
    CHECK_THROWS_WITH(e.boot(parser_bios()), Catch::Contains("is not all RAM"));
}

TEST_CASE("the fuzz driver feeds an input through COM1 and drops what a run left unread") {
    qf::embed::fuzz_spec s;
    s.input = qf::embed::fuzz_spec::feed::serial;
    s.crash_vectors = 1u << 6;
    qf::embed::fuzz_driver<rig> d({}, s);
    d.boot(qft::build_path("QF_FUZZ_SERIAL_BIOS", QF_TEST_FUZZ_SERIAL_BIOS));
    auto o = d.run_one(bytes("abc"));
    CHECK(o.what == kind::ok);
    CHECK(o.why == "done");
    CHECK(d.rig().regs().regs[qf::x86::R_EBX] == 3);  // the firmware read all three
    o = d.run_one(bytes("zzYXqqqqqqqqqqqqqqqqqqqqqqqq"));  // past the 16-byte FIFO: the rest waits in the chardev
    CHECK(o.what == kind::crash);
    CHECK(o.why == "exception 6 (#UD)");
    // What the crashed run left unread is not the next input's.
    CHECK(d.run_one(bytes("ab")).what == kind::ok);
    CHECK(d.rig().regs().regs[qf::x86::R_EBX] == 2);
}
