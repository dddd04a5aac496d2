#include "targets/x86/vcpu.hpp"

#include "helpers.hpp"
#include "qf/core/error.hpp"
#include "qf/core/log.hpp"
#include "targets/x86/apic/local_apic.hpp"

#include <cinttypes>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <string>

namespace qf::x86 {

// The CPU state as QEMU's x86_cpu_dump_state prints it (-d cpu, cpu_reset).
std::string format_state(const state& s) {
    static const char* const names[16] = {"RAX", "RBX", "RCX", "RDX", "RSI", "RDI", "RBP", "RSP",
                                          "R8 ", "R9 ", "R10", "R11", "R12", "R13", "R14", "R15"};
    static constexpr unsigned order[16] = {R_EAX, R_EBX, R_ECX, R_EDX, R_ESI, R_EDI, R_EBP, R_ESP,
                                           8, 9, 10, 11, 12, 13, 14, 15};
    std::string out;
    char line[160];
    for (unsigned i = 0; i < 16; ++i) {
        std::snprintf(line, sizeof line, "%s=%016" PRIx64 "%s", names[i], s.regs[order[i]], i % 4 == 3 ? "\n" : " ");
        out += line;
    }
    const std::uint64_t f = compute_eflags(s);
    std::snprintf(line, sizeof line, "RIP=%016" PRIx64 " RFL=%08" PRIx64 " [%c%c%c%c%c%c%c] CPL=%u II=%d A20=%d SMM=0 HLT=%u\n",
                  s.rip, f, f & eflags_bit::df ? 'D' : '-', f & eflags_bit::of ? 'O' : '-', f & eflags_bit::sf ? 'S' : '-',
                  f & eflags_bit::zf ? 'Z' : '-', f & eflags_bit::af ? 'A' : '-', f & eflags_bit::pf ? 'P' : '-',
                  f & eflags_bit::cf ? 'C' : '-', s.hflags & hflag::cpl_mask, (s.hflags & hflag::inhibit_irq) ? 1 : 0,
                  ((s.a20_mask >> 20) & 1) ? 1 : 0, s.halted);
    out += line;
    static const char* const segs[6] = {"ES =", "CS =", "SS =", "DS =", "FS =", "GS ="};
    auto seg_line = [&](const char* n, const segment& g) {
        // QEMU prints descriptor bits 32-63 as the "flags" word.
        const std::uint32_t flags = static_cast<std::uint32_t>(g.attr & 0xff) << 8 | static_cast<std::uint32_t>(g.attr >> 8) << 20;
        std::snprintf(line, sizeof line, "%s%04x %016" PRIx64 " %08x %08x\n", n, g.selector, g.base, g.limit, flags);
        out += line;
    };
    for (unsigned i = 0; i < 6; ++i) seg_line(segs[i], s.segs[i]);
    seg_line("LDT=", s.ldt);
    seg_line("TR =", s.tr);
    std::snprintf(line, sizeof line, "GDT=     %016" PRIx64 " %08x\nIDT=     %016" PRIx64 " %08x\n", s.gdt.base, s.gdt.limit,
                  s.idt.base, s.idt.limit);
    out += line;
    std::snprintf(line, sizeof line, "CR0=%08" PRIx64 " CR2=%016" PRIx64 " CR3=%016" PRIx64 " CR4=%08" PRIx64 "\n", s.cr[0],
                  s.cr[2], s.cr[3], s.cr[4]);
    out += line;
    std::snprintf(line, sizeof line, "CCS=%016" PRIx64 " CCD=%016" PRIx64 " CCO=%u\nEFER=%016" PRIx64 "\n", s.cc_src, s.cc_dst,
                  s.cc_op, s.efer);
    out += line;
    return out;
}

namespace {

void log_state(log_item item, const state& s) { logf(item, "%s", format_state(s).c_str()); }

} // namespace


void compute_hflags(state& s) {
    std::uint32_t h = 0;
    const bool pe = s.cr[0] & 1;
    const bool vm = pe && (s.eflags & eflags_bit::vm);
    const bool lma = (s.efer >> 10) & 1;
    if (pe) h |= hflag::pe;
    if (vm) h |= hflag::vm;
    if (lma) h |= hflag::lma;
    const std::uint16_t cs = s.segs[R_CS].attr, ss = s.segs[R_SS].attr;
    if (pe && !vm) {
        if (lma && (cs & seg_attr::l)) h |= hflag::cs64;
        else if (cs & seg_attr::db) h |= hflag::cs32;
        if (ss & seg_attr::db) h |= hflag::ss32;
        h |= s.segs[R_CS].selector & 3;  // CPL
    } else if (vm) {
        h |= 3;
    }
    if (s.cr[4] & (1u << 9)) h |= hflag::osfxsr;
    if (s.cr[0] & (1u << 2)) h |= hflag::em;
    if (s.cr[0] & (1u << 3)) h |= hflag::ts;
    if (s.cr[0] & (1u << 1)) h |= hflag::mp;
    for (unsigned i = 0; i < 6; ++i) {
        const segment& g = s.segs[i];
        const std::uint64_t end = std::uint64_t{g.limit} + 1;
        std::uint64_t rd = end, wr = end;  // real and virtual-8086 mode: the limit alone
        if (pe && !vm) {
            const bool code = g.attr & seg_attr::code, rw = g.attr & seg_attr::writable;
            const bool expand_down = !code && (g.attr & 4);
            if (!(g.attr & seg_attr::present) || expand_down) {
                rd = wr = 0;
            } else {
                if (code && !rw) rd = 0;
                if (code || !rw) wr = 0;
            }
        }
        s.seg_bound[i][0] = rd;
        s.seg_bound[i][1] = wr;
        constexpr std::uint64_t flat = 1ull << 32;
        if (!(h & hflag::cs64) && (rd != flat || wr != flat)) h |= hflag::seg_check(i);
        if (pe && !vm && !(h & hflag::cs64) && i <= R_DS && g.base == 0) h |= hflag::seg_base0(i);
    }
    s.hflags = h;
}

namespace {
vcpu& self_of(void* p) { return *static_cast<vcpu*>(p); }
state& st_of(tcg::env_base* env) { return reinterpret_cast<state&>(*env); }
} // namespace

vcpu::vcpu(const address_space& as, io_bus io, const cpu_model& model, translate_config cfg, tcg::engine_options opt,
           cpu_topology where)
    : as_(as), io_(io), model_(model), where_(where), cfg_(cfg),
      mmu_{&fill, &tcg::engine::code_write_cb, &tcg::engine::is_code_page_cb}, eng_(opt) {
    st_.base.mmu = &mmu_;
    st_.base.as = &as_;
    st_.base.owner = this;
    tcg::target_ops ops;
    ops.self = this;
    ops.init_globals = [](void*, tcg::context& c) { init_globals(c); };
    ops.translate = [](void* p, tcg::translation& tr) { translate_tb(tr, self_of(p).cfg_, self_of(p).st_.cc_op); };
    ops.restore = [](void*, tcg::env_base* env, const std::uint64_t data[2]) { restore_state(st_of(env), data); };
    ops.key = [](void*, const tcg::env_base* env) { return tb_key_of(reinterpret_cast<const state&>(*env)); };
    ops.code_mmu_idx = [](void*, const tcg::tb_key& k) { return mmu_index_of_flags(k.flags); };
    ops.check_events = [](void* p, tcg::env_base*) { return self_of(p).check_events(); };
    model_.features = host_usable(model_.features);
    cfg_.features = model_.features;
    cfg_.intel = model_.vendor == "GenuineIntel";
    eng_.attach(&st_.base, ops);
    as_.add_listener(this);
    reset();
}

vcpu::~vcpu() { as_.remove_listener(this); }

void vcpu::map_changed(std::uint64_t first, std::uint64_t last) {
    tcg::tlb_flush(&st_.base);
    eng_.invalidate_phys_range(first, last);
}

void vcpu::ram_written(std::uint64_t addr, std::uint64_t len) {
    if (len) eng_.invalidate_phys_range(addr, addr + len - 1);
}

void reset_state(state& s, const cpu_model& m) {
    std::memset(s.regs, 0, sizeof s.regs);
    s.rip = 0xfff0;
    s.eflags = eflags_bit::fixed1;
    s.cc_op = CC_OP_EFLAGS;
    s.cc_src = s.cc_dst = s.cc_src2 = 0;
    s.df = 1;
    for (auto& seg : s.segs) seg = {0, 0xffff, 0, static_cast<std::uint16_t>(seg_attr::present | seg_attr::s | seg_attr::writable | seg_attr::accessed)};
    s.segs[R_CS] = {0xffff'0000, 0xffff, 0xf000,
                      static_cast<std::uint16_t>(seg_attr::present | seg_attr::s | seg_attr::code | seg_attr::writable | seg_attr::accessed)};
    s.ldt = {0, 0xffff, 0, 0x82};
    s.tr = {0, 0xffff, 0, 0x8b};
    s.gdt = {0, 0xffff};
    s.idt = {0, 0xffff};
    std::memset(s.cr, 0, sizeof s.cr);
    s.cr[0] = 0x6000'0010;
    s.efer = 0;
    std::memset(s.dr, 0, sizeof s.dr);
    s.dr[6] = 0xffff'0ff0;
    s.dr[7] = 0x400;
    s.regs[R_EDX] = m.signature();
    s.a20_mask = ~0ull;
    s.pat = 0x0007'0406'0007'0406ull;
    s.misc_enable = 1;  // fast strings, QEMU's MSR_IA32_MISC_ENABLE_DEFAULT
    s.star = s.lstar = s.cstar = s.fmask = s.kernel_gs_base = 0;
    s.sysenter_cs = s.sysenter_esp = s.sysenter_eip = 0;
    s.tsc_aux = 0;
    std::memset(s.mtrr, 0, sizeof s.mtrr);
    s.apic_base = 0xfee0'0000 | (1u << 11) | (1u << 8);
    // x87 and SSE after RESET (SDM vol. 3, table 9-1).
    std::memset(s.fpr, 0, sizeof s.fpr);
    s.fcw = 0x40;
    s.fsw = s.fop = 0;
    s.ftw = 0;
    s.fip = s.fdp = 0;
    std::memset(s.xmm, 0, sizeof s.xmm);
    s.mxcsr = 0x1f80;
    s.halted = 0;
    s.exception_index = -1;
    s.error_code = 0;
    s.interrupt_request = 0;
    s.nmi_pending = s.nmi_blocked = 0;
    compute_hflags(s);
}

void vcpu::reset() {
    if (log_enabled(log_item::cpu_reset)) {
        logf(log_item::cpu_reset, "CPU Reset (CPU %u)\n", where_.apic_id);
        log_state(log_item::cpu_reset, st_);
    }
    reset_state(st_, model_);
    tcg::tlb_flush(&st_.base);
    pending_init_ = false;
    pending_sipi_ = -1;
    if (apic_) {
        apic_->reset();
        wait_sipi_ = apic_->waiting_for_sipi();
    }
    if (on_reset) on_reset(st_);
}

void vcpu::unimplemented(const std::string& what, std::uintptr_t retaddr) {
    if (retaddr != no_restore) eng_.restore_state(retaddr);
    pending_error_ = what;
    st_.exception_index = EXCP_UNIMPLEMENTED;
    tcg::cpu_loop_exit(&st_.base);
}

namespace {

// The page walk (SDM vol. 3, chapter 4): 32-bit, PAE and 4-level paging,
// with large pages, U/S, R/W with CR0.WP, NX, and the accessed and dirty
// bits. A page whose dirty bit is clear is mapped read-only, so that the
// first write comes back here to set it.
struct walk_result {
    bool ok;
    std::uint64_t phys;
    unsigned prot;
    std::uint32_t error;
    std::uint64_t size = tcg::page_size;  // the guest's page: 4 KiB, 2 or 4 MiB, 1 GiB
};

// debug: a debugger's look (QEMU's get_phys_page_debug), which neither
// checks permissions nor sets accessed and dirty bits.
walk_result walk(state& s, const address_space& as, std::uint64_t va, tcg::access_type acc, bool user,
                 bool debug = false) {
    using tcg::access_type;
    const bool write = acc == access_type::write, exec = acc == access_type::exec;
    const bool nxe = (s.efer >> 11) & 1, wp = (s.cr[0] >> 16) & 1;
    const std::uint64_t a20 = s.a20_mask;
    // Page tables live in RAM: read them straight from its host memory.
    auto host = [&](std::uint64_t pa, unsigned size) -> std::byte* {
        const auto* seg = as.find(gpa{pa});
        if (!seg || seg->r->kind != region_kind::ram || pa + size - 1 > seg->last) return nullptr;
        return seg->r->host + (pa - seg->r->base.value);
    };
    auto rd = [&](std::uint64_t pa, unsigned size) {
        std::uint64_t v = 0;
        pa &= a20;
        if (std::byte* h = host(pa, size)) std::memcpy(&v, h, size);
        else as.read(gpa{pa}, std::span(reinterpret_cast<std::byte*>(&v), size));
        return v;
    };
    auto wr = [&](std::uint64_t pa, std::uint64_t v, unsigned size) {
        pa &= a20;
        if (std::byte* h = host(pa, size)) std::memcpy(h, &v, size);
        else as.write(gpa{pa}, std::span(reinterpret_cast<const std::byte*>(&v), size));
        tcg::note_ram_write(&s.base, pa, size);
        // An accessed or dirty bit in a page of translated code changes that
        // code, as any store would.
        const tcg::softmmu_ops* mmu = s.base.mmu;
        if (mmu && mmu->is_code_page(&s.base, pa & tcg::page_mask)) mmu->code_write(&s.base, pa, size, 0);
    };
    const std::uint32_t err_base = (write ? 2u : 0u) | (user ? 4u : 0u) | (exec && nxe ? 16u : 0u);
    auto not_present = [&] { return walk_result{false, 0, 0, err_base}; };
    constexpr std::uint64_t P = 1, RW = 2, US = 4, A = 0x20, D = 0x40, PS = 0x80;
    constexpr std::uint64_t NX = 1ull << 63;
    const std::uint64_t addr_mask = 0x000f'ffff'ffff'f000ull;

    bool rw = true, us = true, nx = false;
    std::uint64_t entry_addr[5];
    std::uint64_t entry[5];
    unsigned levels = 0;
    unsigned entry_size = 8;
    std::uint64_t page_base = 0, page_size_bits = 12;

    if (s.hflags & hflag::lma || (s.cr[4] & (1u << 5))) {
        const bool four = (s.hflags & hflag::lma) != 0;
        std::uint64_t table;
        int top;
        if (four) {
            table = s.cr[3] & addr_mask;
            top = 3;
        } else {  // PAE: the four PDPTEs
            const std::uint64_t pdpte_addr = (s.cr[3] & 0xffff'ffe0) + ((va >> 30) & 3) * 8;
            const std::uint64_t pdpte = rd(pdpte_addr, 8);
            if (!(pdpte & P)) return not_present();
            table = pdpte & addr_mask;
            top = 1;
        }
        for (int level = top; level >= 0; --level) {
            const unsigned shift = 12 + 9 * static_cast<unsigned>(level);
            const std::uint64_t ea = table + ((va >> shift) & 0x1ff) * 8;
            const std::uint64_t e = rd(ea, 8);
            if (!(e & P)) return not_present();
            entry_addr[levels] = ea;
            entry[levels++] = e;
            if (four || level < top) {
                rw &= (e & RW) != 0;
                us &= (e & US) != 0;
            }
            if (nxe) nx |= (e & NX) != 0;
            if (level == 0 || ((e & PS) && level <= 2 && (level < 2 || four))) {
                page_size_bits = shift;
                page_base = e & addr_mask & ~((1ull << shift) - 1);
                break;
            }
            table = e & addr_mask;
        }
    } else {  // 32-bit paging
        entry_size = 4;
        const std::uint64_t pde_addr = (s.cr[3] & 0xffff'f000) + ((va >> 22) & 0x3ff) * 4;
        const std::uint64_t pde = rd(pde_addr, 4);
        if (!(pde & P)) return not_present();
        entry_addr[levels] = pde_addr;
        entry[levels++] = pde;
        rw &= (pde & RW) != 0;
        us &= (pde & US) != 0;
        if ((pde & PS) && (s.cr[4] & (1u << 4))) {
            page_size_bits = 22;
            page_base = (pde & 0xffc0'0000) | ((pde >> 13) & 0xff) << 32;
        } else {
            const std::uint64_t pte_addr = (pde & 0xffff'f000) + ((va >> 12) & 0x3ff) * 4;
            const std::uint64_t pte = rd(pte_addr, 4);
            if (!(pte & P)) return not_present();
            entry_addr[levels] = pte_addr;
            entry[levels++] = pte;
            rw &= (pte & RW) != 0;
            us &= (pte & US) != 0;
            page_base = pte & 0xffff'f000;
        }
    }
    if (debug)
        return {true, (page_base | (va & ((1ull << page_size_bits) - 1))) & a20, tcg::prot::rwx, 0,
                1ull << page_size_bits};
    // Permissions.
    const std::uint32_t err = err_base | 1;
    if (user && !us) return {false, 0, 0, err};
    if (write && !rw && (user || wp)) return {false, 0, 0, err};
    if (exec && nx) return {false, 0, 0, err};
    // Accessed bits on every level, dirty on the last when writing.
    for (unsigned i = 0; i < levels; ++i) {
        std::uint64_t e = entry[i] | A;
        if (i == levels - 1 && write) e |= D;
        if (e != entry[i]) wr(entry_addr[i], e, entry_size);
    }
    const bool dirty = write || (entry[levels - 1] & D);
    unsigned prot = tcg::prot::read;
    if ((rw || (!user && !wp)) && dirty) prot |= tcg::prot::write;
    if (!nx) prot |= tcg::prot::exec;
    const std::uint64_t phys = (page_base | (va & ((1ull << page_size_bits) - 1))) & a20;
    return {true, phys, prot, 0, 1ull << page_size_bits};
}

} // namespace

std::optional<std::uint64_t> debug_translate(const state& s, const address_space& as, std::uint64_t vaddr) {
    if (!(s.cr[0] & (1u << 31))) {
        std::uint64_t phys = vaddr & s.a20_mask;
        if (!(s.hflags & hflag::lma)) phys &= 0xffff'ffff;
        return phys;
    }
    // walk writes only when not debugging.
    const walk_result w = walk(const_cast<state&>(s), as, vaddr, tcg::access_type::read, false, true);
    if (!w.ok) return std::nullopt;
    return w.phys;
}

void vcpu::fill(tcg::env_base* env, std::uint64_t vaddr, tcg::access_type acc, unsigned mmu_idx, std::uintptr_t ra) {
    state& s = st_of(env);
    vcpu& self = self_of(env->owner);
    if (!(s.cr[0] & (1u << 31))) {
        // Without paging, linear is physical (32 bits outside long mode), through the A20 gate.
        std::uint64_t phys = vaddr & s.a20_mask;
        if (!(s.hflags & hflag::lma)) phys &= 0xffff'ffff;
        tcg::tlb_set_page(env, vaddr, phys, tcg::prot::rwx, mmu_idx);
        return;
    }
    const walk_result w = walk(s, self.as_, vaddr, acc, mmu_idx == 1);
    if (!w.ok) {
        s.cr[2] = vaddr;
        raise_exception(s, EXCP_PF, w.error, ra);
    }
    tcg::tlb_set_page(env, vaddr, w.phys, w.prot, mmu_idx, w.size);
}

void vcpu::deliver_real_mode(int vector) {
    state& s = st_;
    const auto phys = [&](std::uint64_t a) { return gpa{a & s.a20_mask & 0xffff'ffff}; };
    auto push16 = [&](std::uint16_t v) {
        const std::uint16_t sp = static_cast<std::uint16_t>(s.regs[R_ESP] - 2);
        const gpa at = phys(s.segs[R_SS].base + sp);
        as_.write(at, std::as_bytes(std::span(&v, 1)));
        tcg::note_ram_write(&s.base, at.value, 2);
        // A frame pushed over translated code changes that code, as any
        // store would (no TB runs now: nothing to restart).
        for (std::uint64_t a : {at.value, at.value + 1})
            if (eng_.is_code_page(a & tcg::page_mask)) eng_.code_written(a, 1, 0);
        s.regs[R_ESP] = (s.regs[R_ESP] & ~0xffffull) | sp;
    };
    std::uint16_t ivt[2];
    as_.read(phys(s.idt.base + static_cast<std::uint64_t>(vector) * 4), std::as_writable_bytes(std::span(ivt)));
    push16(static_cast<std::uint16_t>(compute_eflags(s)));
    push16(s.segs[R_CS].selector);
    push16(static_cast<std::uint16_t>(s.rip));
    load_eflags(s, 0, eflags_bit::if_ | eflags_bit::tf | eflags_bit::ac | eflags_bit::rf);
    s.segs[R_CS].selector = ivt[1];
    s.segs[R_CS].base = std::uint64_t{ivt[1]} << 4;
    s.rip = ivt[0];
}

namespace {
bool contributory(int v) { return v == 0 || (v >= 10 && v <= 13); }
} // namespace

void vcpu::set_a20(bool enabled) {
    const std::uint64_t mask = enabled ? ~0ull : ~(1ull << 20);
    if (mask == st_.a20_mask) return;
    st_.a20_mask = mask;
    tcg::tlb_flush(&st_.base);
    kick();  // the running TB was translated from addresses the gate now changes
}

void vcpu::set_intr(bool level) {
    st_.interrupt_request = level;
    if (level) kick();
}

bool vcpu::interrupt_deliverable() const {
    // Not while a debugger steps (QEMU's SSTEP_NOIRQ): a step goes to the
    // next instruction, not into whatever interrupt is pending.
    return st_.interrupt_request && (st_.eflags & eflags_bit::if_) && !(st_.hflags & hflag::inhibit_irq) &&
           interrupt_ack && !eng_.single_step();
}

bool vcpu::nmi_deliverable() const { return st_.nmi_pending && !st_.nmi_blocked && !eng_.single_step(); }

void vcpu::raise_nmi() {
    st_.nmi_pending = 1;
    kick();
}

bool vcpu::runnable() const {
    if (pending_init_ || pending_sipi_ >= 0) return true;
    if (wait_sipi_) return false;
    return !st_.halted || interrupt_deliverable() || nmi_deliverable();
}

void vcpu::attach_apic(local_apic& a) {
    apic_ = &a;
    a.on_interrupt_change = [this](bool level) { set_intr(level); };
    interrupt_ack = [&a] { return static_cast<std::uint8_t>(a.acknowledge()); };
    a.on_init = [this] {
        pending_init_ = true;
        kick();
    };
    a.on_nmi = [this] { raise_nmi(); };
    a.on_sipi = [this](std::uint8_t vector) {
        pending_sipi_ = vector;
        kick();
    };
    wait_sipi_ = a.waiting_for_sipi();
}

// INIT: the registers as after RESET (SDM 9.1.1; the caches, x87/SSE state
// and MTRRs, which INIT leaves, are reset too here); an AP then waits for
// its SIPI, the BSP starts at the reset vector.
void vcpu::do_init() {
    pending_init_ = false;
    reset_state(st_, model_);
    tcg::tlb_flush(&st_.base);
    // An AP waits for its SIPI, even if the APIC has seen it already: the
    // INIT and the SIPIs may all have come while the sender's slice ran.
    wait_sipi_ = apic_ && !apic_->is_bsp();
}

// SIPI: real mode at vector << 12 (CS = vector << 8, IP 0).
void vcpu::do_sipi(std::uint8_t vector) {
    pending_sipi_ = -1;
    if (!wait_sipi_) return;  // a second SIPI, or one to a running CPU: ignored
    wait_sipi_ = false;
    st_.segs[R_CS].selector = static_cast<std::uint16_t>(vector << 8);
    st_.segs[R_CS].base = std::uint64_t{vector} << 12;
    st_.rip = 0;
    st_.halted = 0;
    compute_hflags(st_);
}

tcg::events vcpu::check_events() {
    using tcg::events;
    state& s = st_;
    bool moved = false;
    if (pending_init_) {
        do_init();
        moved = true;
    }
    if (pending_sipi_ >= 0) {
        do_sipi(static_cast<std::uint8_t>(pending_sipi_));
        moved = true;
    }
    if (wait_sipi_) {
        s.halted = 1;
        return events::stop;
    }
    auto result = [&] { return s.halted ? events::stop : moved ? events::redirected : events::go_on; };
    if (log_enabled(log_item::cpu) && s.exception_index < 0) log_state(log_item::cpu, s);
    if (s.exception_index < 0) {
        delivering_ = -1;
        // The NMI before INTR (SDM 6.9), blocked until the next IRET; the
        // shadow of STI or MOV SS does not hold it off, as in QEMU.
        if (nmi_deliverable()) {
            s.nmi_pending = 0;
            s.nmi_blocked = 1;
            logf(log_item::int_, "NMI at %04x:%08" PRIx64 "\n", s.segs[R_CS].selector, s.rip);
            s.halted = 0;
            delivering_ = 2;
            if (cfg_.interrupt_hook) cfg_.interrupt_hook(&s.base, 2);
            if (s.hflags & hflag::pe) deliver_protected(s, 2, false, 0, true);
            else deliver_real_mode(2);
            delivering_ = -1;
            return events::redirected;
        }
        if (interrupt_deliverable()) {
            const std::uint8_t vector = interrupt_ack();
            logf(log_item::int_, "external interrupt 0x%02x at %04x:%08" PRIx64 "\n", vector, s.segs[R_CS].selector, s.rip);
            s.halted = 0;
            delivering_ = vector;
            if (cfg_.interrupt_hook) cfg_.interrupt_hook(&s.base, vector);
            if (s.hflags & hflag::pe) deliver_protected(s, vector, false, 0, true);
            else deliver_real_mode(vector);
            delivering_ = -1;
            moved = true;
        }
        return result();
    }
    const int idx = s.exception_index;
    s.exception_index = -1;
    if (idx == EXCP_DEBUG) {
        eng_.debug_stopped(tcg::engine::debug_reason::breakpoint);
        return events::stop;
    }
    if (idx == EXCP_UNIMPLEMENTED) {
        char where[64];
        std::snprintf(where, sizeof where, " (guest code at %04x:%08" PRIx64 ")", s.segs[R_CS].selector, s.rip);
        throw error("x86: " + pending_error_ + " is not implemented yet" + where);
    }
    int vector = idx & 0xff;
    const bool software = idx & EXCP_INT_FLAG;
    std::uint32_t error_code = s.error_code;
    if (stop_on_exception_) {
        last_exception_ = vector;
        stopped_by_exception_ = true;
        return events::stop;
    }
    // A fault while delivering another: #DF, or a triple fault.
    if (delivering_ >= 0 && !software) {
        const int prev = delivering_;
        if (prev == 8) {
            logf(log_item::guest_errors, "triple fault at %04x:%08" PRIx64 "\n", s.segs[R_CS].selector, s.rip);
            delivering_ = -1;
            if (on_triple_fault && !on_triple_fault()) return events::stop;
            if (!on_triple_fault) reset();
            return events::redirected;
        }
        if ((contributory(prev) && contributory(vector)) || (prev == 14 && (vector == 14 || contributory(vector)))) {
            vector = 8;
            error_code = 0;
        }
    }
    logf(log_item::int_, "%s 0x%02x at %04x:%08" PRIx64 " error %x\n", software ? "interrupt" : "exception", vector,
         s.segs[R_CS].selector, s.rip, error_code);
    delivering_ = vector;
    s.halted = 0;
    if (cfg_.interrupt_hook) cfg_.interrupt_hook(&s.base, static_cast<unsigned>(vector));
    if (s.hflags & hflag::pe) deliver_protected(s, vector, software, error_code);
    else deliver_real_mode(vector);
    delivering_ = -1;
    moved = true;
    return result();
}

vcpu::stop vcpu::run() {
    if (!runnable()) return stop::halted;
    st_.halted = 0;
    stopped_by_exception_ = false;
    st_.base.exit_request.store(0, std::memory_order_relaxed);
    eng_.run();
    if (stopped_by_exception_) return stop::exception;
    if (eng_.debug_pending()) return stop::debug;
    return st_.halted ? stop::halted : stop::kicked;
}

namespace {
constexpr std::size_t arch_bytes = sizeof(state) - sizeof(tcg::env_base);
// The architectural state, the INIT/SIPI flags, the pending SIPI, the guest's TSC.
constexpr std::size_t saved_bytes = arch_bytes + 1 + sizeof(std::int32_t) + sizeof(std::uint64_t);
} // namespace

std::vector<std::byte> vcpu::save_state() const {
    static_assert(std::is_standard_layout_v<state>);
    const auto* arch = reinterpret_cast<const std::byte*>(&st_) + sizeof(tcg::env_base);
    std::vector<std::byte> out(arch, arch + arch_bytes);
    const std::uint8_t flags = (wait_sipi_ ? 1 : 0) | (pending_init_ ? 2 : 0);
    out.push_back(std::byte{flags});
    auto put = [&](const auto& v) {
        const auto* p = reinterpret_cast<const std::byte*>(&v);
        out.insert(out.end(), p, p + sizeof v);
    };
    put(static_cast<std::int32_t>(pending_sipi_));
    // The TSC's value, not its offset from this host's: on another host
    // (or after this one rebooted) the guest's TSC goes on from here.
    put(static_cast<std::uint64_t>(__builtin_ia32_rdtsc() + st_.tsc_offset));
    return out;
}

void vcpu::check_state(std::span<const std::byte> in) const {
    if (in.size() != saved_bytes)
        throw error("vmstate: the CPU state is " + std::to_string(in.size()) + " bytes, this build's " +
                    std::to_string(saved_bytes) + " (another build's layout)");
    // What indexes the host's tables: a stream is input, and a bad one
    // gets an error, not a host fault.
    std::uint32_t cc_op;
    std::memcpy(&cc_op, in.data() + offsetof(state, cc_op) - sizeof(tcg::env_base), sizeof cc_op);
    if (cc_op >= CC_OP_NB) throw error("vmstate: the CPU state's flags mode is not one there is");
}

void vcpu::load_state(std::span<const std::byte> in) {
    check_state(in);
    std::memcpy(reinterpret_cast<std::byte*>(&st_) + sizeof(tcg::env_base), in.data(), arch_bytes);
    const auto flags = static_cast<std::uint8_t>(in[arch_bytes]);
    wait_sipi_ = flags & 1;
    pending_init_ = flags & 2;
    std::int32_t sipi;
    std::memcpy(&sipi, in.data() + arch_bytes + 1, sizeof sipi);
    pending_sipi_ = sipi < -1 || sipi > 255 ? -1 : sipi;
    std::uint64_t tsc;
    std::memcpy(&tsc, in.data() + arch_bytes + 1 + sizeof sipi, sizeof tsc);
    st_.tsc_offset = tsc - __builtin_ia32_rdtsc();
    delivering_ = -1;
    tcg::tlb_flush(&st_.base);
}

} // namespace qf::x86
