#include "qf/devices/pc_testdev.hpp"

#include "qf/core/log.hpp"

#include <algorithm>
#include <cstring>

namespace qf::dev {

namespace {

// QEMU's MemoryRegionOps.valid for each of the device's regions: the sizes
// an access may have (0: any) and whether it must be aligned to its size.
struct validity {
    const char* region;
    unsigned min_size, max_size;  // max 0: any size
};
constexpr validity ioport_ops{"pc-testdev-ioport", 0, 0};
constexpr validity ioport_byte_ops{"pc-testdev-ioport-byte", 1, 4};
constexpr validity flush_ops{"pc-testdev-flush-page", 4, 4};
constexpr validity irq_ops{"pc-testdev-irq-line", 1, 1};
constexpr validity iomem_ops{"pc-testdev-iomem", 0, 0};

// memory_region_access_valid: none of these regions takes unaligned
// accesses; a size outside [min, max] is refused. The line is QEMU's.
bool valid(const validity& v, std::uint64_t addr, std::size_t size, bool is_write) {
    const bool pow2 = size && (size & (size - 1)) == 0;
    if (!pow2 || (addr & (size - 1))) {
        logf(log_item::guest_errors, "Invalid %s at addr 0x%llX, size %zu, region '%s', reason: unaligned\n",
             is_write ? "write" : "read", static_cast<unsigned long long>(addr), size, v.region);
        return false;
    }
    if (v.max_size && (size > v.max_size || size < v.min_size)) {
        logf(log_item::guest_errors,
             "Invalid %s at addr 0x%llX, size %zu, region '%s', reason: invalid size (min:%u max:%u)\n",
             is_write ? "write" : "read", static_cast<unsigned long long>(addr), size, v.region, v.min_size,
             v.max_size);
        return false;
    }
    return true;
}

std::uint32_t value_of(std::span<const std::byte> d) {
    std::uint32_t v = 0;
    std::memcpy(&v, d.data(), std::min<std::size_t>(d.size(), 4));  // little-endian host
    return v;
}

void zero(std::span<std::byte> d) { std::fill(d.begin(), d.end(), std::byte{0}); }

} // namespace

pc_testdev_core::plug_spec pc_testdev_core::parse(const opt_list& o) {
    check_props(o, {"id"});
    return {low_ports};
}

pc_testdev_core::pc_testdev_core(device_context& ctx) : s_(std::make_unique<state_type>()) {
    if (ctx.irq)
        for (unsigned n = 0; n < isa_irqs; ++n) irqs_[n] = ctx.irq(n);
    if (ctx.ports) {
        const io_map::id id = ctx.ports->add(
            "pc-testdev-irq-line", irq_ports.length,
            {[](void* d, std::uint16_t off, std::span<std::byte> data) {
                 static_cast<pc_testdev_core*>(d)->irq_read(off, data);
             },
             [](void* d, std::uint16_t off, std::span<const std::byte> data) {
                 static_cast<pc_testdev_core*>(d)->irq_write(off, data);
             },
             this});
        ctx.ports->map(id, irq_ports.base);
    }
    if (ctx.mmio)
        ctx.mmio->add({"pc-testdev-iomem", {iomem.base}, iomem.length, region_kind::mmio, nullptr,
                       {[](void* d, std::uint64_t off, std::span<std::byte> data) {
                            static_cast<pc_testdev_core*>(d)->mmio_read(off, data);
                        },
                        [](void* d, std::uint64_t off, std::span<const std::byte> data) {
                            static_cast<pc_testdev_core*>(d)->mmio_write(off, data);
                        },
                        this},
                       1});
}

// 0xe0-0xeb: the access belongs to the 4-byte region its first port is in.
// The scratch register's byte lane is the port's low two bits (QEMU's
// test_ioport_read/write, at the access's own size for 0xe0 and a byte at a
// time for 0xe8, which comes to the same for any valid access).
void pc_testdev_core::pio_read(std::uint16_t offset, std::span<std::byte> data) {
    zero(data);
    const std::uint16_t addr = offset & 3;
    switch (offset & ~3) {
    case ioport_offset:
    case ioport_byte_offset:
        if (!valid(offset < ioport_byte_offset ? ioport_ops : ioport_byte_ops, addr, data.size(), false)) return;
        for (std::size_t i = 0; i < data.size(); ++i)
            data[i] = std::byte(s_->ioport_data >> (8 * ((addr + i) & 3)));
        return;
    case flush_offset:
        valid(flush_ops, addr, data.size(), false);  // reads as 0 either way
        return;
    default:
        return;  // beyond 0xeb: not routed here
    }
}

void pc_testdev_core::pio_write(std::uint16_t offset, std::span<const std::byte> data) {
    const std::uint16_t addr = offset & 3;
    switch (offset & ~3) {
    case ioport_offset:
    case ioport_byte_offset:
        if (!valid(offset < ioport_byte_offset ? ioport_ops : ioport_byte_ops, addr, data.size(), true)) return;
        for (std::size_t i = 0; i < data.size(); ++i) {
            const unsigned shift = 8 * ((addr + i) & 3);
            s_->ioport_data = (s_->ioport_data & ~(0xffu << shift)) | std::uint32_t(data[i]) << shift;
        }
        return;
    case flush_offset:
        if (!valid(flush_ops, addr, data.size(), true)) return;
        if (flush_page) flush_page(value_of(data) & page_mask);
        return;
    default:
        return;
    }
}

void pc_testdev_core::irq_read(std::uint16_t offset, std::span<std::byte> data) {
    zero(data);
    valid(irq_ops, offset, data.size(), false);
}

void pc_testdev_core::irq_write(std::uint16_t offset, std::span<const std::byte> data) {
    if (!valid(irq_ops, offset, data.size(), true)) return;
    if (offset >= isa_irqs) {
        logf(log_item::guest_errors,
             "pc-testdev: write to IRQ line %u, which the ISA bus does not have (QEMU 7.2 aborts); ignored\n",
             unsigned(offset));
        return;
    }
    irqs_[offset].set(data[0] != std::byte{0});
}

void pc_testdev_core::mmio_read(std::uint64_t offset, std::span<std::byte> data) {
    zero(data);
    if (offset >= iomem.length || data.size() > iomem.length - offset) return;
    if (!valid(iomem_ops, offset, data.size(), false)) return;
    std::memcpy(data.data(), s_->iomem.data() + offset, data.size());
}

void pc_testdev_core::mmio_write(std::uint64_t offset, std::span<const std::byte> data) {
    if (offset >= iomem.length || data.size() > iomem.length - offset) return;
    if (!valid(iomem_ops, offset, data.size(), true)) return;
    std::memcpy(s_->iomem.data() + offset, data.data(), data.size());
}

} // namespace qf::dev
