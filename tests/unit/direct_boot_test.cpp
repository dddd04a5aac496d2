// What a firmware-less board (microvm) hands a kernel: the zero page, page
// tables and entry state of the Linux boot protocol (Documentation/arch/
// x86/boot.rst), the ACPI tables and the MP table, parsed back here the
// way Linux reads them; and the ACPI PM registers behind the FADT. The
// Linux boot test runs Debian's kernel through all of it.
#include "qf/core/error.hpp"
#include "qf/devices/acpi_pm.hpp"
#include "targets/x86/boot/acpi_tables.hpp"
#include "targets/x86/boot/linux_direct.hpp"
#include "targets/x86/boot/mptable.hpp"
#include "targets/x86/vcpu.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

namespace {

using namespace qf::x86;

std::vector<std::byte> bzimage(std::uint16_t protocol, std::uint16_t xloadflags, std::size_t payload = 4096) {
    std::vector<std::byte> k(3 * 512 + payload);
    for (std::size_t i = 0; i < payload; ++i) k[3 * 512 + i] = std::byte(static_cast<std::uint8_t>(i * 7));
    k[0x1f1] = std::byte{2};
    k[0x201] = std::byte{0x66};  // the jump over the header: it ends at 0x268, code follows
    std::fill(k.begin() + 0x268, k.begin() + 0x300, std::byte{0x5a});
    std::memcpy(k.data() + 0x202, "HdrS", 4);
    k[0x206] = std::byte(protocol & 0xff);
    k[0x207] = std::byte(protocol >> 8);
    k[0x211] = std::byte{0x01};  // LOADED_HIGH
    const std::uint32_t initrd_addr_max = 0x7fffffff, code32_start = 0x100000;
    std::memcpy(k.data() + 0x214, &code32_start, 4);
    std::memcpy(k.data() + 0x22c, &initrd_addr_max, 4);
    std::memcpy(k.data() + 0x236, &xloadflags, 2);
    return k;
}
template <class T>
T rd(const std::vector<std::byte>& v, std::size_t at) {
    T x;
    std::memcpy(&x, v.data() + at, sizeof x);
    return x;
}
unsigned sum(const std::byte* p, std::size_t n) {
    return std::accumulate(p, p + n, 0u, [](unsigned s, std::byte b) { return s + std::to_integer<unsigned>(b); }) & 0xff;
}
const guest_blob* blob_at(const linux_direct_boot& b, std::uint64_t addr) {
    for (auto& x : b.blobs)
        if (x.addr == addr) return &x;
    return nullptr;
}
linux_boot_config config(const std::vector<std::byte>& k, std::string append, std::size_t initrd = 0) {
    linux_boot_config c;
    c.kernel_path = "bzImage";
    c.kernel = k;
    c.append = std::move(append);
    if (initrd) {
        c.initrd_path = "initrd";
        c.initrd.assign(initrd, std::byte{0x42});
    }
    c.below_4g_mem_size = 64u << 20;
    return c;
}
const std::vector<e820_entry> e820 = {{0, 0x9fc00, e820_ram}, {0xe0000, 0x20000, e820_reserved},
                                      {0x100000, (64u << 20) - 0x100000, e820_ram}};

} // namespace

