#pragma once
// The seed's main() over a compile-time list of machine types: the first is
// the default (find_default_machine); -M picks another; each is instantiated
// only as the statically wired type it is.
#include "qf/core/error.hpp"
#include "qf/core/log.hpp"
#include "qf/core/signals.hpp"
#include "qf/machine/options.hpp"
#include "qf/machine/session.hpp"
#include "qf/machine/vmstate.hpp"

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

namespace qf {

template <class... Machines>
struct machine_list {};

inline std::string pad(std::string_view s, std::size_t w = 20) {
    std::string r(s);
    r.resize(std::max(w, r.size() + 1), ' ');
    return r;
}


// QEMU's versioned name for a machine type (pc-i440fx-7.2 for pc), which
// -M accepts too; the plain name where there is none.
template <class M>
constexpr std::string_view qemu_name_of() {
    if constexpr (requires { M::qemu_name; }) return M::qemu_name;
    else return M::name;
}

// What the binary holds beyond the machine that runs: QMP's query-kvm and
// query-machines answer from it.
struct binary_info {
    bool kvm_built = false;  // some machine type here runs on KVM
    std::vector<machine_type_info> machine_types;
};

// Everything a machine type needs checked before anything starts, so a bad
// option leaves nothing half-started (no chardev opened, no fork).
template <class M>
void validate_for_machine(const options& o) {
    using topo = typename M::topology_type;
    M::cpu_model_for(o);  // throws on an unknown model or feature
    if (o.smp) {
        auto s = *o.smp;
        unsigned threads = s.threads ? s.threads : 1, cores = s.cores ? s.cores : 1,
                 sockets = s.sockets ? s.sockets : 1;
        unsigned cpus = s.cpu_count();
        unsigned maxcpus = s.maxcpus ? s.maxcpus : cpus;
        if (maxcpus < cpus) throw error("-smp: maxcpus must be equal to or greater than cpus");
        if (maxcpus > topo::max_cpus || sockets > topo::max_sockets || cores > topo::max_cores ||
            threads > topo::max_threads)
            throw error("-smp: machine " + std::string(M::name) + " supports at most " +
                        std::to_string(topo::max_cpus) + " CPU(s) (" +
                        std::to_string(topo::max_sockets) + " socket(s) x " +
                        std::to_string(topo::max_cores) + " core(s) x " +
                        std::to_string(topo::max_threads) + " thread(s))");
        if (s.dies > 1) throw error("-smp: dies are not supported by x86 machines here");
    }
    for (auto& a : o.accels)
        if (a.name == M::accel_type::name) {
            M::accel_type::props(a.props);  // throws on a bad property
            break;
        }
    M::validate(o);
}

template <class M>
int run_machine(const options& o, const binary_info& binary = {}) {
    validate_for_machine<M>(o);
    session s(o);
    M m(s.device_services());
    m.init(o);  // machine->init(): RAM, firmware, CPU, -device
    m.reset();
    // What QMP acts on: system_reset, the power button.
    session::machine_control mc;
    mc.machine = std::string(M::name);
    mc.accel = std::string(M::accel_type::name);
    mc.kvm_built = binary.kvm_built;
    mc.machine_types = binary.machine_types;
    for (const auto& model : M::cpu_type::all) mc.cpu_models.emplace_back(model.name);
    if constexpr (M::accel_type::name == std::string_view("kvm")) mc.cpu_models.emplace_back("host");
    if constexpr (requires { m.inject_nmi(); }) mc.inject_nmi = [&m] { m.inject_nmi(); };
    if constexpr (requires { m.pci_devices(); }) mc.pci_devices = [&m] { return m.pci_devices(); };
    if constexpr (requires { m.device_info(std::string_view{}, 0u); })
        mc.device_info = [&m](std::string_view what, unsigned cpu) { return m.device_info(what, cpu); };
    if constexpr (requires { m.system_reset_from_host(true); })
        mc.system_reset = [&m, &s] {
            const bool running = s.state().is_running();
            m.system_reset_from_host(running);
            // QEMU's qemu_system_reset: a VM reset while stopped is a VM
            // that has not started (cont then starts it, even after a
            // shutdown under -no-shutdown).
            // One waiting for a migration's stream waits on.
            if (!running && !s.exit_requested() && s.state().get() != run_state::inmigrate)
                s.state().set(run_state::prelaunch);
        };
    if constexpr (requires { m.press_power_button(); }) mc.system_powerdown = [&m] { m.press_power_button(); };
    // RAM and ROM in runs; a device's registers as the CPU reads them, at
    // most 8 aligned bytes an access (QEMU's access sizes), zeros where
    // nothing is mapped.
    mc.read_phys = [&m](std::uint64_t addr, std::span<std::byte> out) {
        while (!out.empty()) {
            const auto* seg = m.memory().find(gpa{addr});
            std::size_t n = std::min<std::size_t>(out.size(), 8 - (addr & 7));
            if (seg && seg->r->kind != region_kind::mmio)
                n = static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), seg->last - addr + 1));
            m.memory().read(gpa{addr}, out.first(n));
            addr += n;
            out = out.subspan(n);
        }
    };
    mc.cpus = m.cpu_count();
    if constexpr (requires { m.debugger(); }) mc.debug = m.debugger();
    if constexpr (requires { m.format_registers(0u); }) mc.format_registers = [&m](unsigned i) { return m.format_registers(i); };
    if constexpr (requires { m.jit_info(); }) mc.jit_info = [&m] { return m.jit_info(); };
    mc.memory_tree = [&m] { return format_flat_view(m.memory()); };
    if constexpr (requires { m.save_vm(std::string_view{}); }) mc.save_vm = [&m] { return m.save_vm(M::name); };
    if constexpr (requires { m.load_vm(std::string_view{}, std::span<const std::byte>{}); })
        mc.load_vm = [&m](std::span<const std::byte> st) { m.load_vm(M::name, st); };
    if constexpr (requires(vmstate::writer& w) {
                      m.save_vm_head(w, std::string_view{});
                      m.take_dirty();
                  }) {
        mc.save_vm_head = [&m] {
            vmstate::writer w;
            m.save_vm_head(w, M::name);
            return w.take();
        };
        mc.save_vm_tail = [&m] {
            vmstate::writer w;
            w.take();  // the header went first
            m.save_vm_tail(w);
            return w.finish();
        };
        mc.ram = [&m] { return m.ram_bytes(); };
        mc.dirty_log = [&m](bool on) {
            if (on) m.start_dirty_log();
            else m.stop_dirty_log();
        };
        mc.take_dirty = [&m] { return m.take_dirty(); };
        mc.load_ram_section = [&m](const vmstate::section& sec) { m.load_ram_section(sec); };
    }
    if (o.smp) {
        // QEMU 7.2's defaults: cores before sockets.
        const unsigned sockets = o.smp->sockets ? o.smp->sockets : 1;
        const unsigned max = o.smp->maxcpus ? o.smp->maxcpus : o.smp->cpu_count();
        mc.threads = o.smp->threads ? o.smp->threads : 1;
        mc.cores = o.smp->cores ? o.smp->cores : std::max(1u, max / (sockets * mc.threads));
    }
    s.set_machine_control(std::move(mc));
    // QEMU's -incoming: the machine built as the command line says, then
    // its state from the stream, read in the main loop; then it runs
    // (unless -S). RAM goes into place section by section as it comes:
    // what is held at once is at most one section of all of RAM (a savevm
    // stream's), 8 bytes a page and 64 MiB for the rest; a peer cannot
    // make us hold more.
    if (!o.incoming.empty())
        s.expect_incoming(o.incoming, o.ram_size + o.ram_size / 256 + (64ull << 20), !o.start_stopped);
    if (!o.loadvm.empty()) s.loadvm(o.loadvm);  // QEMU's -loadvm: before the CPUs start
    if (!o.start_stopped && o.incoming.empty()) s.vm_start();
    s.ready();
    bool threaded = false;
    if constexpr (requires { M::threaded_cpu; }) threaded = M::threaded_cpu;
    std::vector<session::cpu_runner> cpus;
    for (unsigned i = 0; i < m.cpu_count(); ++i)
        cpus.push_back({[&m, i] { return m.run_cpu(i); }, [&m, i] { m.kick_cpu(i); },
                        [&m, i] { return m.cpu_runnable(i); }, threaded});
    const int status = s.run(std::move(cpus));
    s.set_machine_control({});  // its functions reach into m, which goes first
    return status;
}

