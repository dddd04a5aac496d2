// qforge-fuzz: coverage-guided fuzzing of firmware with AFL++ (docs/fuzzing.md).
//
//   afl-fuzz -i seeds -o findings -- qforge-fuzz -bios fw.bin --input mem:0x200000 --crash exception:14
//   qforge-fuzz -bios fw.bin --input mem:0x200000 --crash exception:14 -- input...   (replay)
//
// The machine options are qforge's (QEMU's): -bios, -M pc|testrig, -m,
// -cpu, -device, -fw_cfg, -L. The ones that start with two dashes are the
// fuzzer's; input files follow a lone "--".
#include "machines/pc/pc.hpp"
#include "machines/testrig/testrig.hpp"
#include "qf/embed/afl.hpp"
#include "qf/embed/fuzz_driver.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

using namespace qf;
using embed::fuzz_spec;

constexpr const char* usage =
    "usage: qforge-fuzz -bios FILE [machine options] [fuzz options] [-- INPUT...]\n"
    "Runs FILE from the reset vector to its write to the ready port, takes a snapshot\n"
    "there, and runs each input from it. Under afl-fuzz it is AFL++'s target (the\n"
    "input on stdin, or in the file named in place of @@); otherwise it runs each\n"
    "INPUT (stdin without) and prints what happened.\n"
    "\n"
    "Machine options: qforge's own, e.g. -M pc|testrig, -m SIZE, -cpu MODEL, -device ...\n"
    "Fuzz options:\n"
    "  --input mem:ADDR    the input's length (32-bit little-endian) at ADDR, its bytes after\n"
    "  --input serial      the input in COM1's receive FIFO\n"
    "  --max-len N         longer inputs are cut (default 4096)\n"
    "  --ready-port P      the firmware is ready for input (default 0x5f0)\n"
    "  --done-port P       the firmware is done with the input (default 0x5f1)\n"
    "  --crash WHAT        a crash, besides a triple fault and a guest panic (repeatable):\n"
    "                      exception:V (vector 0-31), port:P (a write to P), timeout\n"
    "  --timeout N         translation blocks one input may run (default 1000000)\n"
    "  --repeat N          replay: run each input N times and print the rate\n"
    "Exit status: 0, 1 for an error, 2 when a replayed input crashed.\n";

std::uint64_t number(const std::string& opt, const std::string& s, std::uint64_t max) {
    char* end = nullptr;
    errno = 0;
    const unsigned long long v = std::strtoull(s.c_str(), &end, 0);
    if (s.empty() || *end || errno || v > max || s[0] == '-')
        throw error("qforge-fuzz: " + opt + ": '" + s + "' is not a number up to " + std::to_string(max));
    return v;
}

struct fuzz_args {
    fuzz_spec spec;
    bool input_given = false;
    std::uint64_t repeat = 1;
    std::vector<std::string> inputs;
};

// Splits the command line: the fuzzer's options out, the machine's left for
// parse_command_line.
fuzz_args split(int argc, char** argv, std::vector<const char*>& machine_argv) {
    fuzz_args a;
    machine_argv.push_back(argv[0]);
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--") {
            for (++i; i < argc; ++i) a.inputs.emplace_back(argv[i]);
            break;
        }
        if (arg.rfind("--", 0) != 0 || arg == "--help") {
            machine_argv.push_back(argv[i]);
            continue;
        }
        if (i + 1 >= argc) throw error("qforge-fuzz: " + arg + " needs a value");
        const std::string v = argv[++i];
        if (arg == "--input") {
            a.input_given = true;
            if (v == "serial") {
                a.spec.input = fuzz_spec::feed::serial;
            } else if (v.rfind("mem:", 0) == 0) {
                a.spec.input = fuzz_spec::feed::memory;
                a.spec.input_gpa = number(arg, v.substr(4), (1ull << 52) - 1);
            } else {
                throw error("qforge-fuzz: --input: '" + v + "' is not mem:ADDR or serial");
            }
        } else if (arg == "--max-len") {
            a.spec.max_len = static_cast<std::uint32_t>(number(arg, v, 64u << 20));
        } else if (arg == "--ready-port") {
            a.spec.ready_port = static_cast<std::uint16_t>(number(arg, v, 0xffff));
        } else if (arg == "--done-port") {
            a.spec.done_port = static_cast<std::uint16_t>(number(arg, v, 0xffff));
        } else if (arg == "--timeout") {
            a.spec.timeout_blocks = number(arg, v, ~0ull >> 1);
            if (!a.spec.timeout_blocks) throw error("qforge-fuzz: --timeout: 0 blocks runs nothing");
        } else if (arg == "--repeat") {
            a.repeat = number(arg, v, 1ull << 32);
            if (!a.repeat) throw error("qforge-fuzz: --repeat: 0 runs nothing");
        } else if (arg == "--crash") {
            if (v == "timeout") {
                a.spec.crash_on_timeout = true;
            } else if (v.rfind("exception:", 0) == 0) {
                a.spec.crash_vectors |= 1u << number(arg, v.substr(10), 31);
            } else if (v.rfind("port:", 0) == 0) {
                a.spec.crash_port = static_cast<std::uint16_t>(number(arg, v.substr(5), 0xffff));
            } else {
                throw error("qforge-fuzz: --crash: '" + v + "' is not exception:V, port:P or timeout");
            }
        } else {
            throw error("qforge-fuzz: unknown option " + arg + " (--help lists them)");
        }
    }
    if (!a.input_given) throw error("qforge-fuzz: say where the input goes: --input mem:ADDR or --input serial");
    if (a.spec.ready_port == a.spec.done_port) throw error("qforge-fuzz: the ready and done ports are the same");
    return a;
}

