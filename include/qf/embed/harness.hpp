#pragma once
// A whole machine as a C++ object in a test: build it, give it a firmware
// image (from memory or a file), run it until it stops for a reason the test
// can name, then read and write its registers, memory and captured serial
// output. No process, no command line: the clocks, timers and chardevs a
// session would give the machine are the harness's own.
//
//   qf::embed::harness<qf::machines::testrig<>> h;
//   h.load_bios_file("fw.bin");
//   auto r = h.run();                       // to isa-debug-exit, HLT with IF=0, ...
//   CHECK(r.why == qf::embed::stop::exit && h.serial() == "hello\r\n");
//   h.regs().regs[qf::x86::R_EAX];         // the CPU state after it
//
// An instruction budget needs the budget hook in the machine's accelerator:
// testrig<accel::tcg<embed::insn_budget>>; run(n) then stops after n
// instructions. Hooks of the test's own (instruction, memory, port I/O)
// go in the same list and stop the run by returning hook_result::stop.
#include "qf/accel/tcg/dirty_log.hpp"
#include "qf/accel/tcg/hooks.hpp"
#include "qf/accel/tcg/softmmu.hpp"
#include "qf/chardev/backends.hpp"
#include "qf/chardev/chardev.hpp"
#include "qf/core/clock.hpp"
#include "qf/core/error.hpp"
#include "qf/core/timer.hpp"
#include "qf/machine/firmware.hpp"
#include "qf/machine/options.hpp"

#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <type_traits>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace qf::embed {

enum class stop : std::uint8_t {
    exit,    // isa-debug-exit, or a triple fault with no_reboot: exit_status says
    halted,  // HLT with interrupts disabled: nothing can wake the CPU
    idle,    // HLT with interrupts enabled, and no timer left to raise one
    hook,    // a hook returned stop
    budget,  // run(n) executed n instructions
};

struct run_result {
    stop why;
    int exit_status = 0;  // for stop::exit: the process status QEMU would exit with
};

// The budget as an instruction hook. The count is per thread: one harness
// runs at a time on a thread.
struct insn_budget {
    static inline thread_local std::uint64_t left = 0;
    static inline thread_local bool armed = false, spent = false;
    static tcg::hook_result on_insn(tcg::env_base*, std::uint64_t) {
        if (!armed) return tcg::hook_result::go_on;
        if (left == 0) {
            spent = true;
            return tcg::hook_result::stop;
        }
        --left;
        return tcg::hook_result::go_on;
    }
};

namespace detail {
template <class Accel>
constexpr bool has_budget = false;
template <template <class...> class A, class... Hs>
constexpr bool has_budget<A<Hs...>> = (std::is_same_v<Hs, insn_budget> || ...);
} // namespace detail

// A machine as it was when harness::snapshot() took it: the CPU's state,
// every device's reflected state, and RAM. harness::restore() puts it back.
struct snapshot {
    const void* owner = nullptr;  // the harness that took it
    std::uint64_t epoch = 0;      // which of its snapshots
    std::uint64_t map_changes = 0;
    std::vector<std::byte> cpu, devices;
    struct ram_copy {
        std::uint64_t gpa;
        std::byte* host;  // where it lives in the machine
        std::vector<std::byte> bytes;
    };
    std::vector<ram_copy> ram;
};

// What the harness gives the machine besides the command line's options.
struct harness_config {
    // Where the clocks read the time: the host's, or a test's own (virtual
    // time that a test advances, with a run loop of its own; see timers()).
    time_source time = time_source::system();
    // How much of the guest's serial output the ring keeps (the last bytes).
    std::uint32_t serial_size = 1 << 20;
};

template <class Machine>
class harness {
public:
    // opt: what the command line would say (-m, -cpu, -accel, -no-reboot...).
    explicit harness(options opt = {}, const harness_config& cfg = {})
        : opt_(std::move(opt)), clocks_(cfg.time), serial_(ring_spec(cfg.serial_size), chardev_env{}),
          machine_(context()) {
        clocks_.enable_vm();
    }
    ~harness() {
        stop_ticker();
        if (log_) machine_.memory().remove_listener(&watch_);
    }
    harness(const harness&) = delete;
    harness& operator=(const harness&) = delete;

