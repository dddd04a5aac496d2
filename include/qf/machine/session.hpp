#pragma once
// The run-time half of the seed's main(): everything QEMU sets up around the
// machine that does not depend on its type - run state, clocks, timers, the
// main loop, chardevs, -daemonize, -pidfile, signals, -d/-D - and the
// shutdown logic that decides the exit status. machine_main<M> (in
// system_main.hpp) drives it around the statically wired machine.
#include "qf/chardev/chardev.hpp"
#include "qf/core/clock.hpp"
#include "qf/core/daemonize.hpp"
#include "qf/core/fair_mutex.hpp"
#include "qf/core/main_loop.hpp"
#include "qf/core/pidfile.hpp"
#include "qf/core/runstate.hpp"
#include "qf/core/timer.hpp"
#include "qf/devices/device_context.hpp"
#include "qf/machine/debug_target.hpp"
#include "qf/machine/introspection.hpp"
#include "qf/machine/options.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

namespace qf {
namespace migration {
class incoming;
}
namespace vmstate {
struct section;
}

class qmp_monitor;
class hmp_monitor;
class gdb_server;

class session {
public:
    // Steps up to machine->init() in the seed's order: log, chardevs,
    // daemonize, pidfile, signal handlers. Throws qf::error.
    explicit session(const options& o);
    ~session();

    runstate& state() { return runstate_; }
    clocks& clock() { return clocks_; }
    timer_lists& timers() { return timers_; }
    main_loop& loop() { return loop_; }

    chardev* find_chardev(std::string_view id);
    const std::vector<chardev*>& serials() const { return serials_; }

    // The services handed to the machine's devices.
    device_context device_services();

    // Exit the process with this status as soon as the main loop sees it
    // (isa-debug-exit). Callable from any thread.
    void request_exit(int status);
    bool exit_requested() const { return exit_status_.load() >= 0; }
    // An orderly shutdown (C-a x, QMP's quit): exit status 0, as QEMU.
    void request_quit();
    // A shutdown for a cause, with QMP's SHUTDOWN event: the run ends with
    // status 0, or for the guest's own shutdown under -no-shutdown the VM
    // stops and the process stays.
    void request_shutdown(shutdown_cause cause);
    // pvpanic's report (device_context::guest_panic), as QEMU 7.2's
    // qemu_system_guest_panicked: GUEST_PANICKED, then by -action panic=
    // (and -no-shutdown for the default, shutdown): "pause" stops the VM in
    // run state guest-panicked (cont resumes it); "poweroff" is a
    // guest-panic shutdown (status 0, exit-failure's 1); "run" goes on.
    // crash_loaded: GUEST_CRASHLOADED {"action": "run"} only. From the
    // CPU's thread.
    void guest_panic(guest_panic_event e);

    // What QMP's commands act on in the machine; run_machine fills it in.
    struct machine_control {
        std::string machine;  // the type's name
        std::string accel;    // tcg, kvm
        bool kvm_built = false;  // some machine type here runs on KVM
        std::function<void()> system_reset;                      // from the main loop
        std::function<void()> system_powerdown;                  // empty: no power button
        // Guest-physical memory as the CPUs see it (pmemsave).
        std::function<void(std::uint64_t addr, std::span<std::byte> out)> read_phys;
        // -smp's topology: CPU i is thread i % threads of core
        // (i / threads) % cores of socket i / (threads * cores).
        unsigned cpus = 1, cores = 1, threads = 1;
        // What the gdbstub does to the CPUs; empty where the accelerator
        // offers no debugging.
        debug_target debug;
        // The human monitor's views: info registers (QEMU's layout), info
        // mtree, info jit; empty where there is none.
        std::function<std::string(unsigned cpu)> format_registers;
        std::function<std::string()> memory_tree;
        std::function<std::string()> jit_info;
        // info pic|ioapic|lapic|irq|qtree: the text, or nullopt where this
        // machine has nothing of the kind.
        std::function<std::optional<std::string>(std::string_view what, unsigned cpu)> device_info;
        // The machine types this binary has (query-machines), and the CPU
        // models -cpu takes on this one (query-cpu-definitions).
        std::vector<machine_type_info> machine_types;
        std::vector<std::string> cpu_models;
        // The NMI button (inject-nmi, the monitor's nmi): every CPU; empty
        // where the accelerator cannot.
        std::function<void()> inject_nmi;
        // PCI functions (query-pci, info pci); empty: no PCI.
        std::function<std::vector<pci_device_info>()> pci_devices;
        // The machine as a state stream (migrate); empty where the
        // accelerator cannot give one yet (KVM).
        std::function<std::vector<std::byte>()> save_vm;
        std::function<void(std::span<const std::byte>)> load_vm;
        // save_vm in parts, for a live migration (empty where save_vm is):
        // the stream's start (header, "machine"), and its end (the state
        // but RAM, with the CPUs stopped, and the end mark); RAM itself,
        // and its dirty pages (RAM offsets written since the last take).
        std::function<std::vector<std::byte>()> save_vm_head, save_vm_tail;
        std::function<std::span<const std::byte>()> ram;
        std::function<void(bool on)> dirty_log;
        std::function<std::vector<std::uint64_t>()> take_dirty;
        // A "ram" section put in place as an incoming stream brings it;
        // load_vm then takes the rest without RAM.
        std::function<void(const vmstate::section&)> load_ram_section;
    };
    void set_machine_control(machine_control c) { control_ = std::move(c); }
    const machine_control& control() const { return control_; }
    const std::string& guest_name() const { return name_; }
    // The host thread that runs CPU i (QMP's query-cpus-fast): the main
    // thread's under TCG, each vCPU thread's under KVM.
    int cpu_thread_id(unsigned i) const;

