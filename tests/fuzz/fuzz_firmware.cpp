// Random firmware on the testrig machine (the issue #17 probe, in
// process): an input's first three bytes are the configuration (mode,
// flags, engine options) and the rest the payload of a firmware image
// (firmware_image.hpp), which runs from the reset vector through its
// prologue into the payload, with the rig's PIC, PIT, UART, port 92 and
// exit port. Each run is bounded by an instruction budget; time is
// virtual and advances with the instructions (and jumps to the next timer
// while the CPU halts), so a run is the same on every backend and every
// host. The JIT's run must equal the interpreter's: how it ended, the
// serial output, the port accesses, the CPU state and RAM.
#include "firmware_image.hpp"
#include "fuzz.hpp"
#include "machines/testrig/testrig.hpp"
#include "qf/core/log.hpp"
#include "qf/embed/harness.hpp"
#include "state_fields.hpp"
#include "watchdog.hpp"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <random>

namespace {

using namespace qf;

// The prologue's copy takes about 10,000 of these (one a REP iteration).
constexpr std::uint64_t insn_budget = 40000;
constexpr ns ns_per_insn = 10;
constexpr ns max_idle = 200 * ns_per_ms;
constexpr std::uint64_t ram_size = 2 << 20;

// Virtual time: instructions so far, and the idle time skipped while the
// CPU halted. The instruction hook also stops the CPU where the next timer
// is due, so that timers fire at the same instruction on every backend.
struct vclock {
    static inline thread_local std::uint64_t insns = 0, stop_at = 0, io_hash = 0;
    static inline thread_local ns idle = 0;
    static tcg::hook_result on_insn(tcg::env_base*, std::uint64_t) {
        if (insns >= stop_at) return tcg::hook_result::stop;
        ++insns;
        return tcg::hook_result::go_on;
    }
    static inline bool trace_io = false;  // QF_FUZZ_VERBOSE=2: each access on stderr
    static tcg::hook_result on_io(tcg::env_base*, std::uint16_t port, unsigned size, bool write, std::uint32_t value) {
        if (trace_io) std::fprintf(stderr, "  io %s %#x/%u %#x at insn %lu\n", write ? "out" : "in", port, size, value, insns);
        for (std::uint64_t w : {std::uint64_t{port}, std::uint64_t{size}, std::uint64_t{write}, std::uint64_t{value}})
            io_hash = (io_hash ^ w) * 0x100000001b3ull;
        return tcg::hook_result::go_on;
    }
    static ns now() { return static_cast<ns>(insns) * ns_per_insn + idle; }
};

using rig = machines::testrig<accel::tcg<vclock>>;

enum class fw_end : std::uint8_t { exit, halted, idle, budget, error, wall_clock };

struct fw_outcome {
    fw_end end = fw_end::budget;
    int exit_status = 0;
    std::string error, serial;
    std::uint64_t insns = 0, io_hash = 0;
    fuzz::named_values state;
    std::vector<std::uint8_t> ram;
};

// The machine with what a session would give it (embed::harness), on
// virtual time. This loop runs it, not the harness's run(), which waits for
// timers in the host's time and starts a ticker thread.
using rig_harness = embed::harness<rig>;

fw_end run_loop(rig_harness& h) {
    auto& wd = fuzz::watchdog::instance();
    auto& machine = h.machine();
    for (;;) {
        h.timers().run_expired();
        if (h.exit_status()) return fw_end::exit;
        if (vclock::insns >= insn_budget) return fw_end::budget;
        if (wd.fired()) return fw_end::wall_clock;
        auto& cpu = machine.cpu();
        const auto due = h.timers().deadline();
        if (!machine.cpu_runnable()) {
            if (!(cpu.st().eflags & (1u << 9))) return fw_end::halted;
            // Halted with timers that wake nothing (the PIC masks
            // them, say) would skip ahead for ever: a bound in guest time.
            if (!due || vclock::idle > max_idle) return fw_end::idle;
            vclock::idle += std::max<ns>(*due, 1);  // skip to the next timer
            continue;
        }
        // At least one instruction: a timer due sooner than that fires
        // after it, and the loop always gets on.
        const std::uint64_t until =
            due ? vclock::insns + std::max<std::uint64_t>(1, static_cast<std::uint64_t>((*due + ns_per_insn - 1) / ns_per_insn))
                : insn_budget;
        vclock::stop_at = std::min(insn_budget, until);
        cpu.st().base.hook_stop = 0;
        machine.run_cpu();
        if (h.exit_status()) return fw_end::exit;
    }
}

fw_outcome run_once(const options& o, std::span<const std::byte> image) {
    vclock::insns = 0;
    vclock::stop_at = 0;
    vclock::idle = 0;
    vclock::io_hash = 0xcbf29ce484222325ull;
    rig_harness h(o, {.time = time_source{&vclock::now, &vclock::now}, .serial_size = 1 << 16});
    fw_outcome out;
    auto& wd = fuzz::watchdog::instance();
    wd.arm([&h] { h.machine().kick_cpu(); }, std::chrono::seconds(2));
    try {
        h.load_bios(image, "(fuzz input)");
        out.end = run_loop(h);
    } catch (const qf::error& e) {
        out.end = fw_end::error;
        out.error = e.what();
    }
    if (wd.disarm() && out.end != fw_end::error) out.end = fw_end::wall_clock;
    out.exit_status = h.exit_status().value_or(0);
    out.serial = h.serial();
    out.insns = vclock::insns;
    out.io_hash = vclock::io_hash;
    fuzz::append_state(out.state, h.regs());
    const auto* r = reinterpret_cast<const std::uint8_t*>(h.machine().ram());
    out.ram.assign(r, r + ram_size);
    return out;
}

std::string describe(const char* who, const fw_outcome& o) {
    static const char* const ends[] = {"exit", "halted", "idle", "budget", "error", "wall clock"};
    std::string s = std::string(who) + ": " + ends[static_cast<unsigned>(o.end)] + ", status " +
                    std::to_string(o.exit_status) + ", " + std::to_string(o.insns) + " instructions";
    if (!o.error.empty()) s += " (" + o.error + ")";
    return s + ", serial " + std::to_string(o.serial.size()) + " bytes\n";
}

// QEMU's -d items the logging bit turns on, to a log nobody reads: the
// disassembler and state dumps get random code too.
constexpr std::uint32_t log_items = static_cast<std::uint32_t>(log_item::in_asm) | static_cast<std::uint32_t>(log_item::op) |
                                    static_cast<std::uint32_t>(log_item::op_opt) | static_cast<std::uint32_t>(log_item::out_asm) |
                                    static_cast<std::uint32_t>(log_item::int_) | static_cast<std::uint32_t>(log_item::cpu) |
                                    static_cast<std::uint32_t>(log_item::exec) | static_cast<std::uint32_t>(log_item::guest_errors) |
                                    static_cast<std::uint32_t>(log_item::unimp) | static_cast<std::uint32_t>(log_item::cpu_reset);

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 4) return 0;
    fuzz::cpu_config cfg = fuzz::cpu_config::from(data[0], data[1], data[2]);
    // Here exceptions always go through the payload's IDT, the budget's
    // hook is always there, and max-insns is the engine's own.
    cfg.deliver = true;
    cfg.unhooked = cfg.watchpoints = false;
    cfg.max_insns = 512;
    const std::span<const std::uint8_t> payload(data + 3, size - 3);
    static const char* const modes[] = {"mode: real", "mode: prot16", "mode: prot32", "mode: prot32-ring3",
                                        "mode: prot32-paging", "mode: v86", "mode: long64", "mode: long64-ring3",
                                        "mode: compat32"};
    fuzz::count(modes[static_cast<unsigned>(cfg.mode)]);
    static const bool verbose2 = [] {
        const char* v = std::getenv("QF_FUZZ_VERBOSE");
        return v && std::atoi(v) > 1;
    }();
    vclock::trace_io = verbose2;
    const bool logging = (data[2] & 0x58) == 0x58 && !std::getenv("QF_FUZZ_LOG");
    static const bool log_file = [] {
        if (!std::getenv("QF_FUZZ_LOG")) set_log_file("/dev/null");
        else set_log_mask(parse_log_items(std::getenv("QF_FUZZ_LOG")));
        return true;
    }();
    (void)log_file;
    if (logging) set_log_mask(log_items);
    try {
        const auto img = fuzz::build_firmware(cfg, payload);
        const std::span<const std::byte> image(reinterpret_cast<const std::byte*>(img.data()), img.size());
        options o;
        o.ram_size = ram_size;
        o.cpu = "max";
        o.no_reboot = true;
        accel_choice a{"tcg", {}};
        if (cfg.one_insn_per_tb) a.props.emplace_back("one-insn-per-tb", "on");
        if (cfg.small_buffer) a.props.emplace_back("tb-size", "1");
        if (!cfg.split_wx) a.props.emplace_back("split-wx", "off");
        o.accels = {a};
        const fw_outcome jit = run_once(o, image);
        if (std::getenv("QF_FUZZ_VERBOSE")) {
            std::string st;
            for (const auto& [k, v] : jit.state) st += k + "=" + std::to_string(v) + " ";
            std::fprintf(stderr, "%s: %s%s\n", cfg.describe().c_str(), describe("JIT", jit).c_str(), st.substr(0, 300).c_str());
        }
        static const char* const ends[] = {"end: exit", "end: halted", "end: idle", "end: budget",
                                           "end: error (unimplemented)", "end: wall clock (not compared)"};
        fuzz::count(ends[static_cast<unsigned>(jit.end)]);
        if (jit.end == fw_end::exit) fuzz::count("exit through isa-debug-exit or shutdown");
        if (!jit.serial.empty()) fuzz::count("wrote to COM1");
        if (jit.end == fw_end::wall_clock) {
            if (logging) set_log_mask(0);
            return 0;
        }
        o.accels.front().props.emplace_back("interpreter", "on");
        const fw_outcome interp = run_once(o, image);
        if (logging) set_log_mask(0);
        if (interp.end == fw_end::wall_clock) return 0;
        std::string d;
        if (jit.end != interp.end || jit.exit_status != interp.exit_status || jit.error != interp.error) d = "how the run ended";
        else if (jit.insns != interp.insns) d = "instructions: " + std::to_string(jit.insns) + " against " + std::to_string(interp.insns);
        else if (jit.serial != interp.serial) d = "serial output: '" + jit.serial + "' against '" + interp.serial + "'";
        else if (jit.io_hash != interp.io_hash) d = "port accesses";
        else if (auto f = fuzz::first_difference(jit.state, interp.state); !f.empty()) d = f;
        else d = fuzz::memory_difference("RAM", jit.ram.data(), interp.ram.data(), ram_size);
        if (d.empty()) return 0;
        // RDTSC and friends read the host's TSC: such code need not agree.
        for (std::size_t i = 0; i + 1 < payload.size(); ++i)
            if (payload[i] == 0x0f && (payload[i + 1] == 0x31 || payload[i + 1] == 0x32 || payload[i + 1] == 0x33 ||
                                       (payload[i + 1] == 0x01 && i + 2 < payload.size() && payload[i + 2] == 0xf9))) {
                fuzz::count("nondeterministic (host TSC), not compared");
                return 0;
            }
        fuzz::fail("the JIT and the interpreter disagree on a firmware image (JIT first)\nfirst difference: " + d +
                   "\nin mode " + cfg.describe() + "\n" + describe("JIT", jit) + describe("interpreter", interp));
    } catch (const std::exception& e) {
        if (logging) set_log_mask(0);
        fuzz::fail(std::string("an exception other than qf::error left the machine: ") + e.what() + "\nmode " + cfg.describe());
    }
    return 0;
}

// Half-random payloads in every mode with varied flags and engine options.
extern "C" std::size_t qf_fuzz_generate(std::uint8_t* out, std::size_t max, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    if (max < 4) return 0;
    out[0] = static_cast<std::uint8_t>(rng());
    out[1] = rng() % 4 == 0 ? static_cast<std::uint8_t>(rng()) : static_cast<std::uint8_t>(rng() % 2);
    out[2] = static_cast<std::uint8_t>(rng() & 0x9f);
    const std::size_t len = std::min<std::size_t>(max - 3, 16 + rng() % 1024);
    const auto p = fuzz::random_payload(rng(), len, rng() % 4 != 0);
    std::copy(p.begin(), p.end(), out + 3);
    return 3 + p.size();
}