std::vector<std::byte> read_file(const std::string& path, std::size_t max) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw error("qforge-fuzz: cannot open " + path + ": " + std::strerror(errno));
    struct closer {
        int fd;
        ~closer() { ::close(fd); }
    } c{fd};
    return embed::afl::read_input(fd, max);
}

template <class Rig>
int fuzz(const options& o, const fuzz_args& a) {
    if (embed::afl::under_afl()) {
        const auto map = embed::afl::attach_coverage_map();
        embed::afl::serve_forks(map.size());  // from here on, a child
        embed::fuzz_driver<Rig> d(o, a.spec);
        d.boot(o.bios);
        d.set_coverage_map(map);  // the boot's blocks are not the first input's
        for (;;) {
            embed::afl::next_input();
            const auto in = a.inputs.empty() ? embed::afl::read_input(0, a.spec.max_len)
                                             : read_file(a.inputs.front(), a.spec.max_len);
            if (d.run_one(in).what == embed::fuzz_outcome::kind::crash) embed::afl::report_crash();
        }
    }
    embed::fuzz_driver<Rig> d(o, a.spec);
    d.boot(o.bios);
    std::vector<std::uint8_t> map(1u << 16);
    d.set_coverage_map(map);
    int status = 0;
    auto one = [&](const std::string& name, const std::vector<std::byte>& in) {
        embed::fuzz_outcome out;
        const auto t0 = std::chrono::steady_clock::now();
        for (std::uint64_t i = 0; i < a.repeat; ++i) {
            std::fill(map.begin(), map.end(), 0);
            out = d.run_one(in);
        }
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const auto edges = std::count_if(map.begin(), map.end(), [](std::uint8_t b) { return b != 0; });
        const char* kind = out.what == embed::fuzz_outcome::kind::crash ? "crash" : out.what == embed::fuzz_outcome::kind::timeout ? "timeout" : "ok";
        std::printf("%s: %s: %s (%ld edges)", name.c_str(), kind, out.why.c_str(), static_cast<long>(edges));
        if (a.repeat > 1) std::printf(", %llu runs in %.3f s (%.0f/s)", static_cast<unsigned long long>(a.repeat), s, a.repeat / s);
        std::printf("\n");
        std::fflush(stdout);
        if (out.what == embed::fuzz_outcome::kind::crash) status = 2;
    };
    if (a.inputs.empty()) one("(stdin)", embed::afl::read_input(0, a.spec.max_len));
    for (const auto& f : a.inputs) one(f, read_file(f, a.spec.max_len));
    return status;
}

} // namespace

int main(int argc, char** argv) {
    try {
        set_program_name(argv[0]);
        std::vector<const char*> margv;
        const fuzz_args a = split(argc, argv, margv);
        const options o = parse_command_line(static_cast<int>(margv.size()), margv.data());
        if (o.help) return std::fputs(usage, stdout), 0;
        if (o.bios.empty()) throw error("qforge-fuzz: no firmware: -bios FILE");
        for (const auto& acc : o.accels)
            if (acc.name != "tcg") throw error("qforge-fuzz: coverage comes from TCG's blocks: -accel " + acc.name + " is not one it runs");
        if (o.machine.empty() || o.machine == machines::pc<>::name || o.machine == machines::pc<>::qemu_name)
            return fuzz<machines::pc<accel::tcg<embed::fuzz_hooks>>>(o, a);
        if (o.machine == machines::testrig<>::name) return fuzz<machines::testrig<accel::tcg<embed::fuzz_hooks>>>(o, a);
        throw error("qforge-fuzz: machine '" + o.machine + "' is not one it fuzzes on (pc, testrig)");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
}
