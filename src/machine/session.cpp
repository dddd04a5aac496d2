#include "qf/machine/session.hpp"
#include "qf/machine/migration.hpp"
#include "qf/machine/snapshot_file.hpp"
#include "qf/machine/vmstate.hpp"

#include "qf/core/error.hpp"
#include "qf/core/log.hpp"
#include "qf/core/signals.hpp"
#include "qf/core/slice_timer.hpp"
#include "qf/monitor/gdbstub.hpp"
#include "qf/monitor/hmp.hpp"
#include "qf/monitor/qmp.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <exception>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <stop_token>
#include <thread>
#include <poll.h>
#include <unistd.h>

namespace qf {

session::session(const options& o)
    : timers_(clocks_), loop_(timers_), no_shutdown_(o.no_shutdown), name_(o.name), vmstate_file_(o.vmstate_file),
      main_tid_(::gettid()) {
    // The vm clock follows the run state (cpu_enable_ticks/disable_ticks),
    // and QMP hears of it (vm_start's RESUME, do_vm_stop's STOP).
    runstate_.change_notifiers().add([this](bool running, run_state to) {
        if (running) clocks_.enable_vm();
        else clocks_.disable_vm();
        if (running) emit_event("RESUME");
        else if (!finishing_) emit_event("STOP");
        if (!running && gdb_ && !finishing_) gdb_->vm_stopped(to, debug_cpu_, debug_event_);
        debug_event_.reset();
    });
    panic_ = o.panic;
    set_log_mask(o.log_mask);
    if (!o.log_file.empty()) set_log_file(o.log_file);
    signals::install_fatal_handlers();
    // Before anything that others can observe (a listening socket, the
    // pidfile): from then on a SIGTERM must mean an orderly shutdown.
    signals::install_shutdown_handlers(loop_.wake_fd());
    create_chardevs(o);
    create_monitors(o);
    if (o.daemonize) daemon_.detach();
    if (!o.pidfile.empty()) pidfile_.emplace(o.pidfile);
}

session::~session() {
    flush_log();
    monitors_.clear();  // before the chardevs they write to
    human_monitors_.clear();
    gdb_.reset();
    // Chardevs go first so a stdio terminal is restored before we return.
    chardevs_.clear();
    signals::restore_terminals();
}

void session::create_chardevs(const options& o) {
    chardev_env env;
    env.loop = &loop_;
    env.request_quit = [this] { request_quit(); };
    for (auto& spec : o.chardevs) chardevs_.emplace(spec.id, std::make_unique<chardev>(spec, env));

    // -nographic: serial 0 on stdio with the C-a mux, unless -serial said
    // otherwise (QEMU's default_serial handling).
    // -nodefaults: no default serial port (QEMU then builds no COM1; ours is
    // wired in and stays, with nothing behind it).
    auto serials = o.serials;
    if (serials.empty() && !o.nodefaults) {
        if (o.nographic) {
            chardev_spec s;
            s.backend = "stdio";
            s.mux = true;
            s.id = "serial0";
            serials.push_back(s);
        } else {
            // QEMU's default without a display is "-serial vc": there is no
            // console here, so the guest's serial output is dropped.
            chardev_spec s;
            s.backend = "null";
            s.id = "serial0";
            serials.push_back(s);
        }
    }
    for (auto& s : serials) {
        if (!s) {
            serials_.push_back(nullptr);
            continue;
        }
        if (s->backend.empty()) {  // chardev:ID
            auto* c = find_chardev(s->id);
            if (!c) throw error("-serial chardev:" + s->id + ": no chardev with id '" + s->id + "'");
            // One frontend a chardev, as QEMU (which aborts here).
            if (std::find(serials_.begin(), serials_.end(), c) != serials_.end())
                throw error("Device '" + s->id + "' is in use");
            serials_.push_back(c);
            continue;
        }
        if (find_chardev(s->id)) throw error("-serial: chardev id '" + s->id + "' is already in use");
        auto c = std::make_unique<chardev>(*s, env);
        serials_.push_back(c.get());
        chardevs_.emplace(s->id, std::move(c));
    }
}

void session::create_monitors(const options& o) {
    chardev_env env;
    env.loop = &loop_;
    env.request_quit = [this] { request_quit(); };
    for (const auto& m : o.monitors) {
        chardev* dev = nullptr;
        if (m.dev) {
            if (find_chardev(m.dev->id)) throw error("-qmp: chardev id '" + m.dev->id + "' is already in use");
            auto c = std::make_unique<chardev>(*m.dev, env);
            dev = c.get();
            chardevs_.emplace(m.dev->id, std::move(c));
        } else {
            dev = find_chardev(m.chardev_id);
            if (!dev) throw error("-mon: chardev '" + m.chardev_id + "' not found");
        }
        // A mux (mon:stdio) is shared with the serial port it serves.
        if (dev->attached() && !dev->shareable()) throw error("-mon: chardev '" + dev->id() + "' is already in use");
        for (chardev* s : serials_)
            if (s == dev && !dev->mux())
                throw error("-mon: chardev '" + dev->id() + "' is already in use by a serial port");
        if (m.human) human_monitors_.push_back(std::make_unique<hmp_monitor>(*this, *dev));
        else monitors_.push_back(std::make_unique<qmp_monitor>(*this, *dev, m.pretty));
    }
    // -nographic's: the human monitor behind C-a c on the serial port's
    // stdio, when nothing else was asked for.
    if (o.nographic && o.default_monitor && !o.nodefaults && !serials_.empty() && serials_[0] && serials_[0]->mux())
        human_monitors_.push_back(std::make_unique<hmp_monitor>(*this, *serials_[0]));
    if (o.gdb) create_gdbserver(*o.gdb);
}

void session::create_gdbserver(const chardev_spec& spec) {
    chardev_env env;
    env.loop = &loop_;
    env.request_quit = [this] { request_quit(); };
    if (find_chardev(spec.id)) throw error("-gdb: chardev id '" + spec.id + "' is already in use");
    auto c = std::make_unique<chardev>(spec, env);
    gdb_ = std::make_unique<gdb_server>(*this, *c);
    chardevs_.emplace(spec.id, std::move(c));
}

std::string session::start_gdbserver(std::string_view dev) {
    if (gdb_) {
        gdb_.reset();
        chardevs_.erase("gdb");
    }
    if (dev == "none") return "Disabled gdbserver";
    if (!control_.debug.read_registers) throw error("gdbserver: the gdbstub is not implemented under " + control_.accel + " yet");
    options o;
    const char* argv[] = {"qforge", "-gdb", nullptr};
    const std::string d(dev);
    argv[2] = d.c_str();
    o = parse_command_line(3, argv);
    create_gdbserver(*o.gdb);
    return "Waiting for gdb connection on device '" + d + "'";
}

std::string session::chardev_info() const {
    std::string out;
    for (const auto& [id, c] : chardevs_) out += id + ": filename=" + c->filename() + "\n";
    return out;
}

void session::debug_stop(unsigned cpu, debug_event why) {
    if (!runstate_.is_running()) return;
    debug_cpu_ = cpu;
    debug_event_ = why;
    runstate_.stop(run_state::debug);
    if (kick_) kick_();
    loop_.notify();
}

void session::emit_event(std::string_view name, std::string_view data_json) {
    if (monitors_.empty()) return;
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(now).count();
    std::string line = "{\"timestamp\": {\"seconds\": " + std::to_string(us / 1'000'000) +
                       ", \"microseconds\": " + std::to_string(us % 1'000'000) + "}, \"event\": \"" +
                       std::string(name) + "\"";
    if (!data_json.empty()) line += ", \"data\": " + std::string(data_json);
    line += "}";
    for (auto& m : monitors_) m->send_event(line);
}

namespace {
std::string cause_data(shutdown_cause c) {
    return std::string("{\"guest\": ") + (caused_by_guest(c) ? "true" : "false") + ", \"reason\": \"" +
           std::string(to_string(c)) + "\"}";
}
} // namespace

void session::request_shutdown(shutdown_cause cause) {
    emit_event("SHUTDOWN", cause_data(cause));
    // -no-shutdown keeps the process (the VM stopped) for every cause but
    // quit and a signal, which end it regardless, as in QEMU.
    if (!no_shutdown_ || cause == shutdown_cause::host_qmp_quit || cause == shutdown_cause::host_signal)
        return request_exit(0);
    if (runstate_.is_running()) runstate_.stop(run_state::shutdown);
    if (kick_) kick_();
    loop_.notify();
}

void session::guest_panic(guest_panic_event e) {
    if (e == guest_panic_event::crash_loaded) {
        logf(log_item::guest_errors, "Guest crash loaded");  // QEMU's, without a newline
        return emit_event("GUEST_CRASHLOADED", R"({"action": "run"})");
    }
    logf(log_item::guest_errors, "Guest crashed");
    if (panic_ == panic_action::pause || (panic_ == panic_action::shutdown && no_shutdown_)) {
        emit_event("GUEST_PANICKED", R"({"action": "pause"})");
        if (runstate_.is_running()) runstate_.stop(run_state::guest_panicked);  // STOP
        if (kick_) kick_();
        loop_.notify();
        return;
    }
    if (panic_ == panic_action::none) return emit_event("GUEST_PANICKED", R"({"action": "run"})");
    emit_event("GUEST_PANICKED", R"({"action": "poweroff"})");
    // QEMU also asks the main loop to stop the VM in state guest-panicked,
    // but its main loop takes the shutdown first: no STOP before SHUTDOWN,
    // and under -no-shutdown the state is shutdown.
    if (panic_ == panic_action::exit_failure && !no_shutdown_) {
        emit_event("SHUTDOWN", cause_data(shutdown_cause::guest_panic));
        return request_exit(1);  // EXIT_FAILURE
    }
    request_shutdown(shutdown_cause::guest_panic);
}

int session::cpu_thread_id(unsigned i) const {
    return i < cpu_tids_.size() && cpu_tids_[i] ? cpu_tids_[i] : main_tid_;
}

void session::vm_pause() {
    if (runstate_.get() == run_state::inmigrate) incoming_autostart_ = false;
    if (!runstate_.is_running()) return;
    runstate_.stop(run_state::paused);
    if (kick_) kick_();
    loop_.notify();
}

void session::cont() {
    if (runstate_.needs_reset()) throw error("Resetting the Virtual Machine is required");
    if (runstate_.get() == run_state::finish_migrate) throw error("Migration is not finalized yet");
    if (runstate_.get() == run_state::inmigrate) {
        incoming_autostart_ = true;
        return;
    }
    vm_start();
}

chardev* session::find_chardev(std::string_view id) {
    auto it = chardevs_.find(id);
    return it == chardevs_.end() ? nullptr : it->second.get();
}

device_context session::device_services() {
    device_context ctx;
    ctx.timers = &timers_;
    ctx.next_serial = [this]() -> chardev* {
        return next_serial_ < serials_.size() ? serials_[next_serial_++] : nullptr;
    };
    ctx.chardev_by_id = [this](std::string_view id) { return find_chardev(id); };
    ctx.request_exit = [this](int status) { request_exit(status); };
    ctx.request_shutdown = [this](shutdown_cause cause) { request_shutdown(cause); };
    ctx.reset_done = [this](shutdown_cause cause) { emit_event("RESET", cause_data(cause)); };
    ctx.guest_panic = [this](guest_panic_event e) { guest_panic(e); };
    ctx.big_lock = &big_lock_;
    ctx.debug_stop = [this](unsigned cpu, debug_event why) { debug_stop(cpu, why); };
    return ctx;
}

void session::request_exit(int status) {
    int expected = -1;
    exit_status_.compare_exchange_strong(expected, status & 0xff);
    if (kick_) kick_();
    loop_.notify();
}

void session::request_quit() { request_shutdown(shutdown_cause::host_qmp_quit); }

// A live migration: its link, the bytes on their way, and where it is.
struct session::outgoing_job {
    enum class phase { full, dirty, last, flush };
    std::unique_ptr<migration::outgoing> link;
    std::vector<std::byte> buf;  // what goes next, from at
    std::size_t at = 0;
    phase ph = phase::full;
    std::uint64_t cursor = 0;           // the first pass's next RAM offset
    std::vector<std::uint64_t> queue;   // a later pass's dirty pages, from queue_at
    std::size_t queue_at = 0;
    bool stopped_vm = false, watching = false;
    run_state before_stop = run_state::running;  // what a failure puts back
    std::chrono::steady_clock::time_point t0, stopped_at, synced_at;
    timer tick;
    outgoing_job(timer_lists& t, std::function<void()> cb) : tick(t, clock_type::realtime, std::move(cb)) {}
};

namespace {
constexpr std::uint64_t page_bytes = 4096;
// A chunk of RAM a step: 1 MiB.
constexpr std::size_t chunk_pages = 256;
// Few enough dirty pages to send with the VM stopped (1 MiB), or enough
// passes that the guest dirties memory faster than it goes: QEMU's
// downtime limit, in pages rather than time.
constexpr std::size_t few_pages = 256;
constexpr std::uint64_t max_passes = 30;
// What may go with the VM stopped: what the link took in this long (QEMU's
// default downtime-limit), at the rate it has taken bytes so far.
constexpr double downtime_limit_s = 0.3;
// The loop's share: a step works this long, then the guest runs a while.
constexpr auto step_budget = std::chrono::milliseconds(2);
constexpr ns step_gap = 500'000;  // 0.5 ms
} // namespace

void session::set_migration_status(std::string status) {
    migration_.status = std::move(status);
    if (migration_events_) emit_event("MIGRATION", "{\"status\": \"" + migration_.status + "\"}");
}

void session::migrate(std::string_view uri) {
    migration::check_uri(uri);
    if (!control_.save_vm_head) throw error("migration: not supported with accelerator " + control_.accel + " yet");
    if (outgoing_) throw error("There's a migration process in progress");
    if (runstate_.get() == run_state::inmigrate) throw error("Guest is waiting for an incoming migration");
    auto j = std::make_unique<outgoing_job>(timers_, [this] { migration_step(); });
    j->buf = control_.save_vm_head();                    // a machine that cannot be migrated says so here
    j->link = std::make_unique<migration::outgoing>(uri);  // as does a peer that is not there
    j->t0 = j->synced_at = std::chrono::steady_clock::now();
    control_.dirty_log(true);  // before the first pass reads a page
    migration_ = {};
    migration_.ram_total = migration_.ram_remaining = control_.ram().size();
    outgoing_ = std::move(j);
    set_migration_status("setup");
    set_migration_status("active");
    outgoing_->tick.mod_in(0);
}

void session::migrate_cancel() {
    if (outgoing_) migration_end("cancelled", {});
}

void session::migration_step() {
    outgoing_job& j = *outgoing_;
    if (j.watching) {
        loop_.remove_fd(j.link->fd());
        j.watching = false;
    }
    const auto until = std::chrono::steady_clock::now() + step_budget;
    try {
        if (!j.link->connected()) {  // a TCP peer still answering
            loop_.set_fd_handler(j.link->fd(), POLLOUT, [this](short) { migration_step(); });
            j.watching = true;
            return;
        }
        for (;;) {
            if (j.at < j.buf.size()) {
                const std::size_t n = j.link->write_some(std::span<const std::byte>(j.buf).subspan(j.at));
                j.at += n;
                migration_.bytes += n;
                if (j.at < j.buf.size()) {  // the peer is full: on when it takes more
                    loop_.set_fd_handler(j.link->fd(), POLLOUT, [this](short) { migration_step(); });
                    j.watching = true;
                    return;
                }
            }
            j.buf.clear();
            j.at = 0;
            if (j.ph == outgoing_job::phase::flush) {
                j.link->finish();
                return migration_end("completed", {});
            }
            if (std::chrono::steady_clock::now() >= until) {
                j.tick.mod_in(step_gap);
                return;
            }
            const auto ram = control_.ram();
            vmstate::writer w;
            w.take();  // sections alone: the header went first
            std::vector<std::uint64_t> pages;
            if (j.ph == outgoing_job::phase::full) {
                // The first pass: every page that is not zero.
                for (std::size_t k = 0; k < chunk_pages && j.cursor < ram.size(); ++k, j.cursor += page_bytes)
                    pages.push_back(j.cursor);
                w.section("ram", vmstate::ram_version, vmstate::ram_payload(ram, pages, false));
                migration_.ram_remaining = ram.size() - j.cursor;
                if (j.cursor >= ram.size()) j.ph = outgoing_job::phase::dirty;
            } else if (j.ph == outgoing_job::phase::dirty) {
                if (j.queue_at == j.queue.size()) {
                    const auto now = std::chrono::steady_clock::now();
                    j.queue = control_.take_dirty();
                    j.queue_at = 0;
                    ++migration_.dirty_syncs;
                    const double since = std::chrono::duration<double>(now - j.synced_at).count();
                    migration_.dirty_pages_rate = since > 0 ? static_cast<std::uint64_t>(j.queue.size() / since) : 0;
                    j.synced_at = now;
                    migration_.ram_remaining = j.queue.size() * page_bytes;
                    if (migration_events_) emit_event("MIGRATION_PASS", "{\"pass\": " + std::to_string(migration_.dirty_syncs) + "}");
                    const double rate = migration_.bytes / std::max(1e-3, std::chrono::duration<double>(now - j.t0).count());
                    const double may_stop_for = std::max<double>(few_pages * page_bytes, rate * downtime_limit_s);
                    if (static_cast<double>(j.queue.size() * page_bytes) <= may_stop_for || migration_.dirty_syncs >= max_passes)
                        j.ph = outgoing_job::phase::last;
                }
                // The passes after the first send at most 32 MiB more than
                // RAM, so that the stream holds RAM at most twice (the
                // destination's bound, system_main): past it, the VM stops.
                if (j.ph == outgoing_job::phase::dirty && migration_.bytes + chunk_pages * (page_bytes + 8) >
                                                              migration_.ram_total + (32ull << 20))
                    j.ph = outgoing_job::phase::last;
                if (j.ph == outgoing_job::phase::dirty) {
                    // A later pass: the pages written since, zeroed ones too.
                    const std::size_t n = std::min(chunk_pages, j.queue.size() - j.queue_at);
                    pages.assign(j.queue.begin() + static_cast<std::ptrdiff_t>(j.queue_at),
                                 j.queue.begin() + static_cast<std::ptrdiff_t>(j.queue_at + n));
                    j.queue_at += n;
                    migration_.ram_remaining = (j.queue.size() - j.queue_at) * page_bytes;
                    w.section("ram", vmstate::ram_version, vmstate::ram_payload(ram, pages, true));
                }
            }
            if (j.ph == outgoing_job::phase::last) {
                // Stop and copy: the pages left, then the rest of the state.
                // A paused VM goes to finish-migrate too, so that nothing
                // (cont) runs it while its last state is on its way.
                j.before_stop = runstate_.get();
                if (runstate_.is_running()) {
                    runstate_.stop(run_state::finish_migrate);
                    j.stopped_vm = true;
                    if (kick_) kick_();
                } else if (transition_allowed(runstate_.get(), run_state::finish_migrate)) {
                    runstate_.set(run_state::finish_migrate);
                    j.stopped_vm = true;
                }
                j.stopped_at = std::chrono::steady_clock::now();
                pages.assign(j.queue.begin() + static_cast<std::ptrdiff_t>(j.queue_at), j.queue.end());
                const auto rest = control_.take_dirty();
                ++migration_.dirty_syncs;  // the last one, as QEMU counts it
                pages.insert(pages.end(), rest.begin(), rest.end());
                std::sort(pages.begin(), pages.end());
                pages.erase(std::unique(pages.begin(), pages.end()), pages.end());
                control_.dirty_log(false);
                w.section("ram", vmstate::ram_version, vmstate::ram_payload(ram, pages, true));
                migration_.ram_remaining = 0;
                j.buf = w.take();
                const auto tail = control_.save_vm_tail();
                j.buf.insert(j.buf.end(), tail.begin(), tail.end());
                j.ph = outgoing_job::phase::flush;
                continue;
            }
            j.buf = w.take();
        }
    } catch (const std::exception& e) {
        migration_end("failed", e.what());
    }
}

void session::migration_end(std::string status, std::string why) {
    // Gone at the loop's next iteration: this may run in its own timer or fd handler.
    std::shared_ptr<outgoing_job> j(std::move(outgoing_));
    loop_.schedule([j] {});
    if (j->watching) loop_.remove_fd(j->link->fd());
    j->tick.del();
    if (control_.dirty_log) control_.dirty_log(false);
    const auto now = std::chrono::steady_clock::now();
    migration_.error = std::move(why);
    migration_.total_ms = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(now - j->t0).count());
    if (j->stopped_at != std::chrono::steady_clock::time_point{})
        migration_.downtime_ms =
            static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(now - j->stopped_at).count());
    if (status == "completed") {
        if (runstate_.is_running()) runstate_.stop(run_state::postmigrate);
        else if (transition_allowed(runstate_.get(), run_state::postmigrate)) runstate_.set(run_state::postmigrate);
    } else {
        j->link.reset();  // a command still reading is killed
        if (j->stopped_vm) {
            if (j->before_stop == run_state::running) runstate_.start();
            else if (transition_allowed(runstate_.get(), j->before_stop)) runstate_.set(j->before_stop);
        }
    }
    set_migration_status(std::move(status));
    loop_.notify();
}

