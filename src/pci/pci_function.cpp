#include "qf/pci/pci_function.hpp"

#include "qf/core/log.hpp"

namespace qf::pci {

pci_function::pci_function(device_context& ctx, std::string name, const identity& id)
    : ctx_(ctx), name_(std::move(name)), id_(id) {
    reset_config();
}

void pci_function::reset_config() {
    // Keep the BAR definitions and the device-specific masks the derived
    // constructor set; put back the header.
    set16(reg::vendor, id_.vendor);
    set16(reg::device, id_.device);
    set16(reg::command, 0, cmd::io | cmd::memory | cmd::master | cmd::intx_disable | 0x0100 /* SERR */);
    set16(reg::status, 0);
    w1c_[reg::status + 1] = 0xf9;  // the error bits, as QEMU's pci_init_w1cmask
    set8(reg::revision, id_.revision);
    set8(reg::class_prog, std::uint8_t(id_.class_code));
    set16(reg::class_prog + 1, std::uint16_t(id_.class_code >> 8));
    set8(reg::header_type, id_.header_type);
    set16(reg::subsystem_vendor, id_.subsystem_vendor);
    set16(reg::subsystem, id_.subsystem);
    set8(0x0c, 0, 0xff);  // cache line size (the latency timer stays 0, read-only, as QEMU's)
    set8(reg::interrupt_line, 0, 0xff);
    // Device-specific space is writable unless the function says otherwise
    // (QEMU's pci_init_wmask); its power-on values are the function's.
    for (unsigned o = 0x40; o < 256; ++o) set8(o, 0, 0xff);
    set8(reg::interrupt_pin, id_.interrupt_pin);
    for (unsigned n = 0; n < 6; ++n) {
        bar& b = bars_[n];
        if (!b.size) continue;
        const std::uint32_t low = b.io ? 1 : 0;
        set32(reg::bar0 + 4 * n, low, ~(b.size - 1) & (b.io ? 0xffff'fffcu : 0xffff'fff0u));
    }
    update_bars();
}

void pci_function::define_io_bar(unsigned n, std::uint16_t size, io_ops ops) {
    bar& b = bars_.at(n);
    b = {size < 4 ? 4u : size, true, ops, {}, {}, {}, false};
    if (ctx_.ports) b.io_id = ctx_.ports->add(name_ + ".bar" + std::to_string(n), std::uint16_t(b.size), ops);
    set32(reg::bar0 + 4 * n, 1, ~(b.size - 1) & 0xffff'fffcu);
}

void pci_function::define_mmio_bar(unsigned n, std::uint32_t size, mmio_ops ops) {
    bar& b = bars_.at(n);
    b = {size < 16 ? 16u : size, false, {}, ops, {}, {}, false};
    set32(reg::bar0 + 4 * n, 0, ~(b.size - 1) & 0xffff'fff0u);
}

std::uint32_t pci_function::config_read(unsigned offset, unsigned size) {
    std::uint32_t v = 0;
    for (unsigned i = 0; i < size && offset + i < 256; ++i) v |= std::uint32_t(cfg_[offset + i]) << (8 * i);
    return v;
}

void pci_function::config_write(unsigned offset, std::uint32_t value, unsigned size) {
    for (unsigned i = 0; i < size && offset + i < 256; ++i) {
        const unsigned o = offset + i;
        const auto b = std::uint8_t(value >> (8 * i));
        cfg_[o] = std::uint8_t((cfg_[o] & ~wmask_[o]) | (b & wmask_[o]));
        cfg_[o] &= std::uint8_t(~(b & w1c_[o]));
    }
    const bool bars_touched = (offset < reg::bar0 + 24 && offset + size > reg::bar0) ||
                              (offset <= reg::command && offset + size > reg::command);
    if (bars_touched) update_bars();
    config_written(offset, size);
}

// Map each BAR where it points while its decode is enabled (QEMU's
// pci_update_mappings); an all-ones sizing value or zero base stays unmapped.
void pci_function::update_bars() {
    const std::uint16_t command = get16(reg::command);
    for (unsigned n = 0; n < 6; ++n) {
        bar& b = bars_[n];
        if (!b.size) continue;
        const std::uint32_t v = get32(reg::bar0 + 4 * n);
        if (b.io) {
            const std::uint32_t base = v & 0xffff'fffc;
            const bool on = (command & cmd::io) && base && base + b.size <= 0x10000;
            if (b.io_id && ctx_.ports) ctx_.ports->map(*b.io_id, on ? std::optional<std::uint16_t>(std::uint16_t(base)) : std::nullopt);
        } else if (ctx_.mmio) {
            const std::uint32_t base = v & 0xffff'fff0;
            const bool on = (command & cmd::memory) && base && base != (0xffff'ffffu & ~(b.size - 1));
            if (on && !b.mem_id)
                b.mem_id = ctx_.mmio->add({name_ + ".bar" + std::to_string(n), {base}, b.size, region_kind::mmio,
                                           nullptr, b.mops, -1, true, true});
            else if (b.mem_id) {
                if (on) ctx_.mmio->move(*b.mem_id, {base});
                ctx_.mmio->set_enabled(*b.mem_id, on);
            }
        }
    }
}

} // namespace qf::pci
