#include "targets/x86/kvm_irqchip_info.hpp"

#include "qf/devices/i8259_pic.hpp"
#include "qf/devices/ioapic.hpp"
#include "targets/x86/apic/local_apic.hpp"

#include <cstring>

namespace qf::x86 {

namespace {

dev::i8259_chip chip_of(const kvm_pic_state& k) {
    dev::i8259_chip c{};
    c.irr = k.irr;
    c.imr = k.imr;
    c.isr = k.isr;
    c.last_irr = k.last_irr;
    c.elcr = k.elcr;
    c.priority_add = k.priority_add;
    c.irq_base = k.irq_base;
    c.init_state = k.init_state;
    c.read_isr = k.read_reg_select;
    c.poll = k.poll;
    c.special_mask = k.special_mask;
    c.auto_eoi = k.auto_eoi;
    c.rotate_on_auto_eoi = k.rotate_on_auto_eoi;
    c.special_fully_nested = k.special_fully_nested_mode;
    c.init4 = k.init4;
    return c;
}

// A 32-bit register of the APIC page (KVM keeps the xAPIC layout).
std::uint32_t reg(const kvm_lapic_state& p, unsigned offset) {
    std::uint32_t v;
    std::memcpy(&v, p.regs + offset, sizeof v);
    return v;
}

} // namespace

std::string format_kernel_pic(const kvm_irqchip& master, const kvm_irqchip& slave) {
    dev::i8259_state s{};
    s.master = chip_of(master.chip.pic);
    s.slave = chip_of(slave.chip.pic);
    return dev::i8259_pair::format(s);
}

std::string format_kernel_ioapic(const kvm_irqchip& ioapic) {
    const kvm_ioapic_state& k = ioapic.chip.ioapic;
    dev::ioapic_state s{};
    s.id = static_cast<std::uint8_t>(k.id);
    s.ioregsel = static_cast<std::uint8_t>(k.ioregsel);
    s.irr = k.irr;
    for (unsigned i = 0; i < dev::ioapic::pins && i < KVM_IOAPIC_NUM_PINS; ++i) s.redirection[i] = k.redirtbl[i].bits;
    return dev::ioapic::format(s);
}

std::string format_kernel_lapic(const kvm_lapic_state& page, unsigned cpu_index) {
    local_apic_state s{};
    s.id = static_cast<std::uint8_t>(reg(page, 0x20) >> 24);
    s.tpr = static_cast<std::uint8_t>(reg(page, 0x80));
    s.log_dest = static_cast<std::uint8_t>(reg(page, 0xd0) >> 24);
    s.dest_mode = static_cast<std::uint8_t>(reg(page, 0xe0) >> 28);
    s.spurious_vec = reg(page, 0xf0);
    for (unsigned i = 0; i < 8; ++i) {
        s.isr[i] = reg(page, 0x100 + 16 * i);
        s.tmr[i] = reg(page, 0x180 + 16 * i);
        s.irr[i] = reg(page, 0x200 + 16 * i);
    }
    s.esr = reg(page, 0x280);
    // LVT timer, thermal, performance, LINT0, LINT1, error: 0x320-0x370.
    for (unsigned n = 0; n < lvt_count; ++n) s.lvt[n] = reg(page, 0x320 + 16 * n);
    s.icr[0] = reg(page, 0x300);
    s.icr[1] = reg(page, 0x310);
    s.initial_count = reg(page, 0x380);
    s.divide_conf = reg(page, 0x3e0);
    // KVM_GET_LAPIC fills in the timer's current count and the PPR.
    return local_apic::format(s, cpu_index, false, reg(page, 0x390), static_cast<std::uint8_t>(reg(page, 0xa0)));
}

} // namespace qf::x86
