#include "qf/accel/kvm/vm.hpp"

#include "qf/accel/kvm/kvm.hpp"
#include "qf/core/error.hpp"

#include <algorithm>
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

bool host_is_pvm(const std::string& sysfs_modules) {
    const auto loaded = [&](const char* m) { return ::access((sysfs_modules + "/" + m).c_str(), F_OK) == 0; };
    return loaded("kvm_pvm") && !loaded("kvm_intel") && !loaded("kvm_amd");
}

int system::check_extension(int cap) const {
    const long r = ::ioctl(fd_.get(), KVM_CHECK_EXTENSION, cap);
    return r < 0 ? 0 : static_cast<int>(r);
}

namespace {

// The ioctl arguments that end in a flexible array, laid out as in C.
// Debian 12's uapi headers declare those arrays with __DECLARE_FLEX_ARRAY,
// whose empty struct takes a byte in C++: that moves the array (to offset
// 12 in kvm_cpuid2, 16 in kvm_msrs and kvm_irq_routing) and changes sizeof, and with it the
// ioctl numbers that _IOW/_IOWR build from sizeof - KVM answers EINVAL.
// So the header and the array are ours, and so are the numbers.
struct cpuid2_head {
    __u32 nent, padding;
};
struct msrs_head {
    __u32 nmsrs, pad;
};
struct msr_list_head {
    __u32 nmsrs;
};
struct irq_routing_head {
    __u32 nr, flags;
};
constexpr unsigned long ioc_get_supported_cpuid = _IOWR(KVMIO, 0x05, cpuid2_head);
constexpr unsigned long ioc_get_msr_index_list = _IOWR(KVMIO, 0x02, msr_list_head);
constexpr unsigned long ioc_set_cpuid2 = _IOW(KVMIO, 0x90, cpuid2_head);
constexpr unsigned long ioc_get_msrs = _IOWR(KVMIO, 0x88, msrs_head);
constexpr unsigned long ioc_set_msrs = _IOW(KVMIO, 0x89, msrs_head);
constexpr unsigned long ioc_set_gsi_routing = _IOW(KVMIO, 0x6a, irq_routing_head);
// The ABI's values, as a C compiler computes them from <linux/kvm.h>.
static_assert(ioc_get_supported_cpuid == 0xc008ae05 && ioc_get_msr_index_list == 0xc004ae02 && ioc_set_cpuid2 == 0x4008ae90 &&
              ioc_get_msrs == 0xc008ae88 && ioc_set_msrs == 0x4008ae89 && ioc_set_gsi_routing == 0x4008ae6a);

// A Head followed by room for n Entry, zeroed (KVM checks some padding).
template <class Head, class Entry>
class flex_buffer {
public:
    static constexpr std::size_t entries_at = (sizeof(Head) + alignof(Entry) - 1) / alignof(Entry) * alignof(Entry);
    explicit flex_buffer(std::size_t n) : buf_(std::make_unique<std::uint64_t[]>((entries_at + n * sizeof(Entry) + 7) / 8)) {}
    Head& head() { return *reinterpret_cast<Head*>(buf_.get()); }
    Entry* entries() { return reinterpret_cast<Entry*>(reinterpret_cast<std::byte*>(buf_.get()) + entries_at); }
    void* arg() { return buf_.get(); }

private:
    std::unique_ptr<std::uint64_t[]> buf_;
};

// A list ioctl on /dev/kvm: the kernel says E2BIG until the buffer is large
// enough, and writes the count it has into the header.
template <class Head, class Entry>
std::vector<Entry> read_list(int fd, unsigned long request, __u32 Head::*count, std::uint32_t from, std::uint32_t to,
                             const char* what) {
    for (std::uint32_t n = from; n <= to; n *= 2) {
        flex_buffer<Head, Entry> b(n);
        b.head().*count = n;
        if (::ioctl(fd, request, b.arg()) == 0) return {b.entries(), b.entries() + b.head().*count};
        if (errno != E2BIG) throw error(std::string("kvm: ") + what + ": " + std::strerror(errno));
    }
    throw error(std::string("kvm: ") + what + ": more than " + std::to_string(to) + " entries");
}

} // namespace

std::vector<kvm_cpuid_entry2> system::supported_cpuid() const {
    return read_list<cpuid2_head, kvm_cpuid_entry2>(fd_.get(), ioc_get_supported_cpuid, &cpuid2_head::nent, 64, 4096,
                                                    "KVM_GET_SUPPORTED_CPUID");
}

