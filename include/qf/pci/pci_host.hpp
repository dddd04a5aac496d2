#pragma once
// The host bridge's configuration mechanism #1 (PCI 3.0, 3.2.2.3.2): the
// address at 0xcf8 (dword accesses only), the data window at 0xcfc-0xcff;
// bus 0's functions by devfn. A byte at 0xcf9 is PIIX's reset control
// register, which shares the range on a PC (QEMU's piix3 "rcr"): bit 2
// resets the system.
#include "qf/devices/device_context.hpp"
#include "qf/memory/bus.hpp"
#include "qf/pci/pci_function.hpp"

#include <array>
#include <boost/hana/define_struct.hpp>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace qf::pci {

class pci_host {
public:
    static constexpr std::string_view name = "pci-host-cf8";
    static constexpr std::array ports{port_range{0xcf8, 4}, port_range{0xcfc, 4}};
    struct state_type {
        BOOST_HANA_DEFINE_STRUCT(state_type, (std::uint32_t, address), (std::uint8_t, reset_control));
        bool operator==(const state_type&) const = default;
    };

    explicit pci_host(device_context&) {}

    // The board plugs its functions (devfn = device << 3 | function).
    void attach(unsigned devfn, pci_function& f) { fns_.at(devfn) = &f; }
    pci_function* function(unsigned devfn) const { return fns_.at(devfn); }
    std::function<void()> on_reset;  // 0xcf9 bit 2

    void reset();
    void pio_read(std::size_t range, std::uint16_t offset, std::span<std::byte> data);
    void pio_write(std::size_t range, std::uint16_t offset, std::span<const std::byte> data);
    state_type& state() { return s_; }

    // Every function plugged, by devfn (query-pci, info pci).
    std::vector<pci_device_info> describe() const;

private:
    pci_function* selected(unsigned& reg) const;
    state_type s_{};
    std::array<pci_function*, 256> fns_{};
};

} // namespace qf::pci
