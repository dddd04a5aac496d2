#pragma once
// The seed's main() over a compile-time list of machine types: the first is
// the default (find_default_machine); -M picks another; each is instantiated
// only as the statically wired type it is.
#include "qf/core/error.hpp"
#include "qf/core/log.hpp"
#include "qf/core/signals.hpp"
#include "qf/machine/options.hpp"
#include "qf/machine/session.hpp"

#include <cstdio>
#include <string>

namespace qf {

template <class... Machines>
struct machine_list {};

inline std::string pad(std::string_view s, std::size_t w = 20) {
    std::string r(s);
    r.resize(std::max(w, r.size() + 1), ' ');
    return r;
}


// Everything a machine type needs checked before anything starts, so a bad
// option leaves nothing half-started (no chardev opened, no fork).
template <class M>
void validate_for_machine(const options& o) {
    using topo = typename M::topology_type;
    M::cpu_type::select(o.cpu, o.cpu_features);  // throws on an unknown model or feature
    if (o.smp) {
        auto s = *o.smp;
        unsigned threads = s.threads ? s.threads : 1, cores = s.cores ? s.cores : 1,
                 sockets = s.sockets ? s.sockets : 1;
        unsigned cpus = s.cpus ? s.cpus : sockets * cores * threads;
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
    // The first compiled-in accelerator among those asked for.
    bool accel_ok = o.accels.empty();
    for (auto& a : o.accels) {
        if (a.name == M::accel_type::name) {
            M::accel_type::props(a.props);  // throws on a bad property
            accel_ok = true;
            break;
        }
        if (a.name != "kvm" && a.name != "tcg")
            throw error("-accel " + a.name + ": invalid accelerator (compiled in: " +
                        std::string(M::accel_type::name) + ")");
        report_error("-accel " + a.name + ": accelerator not implemented yet, trying the next");
    }
    if (!accel_ok) throw error("-accel: no accelerator found");
    M::validate(o);
}

template <class M>
int run_machine(const options& o) {
    validate_for_machine<M>(o);
    session s(o);
    M m(s.device_services());
    m.init(o);  // machine->init(): RAM, firmware, CPU, -device
    m.reset();
    if (!o.start_stopped) s.vm_start();
    s.ready();
    return s.run(session::cpu_runner{[&] { return m.run_cpu(); }, [&] { m.kick_cpu(); }, [&] { return m.cpu_runnable(); }});
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
            bool first = true;
            ((s += pad(Ms::name) + std::string(Ms::description) + (first ? " (default)" : "") + "\n",
              first = false),
             ...);
            return out(s), 0;
        }
        if (o.log_help) return out(log_items_help()), 0;
        if (o.chardev_help) return out(chardev_backends_help()), 0;
        for (auto& a : o.accels)
            if (a.name == "help") {
                std::string s = "Accelerators supported in QEMU binary:\n";
                ((s += std::string(Ms::accel_type::name) + "\n"), ...);
                return out(s), 0;
            }

        int status = -1;
        bool found = false;
        auto try_one = [&]<class M>() {
            if (found || !(o.machine.empty() || o.machine == M::name)) return;
            found = true;
            if (o.cpu_help) {
                out(M::cpu_type::help());
                status = 0;
            } else if (o.device_help) {
                out("Devices that -device adds to machine " + std::string(M::name) + ":\n" + M::pluggable_help());
                status = 0;
            } else {
                status = run_machine<M>(o);
            }
        };
        (try_one.template operator()<Ms>(), ...);
        if (!found)
            throw error("-machine " + o.machine + ": unsupported machine type (-M help lists them)");
        return status;
    } catch (const error& e) {
        report_error(e.what());
        flush_log();
        return 1;
    }
}

} // namespace qf