std::vector<std::uint32_t> system::msr_index_list() const {
    return read_list<msr_list_head, std::uint32_t>(fd_.get(), ioc_get_msr_index_list, &msr_list_head::nmsrs, 256, 16384,
                                                   "KVM_GET_MSR_INDEX_LIST");
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

bool vm::signal_msi(std::uint64_t addr, std::uint32_t data) {
    kvm_msi m{};
    m.address_lo = static_cast<__u32>(addr);
    m.address_hi = static_cast<__u32>(addr >> 32);
    m.data = data;
    return checked_ioctl(fd(), KVM_SIGNAL_MSI, &m, "KVM_SIGNAL_MSI") > 0;
}

void vm::set_gsi_routing(std::span<const kvm_irq_routing_entry> entries) {
    flex_buffer<irq_routing_head, kvm_irq_routing_entry> b(entries.size());
    b.head().nr = static_cast<__u32>(entries.size());
    std::copy(entries.begin(), entries.end(), b.entries());
    checked_ioctl(fd(), ioc_set_gsi_routing, b.arg(), "KVM_SET_GSI_ROUTING");
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
    flex_buffer<cpuid2_head, kvm_cpuid_entry2> b(entries.size());
    b.head().nent = static_cast<__u32>(entries.size());
    std::copy(entries.begin(), entries.end(), b.entries());
    checked_ioctl(fd_.get(), ioc_set_cpuid2, b.arg(), "KVM_SET_CPUID2");
}

std::vector<std::uint64_t> vcpu_fd::msrs(std::span<const std::uint32_t> indices) const {
    flex_buffer<msrs_head, kvm_msr_entry> b(indices.size());
    b.head().nmsrs = static_cast<__u32>(indices.size());
    for (std::size_t i = 0; i < indices.size(); ++i) b.entries()[i].index = indices[i];
    const long n = checked_ioctl(fd_.get(), ioc_get_msrs, b.arg(), "KVM_GET_MSRS");
    if (static_cast<std::size_t>(n) != indices.size())
        throw error("kvm: KVM_GET_MSRS: the host refused MSR " + std::to_string(indices[static_cast<std::size_t>(n)]));
    std::vector<std::uint64_t> out(indices.size());
    for (std::size_t i = 0; i < indices.size(); ++i) out[i] = b.entries()[i].data;
    return out;
}

void vcpu_fd::set_msrs(std::span<const std::pair<std::uint32_t, std::uint64_t>> msrs) {
    flex_buffer<msrs_head, kvm_msr_entry> b(msrs.size());
    b.head().nmsrs = static_cast<__u32>(msrs.size());
    for (std::size_t i = 0; i < msrs.size(); ++i) {
        b.entries()[i].index = msrs[i].first;
        b.entries()[i].data = msrs[i].second;
    }
    const long n = checked_ioctl(fd_.get(), ioc_set_msrs, b.arg(), "KVM_SET_MSRS");
    if (static_cast<std::size_t>(n) != msrs.size())
        throw error("kvm: KVM_SET_MSRS: the host refused MSR " + std::to_string(msrs[static_cast<std::size_t>(n)].first));
}

void vcpu_fd::interrupt(unsigned vector) {
    kvm_interrupt i{};
    i.irq = vector;
    checked_ioctl(fd_.get(), KVM_INTERRUPT, &i, "KVM_INTERRUPT");
}

void vcpu_fd::nmi() { checked_ioctl(fd_.get(), KVM_NMI, nullptr, "KVM_NMI"); }

void vcpu_fd::clear_events() {
    kvm_vcpu_events e{};
    checked_ioctl(fd_.get(), KVM_SET_VCPU_EVENTS, &e, "KVM_SET_VCPU_EVENTS");
}

void vcpu_fd::set_guest_debug(const kvm_guest_debug& d) {
    auto copy = d;
    checked_ioctl(fd_.get(), KVM_SET_GUEST_DEBUG, &copy, "KVM_SET_GUEST_DEBUG");
}

void vcpu_fd::queue_exception(unsigned nr) {
    kvm_vcpu_events e{};
    checked_ioctl(fd_.get(), KVM_GET_VCPU_EVENTS, &e, "KVM_GET_VCPU_EVENTS");
    e.exception.injected = 1;
    e.exception.nr = static_cast<std::uint8_t>(nr);
    e.exception.has_error_code = 0;
    e.flags &= ~std::uint32_t{KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR};
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
