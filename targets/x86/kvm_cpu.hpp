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

// Where one CPU sits among the machine's: its APIC ID (CPUs are cores of
// one socket, one thread each, APIC IDs 0..count-1) and how many there are.

// CPUID for the guest: the model's leaves, their feature bits cut to what
// this host's KVM supports (and the physical address width to the host's),
// as QEMU's kvm_arch_init_vcpu does. host: KVM's supported leaves as they
// are (-cpu host), with the hypervisor bit. Either way the topology leaves
// (1, 4, 0xb, 0x80000008) say which CPU of how many this is.
std::vector<kvm_cpuid_entry2> guest_cpuid(const cpu_model& m, std::span<const kvm_cpuid_entry2> supported, bool host,
                                          cpu_topology where = {});
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

// GSI -> in-kernel interrupt controller pins, as QEMU's
// kvm_pc_setup_irq_routing: GSIs 0-7 and 8-15 on the 8259s (not 2, the
// cascade), GSIs 0-23 on the IOAPIC but with GSI 0 (the PIT) on pin 2, the
// interrupt source override every PC's MP and ACPI tables describe. KVM's
// own default puts GSI 0 on pin 0, where no OS looks for the timer.
std::vector<kvm_irq_routing_entry> pc_gsi_routes();
// The values to set; `has`, when given, keeps only the MSRs it lists (the
// host's).
std::vector<std::pair<std::uint32_t, std::uint64_t>> msr_values(
    const state& s, bool rdtscp, std::optional<std::span<const std::uint32_t>> has = std::nullopt);
void set_msr_values(state& s, std::span<const std::uint32_t> indices, std::span<const std::uint64_t> values);

// The VM all of a machine's vCPUs share: /dev/kvm, the VM with a slot per
// RAM and ROM segment of the address space, and with kernel-irqchip=on the
// kernel's PICs, IOAPIC and PIT. Create it before the vCPUs.
class kvm_guest : private memory_listener {
public:
    kvm_guest(const address_space& as, kvm::options opt);
    ~kvm_guest() override;
    kvm_guest(const kvm_guest&) = delete;
    kvm_guest& operator=(const kvm_guest&) = delete;
    kvm::system& sys() { return sys_; }
    kvm::vm& vm() { return vm_; }
    const kvm::options& options() const { return opt_; }
    const std::vector<kvm_cpuid_entry2>& supported_cpuid() const { return supported_; }
    const std::vector<std::uint32_t>& msr_list() const { return msrs_; }
    // system_reset of the in-kernel devices: their state as KVM created it.
    void reset();
    // The in-kernel PIT under the HPET's legacy replacement route: its
    // IRQ 0 stops while on (KVM_PIT_FLAGS_HPET_LEGACY, QEMU's
    // kvm_pit_irq_control). Needs has_pit_state2().
    bool has_pit_state2() const { return pit_state2_; }
    void set_pit_hpet_legacy(bool on);

private:
    // A region mapped, unmapped or moved (PAM, a BAR): the slots follow.
    void map_changed(std::uint64_t first, std::uint64_t last) override;
    void ram_written(std::uint64_t, std::uint64_t) override {}  // KVM's guest sees RAM itself
    void set_slots(std::vector<kvm::slot> want);

    const address_space& as_;
    std::vector<kvm::slot> slots_;
    kvm::options opt_;
    kvm::system sys_;
    kvm::vm vm_;
    std::vector<kvm_cpuid_entry2> supported_;  // KVM_GET_SUPPORTED_CPUID
    std::vector<std::uint32_t> msrs_;          // KVM_GET_MSR_INDEX_LIST
    std::vector<kvm_irqchip> chips_;           // with kernel-irqchip=on, as created
    std::optional<kvm_pit_state2> pit_;
    bool pit_state2_ = false;
};

class kvm_vcpu {
public:
    // CPU `where.apic_id` (its KVM vCPU id; 0 is the bootstrap processor)
    // of `where.count`. host_cpu: -cpu host. The model's features that the
    // host lacks are warned about once, by CPU 0.
    kvm_vcpu(kvm_guest& guest, cpu_topology where, io_bus io, const address_space& as, const cpu_model& model,
             bool host_cpu);
    ~kvm_vcpu();
    kvm_vcpu(const kvm_vcpu&) = delete;
    kvm_vcpu& operator=(const kvm_vcpu&) = delete;