TEST_CASE("direct Linux boot: a 64-bit kernel gets the zero page, page tables and startup_64") {
    const auto k = bzimage(0x020f, 0x1);
    const linux_direct_boot b = build_linux_direct(config(k, "console=ttyS0", 1000), e820);
    CHECK(b.long_mode);
    CHECK(b.entry == 0x100200);
    CHECK(b.boot_params == 0x7000);

    const guest_blob* zp = blob_at(b, 0x7000);
    REQUIRE(zp);
    REQUIRE(zp->bytes.size() == 4096);
    // The setup header as the file has it, with the loader's fields.
    CHECK(std::memcmp(zp->bytes.data() + 0x202, "HdrS", 4) == 0);
    CHECK(rd<std::uint32_t>(zp->bytes, 0x214) == 0x100000);
    CHECK(std::to_integer<unsigned>(zp->bytes[0x210]) == 0xb0);
    CHECK(rd<std::uint32_t>(zp->bytes, 0x228) == 0x20000);
    // The initrd at the top of RAM, page-aligned (no ACPI reservation).
    CHECK(rd<std::uint32_t>(zp->bytes, 0x218) == (((64u << 20) - 1 - 1000) & ~4095u));
    CHECK(rd<std::uint32_t>(zp->bytes, 0x21c) == 1000);
    // Nothing past the header's end (0x202 + the jump's byte) was copied.
    CHECK(std::to_integer<unsigned>(zp->bytes[0x268]) == 0);
    // The e820 map.
    REQUIRE(std::to_integer<unsigned>(zp->bytes[0x1e8]) == 3);
    CHECK(rd<std::uint64_t>(zp->bytes, 0x2d0 + 20) == 0xe0000);
    CHECK(rd<std::uint64_t>(zp->bytes, 0x2d0 + 28) == 0x20000);
    CHECK(rd<std::uint32_t>(zp->bytes, 0x2d0 + 36) == e820_reserved);
    CHECK(rd<std::uint64_t>(zp->bytes, 0x2d0 + 48) == (64u << 20) - 0x100000);

    const guest_blob* cmd = blob_at(b, 0x20000);
    REQUIRE(cmd);
    CHECK(std::string(reinterpret_cast<const char*>(cmd->bytes.data())) == "console=ttyS0");
    const guest_blob* kernel = blob_at(b, 0x100000);
    REQUIRE(kernel);
    REQUIRE(kernel->bytes.size() == 4096);  // the part after the setup sectors
    CHECK(std::to_integer<unsigned>(kernel->bytes[3]) == 21);
    const guest_blob* initrd = blob_at(b, rd<std::uint32_t>(zp->bytes, 0x218));
    REQUIRE(initrd);
    CHECK(initrd->bytes.size() == 1000);

    // __BOOT_CS a 64-bit code segment, __BOOT_DS flat data.
    const guest_blob* gdt = blob_at(b, 0x500);
    REQUIRE(gdt);
    CHECK(rd<std::uint64_t>(gdt->bytes, 0x10) == 0x00af9b000000ffffull);
    CHECK(rd<std::uint64_t>(gdt->bytes, 0x18) == 0x00cf93000000ffffull);
    // Identity-mapped 4 GiB in 2 MiB pages under CR3.
    const guest_blob* pt = blob_at(b, b.page_tables);
    REQUIRE(pt);
    auto walk = [&](std::uint64_t va) {
        const std::uint64_t pml4e = rd<std::uint64_t>(pt->bytes, 8 * ((va >> 39) & 511));
        REQUIRE((pml4e & 1));
        const std::uint64_t pdpte = rd<std::uint64_t>(pt->bytes, (pml4e & ~0xfffull) - b.page_tables + 8 * ((va >> 30) & 511));
        REQUIRE((pdpte & 1));
        const std::uint64_t pde = rd<std::uint64_t>(pt->bytes, (pdpte & ~0xfffull) - b.page_tables + 8 * ((va >> 21) & 511));
        REQUIRE((pde & 0x81) == 0x81);  // present, 2 MiB
        return (pde & ~0x1fffffull) | (va & 0x1fffff);
    };
    for (std::uint64_t va : {0x0ull, 0x7000ull, 0x100200ull, 0x3ffe000ull, 0xfec00000ull, 0xffffffffull})
        CHECK(walk(va) == va);

    state s{};
    reset_state(s, cpu::qemu64::def);
    enter_linux_direct(s, b);
    CHECK(s.rip == 0x100200);
    CHECK(s.regs[R_ESI] == 0x7000);
    CHECK(s.regs[R_EBP] == 0);
    CHECK(s.segs[R_CS].selector == 0x10);
    CHECK(s.segs[R_DS].selector == 0x18);
    CHECK(s.segs[R_SS].selector == 0x18);
    CHECK((s.cr[0] & 0x80000001) == 0x80000001);
    CHECK(s.cr[3] == b.page_tables);
    CHECK((s.cr[4] & (1u << 5)));
    CHECK(s.efer == 0x500);
    CHECK((s.hflags & (hflag::lma | hflag::cs64 | hflag::pe)) == (hflag::lma | hflag::cs64 | hflag::pe));
    CHECK_FALSE((s.eflags & eflags_bit::if_));
}