    // The firmware, mapped as -bios does (a multiple of 64 KiB, at most 16
    // MiB); the machine is then reset. Throws qf::error for a bad image.
    void load_bios(std::span<const std::byte> image, std::string name = "(in memory)") {
        if (loaded_) throw error("embed: the machine already has its firmware");
        options o = opt_;
        o.bios = std::move(name);
        o.bios_image.assign(image.begin(), image.end());
        machine_.init(o);
        machine_.reset();
        loaded_ = true;
    }
    void load_bios_file(const std::string& path) {
        const auto image = load_bios_image(path);
        load_bios(image, path);
    }

    // Runs until one of the reasons in `stop`; budget 0 means none.
    run_result run(std::uint64_t budget = 0) {
        if (!loaded_) throw error("embed: load firmware before running");
        if (budget) {
            if constexpr (!detail::has_budget<typename Machine::accel_type>)
                throw error("embed: an instruction budget needs embed::insn_budget in the accelerator's hooks");
            insn_budget::left = budget;
            insn_budget::armed = true;
            insn_budget::spent = false;
        }
        struct disarm {
            ~disarm() { insn_budget::armed = false; }
        } d;
        start_ticker();
        for (;;) {
            timers_.run_expired();
            if (exit_status_) return {stop::exit, *exit_status_};
            auto& cpu = machine_.cpu();
            if (!machine_.cpu_runnable()) {
                if (!(cpu.st().eflags & (1u << 9))) return {stop::halted};
                const auto wait = timers_.deadline();
                if (!wait) return {stop::idle};
                std::this_thread::sleep_for(std::chrono::nanoseconds(*wait));
                continue;
            }
            cpu.st().base.hook_stop = 0;
            machine_.run_cpu();
            if (exit_status_) return {stop::exit, *exit_status_};
            if (cpu.st().base.hook_stop) {
                cpu.st().base.hook_stop = 0;
                return {insn_budget::spent ? stop::budget : stop::hook};
            }
        }
    }

    Machine& machine() { return machine_; }
    // For a test that runs the machine its own way rather than with run()
    // (between slices of machine().run_cpu(), it fires the timers due and
    // stops once an exit was asked for): the machine's timers, and the
    // status isa-debug-exit or a shutdown asked to exit with, if any.
    timer_lists& timers() { return timers_; }
    std::optional<int> exit_status() const { return exit_status_; }
    auto& cpu() { return machine_.cpu(); }
    auto& regs() { return machine_.cpu().st(); }

    // Guest physical memory (RAM, ROM, and what else the address space maps).
    void read(std::uint64_t gpa, std::span<std::byte> out) { machine_.memory().read(qf::gpa{gpa}, out); }
    void write(std::uint64_t gpa, std::span<const std::byte> in) {
        machine_.memory().write(qf::gpa{gpa}, in);
        // Code translated from what was there goes, as after a guest's store.
        if constexpr (requires { machine_.cpu().engine(); })
            if (!in.empty()) machine_.cpu().engine().invalidate_phys_range(gpa, gpa + in.size() - 1);
        if (log_)
            for (std::uint64_t p = gpa >> tcg::page_bits; in.size() && p <= (gpa + in.size() - 1) >> tcg::page_bits; ++p)
                log_->mark(p);
    }
    template <class T>
    T read(std::uint64_t gpa) {
        T v{};
        read(gpa, std::as_writable_bytes(std::span(&v, 1)));
        return v;
    }