void session::expect_incoming(std::string_view uri, std::uint64_t max_bytes, bool autostart) {
    if (!control_.load_vm) throw error("-incoming: migration is not supported with accelerator " + control_.accel + " yet");
    runstate_.set(run_state::inmigrate);
    incoming_max_ = max_bytes;
    incoming_autostart_ = autostart;
    incoming_deferred_ = uri == "defer";
    if (!incoming_deferred_) migrate_incoming(uri);
}

void session::migrate_incoming(std::string_view uri) {
    // QEMU 7.2's qmp_migrate_incoming: once only, and only in inmigrate.
    if (incoming_ || !migration_.status.empty()) throw error("The incoming migration has already been started");
    if (incoming_max_ == 0 || runstate_.get() != run_state::inmigrate)
        throw error("'-incoming' was not specified on the command line");
    auto failed = [this](const std::string& why) {
        incoming_.reset();
        migration_ = {"failed", why, 0, 0};
        report_error("load of migration failed: " + why);
        request_exit(1);
    };
    incoming_start_ = std::chrono::steady_clock::now();
    incoming_ = std::make_unique<migration::incoming>(
        loop_, uri, incoming_max_,
        [this, failed](std::vector<std::byte> stream) {
            incoming_.reset();
            try {
                control_.load_vm(stream);
            } catch (const std::exception& e) {
                return failed(e.what());
            }
            const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                                  incoming_start_);
            migration_ = {"completed", {}, static_cast<std::uint64_t>(ms.count()), stream.size()};
            if (runstate_.get() != run_state::inmigrate) return;  // it ended meanwhile (quit, a reset)
            if (incoming_autostart_) vm_start();
            else runstate_.set(run_state::paused);
        },
        failed,
        [this](const vmstate::section& s) {
            if (s.name != "ram" || !control_.load_ram_section) return false;
            control_.load_ram_section(s);
            return true;
        });
    migration_ = {"active", {}, 0, 0};
}