TEST_CASE("direct Linux boot: a kernel without XLF_KERNEL_64 starts at code32_start in flat protected mode") {
    const auto k = bzimage(0x020a, 0);
    const linux_direct_boot b = build_linux_direct(config(k, ""), e820);
    CHECK_FALSE(b.long_mode);
    CHECK(b.entry == 0x100000);
    CHECK_FALSE(blob_at(b, 0x9000));  // no page tables
    CHECK(rd<std::uint64_t>(blob_at(b, 0x500)->bytes, 0x10) == 0x00cf9b000000ffffull);
    state s{};
    reset_state(s, cpu::qemu64::def);
    enter_linux_direct(s, b);
    CHECK(s.rip == 0x100000);
    CHECK(s.cr[0] == 0x11);
    CHECK(s.efer == 0);
    CHECK((s.hflags & (hflag::pe | hflag::cs32 | hflag::ss32)) == (hflag::pe | hflag::cs32 | hflag::ss32));
    CHECK_FALSE((s.hflags & hflag::lma));
}

TEST_CASE("direct Linux boot: files it cannot enter are errors") {
    std::vector<std::byte> not_linux(4096, std::byte{0x90});
    CHECK_THROWS_WITH(build_linux_direct(config(not_linux, ""), e820), Catch::Contains("not a Linux bzImage"));
    const auto old = bzimage(0x0201, 0);
    CHECK_THROWS_WITH(build_linux_direct(config(old, ""), e820), Catch::Contains("protocol 2.02 or later"));
    auto zimage = bzimage(0x020f, 1);
    zimage[0x211] = std::byte{0};
    CHECK_THROWS_WITH(build_linux_direct(config(zimage, ""), e820), Catch::Contains("a zImage"));
    const auto huge = bzimage(0x020f, 1, 70u << 20);
    CHECK_THROWS_WITH(build_linux_direct(config(huge, ""), e820), Catch::Contains("does not fit in RAM"));
    const auto k = bzimage(0x020f, 1, 40u << 20);
    CHECK_THROWS_WITH(build_linux_direct(config(k, "", 30u << 20), e820), Catch::Contains("initrd"));
}

TEST_CASE("MP table: floating pointer and configuration table as Linux's mpparse reads them") {
    mptable_config c;
    c.addr = 0x9fc00;
    c.cpus = 3;
    c.cpu_signature = 0x663;
    c.cpu_features = 0x0781abfd;
    const std::vector<std::byte> t = build_mptable(c);
    REQUIRE(t.size() > 16 + 44);
    CHECK(std::memcmp(t.data(), "_MP_", 4) == 0);
    CHECK(sum(t.data(), 16) == 0);
    CHECK(rd<std::uint32_t>(t, 4) == 0x9fc10);
    CHECK(std::to_integer<unsigned>(t[9]) == 4);
    const std::byte* h = t.data() + 16;
    CHECK(std::memcmp(h, "PCMP", 4) == 0);
    const std::uint16_t length = rd<std::uint16_t>(t, 16 + 4);
    CHECK(length == t.size() - 16);
    CHECK(sum(h, length) == 0);
    CHECK(rd<std::uint32_t>(t, 16 + 36) == 0xfee00000);
    // Walk the entries.
    unsigned cpus = 0, bsp = 0, ioapics = 0, buses = 0, lints = 0;
    std::vector<std::pair<unsigned, unsigned>> irqs;  // source IRQ -> pin
    std::size_t at = 16 + 44;
    for (unsigned n = rd<std::uint16_t>(t, 16 + 34); n; --n) {
        switch (std::to_integer<unsigned>(t[at])) {
        case 0:
            CHECK(std::to_integer<unsigned>(t[at + 1]) == cpus);
            bsp += (std::to_integer<unsigned>(t[at + 3]) & 2) ? 1 : 0;
            CHECK(rd<std::uint32_t>(t, at + 4) == 0x663);
            ++cpus, at += 20;
            break;
        case 1:
            CHECK(std::memcmp(t.data() + at + 2, "ISA   ", 6) == 0);
            ++buses, at += 8;
            break;
        case 2:
            CHECK(rd<std::uint32_t>(t, at + 4) == 0xfec00000);
            ++ioapics, at += 8;
            break;
        case 3: irqs.emplace_back(std::to_integer<unsigned>(t[at + 5]), std::to_integer<unsigned>(t[at + 7])), at += 8; break;
        case 4: ++lints, at += 8; break;
        default: FAIL("unknown entry type"); break;
        }
    }
    CHECK(at == t.size());
    CHECK(cpus == 3);
    CHECK(bsp == 1);
    CHECK(buses == 1);
    CHECK(ioapics == 1);
    CHECK(lints == 2);
    REQUIRE(irqs.size() == 15);
    CHECK(irqs[0] == std::pair{0u, 2u});
    for (auto [src, pin] : irqs) {
        CHECK(src != 2);
        if (src) CHECK(pin == src);
    }
}

