#include "qf/pci/pci_function.hpp"

#include "qf/core/log.hpp"

namespace qf::pci {

pci_function::pci_function(device_context& ctx, std::string name, const identity& id, config_state* storage)
    : st_(storage ? *storage : own_st_), ctx_(ctx), name_(std::move(name)), id_(id) {
    reset_config();
}

void pci_function::post_load() {
    update_bars();
    config_written(0, 256);
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
    for (unsigned n = 0; n < 6; ++n)
        if (bars_[n].size) set_bar_register(n);
    update_bars();
}

// The BAR's type bits, zero address, and the write mask that sizes it.
void pci_function::set_bar_register(unsigned n) {
    const bar& b = bars_[n];
    const unsigned r = reg::bar0 + 4 * n;
    if (b.mem64) {
        const std::uint64_t mask = ~(b.size - 1);
        set32(r, b.prefetch ? 0xc : 0x4, std::uint32_t(mask));
        set32(r + 4, 0, std::uint32_t(mask >> 32));
    } else {
        set32(r, b.io ? 1 : 0, std::uint32_t(~(b.size - 1)) & (b.io ? 0xffff'fffcu : 0xffff'fff0u));
    }
}

void pci_function::define_io_bar(unsigned n, std::uint16_t size, io_ops ops) {
    bar& b = bars_.at(n);
    b = {};
    b.size = size < 4 ? 4u : size;
    b.io = true;
    b.iops = ops;
    if (ctx_.ports) b.io_id = ctx_.ports->add(name_ + ".bar" + std::to_string(n), std::uint16_t(b.size), ops);
    set_bar_register(n);
}

void pci_function::define_mmio_bar(unsigned n, std::uint32_t size, mmio_ops ops) {
    bar& b = bars_.at(n);
    b = {};
    b.size = size < 16 ? 16u : size;
    b.mops = ops;
    set_bar_register(n);
}

void pci_function::define_empty_mem64_bar(unsigned n, std::uint64_t size, bool prefetch) {
    bar& b = bars_.at(n);
    b = {};
    b.size = size;
    b.mem64 = true;
    b.prefetch = prefetch;
    bars_.at(n + 1) = {};
    set_bar_register(n);
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
std::optional<std::uint64_t> pci_function::bar_base(unsigned n) const {
    const bar& b = bars_.at(n);
    const std::uint16_t command = get16(reg::command);
    const std::uint32_t v = get32(reg::bar0 + 4 * n);
    if (b.mem64) {
        // QEMU's pci_bar_address: the quad masked by the size, all ones
        // (the sizing value) or zero being no address.
        const std::uint64_t mask = ~(b.size - 1);
        const std::uint64_t base = (std::uint64_t{get32(reg::bar0 + 4 * n + 4)} << 32 | v) & mask;
        if ((command & cmd::memory) && base && base != mask) return base;
    } else if (b.io) {
        const std::uint32_t base = v & 0xffff'fffc;
        if ((command & cmd::io) && base && std::uint64_t{base} + b.size <= 0x10000) return base;
    } else {
        const std::uint32_t base = v & 0xffff'fff0;
        if ((command & cmd::memory) && base && base != (0xffff'ffffu & ~(b.size - 1))) return base;
    }
    return std::nullopt;
}

void pci_function::update_bars() {
    for (unsigned n = 0; n < 6; ++n) {
        bar& b = bars_[n];
        if (!b.size || b.mem64) continue;
        const auto base = bar_base(n);
        if (b.io) {
            if (b.io_id && ctx_.ports)
                ctx_.ports->map(*b.io_id, base ? std::optional<std::uint16_t>(std::uint16_t(*base)) : std::nullopt);
        } else if (ctx_.mmio) {
            if (base && !b.mem_id)
                b.mem_id = ctx_.mmio->add({name_ + ".bar" + std::to_string(n), {*base}, std::uint32_t(b.size), region_kind::mmio,
                                           nullptr, b.mops, -1, true, true});
            else if (b.mem_id) {
                if (base) ctx_.mmio->move(*b.mem_id, {*base});
                ctx_.mmio->set_enabled(*b.mem_id, base.has_value());
            }
        }
    }
}

pci_device_info pci_function::describe(unsigned devfn) const {
    pci_device_info d;
    d.slot = devfn >> 3;
    d.function = devfn & 7;
    d.class_code = get16(0x0a);
    d.vendor = get16(reg::vendor);
    d.device = get16(reg::device);
    d.subsystem_vendor = get16(reg::subsystem_vendor);
    d.subsystem = get16(reg::subsystem);
    d.irq_pin = cfg_[reg::interrupt_pin];
    d.irq_line = cfg_[reg::interrupt_line];
    for (unsigned n = 0; n < 6; ++n) {
        const bar& b = bars_[n];
        if (!b.size) continue;
        pci_region_info r;
        r.bar = n;
        r.io = b.io;
        r.size = b.size;
        r.mem64 = b.mem64;
        r.prefetch = b.prefetch;
        if (auto base = bar_base(n)) r.address = *base;
        d.regions.push_back(r);
    }
    return d;
}

} // namespace qf::pci

namespace qf {

// QEMU's hw/pci/pci.c pci_class_descriptions.
std::string pci_class_name(std::uint16_t class_code) {
    static constexpr struct {
        std::uint16_t code;
        const char* name;
    } names[] = {
        {0x0001, "VGA controller"},     {0x0100, "SCSI controller"},     {0x0101, "IDE controller"},
        {0x0102, "Floppy controller"},  {0x0103, "IPI controller"},      {0x0104, "RAID controller"},
        {0x0106, "SATA controller"},    {0x0107, "SAS controller"},      {0x0180, "Storage controller"},
        {0x0200, "Ethernet controller"}, {0x0201, "Token Ring controller"}, {0x0202, "FDDI controller"},
        {0x0203, "ATM controller"},     {0x0280, "Network controller"},  {0x0300, "VGA controller"},
        {0x0301, "XGA controller"},     {0x0302, "3D controller"},       {0x0380, "Display controller"},
        {0x0400, "Video controller"},   {0x0401, "Audio controller"},    {0x0402, "Phone"},
        {0x0403, "Audio controller"},   {0x0480, "Multimedia controller"}, {0x0500, "RAM controller"},
        {0x0501, "Flash controller"},   {0x0580, "Memory controller"},   {0x0600, "Host bridge"},
        {0x0601, "ISA bridge"},         {0x0602, "EISA bridge"},         {0x0603, "MC bridge"},
        {0x0604, "PCI bridge"},         {0x0605, "PCMCIA bridge"},       {0x0606, "NUBUS bridge"},
        {0x0607, "CARDBUS bridge"},     {0x0608, "RACEWAY bridge"},      {0x0680, "Bridge"},
        {0x0700, "Serial port"},        {0x0701, "Parallel port"},       {0x0703, "Modem"},
        {0x0780, "Serial port"},        {0x0800, "PIC"},                 {0x0801, "DMA controller"},
        {0x0802, "Timer"},              {0x0803, "RTC"},                 {0x0900, "Keyboard"},
        {0x0901, "Pen"},                {0x0902, "Mouse"},               {0x0a00, "Dock station"},
        {0x0b00, "i386 cpu"},           {0x0c00, "Fireware contorller"}, {0x0c01, "Access bus controller"},
        {0x0c02, "SSA controller"},     {0x0c03, "USB controller"},      {0x0c04, "Fibre channel controller"},
        {0x0c05, "SMBus"},
    };
    for (const auto& n : names)
        if (n.code == class_code) return n.name;
    return {};
}

} // namespace qf