    // In-process snapshots, for a test or fuzzer that runs the same state
    // many times. snapshot() copies RAM once and starts tracking writes
    // (the softmmu traps a page's first write; DMA through the address
    // space's listeners); restore() of the latest snapshot copies back only
    // the pages written since, drops translated code only where restored
    // pages held some, flushes the TLB and puts back the CPU's and the
    // devices' state. Restoring another snapshot copies all of RAM. The
    // clocks go on (timers follow the restored registers, time does not go
    // back); the serial output captured so far stays. One CPU; a memory
    // map changed since (PAM, a PCI BAR) is refused with an error.
    embed::snapshot snapshot() {
        if (!loaded_) throw error("embed: load firmware before taking a snapshot");
        embed::snapshot s;
        s.owner = this;
        s.epoch = ++epoch_;
        s.map_changes = watch_.map_changes;
        auto& st = machine_.cpu().st();
        s.cpu.resize(cpu_bytes());
        std::memcpy(s.cpu.data(), cpu_state_of(st), s.cpu.size());
        s.devices = machine_.save_devices();
        std::uint64_t top = 0;
        for (const auto& seg : machine_.memory().flat_view()) {
            if (seg.r->kind != region_kind::ram) continue;
            std::byte* host = seg.r->host + (seg.first - seg.r->base.value);
            s.ram.push_back({seg.first, host, std::vector<std::byte>(host, host + (seg.last - seg.first + 1))});
            top = std::max(top, seg.last + 1);
        }
        if (!log_) {
            log_.emplace((top + tcg::page_size - 1) >> tcg::page_bits);
            watch_.log = &*log_;
            st.base.dirty = &*log_;
            machine_.memory().add_listener(&watch_);
        }
        log_->clear();
        log_base_ = s.epoch;
        tcg::tlb_flush(&st.base);  // every entry again traps its page's first write
        return s;
    }
    void restore(const embed::snapshot& s) {
        if (s.owner != this || !log_) throw error("embed: not a snapshot of this harness");
        if (s.map_changes != watch_.map_changes)
            throw error("embed: the memory map changed since the snapshot (PAM, a PCI BAR): it cannot be restored");
        auto& st = machine_.cpu().st();
        auto& eng = machine_.cpu().engine();
        auto put_page = [&](std::uint64_t page) {
            const std::uint64_t gpa = page << tcg::page_bits;
            for (const auto& r : s.ram)
                if (gpa >= r.gpa && gpa - r.gpa < r.bytes.size()) {
                    const std::size_t n = std::min<std::size_t>(tcg::page_size, r.bytes.size() - (gpa - r.gpa));
                    std::memcpy(r.host + (gpa - r.gpa), r.bytes.data() + (gpa - r.gpa), n);
                    if (eng.is_code_page(gpa)) eng.invalidate_phys_range(gpa, gpa + n - 1);
                    return;
                }
        };
        if (s.epoch == log_base_) {
            for (std::uint64_t page : log_->pages()) put_page(page);
        } else {
            for (const auto& r : s.ram) {
                std::memcpy(r.host, r.bytes.data(), r.bytes.size());
                eng.invalidate_phys_range(r.gpa, r.gpa + r.bytes.size() - 1);
            }
        }
        log_->clear();
        std::memcpy(cpu_state_of(st), s.cpu.data(), s.cpu.size());
        tcg::tlb_flush(&st.base);
        machine_.load_devices(s.devices);
        // The devices' post_load maps what their registers say (PAM, BARs):
        // the snapshot's map again, not a change.
        watch_.map_changes = s.map_changes;
        exit_status_.reset();
        exit_cause_ = shutdown_cause::none;
        log_base_ = s.epoch;  // RAM is this snapshot's again: the log counts from here
    }
    // The machine as a state stream (qf/machine/vmstate.hpp) and back: the
    // format migration uses, for a state that outlives the process or goes
    // to another one. load_vm needs a machine built the same way (type,
    // -m, -smp, firmware) and refuses another's stream with one line
    // naming the section; after it, a restore() copies all of RAM.
    std::vector<std::byte> save_vm() { return machine_.save_vm(Machine::name); }
    void load_vm(std::span<const std::byte> stream) {
        if (!loaded_) throw error("embed: load firmware before loading a state");
        // The devices' post_load remaps what their registers say; a later
        // restore() remaps its own snapshot's again.
        const auto changes = watch_.map_changes;
        machine_.load_vm(Machine::name, stream);
        watch_.map_changes = changes;
        exit_status_.reset();
        exit_cause_ = shutdown_cause::none;
        log_base_ = 0;
    }