namespace {
// An ACPI table at a guest address in the blob: its bytes, checked.
struct tables {
    std::vector<std::byte> blob;
    std::uint32_t base;
    const std::byte* at(std::uint64_t addr) const {
        REQUIRE(addr >= base);
        REQUIRE(addr - base + 36 <= blob.size());
        return blob.data() + (addr - base);
    }
    const std::byte* table(std::uint64_t addr, const char* sig) const {
        const std::byte* t = at(addr);
        CHECK(std::memcmp(t, sig, 4) == 0);
        std::uint32_t len;
        std::memcpy(&len, t + 4, 4);
        REQUIRE(addr - base + len <= blob.size());
        CHECK(sum(t, len) == 0);
        return t;
    }
};
template <class T>
T rdp(const std::byte* p) {
    T x;
    std::memcpy(&x, p, sizeof x);
    return x;
}
} // namespace

TEST_CASE("ACPI tables: RSDP, XSDT, FADT with FACS and DSDT, and a MADT with every CPU") {
    acpi_config c;
    c.addr = 0xe0000;
    c.cpus = 4;
    c.pm1_evt = 0x600;
    c.pm1_cnt = 0x604;
    c.reset_port = 0x608;
    c.reset_value = 1;
    const tables t{build_acpi_tables(c), 0xe0000};
    const std::byte* rsdp = t.blob.data();
    CHECK(std::memcmp(rsdp, "RSD PTR ", 8) == 0);
    CHECK(sum(rsdp, 20) == 0);
    CHECK(sum(rsdp, 36) == 0);
    CHECK(std::to_integer<unsigned>(rsdp[15]) == 2);
    const std::byte* xsdt = t.table(rdp<std::uint64_t>(rsdp + 24), "XSDT");
    REQUIRE(rdp<std::uint32_t>(xsdt + 4) == 36 + 16);
    const std::byte* fadt = t.table(rdp<std::uint64_t>(xsdt + 36), "FACP");
    const std::byte* madt = t.table(rdp<std::uint64_t>(xsdt + 44), "APIC");

    // FADT: not hardware-reduced, no SMI command port, PM1 blocks, SCI 9,
    // the reset register.
    CHECK_FALSE((rdp<std::uint32_t>(fadt + 112) & (1u << 20)));
    CHECK((rdp<std::uint32_t>(fadt + 112) & (1u << 10)));
    CHECK(rdp<std::uint32_t>(fadt + 48) == 0);
    CHECK(rdp<std::uint16_t>(fadt + 46) == 9);
    CHECK(rdp<std::uint32_t>(fadt + 56) == 0x600);
    CHECK(rdp<std::uint32_t>(fadt + 64) == 0x604);
    CHECK(std::to_integer<unsigned>(fadt[88]) == 4);
    CHECK(std::to_integer<unsigned>(fadt[89]) == 2);
    CHECK(std::to_integer<unsigned>(fadt[116]) == 1);  // RESET_REG in system I/O
    CHECK(rdp<std::uint64_t>(fadt + 120) == 0x608);
    CHECK(std::to_integer<unsigned>(fadt[128]) == 1);
    const std::uint64_t facs = rdp<std::uint32_t>(fadt + 36);
    CHECK(facs % 64 == 0);
    CHECK(std::memcmp(t.at(facs), "FACS", 4) == 0);
    CHECK(rdp<std::uint64_t>(fadt + 132) == facs);
    const std::byte* dsdt = t.table(rdp<std::uint32_t>(fadt + 40), "DSDT");
    CHECK(rdp<std::uint64_t>(fadt + 140) == rdp<std::uint32_t>(fadt + 40));
    const std::uint32_t dsdt_len = rdp<std::uint32_t>(dsdt + 4);
    const std::string aml(reinterpret_cast<const char*>(dsdt) + 36, dsdt_len - 36);
    CHECK(aml.find("_S5_") != std::string::npos);

    // MADT: the local APIC address, then its entries.
    CHECK(rdp<std::uint32_t>(madt + 36) == 0xfee00000);
    const std::uint32_t madt_len = rdp<std::uint32_t>(madt + 4);
    unsigned lapics = 0, ioapics = 0, nmis = 0;
    bool irq0_to_2 = false, sci_level = false;
    for (std::uint32_t at = 44; at < madt_len;) {
        const unsigned type = std::to_integer<unsigned>(madt[at]), len = std::to_integer<unsigned>(madt[at + 1]);
        REQUIRE(len >= 2);
        if (type == 0) {
            CHECK(std::to_integer<unsigned>(madt[at + 3]) == lapics);
            CHECK(rdp<std::uint32_t>(madt + at + 4) == 1);
            ++lapics;
        } else if (type == 1) {
            CHECK(rdp<std::uint32_t>(madt + at + 4) == 0xfec00000);
            ++ioapics;
        } else if (type == 2) {
            const unsigned src = std::to_integer<unsigned>(madt[at + 3]);
            const std::uint32_t gsi = rdp<std::uint32_t>(madt + at + 4);
            const std::uint16_t flags = rdp<std::uint16_t>(madt + at + 8);
            if (src == 0) irq0_to_2 = gsi == 2 && flags == 0;
            if (src == 9) sci_level = gsi == 9 && flags == 0xd;
        } else if (type == 4) {
            CHECK(std::to_integer<unsigned>(madt[at + 5]) == 1);  // LINT1
            ++nmis;
        }
        at += len;
    }
    CHECK(lapics == 4);
    CHECK(ioapics == 1);
    CHECK(nmis == 1);
    CHECK(irq0_to_2);
    CHECK(sci_level);
}

