#pragma once
// Coverage-guided fuzzing of firmware: a machine in a harness, booted once
// to the point where the firmware says it is ready for input, snapshotted
// there, and then run once per input from that snapshot.
//
//   using rig = qf::machines::pc<qf::accel::tcg<qf::embed::fuzz_hooks>>;
//   qf::embed::fuzz_driver<rig> d(opts, spec);   // opts: -bios, -m, ... as parsed
//   d.boot();                                   // to the ready port
//   auto o = d.run_one(bytes);                  // o.kind: ok, crash, timeout
//
// The firmware's side of the contract: write any value to the ready port
// (spec.ready_port) once it is set up, then take the input where the spec
// puts it (memory: a 32-bit length, then the bytes; or COM1's receive
// FIFO), and write to the done port (or halt, or exit) when it is done with
// it. What counts as a crash is the spec's: an exception vector, a triple
// fault, a guest panic (pvpanic), a write to a chosen port, a timeout.
//
// Coverage is the guest's TB edges, recorded by fuzz_hooks as each TB
// starts (AFL's edge hash: map[cur ^ prev]++, prev = cur >> 1) into the map
// it is given (AFL++'s shared memory, see afl.hpp). A machine without
// fuzz_hooks in its accelerator emits none of it.
#include "qf/accel/tcg/hooks.hpp"
#include "qf/embed/harness.hpp"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <span>
#include <string>

namespace qf::embed {

// What the fuzzing hooks watch and record: one per thread (one fuzzed machine).
struct fuzz_hook_state {
    enum class event : std::uint8_t { none, ready, done, crash_port, vector, budget };
    std::uint8_t* map = nullptr;  // coverage: null records none
    std::uint32_t map_mask = 0;   // map size - 1 (a power of two)
    std::uint64_t prev = 0;
    bool armed = false;           // the block budget counts
    std::uint64_t blocks_left = 0;
    std::uint16_t ready_port = 0, done_port = 0;
    std::optional<std::uint16_t> crash_port;
    std::uint32_t crash_vectors = 0;  // bit n: vector n (0-31) is a crash
    bool waiting_ready = false;       // before the snapshot
    event what = event::none;
    unsigned vector = 0;
};

// The hooks, for the machine's accelerator: tcg<fuzz_hooks>.
struct fuzz_hooks {
    using event = fuzz_hook_state::event;
    using state = fuzz_hook_state;
    static inline thread_local state s;

    static tcg::hook_result on_block(tcg::env_base*, std::uint64_t pc) {
        if (s.map) {
            // Fibonacci hashing spreads nearby block addresses over the map.
            const auto cur = static_cast<std::uint32_t>((pc * 0x9e3779b97f4a7c15ull) >> 40) & s.map_mask;
            std::uint8_t& b = s.map[(cur ^ s.prev) & s.map_mask];
            b = static_cast<std::uint8_t>(b + 1 + (b == 255));  // AFL++'s NeverZero: a count never wraps to "not hit"
            s.prev = cur >> 1;
        }
        if (s.armed) {
            if (s.blocks_left == 0) {
                s.what = event::budget;
                return tcg::hook_result::stop;
            }
            --s.blocks_left;
        }
        return tcg::hook_result::go_on;
    }
    static tcg::hook_result on_io(tcg::env_base*, std::uint16_t port, unsigned, bool write, std::uint32_t) {
        if (!write) return tcg::hook_result::go_on;
        if (s.waiting_ready) {
            if (port != s.ready_port) return tcg::hook_result::go_on;
            s.what = event::ready;
            return tcg::hook_result::stop;
        }
        if (port == s.done_port) {
            s.what = event::done;
            return tcg::hook_result::stop;
        }
        if (s.crash_port && port == *s.crash_port) {
            s.what = event::crash_port;
            return tcg::hook_result::stop;
        }
        return tcg::hook_result::go_on;
    }
    static tcg::hook_result on_interrupt(tcg::env_base*, unsigned vector) {
        if (s.waiting_ready || vector >= 32 || !(s.crash_vectors >> vector & 1)) return tcg::hook_result::go_on;
        // The first one is the cause; what it leads to (#DF, a triple fault) is not.
        if (s.what != event::vector) {
            s.what = event::vector;
            s.vector = vector;
        }
        return tcg::hook_result::stop;
    }
};

struct fuzz_spec {
    enum class feed : std::uint8_t { memory, serial };
    feed input = feed::memory;
    std::uint64_t input_gpa = 0;     // feed::memory: the length (32-bit LE) here, the bytes after it
    std::uint32_t max_len = 4096;    // longer inputs are cut
    std::uint16_t ready_port = 0x5f0, done_port = 0x5f1;
    std::optional<std::uint16_t> crash_port;
    std::uint32_t crash_vectors = 0;
    bool crash_on_triple_fault = true;  // a triple fault, or any reset the guest asks for
    bool crash_on_panic = true;         // pvpanic
    bool crash_on_timeout = false;
    std::uint64_t timeout_blocks = 1'000'000;  // TBs one input may run
};

struct fuzz_outcome {
    enum class kind : std::uint8_t { ok, crash, timeout };
    kind what = kind::ok;
    std::string why;  // what ended the run, in words
};

// x86 exception names, for the outcome's words.
inline std::string vector_name(unsigned v) {
    static const char* const names[32] = {"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "",   "#TS",
                                          "#NP", "#SS", "#GP", "#PF", "",    "#MF", "#AC", "#MC", "#XM", "#VE", "#CP"};
    std::string s = "exception " + std::to_string(v);
    if (v < 32 && names[v][0]) s += std::string(" (") + names[v] + ")";
    return s;
}

template <class Machine>
class fuzz_driver {
public:
    fuzz_driver(options opt, const fuzz_spec& spec) : h_(with_no_reboot(std::move(opt))), spec_(spec) {
        if (spec_.input == fuzz_spec::feed::memory && spec_.max_len > (64u << 20))
            throw error("fuzz: --max-len past 64 MiB");
        auto& s = fuzz_hooks::s;
        s = {};
        s.ready_port = spec_.ready_port;
        s.done_port = spec_.done_port;
        s.crash_port = spec_.crash_port;
        s.crash_vectors = spec_.crash_vectors;
    }

