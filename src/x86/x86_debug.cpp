#include "targets/x86/x86_debug.hpp"

#include "targets/x86/apic/local_apic.hpp"
#include "targets/x86/gdb_regs.hpp"

#include <algorithm>
#include <memory>

namespace qf::x86 {

namespace {

std::uint64_t cr8_of(vcpu& c) { return c.apic() ? c.apic()->cr8() : 0; }
void set_cr8(vcpu& c, std::uint8_t v) {
    if (c.apic()) c.apic()->set_cr8(v);
}
// KVM's local APIC is the kernel's (or none): its TPR is not in the state.
std::uint64_t cr8_of(kvm_vcpu&) { return 0; }
void set_cr8(kvm_vcpu&, std::uint8_t) {}

gdb::descriptor_reader descriptors(const state& s, const address_space& as) {
    return [&s, &as](std::uint64_t linear, std::uint64_t& out) {
        const auto phys = debug_translate(s, as, linear);
        if (!phys) return false;
        as.read(gpa{*phys}, std::as_writable_bytes(std::span(&out, 1)));
        return true;
    };
}

// Each page of [addr, addr + size) through the CPU's page tables: f(phys,
// offset, length); false as soon as a page is not mapped.
template <class F>
bool each_page(const state& s, const address_space& as, std::uint64_t addr, std::size_t size, F f) {
    std::size_t done = 0;
    while (done < size) {
        const std::uint64_t va = addr + done;
        const std::size_t n = std::min<std::size_t>(size - done, tcg::page_size - (va & ~tcg::page_mask));
        const auto phys = debug_translate(s, as, va);
        if (!phys) return false;
        f(*phys, done, n);
        done += n;
    }
    return true;
}

unsigned watch_kind_of(int type) {
    return type == 2 ? tcg::watch_kind::write : type == 3 ? tcg::watch_kind::read : tcg::watch_kind::access;
}

// Registers and memory, the same under both accelerators: C is vcpu or
// kvm_vcpu; changed(c) runs after a debugger's write.
template <class C, class Changed>
void fill_common(debug_target& d, const std::vector<C*>& cpus, const address_space& as, Changed changed) {
    const bool x64 = cpus.front()->model().features.has(feat::lm);
    d.target_xml = gdb::target_xml(x64);
    d.registers = gdb::register_count(x64);
    d.read_registers = [cpus, x64](unsigned i) { return gdb::read_registers(cpus.at(i)->st(), x64, cr8_of(*cpus.at(i))); };
    d.read_register = [cpus, x64](unsigned i, unsigned n) {
        return gdb::read_register(cpus.at(i)->st(), x64, n, cr8_of(*cpus.at(i)));
    };
    d.write_registers = [cpus, x64, &as, changed](unsigned i, std::span<const std::uint8_t> b) {
        C& c = *cpus.at(i);
        const bool ok = gdb::write_registers(c.st(), x64, b, descriptors(c.st(), as));
        changed(c);
        return ok;
    };
    d.write_register = [cpus, x64, &as, changed](unsigned i, unsigned n, std::span<const std::uint8_t> b) {
        C& c = *cpus.at(i);
        const bool ok = gdb::write_register(c.st(), x64, n, b, descriptors(c.st(), as));
        if (ok && static_cast<int>(n) == gdb::cr8_register(x64)) set_cr8(c, static_cast<std::uint8_t>(b[0] & 0xf));
        changed(c);
        return ok;
    };
    d.register_value = [cpus](unsigned i, std::string_view name) {
        return gdb::register_by_name(cpus.at(i)->st(), name, cr8_of(*cpus.at(i)));
    };
    d.code_bits = [cpus](unsigned i) {
        const state& s = cpus.at(i)->st();
        return (s.hflags & hflag::cs64) ? 64u : (s.hflags & hflag::cs32) ? 32u : 16u;
    };
    d.set_pc = [cpus](unsigned i, std::uint64_t pc) {
        cpus.at(i)->st().rip = pc;
        return true;
    };
    d.read_memory = [cpus, &as](unsigned i, std::uint64_t addr, std::span<std::byte> out) {
        return each_page(cpus.at(i)->st(), as, addr, out.size(), [&](std::uint64_t phys, std::size_t at, std::size_t n) {
            as.read(gpa{phys}, out.subspan(at, n));
        });
    };
    d.write_memory = [cpus, &as](unsigned i, std::uint64_t addr, std::span<const std::byte> in) {
        // Check the whole range first: nothing is written when a page is
        // missing.
        const state& s = cpus.at(i)->st();
        if (!each_page(s, as, addr, in.size(), [](auto...) {})) return false;
        return each_page(s, as, addr, in.size(), [&](std::uint64_t phys, std::size_t at, std::size_t n) {
            // RAM and ROM as a loader writes them (translated code there
            // goes); a device's registers as the CPU would; nothing where
            // nothing is.
            for (std::size_t k = 0; k < n;) {
                const auto* seg = as.find(gpa{phys + k});
                const std::size_t run =
                    seg ? static_cast<std::size_t>(std::min<std::uint64_t>(n - k, seg->last - (phys + k) + 1)) : 1;
                if (seg && seg->r->kind == region_kind::mmio) as.write(gpa{phys + k}, in.subspan(at + k, run));
                else if (seg) as.load(gpa{phys + k}, in.subspan(at + k, run));
                k += run;
            }
        });
    };
}

} // namespace

debug_target tcg_debug_target(std::vector<vcpu*> cpus, const address_space& as) {
    debug_target d;
    fill_common(d, cpus, as, [](vcpu& c) {
        // What derives from the registers follows them.
        compute_hflags(c.st());
        tcg::tlb_flush(&c.st().base);
    });
    d.breakpoint = [cpus](int type, std::uint64_t addr, std::uint64_t len, bool insert) -> int {
        if (type <= 1) {
            // Software and hardware breakpoints are the same thing here: the
            // translator stops before the address, nothing is written.
            for (vcpu* c : cpus) c->engine().set_breakpoint(addr, insert);
            return 1;
        }
        if (len == 0 || len > tcg::page_size) return -1;
        const unsigned kind = watch_kind_of(type);
        for (std::size_t k = 0; k < cpus.size(); ++k) {
            tcg::env_base& env = cpus[k]->st().base;
            if (!insert) {
                tcg::watchpoint_remove(&env, addr, len, kind);
                continue;
            }
            if (env.nb_watch == tcg::max_watchpoints) {
                for (std::size_t j = 0; j < k; ++j) tcg::watchpoint_remove(&cpus[j]->st().base, addr, len, kind);
                return -1;
            }
            cpus[k]->engine().watch_debugger();
            tcg::watchpoint_insert(&env, addr, len, kind);
        }
        return 1;
    };
    d.remove_all_breakpoints = [cpus] {
        for (vcpu* c : cpus) {
            c->engine().clear_breakpoints();
            tcg::env_base& env = c->st().base;
            while (env.nb_watch) {
                const tcg::watchpoint w = env.watch[env.nb_watch - 1];
                tcg::watchpoint_remove(&env, w.vaddr, w.len, w.kind);
            }
        }
    };
    d.single_step = [cpus](unsigned i, bool on) { cpus.at(i)->engine().set_single_step(on); };
    d.halted = [cpus](unsigned i) { return cpus.at(i)->st().halted != 0; };
    return d;
}

debug_event take_debug_event(vcpu& cpu) {
    using reason = tcg::engine::debug_reason;
    const tcg::engine::debug_stop s = cpu.engine().take_debug_stop();
    debug_event e;
    switch (s.reason) {
    case reason::step: e.what = debug_event::kind::step; break;
    case reason::watchpoint:
        e.what = s.watch.kind == tcg::watch_kind::write  ? debug_event::kind::watch_write
                 : s.watch.kind == tcg::watch_kind::read ? debug_event::kind::watch_read
                                                         : debug_event::kind::watch_access;
        e.watch_addr = s.watch.vaddr;
        break;
    default: e.what = debug_event::kind::breakpoint; break;
    }
    return e;
}

} // namespace qf::x86

