#pragma once
// The human monitor's info pic, ioapic and lapic for KVM's in-kernel
// irqchip (-accel kvm,kernel-irqchip=on): its state as KVM_GET_IRQCHIP and
// KVM_GET_LAPIC give it, read into our own models' state and printed by
// their formatters, so that both accelerators answer alike (as QEMU's
// kvm-i8259, kvm-ioapic and kvm-apic print as their TCG twins do).
#include <linux/kvm.h>

#include <string>

namespace qf::x86 {

std::string format_kernel_pic(const kvm_irqchip& master, const kvm_irqchip& slave);
std::string format_kernel_ioapic(const kvm_irqchip& ioapic);
std::string format_kernel_lapic(const kvm_lapic_state& page, unsigned cpu_index);

} // namespace qf::x86
