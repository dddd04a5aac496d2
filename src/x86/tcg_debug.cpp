#include "targets/x86/tcg_debug.hpp"

#include "targets/x86/apic/local_apic.hpp"
#include "targets/x86/gdb_regs.hpp"

#include <algorithm>

namespace qf::x86 {

namespace {

std::uint64_t cr8_of(vcpu& c) { return c.apic() ? c.apic()->cr8() : 0; }

// After a debugger's write: what derives from the registers follows them.
void registers_changed(vcpu& c) {
    compute_hflags(c.st());
    tcg::tlb_flush(&c.st().base);
}

gdb::descriptor_reader descriptors(vcpu& c, const address_space& as) {
    return [&c, &as](std::uint64_t linear, std::uint64_t& out) {
        const auto phys = debug_translate(c.st(), as, linear);
        if (!phys) return false;
        as.read(gpa{*phys}, std::as_writable_bytes(std::span(&out, 1)));
        return true;
    };
}

// Each page of [addr, addr + size) through the CPU's page tables: f(phys,
// offset, length); false as soon as a page is not mapped.
template <class F>
bool each_page(vcpu& c, const address_space& as, std::uint64_t addr, std::size_t size, F f) {
    std::size_t done = 0;
    while (done < size) {
        const std::uint64_t va = addr + done;
        const std::size_t n = std::min<std::size_t>(size - done, tcg::page_size - (va & ~tcg::page_mask));
        const auto phys = debug_translate(c.st(), as, va);
        if (!phys) return false;
        f(*phys, done, n);
        done += n;
    }
    return true;
}

unsigned watch_kind_of(int type) {
    return type == 2 ? tcg::watch_kind::write : type == 3 ? tcg::watch_kind::read : tcg::watch_kind::access;
}

} // namespace

debug_target tcg_debug_target(std::vector<vcpu*> cpus, const address_space& as) {
    debug_target d;
    const bool x64 = cpus.front()->model().features.has(feat::lm);
    d.target_xml = gdb::target_xml(x64);
    d.registers = gdb::register_count(x64);
    d.read_registers = [cpus, x64](unsigned i) { return gdb::read_registers(cpus.at(i)->st(), x64, cr8_of(*cpus.at(i))); };
    d.read_register = [cpus, x64](unsigned i, unsigned n) {
        return gdb::read_register(cpus.at(i)->st(), x64, n, cr8_of(*cpus.at(i)));
    };
    d.write_registers = [cpus, x64, &as](unsigned i, std::span<const std::uint8_t> b) {
        vcpu& c = *cpus.at(i);
        const bool ok = gdb::write_registers(c.st(), x64, b, descriptors(c, as));
        registers_changed(c);
        return ok;
    };
    d.write_register = [cpus, x64, &as](unsigned i, unsigned n, std::span<const std::uint8_t> b) {
        vcpu& c = *cpus.at(i);
        const bool ok = gdb::write_register(c.st(), x64, n, b, descriptors(c, as));
        if (ok && static_cast<int>(n) == gdb::cr8_register(x64) && c.apic())
            c.apic()->set_cr8(static_cast<std::uint8_t>(b[0] & 0xf));
        registers_changed(c);
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
        return each_page(*cpus.at(i), as, addr, out.size(), [&](std::uint64_t phys, std::size_t at, std::size_t n) {
            as.read(gpa{phys}, out.subspan(at, n));
        });
    };
    d.write_memory = [cpus, &as](unsigned i, std::uint64_t addr, std::span<const std::byte> in) {
        // Check the whole range first: nothing is written when a page is
        // missing.
        if (!each_page(*cpus.at(i), as, addr, in.size(), [](auto...) {})) return false;
        return each_page(*cpus.at(i), as, addr, in.size(), [&](std::uint64_t phys, std::size_t at, std::size_t n) {
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
