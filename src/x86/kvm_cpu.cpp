// The x86 side of the KVM backend: CPUID from the definition, the state in
// KVM's structures, and the vCPU loop that hands exits to the machine.
#include "targets/x86/kvm_cpu.hpp"

#include "qf/accel/kvm/slots.hpp"
#include "qf/core/error.hpp"
#include "qf/core/log.hpp"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <mutex>

namespace qf::x86 {

namespace {

const kvm_cpuid_entry2* find_leaf(std::span<const kvm_cpuid_entry2> v, std::uint32_t fn, std::uint32_t index) {
    for (const auto& e : v)
        if (e.function == fn && (!(e.flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e.index == index)) return &e;
    return nullptr;
}

// Leaves whose subleaf matters, and how many of them the model has.
unsigned subleaves(const cpu_model& m, std::uint32_t leaf) {
    switch (leaf) {
    case 4: {  // cache descriptors, up to the one of type 0
        unsigned n = 0;
        while (n < 8 && (cpuid(m, 4, n).eax & 0x1f) != 0) ++n;
        return n + 1;
    }
    case 7: return 1;
    case 0xb: return 3;  // SMT, core, then the invalid level
    case 0xd: return 2;
    default: return 0;
    }
}

constexpr std::uint32_t hypervisor_bit = 1u << 31;

// Where each feature word lives in CPUID (subleaf 0), in feature_word order.
struct word_place {
    feature_word word;
    std::uint32_t leaf;
    std::uint32_t kvm_cpuid_entry2::*reg;
    const char* name;
};
constexpr word_place word_places[] = {
    {feature_word::l1_edx, 1, &kvm_cpuid_entry2::edx, "CPUID.01H:EDX"},
    {feature_word::l1_ecx, 1, &kvm_cpuid_entry2::ecx, "CPUID.01H:ECX"},
    {feature_word::l7_ebx, 7, &kvm_cpuid_entry2::ebx, "CPUID.07H:EBX"},
    {feature_word::l7_ecx, 7, &kvm_cpuid_entry2::ecx, "CPUID.07H:ECX"},
    {feature_word::l7_edx, 7, &kvm_cpuid_entry2::edx, "CPUID.07H:EDX"},
    {feature_word::e1_edx, 0x8000'0001, &kvm_cpuid_entry2::edx, "CPUID.80000001H:EDX"},
    {feature_word::e1_ecx, 0x8000'0001, &kvm_cpuid_entry2::ecx, "CPUID.80000001H:ECX"},
};
static_assert(std::size(word_places) == static_cast<unsigned>(feature_word::count));

// What the host's KVM offers of a feature word; the hypervisor bit always,
// as QEMU adds it.
std::uint32_t host_word(std::span<const kvm_cpuid_entry2> supported, const word_place& p) {
    const kvm_cpuid_entry2* e = find_leaf(supported, p.leaf, 0);
    const std::uint32_t v = e ? e->*p.reg : 0u;
    return p.word == feature_word::l1_ecx ? v | hypervisor_bit : v;
}

// The general registers and segments in our numbering (R_EAX.., R_ES..).
constexpr __u64 kvm_regs::*gpr_of[16] = {&kvm_regs::rax, &kvm_regs::rcx, &kvm_regs::rdx, &kvm_regs::rbx,
                                         &kvm_regs::rsp, &kvm_regs::rbp, &kvm_regs::rsi, &kvm_regs::rdi,
                                         &kvm_regs::r8,  &kvm_regs::r9,  &kvm_regs::r10, &kvm_regs::r11,
                                         &kvm_regs::r12, &kvm_regs::r13, &kvm_regs::r14, &kvm_regs::r15};
constexpr kvm_segment kvm_sregs::*seg_of[6] = {&kvm_sregs::es, &kvm_sregs::cs, &kvm_sregs::ss,
                                               &kvm_sregs::ds, &kvm_sregs::fs, &kvm_sregs::gs};

} // namespace

namespace {

// The topology leaves for CPU where.apic_id of where.count, each a core of
// one socket (QEMU's -smp N: one socket, N cores, one thread each).
void set_topology(std::vector<kvm_cpuid_entry2>& v, cpu_topology where) {
    for (auto& e : v) {
        cpuid_result r{e.eax, e.ebx, e.ecx, e.edx};
        apply_topology(e.function, e.index, r, where);
        e.eax = r.eax, e.ebx = r.ebx, e.ecx = r.ecx, e.edx = r.edx;
    }
}

std::vector<kvm_cpuid_entry2> model_cpuid(const cpu_model& m, std::span<const kvm_cpuid_entry2> supported, bool host) {
    std::vector<kvm_cpuid_entry2> out;
    if (host) {
        out.assign(supported.begin(), supported.end());
        for (auto& e : out)
            if (e.function == 1) e.ecx |= hypervisor_bit;
        return out;
    }
    const auto add = [&](std::uint32_t leaf, std::uint32_t index, bool indexed) {
        const cpuid_result r = cpuid(m, leaf, index);
        kvm_cpuid_entry2 e{};
        e.function = leaf;
        e.index = index;
        e.flags = indexed ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0;
        e.eax = r.eax;
        e.ebx = r.ebx;
        e.ecx = r.ecx;
        e.edx = r.edx;
        if (index == 0)
            for (const word_place& p : word_places)
                if (p.leaf == leaf) e.*p.reg &= host_word(supported, p);
        const kvm_cpuid_entry2* s = find_leaf(supported, leaf, index);
        if (leaf == 0x8000'0008 && s) {
            // The guest's physical address width cannot exceed the host's.
            const std::uint32_t bits = std::min(e.eax & 0xff, s->eax & 0xff);
            e.eax = (e.eax & ~0xffu) | bits;
        }
        out.push_back(e);
    };
    for (std::uint32_t leaf = 0; leaf <= m.level; ++leaf) {
        const unsigned n = subleaves(m, leaf);
        if (n == 0) add(leaf, 0, false);
        for (unsigned i = 0; i < n; ++i) add(leaf, i, true);
    }
    for (std::uint32_t leaf = 0x8000'0000; leaf <= m.xlevel; ++leaf) add(leaf, 0, false);
    return out;
}

} // namespace

std::vector<kvm_cpuid_entry2> guest_cpuid(const cpu_model& m, std::span<const kvm_cpuid_entry2> supported, bool host,
                                          cpu_topology where) {
    std::vector<kvm_cpuid_entry2> out = model_cpuid(m, supported, host);
    set_topology(out, where);
    return out;
}

feature_set kvm_missing_features(const cpu_model& m, std::span<const kvm_cpuid_entry2> supported) {
    feature_set missing;
    for (const word_place& p : word_places)
        missing.w[static_cast<unsigned>(p.word)] = m.features.word(p.word) & ~host_word(supported, p);
    return missing;
}

kvm_segment to_kvm(const segment& g) {
    kvm_segment k{};
    k.base = g.base;
    k.limit = g.limit;
    k.selector = g.selector;
    k.type = g.attr & 0xf;
    k.s = (g.attr >> 4) & 1;
    k.dpl = (g.attr >> 5) & 3;
    k.present = (g.attr >> 7) & 1;
    k.avl = (g.attr >> 8) & 1;
    k.l = (g.attr >> 9) & 1;
    k.db = (g.attr >> 10) & 1;
    k.g = (g.attr >> 11) & 1;
    k.unusable = !k.present;  // a null selector's cache, as QEMU's set_seg
    return k;
}

segment from_kvm(const kvm_segment& k) {
    segment g;
    g.base = k.base;
    g.limit = k.limit;
    g.selector = k.selector;
    g.attr = static_cast<std::uint16_t>((k.type & 0xf) | (k.s & 1) << 4 | (k.dpl & 3) << 5 |
                                        ((k.present && !k.unusable) ? 1 : 0) << 7 | (k.avl & 1) << 8 | (k.l & 1) << 9 |
                                        (k.db & 1) << 10 | (k.g & 1) << 11);
    return g;
}

kvm_state to_kvm(const state& s) {
    kvm_state k{};
    auto& r = k.regs;
    for (unsigned i = 0; i < 16; ++i) r.*gpr_of[i] = s.regs[i];
    r.rip = s.rip;
    r.rflags = compute_eflags(s);

    auto& sr = k.sregs;
    for (unsigned i = 0; i < 6; ++i) sr.*seg_of[i] = to_kvm(s.segs[i]);
    sr.ldt = to_kvm(s.ldt);
    sr.tr = to_kvm(s.tr);
    sr.gdt.base = s.gdt.base;
    sr.gdt.limit = static_cast<std::uint16_t>(s.gdt.limit);
    sr.idt.base = s.idt.base;
    sr.idt.limit = static_cast<std::uint16_t>(s.idt.limit);
    sr.cr0 = s.cr[0];
    sr.cr2 = s.cr[2];
    sr.cr3 = s.cr[3];
    sr.cr4 = s.cr[4];
    sr.efer = s.efer;
    sr.apic_base = s.apic_base;

    // FXSAVE order: ST(i), not the physical register R[i].
    auto& f = k.fpu;
    const unsigned top = (s.fsw >> 11) & 7;
    for (unsigned i = 0; i < 8; ++i) {
        const x87_reg& x = s.fpr[(top + i) & 7];
        std::memcpy(f.fpr[i], &x.mant, 8);
        std::memcpy(f.fpr[i] + 8, &x.sign_exp, 2);
    }
    f.fcw = s.fcw;
    f.fsw = s.fsw;
    f.ftwx = s.ftw;
    f.last_opcode = s.fop;
    f.last_ip = s.fip;
    f.last_dp = s.fdp;
    for (unsigned i = 0; i < 16; ++i) std::memcpy(f.xmm[i], s.xmm[i].b, 16);
    f.mxcsr = s.mxcsr;
    return k;
}

void from_kvm(state& s, const kvm_state& k) {
    const auto& r = k.regs;
    for (unsigned i = 0; i < 16; ++i) s.regs[i] = r.*gpr_of[i];
    s.rip = r.rip;
    load_eflags(s, r.rflags, ~0ull);

    const auto& sr = k.sregs;
    for (unsigned i = 0; i < 6; ++i) s.segs[i] = from_kvm(sr.*seg_of[i]);
    s.ldt = from_kvm(sr.ldt);
    s.tr = from_kvm(sr.tr);
    s.gdt = {sr.gdt.base, sr.gdt.limit};
    s.idt = {sr.idt.base, sr.idt.limit};
    s.cr[0] = sr.cr0;
    s.cr[2] = sr.cr2;
    s.cr[3] = sr.cr3;
    s.cr[4] = sr.cr4;
    s.efer = sr.efer;
    s.apic_base = sr.apic_base;

    const auto& f = k.fpu;
    s.fcw = f.fcw;
    s.fsw = f.fsw;
    s.ftw = f.ftwx;
    s.fop = f.last_opcode;
    s.fip = f.last_ip;
    s.fdp = f.last_dp;
    const unsigned top = (s.fsw >> 11) & 7;
    for (unsigned i = 0; i < 8; ++i) {
        x87_reg& x = s.fpr[(top + i) & 7];
        std::memcpy(&x.mant, f.fpr[i], 8);
        std::memcpy(&x.sign_exp, f.fpr[i] + 8, 2);
    }
    for (unsigned i = 0; i < 16; ++i) std::memcpy(s.xmm[i].b, f.xmm[i], 16);
    s.mxcsr = f.mxcsr;
    compute_hflags(s);
}

namespace {
namespace msr {
constexpr std::uint32_t sysenter_cs = 0x174, sysenter_esp = 0x175, sysenter_eip = 0x176, misc_enable = 0x1a0, pat = 0x277,
                        star = 0xc000'0081, lstar = 0xc000'0082, cstar = 0xc000'0083, fmask = 0xc000'0084,
                        kernel_gs_base = 0xc000'0102, tsc_aux = 0xc000'0103;
}
constexpr std::uint32_t state_msrs[] = {msr::sysenter_cs, msr::sysenter_esp, msr::sysenter_eip, msr::misc_enable, msr::pat, msr::star,
                                        msr::lstar, msr::cstar, msr::fmask, msr::kernel_gs_base, msr::tsc_aux};
} // namespace

std::span<const std::uint32_t> kvm_state_msrs() { return state_msrs; }

std::vector<std::pair<std::uint32_t, std::uint64_t>> msr_values(const state& s, bool rdtscp,
                                                                 std::optional<std::span<const std::uint32_t>> has) {
    std::vector<std::pair<std::uint32_t, std::uint64_t>> v = {
        {msr::sysenter_cs, s.sysenter_cs}, {msr::sysenter_esp, s.sysenter_esp}, {msr::sysenter_eip, s.sysenter_eip},
        {msr::misc_enable, s.misc_enable}, {msr::pat, s.pat},                 {msr::star, s.star},
        {msr::lstar, s.lstar},
        {msr::cstar, s.cstar},             {msr::fmask, s.fmask},               {msr::kernel_gs_base, s.kernel_gs_base}};
    if (rdtscp) v.push_back({msr::tsc_aux, s.tsc_aux});
    if (has)
        std::erase_if(v, [&](const auto& m) { return std::find(has->begin(), has->end(), m.first) == has->end(); });
    return v;
}

void set_msr_values(state& s, std::span<const std::uint32_t> indices, std::span<const std::uint64_t> values) {
    for (std::size_t i = 0; i < indices.size() && i < values.size(); ++i) {
        const std::uint64_t v = values[i];
        switch (indices[i]) {
        case msr::sysenter_cs: s.sysenter_cs = v; break;
        case msr::sysenter_esp: s.sysenter_esp = v; break;
        case msr::sysenter_eip: s.sysenter_eip = v; break;
        case msr::misc_enable: s.misc_enable = v; break;
        case msr::pat: s.pat = v; break;
        case msr::star: s.star = v; break;
        case msr::lstar: s.lstar = v; break;
        case msr::cstar: s.cstar = v; break;
        case msr::fmask: s.fmask = v; break;
        case msr::kernel_gs_base: s.kernel_gs_base = v; break;
        case msr::tsc_aux: s.tsc_aux = v; break;
        default: break;
        }
    }
}

// ---- the vCPU ----------------------------------------------------------------------

namespace {

// Kicks are SIGUSR1 (QEMU's SIG_IPI): its handler does nothing, the signal
// itself ends KVM_RUN with EINTR.
void on_kick_signal(int) {}
void install_kick_handler() {
    static std::once_flag once;
    std::call_once(once, [] {
        struct sigaction sa {};
        sa.sa_handler = on_kick_signal;
        sa.sa_flags = SA_RESTART;  // other syscalls go on; KVM_RUN still returns EINTR
        sigemptyset(&sa.sa_mask);
        sigaction(SIGUSR1, &sa, nullptr);
    });
}

// Below the BIOS: the three pages of the TSS Intel's real-mode emulation
// uses, and the identity-map page before them (QEMU's addresses).
constexpr std::uint64_t tss_addr = 0xfffb'd000, identity_map_addr = 0xfffb'c000;

} // namespace

kvm_guest::kvm_guest(const address_space& as, kvm::options opt) : as_(as), opt_(opt), sys_(), vm_(sys_) {
    install_kick_handler();
    vm_.set_tss_addr(tss_addr);
    if (sys_.check_extension(KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0) vm_.set_identity_map_addr(identity_map_addr);
    if (opt_.kernel_irqchip) {
        if (sys_.check_extension(KVM_CAP_IRQCHIP) <= 0) throw error("-accel kvm,kernel-irqchip=on: the host has no KVM_CAP_IRQCHIP");
        vm_.create_irqchip();
        vm_.set_gsi_routing(pc_gsi_routes());
        vm_.create_pit2();
        pit_state2_ = sys_.check_extension(KVM_CAP_PIT_STATE2) > 0;
        for (unsigned chip : {KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE, KVM_IRQCHIP_IOAPIC})
            chips_.push_back(vm_.irqchip(chip));
        pit_ = vm_.pit2();
    }
    set_slots(kvm::plan_slots(as));
    as.add_listener(this);
    supported_ = sys_.supported_cpuid();
    msrs_ = sys_.msr_index_list();
}

std::vector<kvm_irq_routing_entry> pc_gsi_routes() {
    std::vector<kvm_irq_routing_entry> v;
    auto route = [&](unsigned gsi, unsigned chip, unsigned pin) {
        kvm_irq_routing_entry e{};
        e.gsi = gsi;
        e.type = KVM_IRQ_ROUTING_IRQCHIP;
        e.u.irqchip.irqchip = chip;
        e.u.irqchip.pin = pin;
        v.push_back(e);
    };
    for (unsigned i = 0; i < 8; ++i)
        if (i != 2) route(i, KVM_IRQCHIP_PIC_MASTER, i);
    for (unsigned i = 8; i < 16; ++i) route(i, KVM_IRQCHIP_PIC_SLAVE, i - 8);
    for (unsigned i = 0; i < 24; ++i)
        if (i != 2) route(i, KVM_IRQCHIP_IOAPIC, i == 0 ? 2 : i);
    return v;
}

kvm_guest::~kvm_guest() { as_.remove_listener(this); }

void kvm_guest::map_changed(std::uint64_t, std::uint64_t) { set_slots(kvm::plan_slots(as_)); }

// KVM forbids changing a slot in place: one that differs is deleted
// (size 0) before its new self, or a neighbour, takes its place.
void kvm_guest::set_slots(std::vector<kvm::slot> want) {
    auto same = [](const kvm::slot& a, const kvm::slot& b) {
        return a.gpa == b.gpa && a.size == b.size && a.host == b.host && a.readonly == b.readonly;
    };
    for (std::size_t i = 0; i < slots_.size(); ++i)
        if (i >= want.size() || !same(slots_[i], want[i])) vm_.set_slot({slots_[i].id, slots_[i].gpa, 0, nullptr, false});
    for (std::size_t i = 0; i < want.size(); ++i)
        if (i >= slots_.size() || !same(slots_[i], want[i])) vm_.set_slot(want[i]);
    slots_ = std::move(want);
}

void kvm_guest::reset() {
    for (const kvm_irqchip& c : chips_) vm_.set_irqchip(c);
    if (pit_) vm_.set_pit2(*pit_);
}

void kvm_guest::set_pit_hpet_legacy(bool on) {
    if (!pit_) return;
    kvm_pit_state2 p = vm_.pit2();
    if (((p.flags & KVM_PIT_FLAGS_HPET_LEGACY) != 0) == on) return;
    p.flags = on ? p.flags | KVM_PIT_FLAGS_HPET_LEGACY : p.flags & ~KVM_PIT_FLAGS_HPET_LEGACY;
    vm_.set_pit2(p);
}

kvm_vcpu::kvm_vcpu(kvm_guest& guest, cpu_topology where, io_bus io, const address_space& as, const cpu_model& model,
                   bool host_cpu)
    : guest_(guest), where_(where), as_(as), io_(io), model_(model) {
    cpu_.emplace(guest_.sys(), guest_.vm(), where_.apic_id);
    if (kernel_irqchip()) lapic_ = cpu_->lapic();
    // MSRs this host's KVM does not list are left at KVM's own reset values.
    const auto& host_msrs = guest_.msr_list();
    for (std::uint32_t m : kvm_state_msrs())
        if (std::find(host_msrs.begin(), host_msrs.end(), m) != host_msrs.end()) kept_msrs_.push_back(m);
    const auto& supported = guest_.supported_cpuid();
    const auto entries = guest_cpuid(model_, supported, host_cpu, where_);
    cpu_->set_cpuid(entries);
    if (const kvm_cpuid_entry2* e = find_leaf(entries, 0x8000'0001, 0)) rdtscp_ = (e->edx >> 27) & 1;
    if (!rdtscp_) std::erase(kept_msrs_, 0xc000'0103u);  // TSC_AUX only with RDTSCP
    if (!host_cpu && where_.apic_id == 0) {
        const feature_set missing = kvm_missing_features(model_, supported);
        for (const word_place& p : word_places)
            for (unsigned b = 0; b < 32; ++b)
                if ((missing.word(p.word) >> b) & 1)
                    report_error(std::string("warning: host doesn't support requested feature: ") + p.name + " [bit " +
                                 std::to_string(b) + "]");
    }
}

kvm_vcpu::~kvm_vcpu() = default;

void kvm_vcpu::push_state() {
    const kvm_state k = to_kvm(st_);
    cpu_->set_sregs(k.sregs);
    cpu_->set_regs(k.regs);
    cpu_->set_fpu(k.fpu);
    auto m = msr_values(st_, rdtscp_, std::span<const std::uint32_t>(kept_msrs_));
    cpu_->set_msrs(m);
    synced_ = k;
    synced_msrs_ = std::move(m);
}

void kvm_vcpu::pull_state() {
    kvm_state k{cpu_->regs(), cpu_->sregs(), cpu_->fpu()};
    from_kvm(st_, k);
    set_msr_values(st_, kept_msrs_, cpu_->msrs(kept_msrs_));
    synced_ = to_kvm(st_);
    synced_msrs_ = msr_values(st_, rdtscp_, std::span<const std::uint32_t>(kept_msrs_));
}

bool kvm_vcpu::state_changed() const {
    const kvm_state k = to_kvm(st_);
    return std::memcmp(&k, &synced_, sizeof k) != 0 || msr_values(st_, rdtscp_, std::span<const std::uint32_t>(kept_msrs_)) != synced_msrs_;
}

void kvm_vcpu::reset() {
    if (in_run_.load() && !pthread_equal(thread_, pthread_self())) {
        reset_pending_.store(true);
        poke();
        return;
    }
    reset_now();
}

void kvm_vcpu::reset_now() {
    reset_pending_.store(false);
    const bool bsp = where_.apic_id == 0;
    reset_state(st_, model_);
    if (!bsp) st_.apic_base &= ~std::uint64_t{1u << 8};  // IA32_APIC_BASE.BSP
    if (on_reset) on_reset(st_);
    cpu_->clear_events();
    push_state();  // IA32_APIC_BASE (in sregs) before the APIC's registers, as QEMU puts them
    if (lapic_) cpu_->set_lapic(*lapic_);
    // With the kernel's local APICs, an application processor waits for
    // INIT and SIPI; without them there are no others to start.
    if (kernel_irqchip()) cpu_->set_mp_state(bsp ? KVM_MP_STATE_RUNNABLE : KVM_MP_STATE_UNINITIALIZED);
    if (std::find(guest_.msr_list().begin(), guest_.msr_list().end(), 0x10u) != guest_.msr_list().end()) {
        const std::pair<std::uint32_t, std::uint64_t> tsc[] = {{0x10, 0}};  // the TSC counts from reset, as in QEMU
        cpu_->set_msrs(tsc);
    }
    halted_ = false;
    can_inject_ = false;
    cpu_->shared().request_interrupt_window = 0;
}

void kvm_vcpu::kick() {
    kick_.store(true);
    poke();
}

void kvm_vcpu::poke() {
    __atomic_store_n(&cpu_->shared().immediate_exit, 1, __ATOMIC_SEQ_CST);
    if (in_run_.load()) pthread_kill(thread_, SIGUSR1);
}

// Under the machine lock. A vCPU thread in KVM_RUN comes out to inject it
// (in the main loop's thread nothing runs meanwhile: the next run() does).
void kvm_vcpu::set_intr(bool level) {
    intr_ = level;
    if (level && big_lock_) poke();
}

void kvm_vcpu::set_a20(bool enabled) {
    if (!enabled) logf(log_item::unimp, "kvm: the A20 gate cannot be closed under KVM; it stays open\n");
}

kvm_lapic_state kvm_vcpu::kernel_lapic() {
    poke();
    return cpu_->lapic();
}

void kvm_vcpu::raise_nmi() {
    nmi_pending_.store(true);
    poke();
}

bool kvm_vcpu::runnable() const {
    return !halted_ || reset_pending_.load() || nmi_pending_.load() || (intr_ && (st_.eflags & eflags_bit::if_));
}

void kvm_vcpu::inject() {
    kvm_run& r = cpu_->shared();
    if (!intr_ || !interrupt_ack) {
        r.request_interrupt_window = 0;
        return;
    }
    if (can_inject_ && r.ready_for_interrupt_injection && r.if_flag) {
        cpu_->interrupt(interrupt_ack());
        can_inject_ = false;  // until KVM has taken it (the next exit says)
        halted_ = false;
        r.request_interrupt_window = 0;
    } else {
        r.request_interrupt_window = 1;
    }
}

void kvm_vcpu::fail(const std::string& why) {
    try {
        pull_state();
        std::fputs(format_state(st_).c_str(), stderr);
    } catch (const error&) {
        // The registers could not be read either: the reason alone.
    }
    throw error("kvm: " + why);
}

kvm_vcpu::stop kvm_vcpu::run() {
    if (halted_ && !runnable()) return stop::halted;
    thread_ = pthread_self();
    in_run_.store(true);
    struct leave {
        std::atomic<bool>& f;
        ~leave() { f.store(false); }
    } left{in_run_};
    if (state_changed()) push_state();
    if (!(debug_ == debug_applied_) || (!debug_ever_ && !(debug_ == debug_settings{}))) {
        kvm_guest_debug g{};
        const bool hw = (debug_.dr7 & 0xff) != 0;
        if (debug_.single_step || debug_.sw_breakpoints || hw) {
            g.control = KVM_GUESTDBG_ENABLE | (debug_.single_step ? KVM_GUESTDBG_SINGLESTEP : 0) |
                        (debug_.sw_breakpoints ? KVM_GUESTDBG_USE_SW_BP : 0) | (hw ? KVM_GUESTDBG_USE_HW_BP : 0);
            for (unsigned i = 0; i < 4; ++i) g.arch.debugreg[i] = debug_.dr[i];
            g.arch.debugreg[7] = debug_.dr7;
        }
        cpu_->set_guest_debug(g);
        debug_applied_ = debug_;
        debug_ever_ = true;
    }
    kvm_run& r = cpu_->shared();
    for (;;) {
        if (reset_pending_.load()) reset_now();  // asked for by another vCPU's thread
        if (kick_.exchange(false)) {
            pull_state();
            return stop::kicked;
        }
        if (nmi_pending_.exchange(false)) {
            cpu_->nmi();
            halted_ = false;
        }
        if (!kernel_irqchip()) inject();
        const int rc = [&] {
            // Without the machine lock while the guest runs; with it again
            // however KVM_RUN ends (a failure throws).
            struct unlocked {
                fair_mutex* m;
                explicit unlocked(fair_mutex* l) : m(l) { if (m) m->unlock(); }
                ~unlocked() { if (m) m->lock(); }
            } u{big_lock_};
            return cpu_->run();
        }();
        __atomic_store_n(&r.immediate_exit, 0, __ATOMIC_SEQ_CST);
        if (rc != 0) continue;  // a kick: seen at the top
        can_inject_ = true;
        const kvm::exit_event ev = kvm::decode_exit(r, cpu_->shared_size());
        if (const auto* io = std::get_if<kvm::exit_io>(&ev)) {
            for (std::uint32_t i = 0; i < io->count; ++i) {
                std::byte* d = io->data.data() + std::size_t{i} * io->size;
                if (io->out) {
                    std::uint32_t v = 0;
                    std::memcpy(&v, d, io->size);
                    io_.out(io_.ctx, &st_.base, io->port, io->size, v);
                } else {
                    const std::uint32_t v = io_.in(io_.ctx, &st_.base, io->port, io->size);
                    std::memcpy(d, &v, io->size);
                }
            }
        } else if (const auto* m = std::get_if<kvm::exit_mmio>(&ev)) {
            if (m->write) as_.write(gpa{m->addr}, m->data);
            else as_.read(gpa{m->addr}, m->data);
        } else if (const auto* dbg = std::get_if<kvm::exit_debug>(&ev)) {
            // A step, or a debug register that fired (DR6's B0-B3); an INT3
            // the debugger placed. Anything else was the guest's own.
            // The INT3's own address, or (where the exit comes after it)
            // the next byte's; the debugger sees the CPU at the INT3.
            std::uint64_t at = dbg->pc;
            bool ours = false;
            if (dbg->exception == 1) {
                ours = debug_.single_step || ((debug_.dr7 & 0xff) && (dbg->dr6 & 0xf));
            } else if (is_debugger_breakpoint) {
                ours = is_debugger_breakpoint(at) || is_debugger_breakpoint(--at);
            }
            logf(log_item::int_, "kvm: debug exit, exception %u at %#" PRIx64 " dr6 %#" PRIx64 "%s\n", dbg->exception,
                 dbg->pc, dbg->dr6, ours ? "" : " (the guest's: given back)");
            if (!ours) {
                cpu_->queue_exception(dbg->exception);
                continue;
            }
            pull_state();
            if (dbg->exception == 3) st_.rip = at - st_.segs[R_CS].base;
            last_debug_ = {dbg->exception, at, dbg->dr6};
            return stop::debug;
        } else if (std::holds_alternative<kvm::exit_hlt>(ev)) {
            pull_state();
            halted_ = true;
            if (!runnable()) return stop::halted;
        } else if (std::holds_alternative<kvm::exit_shutdown>(ev)) {
            pull_state();
            logf(log_item::guest_errors, "kvm: triple fault (KVM_EXIT_SHUTDOWN)\n");
            if (!on_triple_fault) reset();
            else if (!on_triple_fault()) return stop::kicked;
        } else if (const auto* f = std::get_if<kvm::exit_fail_entry>(&ev)) {
            char b[96];
            std::snprintf(b, sizeof b, "KVM_EXIT_FAIL_ENTRY: hardware entry failure reason %#" PRIx64, f->reason);
            fail(b);
        } else if (const auto* e = std::get_if<kvm::exit_internal_error>(&ev)) {
            std::string why = "KVM_EXIT_INTERNAL_ERROR: " + kvm::internal_error_name(e->suberror);
            for (std::uint64_t d : e->data) {
                char b[24];
                std::snprintf(b, sizeof b, " %#" PRIx64, d);
                why += b;
            }
            if (e->suberror == KVM_INTERNAL_ERROR_EMULATION && kvm::host_is_pvm())
                why += " (this host's KVM is PVM, kvm_pvm: without hardware virtualisation it leaves firmware-level code "
                       "to KVM's instruction emulator; use kvm_intel or kvm_amd, or -accel tcg)";
            fail(why);
        } else if (const auto* u = std::get_if<kvm::exit_unhandled>(&ev)) {
            fail("unexpected exit " + kvm::exit_reason_name(u->reason));
        }
        // IRQ window and EINTR exits: around again, to inject or to see the kick.
    }
}

} // namespace qf::x86