namespace {
// The VM stands still (in `state`) while a snapshot is saved or loaded, and
// runs on after if it ran, however the work ends.
struct still_while {
    session& s;
    bool was_running;
    still_while(session& ses, run_state state) : s(ses), was_running(ses.state().is_running()) {
        if (was_running) s.state().stop(state);
    }
    ~still_while() {
        if (was_running) s.vm_start();
    }
};

std::string snapshot_store(const std::string& file, const session::machine_control& c) {
    if (!c.save_vm || !c.load_vm) throw error("snapshots: not supported with accelerator " + c.accel + " yet");
    // QEMU's words, for a machine without a qcow2 disk.
    if (file.empty()) throw error("No block device can accept snapshots (start with -vmstate-file FILE)");
    return file;
}
} // namespace

void session::savevm(std::string_view name) {
    if (outgoing_) throw error("There's a migration process in progress");
    const std::string file = snapshot_store(vmstate_file_, control_);
    std::string tag(name);
    if (tag.empty()) {
        // QEMU's default name: vm-YYYYMMDDHHMMSS.
        char buf[32];
        const std::time_t t = std::time(nullptr);
        std::tm tm{};
        localtime_r(&t, &tm);
        std::strftime(buf, sizeof buf, "vm-%Y%m%d%H%M%S", &tm);
        tag = buf;
    }
    if (tag.size() > 255) throw error("savevm: the name is longer than 255 bytes");
    auto snaps = read_snapshot_file(file);
    const still_while r(*this, run_state::save_vm);
    if (kick_) kick_();
    vm_snapshot snap{tag, static_cast<std::uint64_t>(std::time(nullptr)),
                     static_cast<std::uint64_t>(clocks_.now(clock_type::virt)), control_.save_vm()};
    // savevm over an existing name replaces it, as QEMU's.
    std::erase_if(snaps, [&](const vm_snapshot& s) { return s.name == tag; });
    snaps.push_back(std::move(snap));
    write_snapshot_file(file, snaps);
}

