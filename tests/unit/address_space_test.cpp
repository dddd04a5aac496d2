#include "qf/core/error.hpp"
#include "qf/memory/address_space.hpp"
#include "qf/memory/ram.hpp"

#include <catch2/catch.hpp>
#include <cstring>

namespace {
std::uint32_t read32(const qf::address_space& as, std::uint64_t a) {
    std::uint32_t v;
    as.read({a}, std::as_writable_bytes(std::span(&v, 1)));
    return v;
}
void write32(const qf::address_space& as, std::uint64_t a, std::uint32_t v) {
    as.write({a}, std::as_bytes(std::span(&v, 1)));
}
} // namespace

TEST_CASE("RAM / ROM and a higher-priority alias resolve as QEMU maps them") {
    qf::host_memory ram(2 << 20, "ram"), rom(128 << 10, "rom");
    std::memset(rom.data(), 0xab, rom.size());
    qf::address_space as;
    as.add({"ram", {0}, ram.size(), qf::region_kind::ram, ram.data()});
    as.add({"bios", {(1ull << 32) - rom.size()}, rom.size(), qf::region_kind::rom, rom.data()});
    as.add({"isa-bios", {0xe0000}, rom.size(), qf::region_kind::rom, rom.data(), {}, 1});

    write32(as, 0x1000, 0xdeadbeef);
    CHECK(read32(as, 0x1000) == 0xdeadbeef);
    CHECK(read32(as, 0xf0000) == 0xabababab);        // the alias hides RAM...
    write32(as, 0xf0000, 0x12345678);                // ...and ignores writes, as ROM
    CHECK(read32(as, 0xf0000) == 0xabababab);
    CHECK(read32(as, 0xfffffff0) == 0xabababab);     // the top of 4 GiB
    as.load({0xffff0000}, std::as_bytes(std::span("\x11\x22", 2)));  // loaders may write ROM
    CHECK(read32(as, 0xf0000) == 0xabab2211);        // and the alias shows it
    CHECK(read32(as, 0x100000) == 0);                // RAM above the alias
    CHECK(read32(as, 0x80000000) == 0);              // unassigned reads as 0
    write32(as, 0x80000000, 1);                      // and drops writes
    // An access across the end of RAM reads RAM, then unassigned.
    write32(as, ram.size() - 2, 0xffffffff);
    CHECK(read32(as, ram.size() - 2) == 0x0000ffff);
    REQUIRE(as.flat_view().size() == 4);  // ram | isa-bios | ram | bios
}

TEST_CASE("overlapping regions of equal priority are refused") {
    qf::host_memory a(1 << 20, "a");
    qf::address_space as;
    as.add({"a", {0}, a.size(), qf::region_kind::ram, a.data()});
    CHECK_THROWS_WITH(as.add({"b", {0x80000}, 0x1000, qf::region_kind::ram, a.data()}),
                      Catch::Matchers::Contains("overlaps 'a'"));
    CHECK_THROWS_AS(as.load({0x200000}, std::as_bytes(std::span("x", 1))), qf::error);
}

TEST_CASE("MMIO regions reach their device with the offset") {
    struct dev {
        std::uint64_t last_off = 0;
        std::byte last{};
    } d;
    qf::mmio_ops ops{
        [](void* p, std::uint64_t off, std::span<std::byte> out) {
            for (std::size_t i = 0; i < out.size(); ++i) out[i] = std::byte(off + i);
            static_cast<dev*>(p)->last_off = off;
        },
        [](void* p, std::uint64_t off, std::span<const std::byte> in) {
            static_cast<dev*>(p)->last_off = off;
            static_cast<dev*>(p)->last = in[0];
        },
        &d};
    qf::address_space as;
    as.add({"mmio", {0xfee00000}, 0x1000, qf::region_kind::mmio, nullptr, ops});
    CHECK(read32(as, 0xfee00010) == 0x13121110);
    write32(as, 0xfee00020, 0x99);
    CHECK(d.last_off == 0x20);
    CHECK(d.last == std::byte{0x99});
}

TEST_CASE("the host refuses absurd RAM sizes with a clear error") {
    CHECK_THROWS_WITH(qf::host_memory(1ull << 62, "huge"),
                      Catch::Matchers::Contains("cannot set up guest memory 'huge'"));
}