    // Coverage goes into map (its size a power of two), or nowhere.
    void set_coverage_map(std::span<std::uint8_t> map) {
        if (!map.empty() && !std::has_single_bit(map.size())) throw error("fuzz: the coverage map's size is not a power of two");
        fuzz_hooks::s.map = map.empty() ? nullptr : map.data();
        fuzz_hooks::s.map_mask = map.empty() ? 0 : static_cast<std::uint32_t>(map.size() - 1);
    }

    // Loads the firmware and runs it to its write to the ready port, where
    // the snapshot is taken. Throws qf::error if it stops before.
    void boot(const std::string& bios) {
        h_.load_bios_file(bios);
        auto& s = fuzz_hooks::s;
        s.waiting_ready = true;
        s.what = fuzz_hooks::event::none;
        const run_result r = h_.run();
        s.waiting_ready = false;
        if (!(r.why == stop::hook && s.what == fuzz_hooks::event::ready)) {
            char port[16];
            std::snprintf(port, sizeof port, "0x%x", spec_.ready_port);
            throw error("fuzz: the firmware " + describe(r) + " before writing to the ready port " + port);
        }
        if (spec_.input == fuzz_spec::feed::memory) check_input_area();
        snap_ = h_.snapshot();
    }

    fuzz_outcome run_one(std::span<const std::byte> input) {
        // What the last run left unread goes first: restoring the UART lets
        // its backend send again, and the old input must not be there.
        if (spec_.input == fuzz_spec::feed::serial) h_.discard_serial_input();
        h_.restore(snap_);
        if (input.size() > spec_.max_len) input = input.first(spec_.max_len);
        if (spec_.input == fuzz_spec::feed::memory) {
            const auto len = static_cast<std::uint32_t>(input.size());
            h_.write(spec_.input_gpa, std::as_bytes(std::span(&len, 1)));
            h_.write(spec_.input_gpa + 4, input);
        } else {
            h_.send_serial(std::string_view(reinterpret_cast<const char*>(input.data()), input.size()));
        }
        auto& s = fuzz_hooks::s;
        s.prev = 0;
        s.what = fuzz_hooks::event::none;
        s.blocks_left = spec_.timeout_blocks;
        s.armed = true;
        const run_result r = h_.run();
        s.armed = false;
        return classify(r);
    }

    harness<Machine>& rig() { return h_; }

private:
    static options with_no_reboot(options o) {
        o.no_reboot = true;  // a triple fault ends the run rather than rebooting
        return o;
    }
    void check_input_area() {
        const std::uint64_t end = spec_.input_gpa + 4 + spec_.max_len;
        bool ram = false;
        for (const auto& seg : h_.machine().memory().flat_view())
            if (seg.r->kind == region_kind::ram && seg.first <= spec_.input_gpa && end - 1 <= seg.last) ram = true;
        if (!ram) {
            char at[64];
            std::snprintf(at, sizeof at, "0x%llx-0x%llx", static_cast<unsigned long long>(spec_.input_gpa),
                          static_cast<unsigned long long>(end - 1));
            throw error(std::string("fuzz: the input area ") + at + " is not all RAM (--input mem:ADDR, --max-len)");
        }
    }
    std::string describe(const run_result& r) const {
        switch (r.why) {
        case stop::exit:
            return h_.exit_cause() != shutdown_cause::none ? "shut down (" + std::string(to_string(h_.exit_cause())) + ")"
                                                           : "exited with status " + std::to_string(r.exit_status);
        case stop::halted: return "halted with interrupts off";
        case stop::idle: return "went idle (HLT, no timer left)";
        case stop::budget: return "ran out of instructions";
        case stop::hook:
            switch (fuzz_hooks::s.what) {
            case fuzz_hooks::event::vector: return "took " + vector_name(fuzz_hooks::s.vector);
            case fuzz_hooks::event::budget: return "ran out of blocks";
            default: return "stopped";
            }
        }
        return "stopped";
    }
    fuzz_outcome classify(const run_result& r) {
        using k = fuzz_outcome::kind;
        const auto& s = fuzz_hooks::s;
        // What the hooks saw first: a crash vector's delivery may go on to a
        // triple fault before the run stops.
        switch (s.what) {
        case fuzz_hooks::event::vector: return {k::crash, vector_name(s.vector)};
        case fuzz_hooks::event::crash_port: {
            char p[48];
            std::snprintf(p, sizeof p, "a write to port 0x%x", *spec_.crash_port);
            return {k::crash, p};
        }
        case fuzz_hooks::event::budget:
            return {spec_.crash_on_timeout ? k::crash : k::timeout,
                    "timeout (" + std::to_string(spec_.timeout_blocks) + " blocks)"};
        case fuzz_hooks::event::done: return {k::ok, "done"};
        default: break;
        }
        if (r.why == stop::exit) {
            if (h_.exit_cause() == shutdown_cause::guest_reset && spec_.crash_on_triple_fault)
                return {k::crash, "triple fault (or a reset)"};
            if (h_.exit_cause() == shutdown_cause::guest_panic && spec_.crash_on_panic) return {k::crash, "guest panic"};
        }
        return {k::ok, describe(r)};
    }

    harness<Machine> h_;
    fuzz_spec spec_;
    snapshot snap_;
};

} // namespace qf::embed
