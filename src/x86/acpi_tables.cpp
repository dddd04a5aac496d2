// ACPI 6.4: RSDP (5.2.5), the table header (5.2.6), XSDT (5.2.8), FADT
// (5.2.9, revision 3's 244 bytes, which Linux and ACPICA take), FACS
// (5.2.10), DSDT (5.2.11.1), MADT (5.2.12).
#include "targets/x86/boot/acpi_tables.hpp"

#include <algorithm>
#include <cstring>
#include <numeric>

namespace qf::x86 {

namespace {
void put(std::vector<std::byte>& v, std::size_t at, std::uint64_t value, unsigned n) {
    for (unsigned i = 0; i < n; ++i) v[at + i] = std::byte(static_cast<std::uint8_t>(value >> (8 * i)));
}
void put_text(std::vector<std::byte>& v, std::size_t at, const char* s) {
    std::memcpy(v.data() + at, s, std::strlen(s));
}
std::byte checksum(const std::byte* first, std::size_t n) {
    const unsigned sum = std::accumulate(first, first + n, 0u, [](unsigned s, std::byte b) { return s + std::to_integer<unsigned>(b); });
    return std::byte(static_cast<std::uint8_t>(-sum));
}

constexpr std::size_t header_size = 36;

// A table: its header (checksum last) over `body` bytes.
std::vector<std::byte> table(const char* signature, std::uint8_t revision, std::vector<std::byte> body) {
    std::vector<std::byte> t(header_size + body.size());
    std::copy(body.begin(), body.end(), t.begin() + header_size);
    put_text(t, 0, signature);
    put(t, 4, header_size + body.size(), 4);
    t[8] = std::byte{revision};
    put_text(t, 10, "QFORGE");
    put_text(t, 16, "QFMICROV");
    put(t, 24, 1, 4);
    put_text(t, 28, "QFRG");
    put(t, 32, 1, 4);
    t[9] = checksum(t.data(), t.size());
    return t;
}

// A Generic Address Structure for a system I/O register.
void put_gas_io(std::vector<std::byte>& v, std::size_t at, unsigned bits, std::uint64_t port) {
    v[at] = std::byte{1};  // system I/O
    v[at + 1] = std::byte(static_cast<std::uint8_t>(bits));
    v[at + 2] = std::byte{0};
    v[at + 3] = std::byte{1};  // byte access
    put(v, at + 4, port, 8);
}

class blob {
public:
    explicit blob(std::uint32_t base) : base_(base) {}
    // Appends t at the next multiple of align; its guest address.
    std::uint32_t add(const std::vector<std::byte>& t, std::size_t align = 16) {
        const std::size_t offset = (out_.size() + align - 1) / align * align;
        out_.resize(offset + t.size());
        std::copy(t.begin(), t.end(), out_.begin() + static_cast<std::ptrdiff_t>(offset));
        return static_cast<std::uint32_t>(base_ + offset);
    }
    std::vector<std::byte>& bytes() { return out_; }

private:
    std::uint32_t base_;
    std::vector<std::byte> out_;
};
} // namespace

std::vector<std::byte> build_acpi_tables(const acpi_config& c) {
    blob out(c.addr);
    out.add(std::vector<std::byte>(36));  // the RSDP, filled in last

    // FACS: 64 bytes, 64-byte aligned; no waking vector (no S3).
    std::vector<std::byte> facs(64);
    put_text(facs, 0, "FACS");
    put(facs, 4, 64, 4);
    facs[32] = std::byte{2};  // version
    const std::uint32_t facs_addr = out.add(facs, 64);

    // DSDT: Name (_S5, Package (4) {0, 0, 0, 0}) - SLP_TYP 0 is S5 to
    // dev::acpi_pm.
    const std::vector<std::byte> aml = {std::byte{0x08}, std::byte{'_'}, std::byte{'S'}, std::byte{'5'},
                                        std::byte{'_'},  std::byte{0x12}, std::byte{0x06}, std::byte{0x04},
                                        std::byte{0x00}, std::byte{0x00}, std::byte{0x00}, std::byte{0x00}};
    const std::uint32_t dsdt_addr = out.add(table("DSDT", 2, aml));

    std::vector<std::byte> fadt(244 - header_size);
    auto f = [&fadt](std::size_t offset, std::uint64_t v, unsigned n) { put(fadt, offset - header_size, v, n); };
    f(36, facs_addr, 4);
    f(40, dsdt_addr, 4);
    f(46, c.sci_irq, 2);
    f(56, c.pm1_evt, 4);
    f(64, c.pm1_cnt, 4);
    f(88, 4, 1);  // PM1_EVT_LEN
    f(89, 2, 1);  // PM1_CNT_LEN
    f(96, 0x0fff, 2);  // P_LVL2_LAT: C2 not supported
    f(98, 0x0fff, 2);  // P_LVL3_LAT: C3 not supported
    f(108, 0x32, 1);   // the RTC's century byte
    f(109, 1u << 2, 2);  // IAPC_BOOT_ARCH: no VGA; no 8042, no legacy devices to probe
    // Flags: WBINVD, PROC_C1, SLP_BUTTON (no fixed sleep button),
    // RESET_REG_SUP.
    f(112, (1u << 0) | (1u << 2) | (1u << 5) | (1u << 10), 4);
    put_gas_io(fadt, 116 - header_size, 8, c.reset_port);
    f(128, c.reset_value, 1);
    f(132, facs_addr, 8);  // X_FIRMWARE_CTRL
    f(140, dsdt_addr, 8);  // X_DSDT
    put_gas_io(fadt, 148 - header_size, 32, c.pm1_evt);
    put_gas_io(fadt, 172 - header_size, 16, c.pm1_cnt);
    const std::uint32_t fadt_addr = out.add(table("FACP", 3, fadt));

    std::vector<std::byte> madt(8);
    put(madt, 0, c.lapic_addr, 4);
    put(madt, 4, 1, 4);  // PCAT_COMPAT: the 8259s are there (masked by the OS)
    auto entry = [&madt](std::initializer_list<std::pair<std::uint64_t, unsigned>> fields) {
        for (auto [v, n] : fields) {
            madt.resize(madt.size() + n);
            put(madt, madt.size() - n, v, n);
        }
    };
    for (unsigned i = 0; i < c.cpus; ++i) entry({{0, 1}, {8, 1}, {i, 1}, {i, 1}, {1, 4}});  // local APIC, enabled
    entry({{1, 1}, {12, 1}, {c.ioapic_id, 1}, {0, 1}, {c.ioapic_addr, 4}, {0, 4}});     // IOAPIC, GSI base 0
    entry({{2, 1}, {10, 1}, {0, 1}, {0, 1}, {2, 4}, {0, 2}});                            // IRQ 0 -> GSI 2
    entry({{2, 1}, {10, 1}, {0, 1}, {c.sci_irq, 1}, {c.sci_irq, 4}, {0x000d, 2}});       // SCI: level, active high
    entry({{4, 1}, {6, 1}, {0xff, 1}, {0, 2}, {1, 1}});                                  // NMI on LINT1, all CPUs
    const std::uint32_t madt_addr = out.add(table("APIC", 4, madt));

    std::vector<std::byte> xsdt(16);
    put(xsdt, 0, fadt_addr, 8);
    put(xsdt, 8, madt_addr, 8);
    const std::uint32_t xsdt_addr = out.add(table("XSDT", 1, xsdt));

    std::vector<std::byte>& b = out.bytes();
    put_text(b, 0, "RSD PTR ");
    put_text(b, 9, "QFORGE");
    b[15] = std::byte{2};  // revision: ACPI 2.0+, XSDT
    put(b, 20, 36, 4);
    put(b, 24, xsdt_addr, 8);
    b[8] = checksum(b.data(), 20);
    b[32] = checksum(b.data(), 36);
    return b;
}

} // namespace qf::x86