namespace qf::x86 {

namespace {

// The debugger's breakpoints and watchpoints on KVM, shared by the vCPUs.
struct kvm_debug_state {
    struct sw_breakpoint {
        std::uint64_t addr, phys;
        std::byte saved;
    };
    std::vector<sw_breakpoint> sw;
    struct hw_slot {
        bool used = false;
        int type = 0;  // GDB's: 1 breakpoint, 2 write, 4 access
        std::uint64_t addr = 0, len = 0;
    };
    hw_slot hw[4];
    std::vector<char> step;  // by CPU

    // What each vCPU gives KVM.
    void apply(const std::vector<kvm_vcpu*>& cpus) const {
        kvm_vcpu::debug_settings s;
        s.sw_breakpoints = !sw.empty();
        s.dr7 = 0;
        for (unsigned i = 0; i < 4; ++i) {
            if (!hw[i].used) continue;
            // DR7: global enable, then R/W (00 execute, 01 write, 11 access)
            // and LEN (00 1, 01 2, 11 4, 10 8 bytes), as QEMU sets them.
            const std::uint64_t rw = hw[i].type == 1 ? 0 : hw[i].type == 2 ? 1 : 3;
            const std::uint64_t len = hw[i].type == 1 ? 0 : hw[i].len == 1 ? 0 : hw[i].len == 2 ? 1 : hw[i].len == 4 ? 3 : 2;
            s.dr[i] = hw[i].addr;
            s.dr7 |= (2ull << (i * 2)) | (rw << (16 + i * 4)) | (len << (18 + i * 4));
        }
        if (s.dr7) s.dr7 |= 0x600;
        for (std::size_t c = 0; c < cpus.size(); ++c) {
            s.single_step = c < step.size() && step[c];
            cpus[c]->set_debug(s);
        }
    }
};

} // namespace

debug_target kvm_debug_target(std::vector<kvm_vcpu*> cpus, const address_space& as) {
    debug_target d;
    // KVM takes the state back before the guest runs (st() is what it
    // sends); hflags follow for the monitor's x/i.
    fill_common(d, cpus, as, [](kvm_vcpu& c) { compute_hflags(c.st()); });
    auto st = std::make_shared<kvm_debug_state>();
    st->step.assign(cpus.size(), 0);
    for (kvm_vcpu* c : cpus)
        c->is_debugger_breakpoint = [st](std::uint64_t pc) {
            return std::any_of(st->sw.begin(), st->sw.end(), [pc](const auto& b) { return b.addr == pc; });
        };
    d.breakpoint = [cpus, st, &as](int type, std::uint64_t addr, std::uint64_t len, bool insert) -> int {
        if (type == 0) {
            // An INT3 in guest memory, the byte under it kept.
            const auto it = std::find_if(st->sw.begin(), st->sw.end(), [addr](const auto& b) { return b.addr == addr; });
            if (insert) {
                if (it != st->sw.end()) return 1;
                const auto phys = debug_translate(cpus.front()->st(), as, addr);
                const auto* seg = phys ? as.find(gpa{*phys}) : nullptr;
                if (!seg || seg->r->kind == region_kind::mmio) return -1;
                kvm_debug_state::sw_breakpoint b{addr, *phys, {}};
                as.read(gpa{*phys}, std::span(&b.saved, 1));
                const std::byte int3{0xcc};
                as.load(gpa{*phys}, std::span(&int3, 1));
                st->sw.push_back(b);
            } else {
                if (it == st->sw.end()) return -1;
                as.load(gpa{it->phys}, std::span(&it->saved, 1));
                st->sw.erase(it);
            }
            st->apply(cpus);
            return 1;
        }
        if (type == 3) return 0;  // the debug registers have no read-only kind
        if (type == 2 || type == 4) {
            if ((len != 1 && len != 2 && len != 4 && len != 8) || (addr & (len - 1))) return -1;
        } else {
            len = 1;
        }
        auto& slots = st->hw;
        if (insert) {
            auto* free = std::find_if(std::begin(slots), std::end(slots), [](const auto& h) { return !h.used; });
            if (free == std::end(slots)) return -1;
            *free = {true, type, addr, len};
        } else {
            auto* h = std::find_if(std::begin(slots), std::end(slots), [&](const auto& x) {
                return x.used && x.type == type && x.addr == addr && x.len == len;
            });
            if (h == std::end(slots)) return -1;
            *h = {};
        }
        st->apply(cpus);
        return 1;
    };
    d.remove_all_breakpoints = [cpus, st, &as] {
        for (const auto& b : st->sw) as.load(gpa{b.phys}, std::span(&b.saved, 1));
        st->sw.clear();
        for (auto& h : st->hw) h = {};
        st->apply(cpus);
    };
    d.single_step = [cpus, st](unsigned i, bool on) {
        st->step.at(i) = on;
        st->apply(cpus);
    };
    d.halted = [cpus](unsigned i) { return !cpus.at(i)->runnable(); };
    return d;
}

debug_event take_debug_event(kvm_vcpu& cpu) {
    const kvm_vcpu::debug_exit& x = cpu.last_debug();
    debug_event e;
    if (x.exception == 3) return e;  // breakpoint
    const kvm_vcpu::debug_settings& s = cpu.debug();
    for (unsigned i = 0; i < 4; ++i) {
        if (!(x.dr6 & (1u << i)) || !(s.dr7 & (2ull << (i * 2)))) continue;
        const unsigned rw = (s.dr7 >> (16 + i * 4)) & 3;
        if (rw == 0) return e;  // a hardware breakpoint
        e.what = rw == 1 ? debug_event::kind::watch_write : debug_event::kind::watch_access;
        e.watch_addr = s.dr[i];
        return e;
    }
    e.what = debug_event::kind::step;
    return e;
}

} // namespace qf::x86