    // Pages written since the last snapshot or restore (what the next
    // restore of the latest snapshot copies back).
    std::size_t dirty_pages() const { return log_ ? log_->pages().size() : 0; }

    // What the guest wrote to COM1 (and the debug console) so far.
    std::string serial() const { return serial_.as<chardevs::ringbuf>()->contents(); }
    // Bytes for the guest to read from COM1.
    void send_serial(std::string_view s) { serial_.as<chardevs::ringbuf>()->send_to_guest(s); }
    // Drops what send_serial() queued that COM1 has not taken yet.
    void discard_serial_input() { serial_.as<chardevs::ringbuf>()->discard_input(); }
    // Why the machine asked to stop, for stop::exit: a shutdown's cause
    // (guest_reset: a triple fault or a reset under no_reboot), or none for
    // isa-debug-exit and the like.
    shutdown_cause exit_cause() const { return exit_cause_; }

private:
    static chardev_spec ring_spec(std::uint32_t size) {
        chardev_spec s;
        s.backend = "ringbuf";
        s.id = "serial0";
        s.size = size;
        return s;
    }
    device_context context() {
        device_context c;
        c.timers = &timers_;
        c.next_serial = [this]() -> chardev* {
            if (serial_taken_) return nullptr;
            serial_taken_ = true;
            return &serial_;
        };
        c.chardev_by_id = [this](std::string_view id) -> chardev* { return id == "serial0" ? &serial_ : nullptr; };
        c.request_exit = [this](int status) {
            exit_status_ = status;
            machine_.kick_cpu();
        };
        c.request_shutdown = [this](shutdown_cause cause) {
            exit_cause_ = cause;
            exit_status_ = 0;
            machine_.kick_cpu();
        };
        return c;
    }
    // Timers fire between CPU slices: a ticker ends a slice every millisecond.
    void start_ticker() {
        if (ticker_.joinable()) return;
        ticker_ = std::jthread([this](std::stop_token st) {
            while (!st.stop_requested()) {
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
                machine_.kick_cpu();
            }
        });
    }
    void stop_ticker() {
        if (ticker_.joinable()) {
            ticker_.request_stop();
            ticker_.join();
        }
    }

    // The CPU's architectural state: everything after the softmmu's part.
    template <class S>
    static std::byte* cpu_state_of(S& st) {
        static_assert(std::is_standard_layout_v<S> && std::is_trivially_copyable_v<decltype(st.regs)>);
        return reinterpret_cast<std::byte*>(&st) + sizeof(tcg::env_base);
    }
    std::size_t cpu_bytes() {
        using S = std::remove_reference_t<decltype(machine_.cpu().st())>;
        return sizeof(S) - sizeof(tcg::env_base);
    }
    // Devices' writes to RAM go into the dirty log; memory map changes are counted.
    struct memory_watch final : memory_listener {
        tcg::dirty_log* log = nullptr;
        std::uint64_t map_changes = 0;
        void map_changed(std::uint64_t, std::uint64_t) override { ++map_changes; }
        void ram_written(std::uint64_t addr, std::uint64_t len) override {
            if (log && len)
                for (std::uint64_t p = addr >> tcg::page_bits; p <= (addr + len - 1) >> tcg::page_bits; ++p) log->mark(p);
        }
    };

    options opt_;
    clocks clocks_;
    timer_lists timers_{clocks_};
    mutable chardev serial_;  // reading the ring does not change the machine
    bool serial_taken_ = false;
    std::optional<int> exit_status_;
    shutdown_cause exit_cause_ = shutdown_cause::none;
    bool loaded_ = false;
    Machine machine_;
    std::jthread ticker_;
    std::optional<tcg::dirty_log> log_;
    memory_watch watch_;
    std::uint64_t epoch_ = 0;     // snapshots taken
    std::uint64_t log_base_ = 0;  // the snapshot RAM equals but for the log's pages
};

} // namespace qf::embed
