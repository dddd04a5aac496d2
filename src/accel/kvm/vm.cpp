#include "qf/accel/kvm/vm.hpp"

#include "qf/accel/kvm/kvm.hpp"
#include "qf/core/error.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

namespace qf::kvm {

file::~file() {
    if (fd_ >= 0) ::close(fd_);
}
file& file::operator=(file&& o) noexcept {
    if (this != &o) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = o.fd_;
        o.fd_ = -1;
    }
    return *this;
}

long checked_ioctl(int fd, unsigned long request, void* arg, const char* what) {
    long r;
    do r = ::ioctl(fd, request, arg);
    while (r < 0 && errno == EINTR);
    if (r < 0) throw error(std::string("kvm: ") + what + ": " + std::strerror(errno));
    return r;
}

std::span<const required_cap> required_caps() {
    static constexpr required_cap caps[] = {
        {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
        {KVM_CAP_READONLY_MEM, "KVM_CAP_READONLY_MEM"},  // ROM whose writes exit as MMIO
        {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},  // kicks that cannot be lost
        {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
        {KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR"},
    };
    return caps;
}

system::system(const char* path) {
    const int fd = ::open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        const int e = errno;
        throw error(std::string("failed to initialize kvm: ") + std::strerror(e) + " (" + path + ")");
    }
    fd_ = file(fd);
    const long version = ::ioctl(fd, KVM_GET_API_VERSION, 0);
    if (version != KVM_API_VERSION)
        throw error("failed to initialize kvm: API version " + std::to_string(version) + ", expected " +
                    std::to_string(KVM_API_VERSION));
    for (const required_cap& c : required_caps())
        if (check_extension(c.cap) <= 0) throw error(std::string("failed to initialize kvm: the host lacks ") + c.name);
    const long size = ::ioctl(fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (size < static_cast<long>(sizeof(kvm_run))) throw error("failed to initialize kvm: KVM_GET_VCPU_MMAP_SIZE failed");
    mmap_size_ = static_cast<std::size_t>(size);
}

int system::check_extension(int cap) const {
    const long r = ::ioctl(fd_.get(), KVM_CHECK_EXTENSION, cap);
    return r < 0 ? 0 : static_cast<int>(r);
}

std::vector<kvm_cpuid_entry2> system::supported_cpuid() const {
    // The kernel says E2BIG until the buffer is large enough.
    for (std::uint32_t n = 64; n <= 4096; n *= 2) {
        const std::size_t bytes = sizeof(kvm_cpuid2) + n * sizeof(kvm_cpuid_entry2);
        auto buf = std::make_unique<std::uint64_t[]>((bytes + 7) / 8);
        auto* c = reinterpret_cast<kvm_cpuid2*>(buf.get());
        c->nent = n;
        if (::ioctl(fd_.get(), KVM_GET_SUPPORTED_CPUID, c) == 0)
            return {c->entries, c->entries + c->nent};
        if (errno != E2BIG) throw error(std::string("kvm: KVM_GET_SUPPORTED_CPUID: ") + std::strerror(errno));
    }
    throw error("kvm: KVM_GET_SUPPORTED_CPUID: more than 4096 entries");
}

std::vector<std::uint32_t> system::msr_index_list() const {
    for (std::uint32_t n = 256; n <= 16384; n *= 2) {
        const std::size_t bytes = sizeof(kvm_msr_list) + n * sizeof(std::uint32_t);
        auto buf = std::make_unique<std::uint64_t[]>((bytes + 7) / 8);
        auto* l = reinterpret_cast<kvm_msr_list*>(buf.get());
        l->nmsrs = n;
        if (::ioctl(fd_.get(), KVM_GET_MSR_INDEX_LIST, l) == 0) return {l->indices, l->indices + l->nmsrs};
        if (errno != E2BIG) throw error(std::string("kvm: KVM_GET_MSR_INDEX_LIST: ") + std::strerror(errno));
    }
    throw error("kvm: KVM_GET_MSR_INDEX_LIST: more than 16384 MSRs");
}

vm::vm(const system& sys) {
    long fd;
    do fd = ::ioctl(sys.fd(), KVM_CREATE_VM, 0);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) throw error(std::string("kvm: KVM_CREATE_VM: ") + std::strerror(errno));
    fd_ = file(static_cast<int>(fd));
}

void vm::set_slot(const slot& s) {
    kvm_userspace_memory_region r{};
    r.slot = s.id;
    r.flags = s.readonly ? KVM_MEM_READONLY : 0;
    r.guest_phys_addr = s.gpa;
    r.memory_size = s.size;
    r.userspace_addr = reinterpret_cast<std::uintptr_t>(s.host);
    checked_ioctl(fd(), KVM_SET_USER_MEMORY_REGION, &r, "KVM_SET_USER_MEMORY_REGION");
}

void vm::create_irqchip() { checked_ioctl(fd(), KVM_CREATE_IRQCHIP, 0ul, "KVM_CREATE_IRQCHIP"); }

void vm::create_pit2() {
    kvm_pit_config c{};
    c.flags = KVM_PIT_SPEAKER_DUMMY;
    checked_ioctl(fd(), KVM_CREATE_PIT2, &c, "KVM_CREATE_PIT2");
}

kvm_irqchip vm::irqchip(unsigned chip_id) const {
    kvm_irqchip c{};
    c.chip_id = chip_id;
    checked_ioctl(fd(), KVM_GET_IRQCHIP, &c, "KVM_GET_IRQCHIP");
    return c;
}

void vm::set_irqchip(const kvm_irqchip& c) {
    auto copy = c;
    checked_ioctl(fd(), KVM_SET_IRQCHIP, &copy, "KVM_SET_IRQCHIP");
}

kvm_pit_state2 vm::pit2() const {
    kvm_pit_state2 p{};
    checked_ioctl(fd(), KVM_GET_PIT2, &p, "KVM_GET_PIT2");
    return p;
}

void vm::set_pit2(const kvm_pit_state2& p) {
    auto copy = p;
    checked_ioctl(fd(), KVM_SET_PIT2, &copy, "KVM_SET_PIT2");
}

void vm::irq_line(unsigned irq, bool level) {
    kvm_irq_level l{};
    l.irq = irq;
    l.level = level ? 1 : 0;
    checked_ioctl(fd(), KVM_IRQ_LINE, &l, "KVM_IRQ_LINE");
}

void vm::set_tss_addr(std::uint64_t gpa) { checked_ioctl(fd(), KVM_SET_TSS_ADDR, static_cast<unsigned long>(gpa), "KVM_SET_TSS_ADDR"); }

void vm::set_identity_map_addr(std::uint64_t gpa) {
    std::uint64_t a = gpa;
    checked_ioctl(fd(), KVM_SET_IDENTITY_MAP_ADDR, &a, "KVM_SET_IDENTITY_MAP_ADDR");
}

vcpu_fd::vcpu_fd(const system& sys, const vm& v, unsigned id) {
    long fd;
    do fd = ::ioctl(v.fd(), KVM_CREATE_VCPU, static_cast<unsigned long>(id));
    while (fd < 0 && errno == EINTR);
    if (fd < 0) throw error(std::string("kvm: KVM_CREATE_VCPU: ") + std::strerror(errno));
    fd_ = file(static_cast<int>(fd));
    run_size_ = sys.vcpu_mmap_size();
    void* p = ::mmap(nullptr, run_size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(), 0);
    if (p == MAP_FAILED) throw error(std::string("kvm: mapping kvm_run: ") + std::strerror(errno));
    run_ = static_cast<kvm_run*>(p);
}

vcpu_fd::~vcpu_fd() {
    if (run_) ::munmap(run_, run_size_);
}

int vcpu_fd::run() {
    if (::ioctl(fd_.get(), KVM_RUN, 0) == 0) return 0;
    const int e = errno;
    if (e == EINTR || e == EAGAIN) return -EINTR;
    throw error(std::string("kvm: KVM_RUN: ") + std::strerror(e));
}

kvm_regs vcpu_fd::regs() const {
    kvm_regs r{};
    checked_ioctl(fd_.get(), KVM_GET_REGS, &r, "KVM_GET_REGS");
    return r;
}
void vcpu_fd::set_regs(const kvm_regs& r) {
    kvm_regs c = r;
    checked_ioctl(fd_.get(), KVM_SET_REGS, &c, "KVM_SET_REGS");
}
kvm_sregs vcpu_fd::sregs() const {
    kvm_sregs s{};
    checked_ioctl(fd_.get(), KVM_GET_SREGS, &s, "KVM_GET_SREGS");
    return s;
}
void vcpu_fd::set_sregs(const kvm_sregs& s) {
    kvm_sregs c = s;
    checked_ioctl(fd_.get(), KVM_SET_SREGS, &c, "KVM_SET_SREGS");
}
kvm_fpu vcpu_fd::fpu() const {
    kvm_fpu f{};
    checked_ioctl(fd_.get(), KVM_GET_FPU, &f, "KVM_GET_FPU");
    return f;
}
void vcpu_fd::set_fpu(const kvm_fpu& f) {
    kvm_fpu c = f;
    checked_ioctl(fd_.get(), KVM_SET_FPU, &c, "KVM_SET_FPU");
}

void vcpu_fd::set_cpuid(std::span<const kvm_cpuid_entry2> entries) {
    const std::size_t bytes = sizeof(kvm_cpuid2) + entries.size() * sizeof(kvm_cpuid_entry2);
    auto buf = std::make_unique<std::uint64_t[]>((bytes + 7) / 8);
    auto* c = reinterpret_cast<kvm_cpuid2*>(buf.get());
    c->nent = static_cast<std::uint32_t>(entries.size());
    std::memcpy(c->entries, entries.data(), entries.size() * sizeof(kvm_cpuid_entry2));
    checked_ioctl(fd_.get(), KVM_SET_CPUID2, c, "KVM_SET_CPUID2");
}

namespace {
// struct kvm_msrs with room for n entries.
struct msr_buffer {
    explicit msr_buffer(std::size_t n)
        : words((sizeof(kvm_msrs) + n * sizeof(kvm_msr_entry) + 7) / 8), buf(std::make_unique<std::uint64_t[]>(words)) {
        std::memset(buf.get(), 0, words * 8);
        get()->nmsrs = static_cast<std::uint32_t>(n);
    }
    kvm_msrs* get() { return reinterpret_cast<kvm_msrs*>(buf.get()); }
    std::size_t words;
    std::unique_ptr<std::uint64_t[]> buf;
};
} // namespace

std::vector<std::uint64_t> vcpu_fd::msrs(std::span<const std::uint32_t> indices) const {
    msr_buffer b(indices.size());
    for (std::size_t i = 0; i < indices.size(); ++i) b.get()->entries[i].index = indices[i];
    const long n = checked_ioctl(fd_.get(), KVM_GET_MSRS, b.get(), "KVM_GET_MSRS");
    if (static_cast<std::size_t>(n) != indices.size())
        throw error("kvm: KVM_GET_MSRS: the host refused MSR " + std::to_string(indices[static_cast<std::size_t>(n)]));
    std::vector<std::uint64_t> out(indices.size());
    for (std::size_t i = 0; i < indices.size(); ++i) out[i] = b.get()->entries[i].data;
    return out;
}

void vcpu_fd::set_msrs(std::span<const std::pair<std::uint32_t, std::uint64_t>> msrs) {
    msr_buffer b(msrs.size());
    for (std::size_t i = 0; i < msrs.size(); ++i) {
        b.get()->entries[i].index = msrs[i].first;
        b.get()->entries[i].data = msrs[i].second;
    }
    const long n = checked_ioctl(fd_.get(), KVM_SET_MSRS, b.get(), "KVM_SET_MSRS");
    if (static_cast<std::size_t>(n) != msrs.size())
        throw error("kvm: KVM_SET_MSRS: the host refused MSR " + std::to_string(msrs[static_cast<std::size_t>(n)].first));
}

void vcpu_fd::interrupt(unsigned vector) {
    kvm_interrupt i{};
    i.irq = vector;
    checked_ioctl(fd_.get(), KVM_INTERRUPT, &i, "KVM_INTERRUPT");
}

void vcpu_fd::clear_events() {
    kvm_vcpu_events e{};
    checked_ioctl(fd_.get(), KVM_SET_VCPU_EVENTS, &e, "KVM_SET_VCPU_EVENTS");
}

void vcpu_fd::set_mp_state(std::uint32_t state) {
    kvm_mp_state m{};
    m.mp_state = state;
    checked_ioctl(fd_.get(), KVM_SET_MP_STATE, &m, "KVM_SET_MP_STATE");
}

kvm_lapic_state vcpu_fd::lapic() const {
    kvm_lapic_state l{};
    checked_ioctl(fd_.get(), KVM_GET_LAPIC, &l, "KVM_GET_LAPIC");
    return l;
}

void vcpu_fd::set_lapic(const kvm_lapic_state& l) {
    auto copy = l;
    checked_ioctl(fd_.get(), KVM_SET_LAPIC, &copy, "KVM_SET_LAPIC");
}

options parse_options(const std::vector<std::pair<std::string, std::string>>& props) {
    options o;
    for (const auto& [k, v] : props) {
        if (k == "kernel-irqchip") {
            if (v == "on" || v == "yes" || v == "true") o.kernel_irqchip = true;
            else if (v == "off" || v == "no" || v == "false") o.kernel_irqchip = false;
            else if (v == "split") throw error("-accel kvm,kernel-irqchip=split: not implemented yet (on or off)");
            else throw error("-accel kvm,kernel-irqchip=" + v + ": Parameter 'kernel-irqchip' does not accept value '" + v + "'");
        } else {
            throw error("-accel kvm: invalid parameter '" + k + "'");
        }
    }
    return o;
}

void probe() { system sys; }

} // namespace qf::kvm
