#include "qf/pci/pci_testdev.hpp"

#include "qf/core/error.hpp"
#include "qf/core/log.hpp"
#include "qf/pci/pci_host.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>

namespace qf::pci {

namespace {

constexpr std::uint16_t qemu_subsystem_vendor = 0x1af4, qemu_subsystem = 0x1100;

const char* region_name(pci_testdev::space sp) {
    return sp == pci_testdev::space::mmio ? "pci-testdev-mmio" : "pci-testdev-portio";
}

// QEMU's memory core: these regions take any size, but only aligned to it.
bool valid(pci_testdev::space sp, std::uint32_t addr, std::size_t size, bool is_write) {
    const bool pow2 = size && (size & (size - 1)) == 0;
    if (pow2 && (addr & (size - 1)) == 0) return true;
    logf(log_item::guest_errors, "Invalid %s at addr 0x%X, size %zu, region '%s', reason: unaligned\n",
         is_write ? "write" : "read", addr, size, region_name(sp));
    return false;
}

[[noreturn]] void bad_value(const opt_list& o, std::string_view key, std::string_view v) {
    throw error("-device " + o.head + ": property '" + std::string(key) + "' doesn't take value '" +
                std::string(v) + "'");
}

// QEMU's size syntax (qemu_strtosz): decimal with an optional suffix B, K,
// M, G, T, P or E (any case; binary units), or 0x-hex with none. Fractions
// ("1.5M") are not taken here.
std::uint64_t parse_size(const opt_list& o, std::string_view key, std::string_view v) {
    std::string_view s = v;
    std::uint64_t n = 0;
    int base = 10;
    if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s.remove_prefix(2);
    }
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n, base);
    if (ec != std::errc{} || p == s.data()) bad_value(o, key, v);
    std::string_view rest(p, std::size_t(s.data() + s.size() - p));
    unsigned shift = 0;
    if (!rest.empty()) {
        if (base == 16 || rest.size() != 1) bad_value(o, key, v);
        switch (std::toupper(static_cast<unsigned char>(rest[0]))) {
        case 'B': shift = 0; break;
        case 'K': shift = 10; break;
        case 'M': shift = 20; break;
        case 'G': shift = 30; break;
        case 'T': shift = 40; break;
        case 'P': shift = 50; break;
        case 'E': shift = 60; break;
        default: bad_value(o, key, v);
        }
    }
    if (shift && n > (~std::uint64_t{0} >> shift)) bad_value(o, key, v);
    return n << shift;
}

// QEMU's PCI address property: "SLOT[.FN]" in hex, slot 0-31, fn 0-7.
unsigned parse_devfn(const opt_list& o, std::string_view v) {
    auto hex = [&](std::string_view s, unsigned max) {
        if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) s.remove_prefix(2);
        unsigned n = 0;
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n, 16);
        if (s.empty() || ec != std::errc{} || p != s.data() + s.size() || n > max) bad_value(o, "addr", v);
        return n;
    };
    const auto dot = v.find('.');
    const unsigned slot = hex(v.substr(0, dot), 31);
    const unsigned fn = dot == std::string_view::npos ? 0 : hex(v.substr(dot + 1), 7);
    return slot << 3 | fn;
}

void zero(std::span<std::byte> d) { std::fill(d.begin(), d.end(), std::byte{0}); }

} // namespace

pci_testdev::plug_spec pci_testdev::parse(const opt_list& o) {
    plug_spec s;
    for (auto& [k, v] : o.props) {
        if (k == "membar") {
            s.membar = parse_size(o, k, v);
            if (s.membar & (s.membar - 1))
                throw error("-device " + o.head + ": membar=" + v +
                            ": the size of a BAR must be a power of two (QEMU 7.2 aborts on this)");
        } else if (k == "addr") {
            s.devfn = parse_devfn(o, v);
        } else if (k == "bus") {
            if (v != "pci.0") throw error("-device " + o.head + ": Bus '" + v + "' not found");
        } else if (k != "id") {
            throw error("-device " + o.head + ": property '" + k + "' not found");
        }
    }
    return s;
}

unsigned pci_testdev::choose_devfn(const pci_host& host, const plug_spec& s) {
    const std::string who(qemu_name);
    unsigned devfn = 0;
    if (s.devfn) {
        devfn = *s.devfn;
        if (const pci_function* f = host.function(devfn))
            throw error("-device " + who + ": PCI: slot " + std::to_string(devfn >> 3) + " function " +
                        std::to_string(devfn & 7) + " not available for " + who + ", in use by " + f->name());
    } else {
        for (devfn = 0; devfn < 256 && host.function(devfn); devfn += 8) {}
        if (devfn >= 256)
            throw error("-device " + who + ": PCI: no slot/function available for " + who +
                        ", all in use or reserved");
    }
    // QEMU's pci_init_multifunction (this device is single-function).
    const unsigned slot = devfn >> 3;
    char where[24];
    if (devfn & 7) {
        const pci_function* f0 = host.function(slot << 3);
        if (f0 && !(f0->config_byte(reg::header_type) & 0x80)) {
            std::snprintf(where, sizeof where, "%x.%x", slot, devfn & 7);
            throw error("-device " + who + ": PCI: single function device can't be populated in function " +
                        where);
        }
    } else {
        for (unsigned fn = 1; fn < 8; ++fn)
            if (host.function(slot << 3 | fn)) {
                std::snprintf(where, sizeof where, "%x.%x", slot, fn);
                char s0[16];
                std::snprintf(s0, sizeof s0, "%x", slot);
                throw error("-device " + who + ": PCI: " + s0 + ".0 indicates single function, but " + where +
                            " is already populated.");
            }
    }
    return devfn;
}

