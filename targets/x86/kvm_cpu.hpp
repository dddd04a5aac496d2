#pragma once
// One x86 CPU under KVM: the same interface the machine uses for a TCG
// vcpu (reset, run until kicked or halted, the INTR pin, the state), with
// guest code on the host CPU. Port and MMIO exits go to the machine's
// io_bus and address space: one device model for both accelerators.
// Machine-independent, like vcpu.
#include "qf/accel/kvm/exits.hpp"
#include "qf/accel/kvm/kvm.hpp"
#include "qf/accel/kvm/vm.hpp"
#include "qf/core/fair_mutex.hpp"
#include "qf/memory/address_space.hpp"
#include "targets/x86/cpu_defs.hpp"
#include "targets/x86/cpu_state.hpp"
#include "targets/x86/vcpu.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <pthread.h>
#include <span>
#include <vector>

namespace qf::x86 {

// CPUID for the guest: the model's leaves, their feature bits cut to what
// this host's KVM supports (and the physical address width to the host's),
// as QEMU's kvm_arch_init_vcpu does. host: KVM's supported leaves as they
// are (-cpu host), with the hypervisor bit.
std::vector<kvm_cpuid_entry2> guest_cpuid(const cpu_model& m, std::span<const kvm_cpuid_entry2> supported, bool host);
// The model's features that the host's KVM cannot give (for a warning).
feature_set kvm_missing_features(const cpu_model& m, std::span<const kvm_cpuid_entry2> supported);

// The CPU state in KVM's structures and back. KVM keeps all of EFLAGS; the
// lazy flags become concrete (CC_OP_EFLAGS) on the way back.
struct kvm_state {
    kvm_regs regs;
    kvm_sregs sregs;
    kvm_fpu fpu;
};
kvm_state to_kvm(const state& s);
void from_kvm(state& s, const kvm_state& k);
kvm_segment to_kvm(const segment& g);
segment from_kvm(const kvm_segment& k);

// The MSRs the definition sets at reset and the state keeps.
std::span<const std::uint32_t> kvm_state_msrs();
// The values to set; `has`, when given, keeps only the MSRs it lists (the
// host's).
std::vector<std::pair<std::uint32_t, std::uint64_t>> msr_values(
    const state& s, bool rdtscp, std::optional<std::span<const std::uint32_t>> has = std::nullopt);
void set_msr_values(state& s, std::span<const std::uint32_t> indices, std::span<const std::uint64_t> values);

class kvm_vcpu {
public:
    // host_cpu: -cpu host. Opens /dev/kvm, creates the VM with a slot per
    // RAM and ROM segment of as, then the vCPU.
    kvm_vcpu(const address_space& as, io_bus io, const cpu_model& model, kvm::options opt, bool host_cpu);
    ~kvm_vcpu();
    kvm_vcpu(const kvm_vcpu&) = delete;
    kvm_vcpu& operator=(const kvm_vcpu&) = delete;

    // The state as of the last stop of run(). What is changed through it
    // is sent to KVM before the guest runs again (and only then: a put
    // would drop an exception KVM has queued).
    state& st() { return st_; }
    const state& st() const { return st_; }

    void reset();

    enum class stop : std::uint8_t { kicked, halted, exception };
    // Runs the guest until kick(), HLT (without the in-kernel irqchip) or
    // a shutdown the machine does not turn into a reset. A failed entry or
    // an internal error prints the registers and throws qf::error.
    stop run();

    std::function<bool()> on_triple_fault;
    // From any thread: leave run() soon (a signal ends KVM_RUN).
    void kick();
    // In a vCPU thread of its own: run() is called holding the machine lock
    // and lets it go while the guest runs (KVM_RUN), so that the main loop
    // and the devices go on meanwhile. Without one, run() keeps the thread.
    void set_big_lock(fair_mutex* m) { big_lock_ = m; }

    // Without the in-kernel irqchip: the INTR pin of the machine's own
    // interrupt controller, injected with KVM_INTERRUPT when the guest can
    // take it (interrupt-window exits otherwise).
    void set_intr(bool level);
    std::function<std::uint8_t()> interrupt_ack;
    // With it (-accel kvm,kernel-irqchip=on): ISA lines into the kernel's
    // 8259A pair and IOAPIC.
    bool kernel_irqchip() const { return opt_.kernel_irqchip; }
    void irq_line(unsigned irq, bool level) { vm_.irq_line(irq, level); }
    // KVM has no A20 gate: the line stays open (logged under -d unimp).
    void set_a20(bool enabled);
    bool runnable() const;

    const cpu_model& model() const { return model_; }

private:
    void push_state();
    void pull_state();
    bool state_changed() const;
    void inject();
    void poke();  // out of KVM_RUN without leaving run()
    [[noreturn]] void fail(const std::string& why);

    const address_space& as_;
    io_bus io_;
    cpu_model model_;
    kvm::options opt_;
    kvm::system sys_;
    kvm::vm vm_;
    std::optional<kvm::vcpu_fd> cpu_;
    state st_{};
    // What KVM holds, as to_kvm and msr_values give it, to see changes.
    kvm_state synced_{};
    std::vector<std::pair<std::uint32_t, std::uint64_t>> synced_msrs_;
    std::vector<std::uint32_t> host_msrs_;  // KVM_GET_MSR_INDEX_LIST
    std::vector<std::uint32_t> kept_msrs_;  // kvm_state_msrs() the host has
    bool rdtscp_ = false;
    bool intr_ = false;
    bool halted_ = false;
    bool can_inject_ = false;  // the last KVM_RUN exited: its injection flags are current
    std::atomic<bool> kick_{false};
    fair_mutex* big_lock_ = nullptr;
    std::atomic<bool> in_run_{false};
    pthread_t thread_{};
};

} // namespace qf::x86