template <class... Ms>
int system_main(machine_list<Ms...>, int argc, const char* const* argv) {
    try {
        set_program_name(argv[0]);
        signals::setup_early();
        options o = parse_command_line(argc, argv);
        auto out = [](const std::string& s) { std::fwrite(s.data(), 1, s.size(), stdout); };
        if (o.help) return out(usage_text(program_name())), 0;
        if (o.version) return out(version_text(program_name())), 0;
        if (o.machine_help) {
            std::string s = "Supported machines are:\n";
            std::vector<std::string_view> seen;
            auto list = [&]<class M>() {
                if (std::find(seen.begin(), seen.end(), M::name) != seen.end()) return;
                // As QEMU's: the short name an alias of the versioned one.
                const std::string_view versioned = qemu_name_of<M>();
                if (versioned != M::name)
                    s += pad(M::name) + std::string(M::description) + " (alias of " + std::string(versioned) + ")\n";
                s += pad(versioned) + std::string(M::description) + (seen.empty() ? " (default)" : "") + "\n";
                seen.push_back(M::name);
            };
            (list.template operator()<Ms>(), ...);
            return out(s), 0;
        }
        if (o.log_help) return out(log_items_help()), 0;
        if (o.chardev_help) return out(chardev_backends_help()), 0;
        for (auto& a : o.accels)
            if (a.name == "help") {
                std::string s = "Accelerators supported in QEMU binary:\n";
                std::vector<std::string_view> seen;
                auto list = [&]<class M>() {
                    if (std::find(seen.begin(), seen.end(), M::accel_type::name) != seen.end()) return;
                    s += std::string(M::accel_type::name) + "\n";
                    seen.push_back(M::accel_type::name);
                };
                (list.template operator()<Ms>(), ...);
                return out(s), 0;
            }

        // The machine: -M's name (or QEMU's versioned one), else the first
        // in the list.
        std::string_view machine;
        ((machine = machine.empty() ? Ms::name : machine), ...);
        if (!o.machine.empty()) machine = o.machine;
        ((machine = machine == qemu_name_of<Ms>() ? Ms::name : machine), ...);
        binary_info binary;
        binary.kvm_built = ((Ms::accel_type::name == std::string_view("kvm")) || ...);
        auto describe = [&]<class M>() {
            for (const auto& t : binary.machine_types)
                if (t.alias == M::name || t.name == M::name) return;
            machine_type_info t;
            t.name = std::string(qemu_name_of<M>());
            if (t.name != M::name) t.alias = std::string(M::name);
            t.description = std::string(M::description);
            t.cpu_max = M::topology_type::max_cpus;
            t.is_default = binary.machine_types.empty();
            t.default_ram_id = "ram";
            if constexpr (requires { M::default_ram_id; }) t.default_ram_id = std::string(M::default_ram_id);
            binary.machine_types.push_back(std::move(t));
        };
        (describe.template operator()<Ms>(), ...);
        if (!((Ms::name == machine) || ...))
            throw error("-machine " + o.machine + ": unsupported machine type (-M help lists them)");
        if (o.cpu_help || o.device_help) {
            bool done = false;
            auto help = [&]<class M>() {
                if (done || M::name != machine) return;
                done = true;
                if (o.cpu_help) out(M::cpu_type::help());
                else out("Devices that -device adds to machine " + std::string(M::name) + ":\n" + M::pluggable_help());
            };
            (help.template operator()<Ms>(), ...);
            return 0;
        }
        // The accelerators in the order given (QEMU: -accel kvm -accel tcg,
        // or -machine accel=kvm:tcg); without one, the first machine type's.
        // Each is probed before anything starts: one that cannot run here
        // is reported and the next is tried, as QEMU's configure_accelerators.
        std::vector<accel_choice> order = o.accels;
        if (order.empty()) {
            std::string_view first;
            ((first = (first.empty() && Ms::name == machine) ? Ms::accel_type::name : first), ...);
            order.push_back({std::string(first), {}});
        }
        for (std::size_t i = 0; i < order.size(); ++i) {
            const accel_choice& a = order[i];
            if (!((Ms::accel_type::name == a.name) || ...)) {
                if (a.name != "kvm" && a.name != "tcg") throw error("-accel " + a.name + ": invalid accelerator");
                report_error("-accel " + a.name + ": not compiled into this binary" +
                             (i + 1 < order.size() ? ", trying the next" : ""));
                continue;
            }
            int status = -1;
            bool tried = false, ran = false;
            auto try_one = [&]<class M>() {
                if (tried || M::name != machine || M::accel_type::name != a.name) return;
                tried = true;
                // A bad option or property is an error before anything is
                // probed, as QEMU applies the machine's options (-smp too)
                // before it configures accelerators.
                M::accel_type::props(a.props);
                validate_for_machine<M>(o);
                if constexpr (requires { M::accel_type::probe(); }) {
                    try {
                        M::accel_type::probe();
                    } catch (const error& e) {
                        report_error("-accel " + a.name + ": " + e.what());
                        return;
                    }
                }
                ran = true;
                status = run_machine<M>(o, binary);
            };
            (try_one.template operator()<Ms>(), ...);
            if (ran) return status;
            if (!tried) {
                report_error("-accel " + a.name + ": machine " + std::string(machine) + " is not built for it" +
                             (i + 1 < order.size() ? ", trying the next" : ""));
                continue;
            }
            if (i + 1 < order.size()) report_error("falling back to " + order[i + 1].name);
        }
        return 1;
    } catch (const error& e) {
        // A call that a shutdown signal interrupted during start-up (opening
        // a FIFO): the signal ends the process, as it ends QEMU's there.
        if (signals::shutdown_pending()) signals::die_of_pending_signal();
        report_error(e.what());
        flush_log();
        return 1;
    }
}

} // namespace qf
