#pragma once
// What the monitor targets (qmp, gdbstub) share: a qf::session with a
// machine behind it, wired as run_machine wires one, and the sandbox their
// inputs run in.
//
// The sandbox. Monitor commands write files (QMP's pmemsave and memsave,
// the human monitor's memsave and pmemsave, also through QMP's
// human-monitor-command and GDB's monitor command), open sockets or a
// terminal (gdbserver) and end the process (quit, GDB's k): none of that
// may leave the fuzz process's own corner.
//  - The process works in a private temporary directory (made at the first
//    input, emptied after each, removed at exit), and no file it writes
//    grows past 1 MiB (RLIMIT_FSIZE; SIGXFSZ ignored, so a longer write
//    fails as a full disk would).
//  - A file name without '/' can only name something in that directory:
//    defuse() rewrites '/' to '_' in any input that has a memsave or
//    pmemsave in it (JSON's \u escapes of letters, digits and '/' decoded
//    first, so that none can hide either). The human monitor's
//    x /FMT keeps its '/' in the other inputs.
//  - gdbserver (QMP's human-monitor-command; GDB's monitor command refuses
//    it itself) refuses to start before it reads its device when the
//    machine offers no debugging: the QMP target's control has no
//    read_registers (debug's other members, which memsave and x use, stay).
//  - quit, k and vKill only ask the session to end (request_exit): the
//    targets stop feeding the input there, as the process would end.
#include "qf/machine/session.hpp"
#include "qf/machine/system_main.hpp"

#include <memory>
#include <string>
#include <string_view>

namespace qf::fuzz {

void enter_sandbox();
void clean_sandbox();

// A session whose signal handlers stay the fuzz driver's and the
// sanitizers' (session's constructor installs qforge's own for fatal and
// shutdown signals, which would hide a crash's report): they are put back
// as they were.
std::unique_ptr<session> make_session(const options& o);

// Human-monitor or QMP text (json: JSON escapes apply) made safe to run:
// see above.
std::string defuse(std::string_view text, bool json);

// A hex digit's value (-1: none), and bytes as lowercase hex: for the
// protocols' hex (GDB's packets, monitor commands).
int hex_digit(char c);
std::string hex_of(std::string_view bytes);

// The machine's side of QMP and the monitors, as run_machine gives it to
// the session (gdb: whether the gdbstub may be started).
template <class M>
session::machine_control control_for(M& m, session& s, bool gdb) {
    session::machine_control c;
    c.machine = std::string(M::name);
    c.accel = std::string(M::accel_type::name);
    const std::string versioned(qemu_name_of<M>());
    c.machine_types.push_back({versioned, versioned == M::name ? "" : std::string(M::name),
                               std::string(M::description), M::topology_type::max_cpus, true, "ram"});
    for (const auto& model : M::cpu_type::all) c.cpu_models.emplace_back(model.name);
    c.cpus = m.cpu_count();
    c.system_reset = [&m, &s] {
        const bool was_running = s.state().is_running();
        m.system_reset_from_host(was_running);
        if (!was_running && !s.exit_requested()) s.state().set(run_state::prelaunch);
    };
    if constexpr (requires { m.press_power_button(); }) c.system_powerdown = [&m] { m.press_power_button(); };
    if constexpr (requires { m.pci_devices(); }) c.pci_devices = [&m] { return m.pci_devices(); };
    c.inject_nmi = [&m] { m.inject_nmi(); };
    c.device_info = [&m](std::string_view what, unsigned cpu) { return m.device_info(what, cpu); };
    // A device's registers at most 8 aligned bytes an access, as the CPU
    // reaches them.
    c.read_phys = [&m](std::uint64_t addr, std::span<std::byte> out) {
        const address_space& as = m.memory();
        for (std::size_t done = 0; done < out.size();) {
            const std::uint64_t a = addr + done;
            const auto* seg = as.find(gpa{a});
            std::size_t n = static_cast<std::size_t>(8 - (a & 7));
            if (seg && seg->r->kind != region_kind::mmio) n = static_cast<std::size_t>(seg->last - a + 1);
            n = std::min(n ? n : out.size() - done, out.size() - done);
            as.read(gpa{a}, out.subspan(done, n));
            done += n;
        }
    };
    c.debug = m.debugger();
    if (!gdb) c.debug.read_registers = nullptr;
    c.format_registers = [&m](unsigned i) { return m.format_registers(i); };
    c.jit_info = [&m] { return m.jit_info(); };
    c.memory_tree = [&m] { return format_flat_view(m.memory()); };
    return c;
}

} // namespace qf::fuzz
