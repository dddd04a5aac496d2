// The x86 decoder and translator: an input's first three bytes pick the
// CPU mode (real, 16- and 32-bit protected, ring 3, paging, virtual-8086,
// 64-bit, compatibility), its flags and the engine's options; the rest is
// guest code. It runs on the JIT and on the interpreter, each to a bounded
// end; a host crash, a sanitizer report, an exception other than qf::error
// out of the CPU, or any difference between the two outcomes (registers,
// flags, segments, x87/SSE state, RAM, and the order of exceptions, port
// and MMIO accesses) is a failure.
#include "cpu_rig.hpp"
#include "fuzz.hpp"
#include "insn_stream.hpp"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <random>

namespace {

using qf::fuzz::cpu_config;
using qf::fuzz::cpu_end;
using qf::fuzz::cpu_run;

void account(const cpu_config& c, const cpu_run& r) {
    static const char* const ends[] = {"end: halted", "end: budget", "end: exception limit", "end: triple fault",
                                       "end: error (unimplemented)", "end: wall clock (not compared)"};
    qf::fuzz::count(ends[static_cast<unsigned>(r.end())]);
    static const char* const modes[] = {"mode: real", "mode: prot16", "mode: prot32", "mode: prot32-ring3",
                                        "mode: prot32-paging", "mode: v86", "mode: long64", "mode: long64-ring3",
                                        "mode: compat32"};
    qf::fuzz::count(modes[static_cast<unsigned>(c.mode)]);
}

// RDTSC, RDMSR (the TSC is MSR 0x10), RDPMC, RDTSCP anywhere in the code.
bool reads_host_time(std::span<const std::uint8_t> code) {
    for (std::size_t i = 0; i + 1 < code.size(); ++i) {
        if (code[i] != 0x0f) continue;
        const std::uint8_t b = code[i + 1];
        if (b == 0x31 || b == 0x32 || b == 0x33) return true;
        if (b == 0x01 && i + 2 < code.size() && code[i + 2] == 0xf9) return true;
    }
    return false;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 4) return 0;
    const cpu_config cfg = cpu_config::from(data[0], data[1], data[2]);
    const std::span<const std::uint8_t> code(data + 3, size - 3);
    try {
        const cpu_run jit(cfg, code, false);
        account(cfg, jit);
        // A run the wall clock ended stopped at no particular place: the
        // interpreter's would not compare, so it is not run.
        if (!jit.comparable()) return 0;
        const cpu_run interp(cfg, code, true);
        if (std::getenv("QF_FUZZ_VERBOSE")) std::fprintf(stderr, "%s\n%s", jit.summary().c_str(), interp.summary().c_str());
        if (!interp.comparable()) return 0;
        std::string d = jit.difference(interp);
        if (d.empty()) return 0;
        // Code that reads the host's TSC (RDTSC, RDTSCP, RDMSR) differs from
        // run to run on either backend: not the JIT's fault. A bit of it
        // (a parity flag) may agree by chance on two runs of one backend,
        // so such code is not compared at all; other code must give each
        // backend's outcome twice over.
        if (reads_host_time(code)) {
            qf::fuzz::count("nondeterministic (host TSC), not compared");
            return 0;
        }
        const cpu_run jit2(cfg, code, false);
        const cpu_run interp2(cfg, code, true);
        if (!jit.difference(jit2).empty() || !interp.difference(interp2).empty() || !jit2.comparable() ||
            !interp2.comparable()) {
            qf::fuzz::count("nondeterministic, not compared");
            return 0;
        }
        qf::fuzz::fail("the JIT and the interpreter disagree (JIT first, interpreter second)\n" + d);
    } catch (const std::exception& e) {
        qf::fuzz::fail(std::string("an exception left the CPU: ") + e.what() + "\nmode " + cfg.describe());
    }
    return 0;
}

// The configuration bytes, then up to 40 instructions of insn_stream.hpp's
// kinds: a system instruction (a tenth of them), a far jump or call (a
// tenth), any other.
extern "C" std::size_t qf_fuzz_generate(std::uint8_t* out, std::size_t max, std::uint64_t seed) {
    static constexpr qf::fuzz::system_insn system[] = {
        {0x0f, 0x22, 0xc0}, {0x0f, 0x20, 0xc0}, {0x0f, 0x30, 0}, {0x0f, 0x32, 0}, {0x0f, 0x05, 0}, {0x0f, 0x07, 0},
        {0x0f, 0x34, 0}, {0x0f, 0x35, 0}, {0xcf, 0, 0}, {0x8e, 0xd8, 0}, {0x8e, 0xd0, 0}, {0xcd, 0x80, 0},
        {0x0f, 0x00, 0xd8}, {0x0f, 0x01, 0xd0}, {0x0f, 0x01, 0xf8}, {0x0f, 0xa2, 0}, {0x9d, 0, 0}, {0xfa, 0, 0},
        {0xfb, 0, 0}, {0xf4, 0, 0}, {0x0f, 0x06, 0}, {0xcc, 0, 0}, {0x0f, 0x0b, 0}, {0x0f, 0xae, 0x00}};
    std::mt19937_64 rng(seed);
    qf::fuzz::insn_writer w(rng, out, max);
    w.put(static_cast<unsigned>(w.next()));
    w.put(w.below(4) == 0 ? static_cast<unsigned>(w.next()) : w.below(2));  // usually plain flags
    w.put(static_cast<unsigned>(w.next()));
    const unsigned insns = 1 + w.below(40);
    for (unsigned i = 0; i < insns && w.size() + 16 < max; ++i) {
        switch (w.below(10)) {
        case 0: w.system(system); break;
        case 1: w.far_transfer(); break;
        default: w.any(); break;
        }
    }
    return w.size();
}
