#pragma once
// The KVM accelerator as a type (issue #6): the same machine types with
// guest code on hardware virtualisation. Its properties are QEMU's
// -accel kvm,... ones; probe() is QEMU's kvm_init check, done before
// anything starts so that -accel kvm -accel tcg can fall back.
#include "qf/accel/tcg/hooks.hpp"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace qf::kvm {

struct options {
    // In-kernel 8259 pair, IOAPIC and LAPIC, and the in-kernel PIT
    // (KVM_CREATE_IRQCHIP, KVM_CREATE_PIT2). Off: the machine's own
    // interrupt controller injects with KVM_INTERRUPT (testrig's default).
    bool kernel_irqchip = false;
};

// kernel-irqchip=on|off|split (split is refused: no in-kernel LAPIC
// without the IOAPIC here). Throws qf::error naming the bad property.
options parse_options(const std::vector<std::pair<std::string, std::string>>& props);

// Opens /dev/kvm and checks the API version and the capabilities the
// backend needs. Throws qf::error with QEMU's wording ("failed to
// initialize kvm: ...") when KVM cannot be used here.
void probe();

} // namespace qf::kvm

namespace qf::accel {

struct kvm {
    static constexpr std::string_view name = "kvm";
    // Guest code runs on the host CPU: there is nothing to hook.
    using hooks = qf::tcg::hook_policy<>;
    static qf::kvm::options props(const std::vector<std::pair<std::string, std::string>>& p) {
        return qf::kvm::parse_options(p);
    }
    static void probe() { qf::kvm::probe(); }
};

} // namespace qf::accel
