// Intel MultiProcessor Specification 1.4, chapter 4 (MP configuration
// table), the entries Linux's mpparse.c reads.
#include "targets/x86/boot/mptable.hpp"

#include <cstring>
#include <numeric>

namespace qf::x86 {

namespace {
class writer {
public:
    explicit writer(std::vector<std::byte>& out) : out_(out) {}
    void u8(unsigned v) { out_.push_back(std::byte(static_cast<std::uint8_t>(v))); }
    void u16(unsigned v) { u8(v), u8(v >> 8); }
    void u32(std::uint32_t v) { u16(v & 0xffff), u16(v >> 16); }
    void text(const char* s, std::size_t n) {
        for (std::size_t i = 0; i < n; ++i) u8(static_cast<unsigned char>(s[i]));
    }

private:
    std::vector<std::byte>& out_;
};

// The byte that makes [first, last) sum to zero.
std::byte checksum(const std::byte* first, const std::byte* last) {
    const unsigned sum = std::accumulate(first, last, 0u, [](unsigned s, std::byte b) { return s + std::to_integer<unsigned>(b); });
    return std::byte(static_cast<std::uint8_t>(-sum));
}

constexpr unsigned entry_processor = 0, entry_bus = 1, entry_ioapic = 2, entry_intsrc = 3, entry_lintsrc = 4;
constexpr unsigned int_vectored = 0, int_nmi = 1, int_extint = 3;
constexpr unsigned floating_size = 16, header_size = 44;
} // namespace

std::vector<std::byte> build_mptable(const mptable_config& c) {
    std::vector<std::byte> t;
    writer w(t);
    const std::uint32_t table_addr = c.addr + floating_size;

    // The floating pointer structure: one 16-byte paragraph, version 1.4,
    // a configuration table (feature byte 1 = 0), no IMCR (virtual wire).
    w.text("_MP_", 4);
    w.u32(table_addr);
    w.u8(1);  // length in paragraphs
    w.u8(4);  // specification revision 1.4
    w.u8(0);  // checksum, below
    w.u8(0), w.u8(0), w.u8(0), w.u8(0), w.u8(0);
    t[10] = checksum(t.data(), t.data() + floating_size);

    // The configuration table's header; length, entry count and checksum
    // once the entries are known.
    w.text("PCMP", 4);
    w.u16(0);  // base table length
    w.u8(4);   // revision
    w.u8(0);   // checksum
    w.text("QFORGE  ", 8);
    w.text("microvm     ", 12);
    w.u32(0);  // no OEM table
    w.u16(0);
    w.u16(0);  // entry count
    w.u32(c.lapic_addr);
    w.u16(0), w.u8(0), w.u8(0);  // no extended table
    unsigned entries = 0;

    for (unsigned i = 0; i < c.cpus; ++i, ++entries) {
        w.u8(entry_processor);
        w.u8(i);     // local APIC ID
        w.u8(0x14);  // local APIC version (an integrated xAPIC)
        w.u8(1u | (i == 0 ? 2u : 0u));  // enabled, bootstrap processor
        w.u32(c.cpu_signature);
        w.u32(c.cpu_features);
        w.u32(0), w.u32(0);
    }
    constexpr std::uint8_t isa_bus = 0;
    w.u8(entry_bus), w.u8(isa_bus), w.text("ISA   ", 6), ++entries;
    w.u8(entry_ioapic), w.u8(c.ioapic_id), w.u8(c.ioapic_version), w.u8(1), w.u32(c.ioapic_addr), ++entries;
    // ISA IRQs 0-15, edge-triggered and active high as the bus defines
    // (flags 0); IRQ 2 is the 8259's cascade and no source.
    for (unsigned irq = 0; irq < 16; ++irq) {
        if (irq == 2) continue;
        w.u8(entry_intsrc), w.u8(int_vectored), w.u16(0), w.u8(isa_bus), w.u8(irq), w.u8(c.ioapic_id);
        w.u8(irq == 0 ? 2 : irq);
        ++entries;
    }
    // LINT0 of every local APIC (0xff) takes the 8259's ExtINT, LINT1 NMI.
    w.u8(entry_lintsrc), w.u8(int_extint), w.u16(0), w.u8(isa_bus), w.u8(0), w.u8(0xff), w.u8(0), ++entries;
    w.u8(entry_lintsrc), w.u8(int_nmi), w.u16(0), w.u8(isa_bus), w.u8(0), w.u8(0xff), w.u8(1), ++entries;

    std::byte* h = t.data() + floating_size;
    const auto length = static_cast<std::uint16_t>(t.size() - floating_size);
    h[4] = std::byte(length & 0xff), h[5] = std::byte(length >> 8);
    h[34] = std::byte(entries & 0xff), h[35] = std::byte(entries >> 8);
    h[7] = checksum(h, h + length);
    return t;
}

} // namespace qf::x86
