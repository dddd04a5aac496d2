#pragma once
// The KVM API's three file descriptors (Documentation/virt/kvm/api.rst):
// the system (/dev/kvm), a VM and its vCPUs, each owning its fd, with the
// ioctls the backend uses. Every failure is a qf::error naming the ioctl
// and the host's reason.
#include <linux/kvm.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace qf::kvm {

class file {
public:
    file() = default;
    explicit file(int fd) : fd_(fd) {}
    ~file();
    file(file&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
    file& operator=(file&& o) noexcept;
    int get() const { return fd_; }

private:
    int fd_ = -1;
};

// ioctl that retries on EINTR; throws qf::error "what: strerror" on failure.
long checked_ioctl(int fd, unsigned long request, void* arg, const char* what);
inline long checked_ioctl(int fd, unsigned long request, unsigned long arg, const char* what) {
    return checked_ioctl(fd, request, reinterpret_cast<void*>(arg), what);
}

// Whether the host's KVM is PVM (kvm_pvm loaded, neither kvm_intel nor
// kvm_amd, as sysfs_modules lists them): a KVM without hardware
// virtualisation, which leaves firmware-level code to KVM's instruction
// emulator - the likely cause of KVM_INTERNAL_ERROR_EMULATION there.
// scripts/host-kvm applies the same rule to decide where the KVM tests run.
bool host_is_pvm(const std::string& sysfs_modules = "/sys/module");

// The capabilities the backend cannot do without.
struct required_cap {
    int cap;
    const char* name;
};
std::span<const required_cap> required_caps();

class system {
public:
    // Opens path (normally /dev/kvm) and checks KVM_GET_API_VERSION and the
    // required capabilities.
    explicit system(const char* path = "/dev/kvm");
    int fd() const { return fd_.get(); }
    int check_extension(int cap) const;
    std::size_t vcpu_mmap_size() const { return mmap_size_; }
    // KVM_GET_SUPPORTED_CPUID: what a guest's CPUID may say on this host.
    std::vector<kvm_cpuid_entry2> supported_cpuid() const;
    // KVM_GET_MSR_INDEX_LIST: the MSRs KVM_GET/SET_MSRS take on this host.
    std::vector<std::uint32_t> msr_index_list() const;

private:
    file fd_;
    std::size_t mmap_size_ = 0;
};

// One guest memory slot (KVM_SET_USER_MEMORY_REGION).
struct slot {
    std::uint32_t id;
    std::uint64_t gpa, size;
    std::byte* host;
    bool readonly;  // KVM_MEM_READONLY: writes exit as MMIO
};

class vm {
public:
    explicit vm(const system& sys);
    int fd() const { return fd_.get(); }
    void set_slot(const slot& s);
    void create_irqchip();
    void create_pit2();
    void irq_line(unsigned irq, bool level);
    // A message-signalled interrupt into the kernel's local APICs
    // (KVM_SIGNAL_MSI); false when the guest's APICs refused it.
    bool signal_msi(std::uint64_t addr, std::uint32_t data);
    // Which pins of the in-kernel PICs and IOAPIC each GSI drives.
    void set_gsi_routing(std::span<const kvm_irq_routing_entry> entries);
    // The in-kernel PICs and IOAPIC (KVM_IRQCHIP_PIC_MASTER, _SLAVE,
    // _IOAPIC) and PIT, read and written whole: a system reset puts back
    // what KVM created.
    kvm_irqchip irqchip(unsigned chip_id) const;
    void set_irqchip(const kvm_irqchip& c);
    kvm_pit_state2 pit2() const;
    void set_pit2(const kvm_pit_state2& p);
    // The three pages below 4 GiB that Intel's real-mode emulation needs.
    void set_tss_addr(std::uint64_t gpa);
    void set_identity_map_addr(std::uint64_t gpa);

private:
    file fd_;
};

class vcpu_fd {
public:
    vcpu_fd(const system& sys, const vm& v, unsigned id);
    ~vcpu_fd();
    vcpu_fd(const vcpu_fd&) = delete;
    vcpu_fd& operator=(const vcpu_fd&) = delete;

    int fd() const { return fd_.get(); }
    kvm_run& shared() { return *run_; }
    std::size_t shared_size() const { return run_size_; }
    // KVM_RUN: 0, or -EINTR when a signal (a kick) ended it early; any other
    // failure throws.
    int run();

    kvm_regs regs() const;
    void set_regs(const kvm_regs& r);
    kvm_sregs sregs() const;
    void set_sregs(const kvm_sregs& s);
    kvm_fpu fpu() const;
    void set_fpu(const kvm_fpu& f);
    void set_cpuid(std::span<const kvm_cpuid_entry2> entries);
    // MSRs by index: reads fill values; writes throw if KVM refuses one.
    std::vector<std::uint64_t> msrs(std::span<const std::uint32_t> indices) const;
    void set_msrs(std::span<const std::pair<std::uint32_t, std::uint64_t>> msrs);
    void interrupt(unsigned vector);
    // KVM_NMI: an NMI for the guest, taken when it can be.
    void nmi();
    // After a reset: no pending exception, interrupt or NMI, and runnable
    // (KVM_SET_VCPU_EVENTS, KVM_SET_MP_STATE where the host has them).
    void clear_events();
    // KVM_SET_GUEST_DEBUG: a debugger's single step and breakpoints.
    void set_guest_debug(const kvm_guest_debug& d);
    // Queues exception nr (no error code) for the guest, as one KVM caught
    // for a debugger that turned out to be the guest's own.
    void queue_exception(unsigned nr);
    // KVM_SET_MP_STATE: KVM_MP_STATE_RUNNABLE, or KVM_MP_STATE_UNINITIALIZED
    // for an application processor waiting for INIT and SIPI.
    void set_mp_state(std::uint32_t state);
    // The in-kernel local APIC's register page (KVM_GET_LAPIC, KVM_SET_LAPIC).
    kvm_lapic_state lapic() const;
    void set_lapic(const kvm_lapic_state& l);

private:
    file fd_;
    kvm_run* run_ = nullptr;
    std::size_t run_size_ = 0;
};

} // namespace qf::kvm