TEST_CASE("ACPI PM registers: S5 powers off / the reset register resets / SCI follows status and enable") {
    bool sci = false;
    qf::device_context ctx;
    ctx.irq = [&sci](unsigned gsi) {
        CHECK(gsi == 9);
        return qf::irq_line{[](void* p, unsigned, bool level) { *static_cast<bool*>(p) = level; }, &sci, gsi};
    };
    qf::dev::acpi_pm pm(ctx);
    int poweroffs = 0, resets = 0;
    pm.on_poweroff = [&] { ++poweroffs; };
    pm.on_reset = [&] { ++resets; };
    auto out16 = [&](std::uint16_t off, std::uint16_t v) { pm.pio_write(0, off, std::as_bytes(std::span(&v, 1))); };
    auto in16 = [&](std::uint16_t off) {
        std::uint16_t v = 0;
        pm.pio_read(0, off, std::as_writable_bytes(std::span(&v, 1)));
        return v;
    };
    pm.reset();
    CHECK((in16(4) & 1));  // SCI_EN: always in ACPI mode
    // Linux's sequence for S5: SLP_TYP first, then SLP_EN with it.
    out16(4, 0 << 10);
    CHECK(poweroffs == 0);
    out16(4, (0 << 10) | (1u << 13));
    CHECK(poweroffs == 1);
    CHECK_FALSE((in16(4) & (1u << 13)));  // SLP_EN reads 0
    out16(4, (5 << 10) | (1u << 13));     // a sleep type the DSDT does not offer
    CHECK(poweroffs == 1);

    const std::uint8_t wrong = 0x06, right = qf::dev::acpi_pm::reset_value;
    pm.pio_write(1, 0, std::as_bytes(std::span(&wrong, 1)));
    CHECK(resets == 0);
    pm.pio_write(1, 0, std::as_bytes(std::span(&right, 1)));
    CHECK(resets == 1);

    // The power button: status without enable raises no SCI.
    out16(0, 0xffff);
    pm.press_power_button();
    CHECK((in16(0) & (1u << 8)));
    CHECK_FALSE(sci);
    out16(2, 1u << 8);
    CHECK(in16(2) == (1u << 8));
    CHECK(sci);
    out16(0, 1u << 8);  // write 1 to clear
    CHECK_FALSE((in16(0) & (1u << 8)));
    CHECK_FALSE(sci);
    out16(2, 0xffff);  // only the enables that exist stick
    CHECK(in16(2) == ((1u << 5) | (1u << 8) | (1u << 10)));
}
