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

namespace {
struct recorder : qf::memory_listener {
    std::vector<std::pair<std::uint64_t, std::uint64_t>> changes, writes;
    void map_changed(std::uint64_t first, std::uint64_t last) override { changes.emplace_back(first, last); }
    void ram_written(std::uint64_t addr, std::uint64_t len) override { writes.emplace_back(addr, len); }
};
} // namespace

TEST_CASE("regions that the guest maps at run time: enable, move, overlap, and listeners told") {
    qf::host_memory ram(1 << 20, "ram"), shadow(64 << 10, "shadow");
    std::memset(shadow.data(), 0x5a, shadow.size());
    qf::address_space as;
    as.add({"ram", {0}, ram.size(), qf::region_kind::ram, ram.data()});
    // Two views of one place taking turns, as PAM's: RAM read-only, or the ROM.
    auto ro = as.add({"pam-ro", {0xf0000}, 0x10000, qf::region_kind::rom, ram.data() + 0xf0000, {}, 1, true, false});
    auto rom = as.add({"pam-rom", {0xf0000}, 0x10000, qf::region_kind::rom, shadow.data(), {}, 1, true, true});
    recorder rec;
    as.add_listener(&rec);
    write32(as, 0xf0000, 0x11111111);  // to the ROM view: ignored
    CHECK(read32(as, 0xf0000) == 0x5a5a5a5a);
    as.set_enabled(rom, false);
    CHECK(read32(as, 0xf0000) == 0);  // RAM under it, which the write did not reach
    as.set_enabled(ro, true);
    REQUIRE(rec.changes.size() == 2);
    CHECK(rec.changes[0] == std::pair<std::uint64_t, std::uint64_t>{0xf0000, 0xfffff});
    as.set_enabled(ro, true);  // no change, no news
    CHECK(rec.changes.size() == 2);

    // A BAR the guest moves, over another one: the one added first answers.
    std::vector<std::byte> bar_a(0x1000, std::byte{0xaa}), bar_b(0x1000, std::byte{0xbb});
    auto a = as.add({"bar-a", {0x200000}, 0x1000, qf::region_kind::rom, bar_a.data(), {}, -1, true});
    auto b = as.add({"bar-b", {0x300000}, 0x1000, qf::region_kind::rom, bar_b.data(), {}, -1, true});
    as.move(b, {0x200000});
    CHECK(read32(as, 0x200000) == 0xaaaaaaaa);
    as.move(a, {0x400000});
    CHECK(read32(as, 0x200000) == 0xbbbbbbbb);
    CHECK(read32(as, 0x400000) == 0xaaaaaaaa);
    // Under RAM (priority -1), a BAR programmed over RAM is hidden by it.
    as.move(a, {0x1000});
    CHECK(read32(as, 0x1000) == 0);
    as.remove_listener(&rec);
}

TEST_CASE("DMA: the RAM parts of a range are written and told, the rest refused, as QEMU's") {
    qf::host_memory ram(1 << 20, "ram");
    qf::address_space as;
    as.add({"ram", {0}, ram.size(), qf::region_kind::ram, ram.data()});
    recorder rec;
    as.add_listener(&rec);
    const std::byte data[8] = {std::byte{1}, std::byte{2}};
    CHECK(as.dma_write({0x1000}, data));
    REQUIRE(rec.writes.size() == 1);
    CHECK(rec.writes[0] == std::pair<std::uint64_t, std::uint64_t>{0x1000, 8});
    CHECK(read32(as, 0x1000) == 0x0201);
    // Across the end of RAM: the part in RAM written and told, false.
    CHECK_FALSE(as.dma_write({ram.size() - 4}, data));
    CHECK(read32(as, ram.size() - 4) == 0x0201);
    REQUIRE(rec.writes.size() == 2);
    CHECK(rec.writes[1] == std::pair<std::uint64_t, std::uint64_t>{ram.size() - 4, 4});
    // Into ROM: refused, the ROM unchanged.
    qf::host_memory rom(4096, "rom");
    as.add({"rom", {0x200000}, rom.size(), qf::region_kind::rom, rom.data()});
    CHECK_FALSE(as.dma_write({0x200000}, data));
    CHECK(rom.data()[0] == std::byte{0});
    std::byte out[8];
    std::memset(out, 0x77, sizeof out);
    CHECK_FALSE(as.dma_read({ram.size() - 4}, out));
    CHECK(out[0] == std::byte{0});
    CHECK(as.dma_read({0x1000}, out));
    CHECK(out[1] == std::byte{2});
    CHECK_FALSE(as.dma_read({~0ull - 2}, out));  // wraps the address space
    as.remove_listener(&rec);
}