void session::loadvm(std::string_view name) {
    // It writes all of RAM past the dirty log, and the run state under a
    // migration's feet.
    if (outgoing_) throw error("There's a migration process in progress");
    if (runstate_.get() == run_state::inmigrate) throw error("Guest is waiting for an incoming migration");
    const std::string file = snapshot_store(vmstate_file_, control_);
    const auto snaps = read_snapshot_file(file);
    const auto it = std::find_if(snaps.begin(), snaps.end(), [&](const vm_snapshot& s) { return s.name == name; });
    if (it == snaps.end()) throw error("Snapshot '" + std::string(name) + "' does not exist in one or more devices");
    const still_while r(*this, run_state::restore_vm);
    if (kick_) kick_();
    control_.load_vm(it->stream);
}

void session::delvm(std::string_view name) {
    const std::string file = snapshot_store(vmstate_file_, control_);
    auto snaps = read_snapshot_file(file);
    if (std::erase_if(snaps, [&](const vm_snapshot& s) { return s.name == name; }) == 0)
        throw error("Snapshot '" + std::string(name) + "' not found");
    write_snapshot_file(file, snaps);
}

std::string session::info_snapshots() const {
    return format_snapshots(read_snapshot_file(snapshot_store(vmstate_file_, control_)));
}

void session::vm_start() {
    runstate_.start();
    loop_.notify();  // CPU threads waiting for the run state
}

