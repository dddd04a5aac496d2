#pragma once
// One PCI function's configuration space (PCI Local Bus 3.0, ch. 6): the
// 256 bytes with QEMU's write masks (read-only bits stay, write-1-to-clear
// status bits clear), BARs sized by their masks and mapped into the port
// map or the address space while the command register enables them, and
// an INTx pin. A chipset function (i440FX, PIIX3, PIIX4 PM) derives from it
// and adds what its registers do; the host bridge reaches it by devfn.
#include "qf/devices/device_context.hpp"
#include "qf/machine/introspection.hpp"
#include "qf/memory/address_space.hpp"
#include "qf/memory/io_map.hpp"

#include <array>
#include <boost/hana/define_struct.hpp>
#include <cstdint>
#include <optional>
#include <string>

namespace qf::pci {

namespace reg {
inline constexpr unsigned vendor = 0x00, device = 0x02, command = 0x04, status = 0x06, revision = 0x08,
                          class_prog = 0x09, header_type = 0x0e, bar0 = 0x10, subsystem_vendor = 0x2c,
                          subsystem = 0x2e, interrupt_line = 0x3c, interrupt_pin = 0x3d;
}
namespace cmd {
inline constexpr std::uint16_t io = 1, memory = 2, master = 4, intx_disable = 0x400;
}

struct identity {
    std::uint16_t vendor, device;
    std::uint8_t revision;
    std::uint32_t class_code;  // base class << 16 | subclass << 8 | programming interface
    std::uint8_t header_type = 0;
    std::uint16_t subsystem_vendor = 0, subsystem = 0;
    std::uint8_t interrupt_pin = 0;  // 1..4 = INTA..INTD, 0 none
};

// What a snapshot of a function holds: its configuration space.
struct config_state {
    BOOST_HANA_DEFINE_STRUCT(config_state, (std::array<std::uint8_t, 256>, bytes));
    bool operator==(const config_state&) const = default;
};

class pci_function {
public:
    using state_type = config_state;
    state_type& state() { return st_; }

    // storage: where the configuration space lives when a derived device
    // keeps it in a state of its own (with its other registers), else here.
    pci_function(device_context& ctx, std::string name, const identity& id, config_state* storage = nullptr);
    virtual ~pci_function() = default;
    pci_function(const pci_function&) = delete;
    pci_function& operator=(const pci_function&) = delete;

    // Config cycles from the host bridge: size 1, 2 or 4, offset aligned to it.
    std::uint32_t config_read(unsigned offset, unsigned size);
    void config_write(unsigned offset, std::uint32_t value, unsigned size);

    // Power-on values, BARs unmapped.
    void reset_config();
    // After the configuration space was loaded from a state stream: the
    // BARs and whatever the device derives from its registers follow it.
    void post_load();
    const std::string& name() const { return name_; }
    std::uint8_t config_byte(unsigned offset) const { return cfg_.at(offset); }
    // What query-pci and info pci show of it, at this devfn on bus 0.
    pci_device_info describe(unsigned devfn) const;

protected:
    // BAR n: an I/O BAR decoded through the port map, or a 32-bit memory
    // BAR through the address space; size a power of two.
    void define_io_bar(unsigned n, std::uint16_t size, io_ops ops);
    void define_mmio_bar(unsigned n, std::uint32_t size, mmio_ops ops);
    // A 64-bit memory BAR in n and n + 1 that decodes nothing: QEMU's
    // BAR over an empty container (pci-testdev's membar=), sized by the
    // guest and listed by query-pci, but no region of its own. Its write
    // mask is ~(size - 1) over both dwords, as pci_register_bar's, type
    // bits too where size < 16.
    void define_empty_mem64_bar(unsigned n, std::uint64_t size, bool prefetch);
    // After a guest write touched [offset, offset + size).
    virtual void config_written(unsigned /*offset*/, unsigned /*size*/) {}

    void set8(unsigned off, std::uint8_t v, std::uint8_t wmask = 0) { cfg_[off] = v, wmask_[off] = wmask; }
    void set16(unsigned off, std::uint16_t v, std::uint16_t wmask = 0) {
        set8(off, std::uint8_t(v), std::uint8_t(wmask));
        set8(off + 1, std::uint8_t(v >> 8), std::uint8_t(wmask >> 8));
    }
    void set32(unsigned off, std::uint32_t v, std::uint32_t wmask = 0) {
        set16(off, std::uint16_t(v), std::uint16_t(wmask));
        set16(off + 2, std::uint16_t(v >> 16), std::uint16_t(wmask >> 16));
    }
    std::uint32_t get32(unsigned off) const {
        return cfg_[off] | cfg_[off + 1] << 8 | cfg_[off + 2] << 16 | std::uint32_t(cfg_[off + 3]) << 24;
    }
    std::uint16_t get16(unsigned off) const { return std::uint16_t(cfg_[off] | cfg_[off + 1] << 8); }

    // Registered state for snapshots and dumps is the derived device's;
    // the bytes live here.
    config_state own_st_{};
    config_state& st_;
    std::array<std::uint8_t, 256>& cfg_ = st_.bytes;
    std::array<std::uint8_t, 256> wmask_{};
    std::array<std::uint8_t, 256> w1c_{};
    device_context& ctx_;

private:
    struct bar {
        std::uint64_t size = 0;  // 0: not implemented (or a 64-bit BAR's upper half)
        bool io = false;
        bool mem64 = false, prefetch = false;  // mem64: decodes nothing (define_empty_mem64_bar)
        io_ops iops{};
        mmio_ops mops{};
        std::optional<io_map::id> io_id;
        std::optional<region_id> mem_id;
        bool mapped = false;
    };
    void update_bars();
    // Where BAR n decodes now: nullopt while its decode is off or its value
    // is no address (zero, the all-ones sizing value, past the port space).
    std::optional<std::uint64_t> bar_base(unsigned n) const;
    void set_bar_register(unsigned n);
    std::string name_;
    identity id_;
    std::array<bar, 6> bars_{};
};

} // namespace qf::pci