    // The state as of the last stop of run(). What is changed through it
    // is sent to KVM before the guest runs again (and only then: a put
    // would drop an exception KVM has queued).
    state& st() { return st_; }
    const state& st() const { return st_; }

    // INIT from system_reset: the bootstrap processor at the reset vector,
    // an application processor (with kernel-irqchip=on) waiting for SIPI;
    // the in-kernel local APIC as KVM created it. Called from another
    // thread while this vCPU is in run(), it is done by the vCPU itself
    // before it runs guest code again (a vCPU's ioctls wait for KVM_RUN).
    void reset();
    // Called in reset, after the state is RESET's and before KVM gets it
    // (in the vCPU's own thread when it is running).
    std::function<void(state&)> on_reset;

    // debug: the debugger's stop (last_debug() says what KVM reported).
    enum class stop : std::uint8_t { kicked, halted, exception, debug };

    // The debugger's hold on this vCPU (KVM_SET_GUEST_DEBUG), set while it
    // is stopped and given to KVM before the guest runs again: a single
    // step, INT3s the debugger placed in memory, and DR0-DR3 with DR7 for
    // hardware breakpoints and watchpoints.
    struct debug_settings {
        bool single_step = false;
        bool sw_breakpoints = false;
        std::uint64_t dr[4] = {};
        std::uint64_t dr7 = 0;
        bool operator==(const debug_settings&) const = default;
    };
    void set_debug(const debug_settings& d) { debug_ = d; }
    const debug_settings& debug() const { return debug_; }
    struct debug_exit {
        std::uint32_t exception;  // 1: a step or debug register, 3: an INT3
        std::uint64_t pc, dr6;
    };
    const debug_exit& last_debug() const { return last_debug_; }
    // Whether an INT3 at this linear address is the debugger's; one that
    // is not is the guest's own, and goes back to it.
    std::function<bool(std::uint64_t pc)> is_debugger_breakpoint;
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
    // With the in-kernel irqchip: its local APIC's register page, for the
    // monitor. From the main loop, under the machine lock: the vCPU is
    // poked out of KVM_RUN (it then waits for the lock), whose hold on the
    // vCPU would block the read.
    kvm_lapic_state kernel_lapic();
    // The NMI button: KVM_NMI from this vCPU's thread before it next
    // enters the guest. From any thread.
    void raise_nmi();
    // With it (-accel kvm,kernel-irqchip=on): ISA lines into the kernel's
    // 8259A pair and IOAPIC.
    bool kernel_irqchip() const { return guest_.options().kernel_irqchip; }
    void irq_line(unsigned irq, bool level) { guest_.vm().irq_line(irq, level); }
    // KVM has no A20 gate: the line stays open (logged under -d unimp).
    void set_a20(bool enabled);
    bool runnable() const;

    const cpu_model& model() const { return model_; }

private:
    void reset_now();
    void push_state();
    void pull_state();
    bool state_changed() const;
    void inject();
    void poke();  // out of KVM_RUN without leaving run()
    [[noreturn]] void fail(const std::string& why);

    kvm_guest& guest_;
    cpu_topology where_;
    const address_space& as_;
    io_bus io_;
    cpu_model model_;
    std::optional<kvm::vcpu_fd> cpu_;
    std::optional<kvm_lapic_state> lapic_;  // with kernel-irqchip=on, as created
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
    std::atomic<bool> reset_pending_{false};
    std::atomic<bool> nmi_pending_{false};
    fair_mutex* big_lock_ = nullptr;
    std::atomic<bool> in_run_{false};
    debug_settings debug_, debug_applied_;
    bool debug_ever_ = false;  // KVM_SET_GUEST_DEBUG was called: a return to none must be told too
    debug_exit last_debug_{};
    pthread_t thread_{};
};

} // namespace qf::x86