void session::ready() { daemon_.ready(); }

bool session::check_exit() {
    if (auto sig = signals::take_shutdown_signal()) {
        report_error("terminating on signal " + std::to_string(sig->signo) + " from pid " +
                     std::to_string(sig->sender));
        request_shutdown(shutdown_cause::host_signal);
    }
    return exit_status_.load() >= 0;
}


int session::run(cpu_runner cpu) {
    std::vector<cpu_runner> one;
    one.push_back(std::move(cpu));
    return run(std::move(one));
}

int session::run(std::vector<cpu_runner> cpus) {
    if (cpus.empty()) return run();
    kick_ = [&cpus] {
        for (auto& c : cpus) c.kick();
    };
    struct forget_kick {
        std::function<void()>& k;
        ~forget_kick() { k = nullptr; }  // the machine it kicks ends before the session
    } forget{kick_};
    if (cpus.front().threaded) return run_threaded(cpus);
    // TCG's CPUs share this thread, round-robin (QEMU's thread=single): the
    // slice timer ends each one's slice (after a millisecond, or when the
    // main loop has something to do), and a halted CPU is passed over until
    // an interrupt makes it runnable.
    slice_timer slices(kick_);
    std::vector<char> runnable(cpus.size(), 1);
    std::size_t next = 0;
    auto refresh = [&] {
        bool any = false;
        for (std::size_t i = 0; i < cpus.size(); ++i) {
            if (!runnable[i] && cpus[i].runnable) runnable[i] = cpus[i].runnable();
            any |= runnable[i] != 0;
        }
        return any;
    };
    while (!check_exit()) {
        loop_.run_once(!(runstate_.is_running() && refresh()));
        if (!runstate_.is_running() || !refresh() || check_exit()) continue;  // a timer may have raised an interrupt
        for (std::size_t n = 0; n < cpus.size(); ++n, next = (next + 1) % cpus.size())
            if (runnable[next]) {
                slices.start(loop_.poll_set());
                runnable[next] = cpus[next].run_cpu();
                slices.end();
                next = (next + 1) % cpus.size();
                break;
            }
    }
    return finish();
}