    // A QMP event to every monitor whose client negotiated, stamped now;
    // data_json is the "data" member's JSON, or empty for none.
    void emit_event(std::string_view name, std::string_view data_json = {});
    // vm_stop(RUN_STATE_PAUSED) (QMP's stop), and cont: the CPUs are
    // kicked out, or woken.
    void vm_pause();
    // QMP's and the monitor's cont, as QEMU's qmp_cont: in inmigrate it
    // only has the VM run once the stream is loaded (stop there undoes
    // it), and while a migration's last pass goes out it is refused.
    // Throws qf::error.
    void cont();

    // migrate URI (QMP's migrate, the monitor's): a live migration, as
    // QEMU's pre-copy. It starts here (a URI that cannot be reached throws
    // qf::error) and goes on in the main loop while the guest runs: RAM
    // once, then the pages written since, pass after pass, until few are
    // left; then the VM stops (finish-migrate) for the last pages and the
    // rest of the state, and stays stopped (postmigrate). A failure or
    // migrate_cancel lets it run again; migration() says how it went.
    void migrate(std::string_view uri);
    void migrate_cancel();
    struct migration_status {
        std::string status;  // empty: none yet; "active", "completed", "failed", "cancelled"
        std::string error;
        std::uint64_t total_ms = 0, bytes = 0;
        std::uint64_t ram_total = 0, ram_remaining = 0, dirty_syncs = 0, downtime_ms = 0;
        std::uint64_t dirty_pages_rate = 0;  // pages a second, found at the last dirty sync
    };
    const migration_status& migration() const { return migration_; }
    // migrate-set-capabilities' "events": MIGRATION and MIGRATION_PASS
    // events, as QEMU sends them.
    void set_migration_events(bool on) { migration_events_ = on; }
    bool migration_events() const { return migration_events_; }

    // -incoming URI|defer, before the loop runs: the VM waits in inmigrate
    // for a state stream of at most max_bytes from URI (or, deferred, from
    // the URI of migrate-incoming), read in the main loop while the
    // monitors go on; once loaded it runs if autostart, else it is paused.
    // A stream that fails to arrive or to load ends the process with one
    // line and status 1, as QEMU's. Throws qf::error when URI cannot be
    // listened on.
    void expect_incoming(std::string_view uri, std::uint64_t max_bytes, bool autostart);
    // QMP's migrate-incoming and the monitor's migrate_incoming: throws
    // qf::error with QEMU's message unless -incoming defer is waiting.
    void migrate_incoming(std::string_view uri);

    // savevm [NAME], loadvm NAME, delvm NAME, info snapshots: named
    // snapshots of the state stream in -vmstate-file (qf/machine/
    // snapshot_file.hpp). The VM stands still while one is saved or loaded
    // and runs on after if it ran. Throw qf::error with QEMU's messages.
    void savevm(std::string_view name);
    void loadvm(std::string_view name);
    void delvm(std::string_view name);
    std::string info_snapshots() const;

