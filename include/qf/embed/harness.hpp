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
#include "qf/accel/tcg/hooks.hpp"
#include "qf/chardev/backends.hpp"
#include "qf/chardev/chardev.hpp"
#include "qf/core/clock.hpp"
#include "qf/core/error.hpp"
#include "qf/core/timer.hpp"
#include "qf/machine/firmware.hpp"
#include "qf/machine/options.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
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
    ~harness() { stop_ticker(); }
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
    void write(std::uint64_t gpa, std::span<const std::byte> in) { machine_.memory().write(qf::gpa{gpa}, in); }
    template <class T>
    T read(std::uint64_t gpa) {
        T v{};
        read(gpa, std::as_writable_bytes(std::span(&v, 1)));
        return v;
    }

    // What the guest wrote to COM1 (and the debug console) so far.
    std::string serial() const { return serial_.as<chardevs::ringbuf>()->contents(); }
    // Bytes for the guest to read from COM1.
    void send_serial(std::string_view s) { serial_.as<chardevs::ringbuf>()->send_to_guest(s); }

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

    options opt_;
    clocks clocks_;
    timer_lists timers_{clocks_};
    mutable chardev serial_;  // reading the ring does not change the machine
    bool serial_taken_ = false;
    std::optional<int> exit_status_;
    bool loaded_ = false;
    Machine machine_;
    std::jthread ticker_;
};

} // namespace qf::embed