int session::run_threaded(std::vector<cpu_runner>& cpus) {
    std::unique_lock lock(big_lock_);
    loop_.set_big_lock(&big_lock_);
    std::condition_variable_any wake;  // the vCPU threads wait on it, under big_lock_
    bool stop = false;
    std::exception_ptr failure;  // the first a vCPU thread threw, for the main thread to report
    std::vector<std::thread> threads;
    cpu_tids_.assign(cpus.size(), 0);
    for (std::size_t i = 0; i < cpus.size(); ++i)
        threads.emplace_back([&, i] {
            cpu_runner& cpu = cpus[i];
            std::unique_lock l(big_lock_);
            cpu_tids_[i] = ::gettid();
            try {
                while (!stop) {
                    // Nothing more runs once an exit is asked for (a triple
                    // fault under -no-reboot must not be re-entered).
                    if (exit_status_.load() >= 0 || !runstate_.is_running() || (cpu.runnable && !cpu.runnable())) {
                        wake.wait(l);
                        continue;
                    }
                    cpu.run_cpu();
                }
            } catch (...) {
                if (!failure) failure = std::current_exception();
                request_exit(1);
            }
        });
    while (!check_exit()) {
        loop_.run_once(true);
        wake.notify_all();  // a timer may have raised an interrupt, or the VM started
    }
    stop = true;
    for (auto& c : cpus) c.kick();
    wake.notify_all();
    lock.unlock();
    for (auto& t : threads) t.join();
    loop_.set_big_lock(nullptr);
    if (failure) {
        finish();
        std::rethrow_exception(failure);  // reported as any start-up error is: one line, status 1
    }
    return finish();
}

int session::run() {
    while (!check_exit()) loop_.run_once(true);
    return finish();
}

int session::finish() {
    finishing_ = true;
    if (runstate_.is_running()) runstate_.stop(run_state::shutdown);
    std::fflush(stdout);
    if (gdb_) gdb_->exiting(exit_status_.load());
    return exit_status_.load();
}

} // namespace qf