    // info chardev: "ID: filename=..." a line, as QEMU's.
    std::string chardev_info() const;
    // Every chardev by id (query-chardev, ringbuf-read).
    const std::map<std::string, std::unique_ptr<chardev>, std::less<>>& chardevs() const { return chardevs_; }
    // The monitor's gdbserver: a gdbstub on DEV (QEMU's -gdb syntax), or
    // none; says what it did.
    std::string start_gdbserver(std::string_view dev);

    // A CPU stopped for the debugger (a breakpoint, a step, a watchpoint):
    // the VM stops (run state debug) and the gdbstub tells GDB. From the
    // CPU's thread.
    void debug_stop(unsigned cpu, debug_event why);

    // vm_start(): RUNNING, vm clock on, notifiers.
    void vm_start();
    // Start-up finished: tell a waiting -daemonize parent.
    void ready();

    // main_loop() until an exit request; returns the exit status.
    int run();

    // The same with a CPU: between main-loop iterations the CPU runs until
    // kicked (the slice timer does so after a millisecond, or as soon as a
    // file descriptor the loop watches is ready; so does any exit
    // request); a halted CPU leaves the loop to block until something
    // happens (a timer, a file descriptor) that makes it runnable again,
    // such as an interrupt. run_cpu returns false while the CPU is halted.
    //
    // threaded: the CPU runs in a thread of its own (KVM's vCPU thread),
    // beside the main loop, under the machine lock (big_lock): the main loop
    // holds it except while it polls; run_cpu is called holding it and lets
    // it go while the guest runs. The thread waits while the VM is stopped
    // or the CPU is not runnable; the main loop wakes it after each
    // iteration, and kick ends a run_cpu early. Several CPUs (-smp) are
    // each threaded, one thread per CPU; an exit request kicks them all.
    struct cpu_runner {
        std::function<bool()> run_cpu;
        std::function<void()> kick;
        std::function<bool()> runnable;  // may run_cpu do anything now (HLT with an interrupt)?
        bool threaded = false;
    };
    int run(cpu_runner cpu);
    int run(std::vector<cpu_runner> cpus);
    fair_mutex& big_lock() { return big_lock_; }

private:
    void create_chardevs(const options& o);
    void create_monitors(const options& o);
    void create_gdbserver(const chardev_spec& spec);
    int run_threaded(std::vector<cpu_runner>& cpus);
    bool check_exit();
    int finish();

    runstate runstate_;
    clocks clocks_;
    timer_lists timers_;
    main_loop loop_;
    std::map<std::string, std::unique_ptr<chardev>, std::less<>> chardevs_;
    std::vector<chardev*> serials_;
    std::size_t next_serial_ = 0;
    daemonizer daemon_;
    std::optional<pidfile> pidfile_;
    std::atomic<int> exit_status_{-1};
    std::function<void()> kick_;
    fair_mutex big_lock_;
    bool no_shutdown_ = false;
    panic_action panic_ = panic_action::shutdown;  // -action panic=
    bool finishing_ = false;  // no STOP event for the stop at exit, as QEMU
    machine_control control_;
    migration_status migration_;
    bool migration_events_ = false;
    // The live migration under way (session.cpp); after loop_ and the
    // timers, which it uses.
    struct outgoing_job;
    std::unique_ptr<outgoing_job> outgoing_;
    void migration_step();
    void migration_end(std::string status, std::string why);
    void set_migration_status(std::string status);
    // After loop_, whose fds it unregisters as it goes.
    std::unique_ptr<migration::incoming> incoming_;
    std::uint64_t incoming_max_ = 0;
    bool incoming_deferred_ = false, incoming_autostart_ = true;
    std::chrono::steady_clock::time_point incoming_start_;
    std::string name_;
    std::string vmstate_file_;
    std::vector<std::unique_ptr<qmp_monitor>> monitors_;
    std::vector<std::unique_ptr<hmp_monitor>> human_monitors_;
    std::unique_ptr<gdb_server> gdb_;
    unsigned debug_cpu_ = 0;
    std::optional<debug_event> debug_event_;  // why the VM stops now, for the gdbstub
    std::vector<int> cpu_tids_;  // by CPU index, once they run
    int main_tid_ = 0;  // after the chardevs they use: gone first
};

} // namespace qf