pci_testdev::pci_testdev(const device_context& ctx, const plug_spec& spec)
    : context_holder{ctx},
      pci_function(held_ctx, std::string(name),
                   {vendor_id, device_id, 0x00, class_code, 0x00, qemu_subsystem_vendor, qemu_subsystem, 0}) {
    define_mmio_bar(0, mmio_size,
                    {[](void* d, std::uint64_t off, std::span<std::byte> data) {
                         static_cast<pci_testdev*>(d)->bar_read(space::mmio, std::uint32_t(off), data);
                     },
                     [](void* d, std::uint64_t off, std::span<const std::byte> data) {
                         static_cast<pci_testdev*>(d)->bar_write(space::mmio, std::uint32_t(off), data);
                     },
                     this});
    define_io_bar(1, io_size,
                  {[](void* d, std::uint16_t off, std::span<std::byte> data) {
                       static_cast<pci_testdev*>(d)->bar_read(space::portio, off, data);
                   },
                   [](void* d, std::uint16_t off, std::span<const std::byte> data) {
                       static_cast<pci_testdev*>(d)->bar_write(space::portio, off, data);
                   },
                   this});
    if (spec.membar) define_empty_mem64_bar(membar_index, spec.membar, true);
    reset();
}

// QEMU's device reset: the header's writable bits and the BARs cleared
// (the BARs unmapped with them), no test selected. Counts stay, unseen:
// selecting a test clears its count.
void pci_testdev::reset() {
    reset_config();
    s_.current = -1;
}

std::uint8_t pci_testdev::read_byte(std::uint32_t addr) const {
    if (s_.current < 0) return 0;
    const unsigned t = unsigned(s_.current);
    if (addr + 1 >= header_size(t)) return 0;  // QEMU's addr + size >= bufsize, size 1
    auto le = [](std::uint32_t v, unsigned byte) { return std::uint8_t(v >> (8 * byte)); };
    if (addr >= hdr_name) return std::uint8_t(test_names[t][addr - hdr_name]);
    if (addr >= hdr_count) return le(s_.count[t], addr - hdr_count);
    if (addr == hdr_data) return test_data(t);
    if (addr >= hdr_offset && addr < hdr_offset + 4) return le(test_offset(t), addr - hdr_offset);
    if (addr == hdr_width) return access_width;
    if (addr == hdr_test) return std::uint8_t(t);
    return 0;  // padding
}

// QEMU's pci_testdev_write, for one byte (the region's access size).
void pci_testdev::write_byte(space sp, std::uint32_t addr, std::uint8_t value) {
    if (addr == hdr_test) {
        s_.current = -1;
        if (value >= tests_per_space) return;
        const unsigned t = unsigned(sp) * tests_per_space + value;
        s_.count[t] = 0;
        s_.current = std::int8_t(t);
        return;
    }
    if (s_.current < 0) return;
    const unsigned t = unsigned(s_.current);
    if (addr != test_offset(t)) return;
    if (matches_data(t) && value != test_data(t)) return;
    ++s_.count[t];
}

void pci_testdev::bar_read(space sp, std::uint32_t offset, std::span<std::byte> data) {
    zero(data);
    if (!valid(sp, offset, data.size(), false)) return;
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = std::byte{read_byte(offset + std::uint32_t(i))};
}

void pci_testdev::bar_write(space sp, std::uint32_t offset, std::span<const std::byte> data) {
    if (!valid(sp, offset, data.size(), true)) return;
    // QEMU's memory core, before the device: a write that the selected
    // test's ioeventfd on this region matches (same offset and width, and
    // the same value where it matches data) signals it instead.
    if (s_.current >= 0) {
        const unsigned t = unsigned(s_.current);
        if (has_eventfd(t) && space_of(t) == sp && offset == test_offset(t) && data.size() == access_width &&
            (!matches_data(t) || std::uint8_t(data[0]) == test_data(t))) {
            ++s_.eventfd_signals;
            return;
        }
    }
    for (std::size_t i = 0; i < data.size(); ++i)
        write_byte(sp, offset + std::uint32_t(i), std::uint8_t(data[i]));
}

} // namespace qf::pci
