// The command line: an input split at NUL bytes is an argv (after the
// program's name). parse_command_line must give an options object or a
// qf::error, never a crash or another exception; what it accepts must hold
// together (at most four serial ports, chardev ids unique, each chardev a
// known backend with what it needs), and the values that later stages
// parse (-accel tcg properties, -cpu model and features) must parse or be
// refused the same way.
#include "fuzz.hpp"
#include "qf/accel/tcg/options.hpp"
#include "qf/core/error.hpp"
#include "qf/machine/options.hpp"
#include "targets/x86/cpu_defs.hpp"

#include <algorithm>
#include <cstring>
#include <exception>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace {

void check_chardev(const qf::chardev_spec& s, const std::string& where) {
    // -serial BACKEND,id= may leave the id empty (QEMU wants an identifier);
    // the session refuses it where it would clash, so it is not failed here.
    const bool serial = where == "-serial" || where == "-qmp";
    static const std::set<std::string> backends = {"stdio", "file", "null", "socket", "pty", "ringbuf"};
    if (!backends.count(s.backend)) qf::fuzz::fail(where + ": accepted unknown backend '" + s.backend + "'");
    if (s.id.empty() && !serial) qf::fuzz::fail(where + ": accepted a chardev without an id");
    if (s.backend == "file" && s.path.empty()) qf::fuzz::fail(where + ": accepted a file chardev without a path");
    if (s.backend == "socket" && s.path.empty() && s.host.empty())
        qf::fuzz::fail(where + ": accepted a socket without an address");
    if (s.backend == "ringbuf" && (s.size == 0 || (s.size & (s.size - 1))))
        qf::fuzz::fail(where + ": accepted a ringbuf size that is not a power of two");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::vector<std::string> args =
        qf::fuzz::split_args(std::string_view(reinterpret_cast<const char*>(data), size));
    std::vector<const char*> argv{"qforge-system-x86_64"};
    for (const auto& a : args) argv.push_back(a.c_str());
    argv.push_back(nullptr);
    const int argc = static_cast<int>(argv.size() - 1);
    qf::options o;
    try {
        o = qf::parse_command_line(argc, argv.data());
    } catch (const qf::error&) {
        qf::fuzz::count("refused (qf::error)");
        return 0;
    } catch (const std::exception& e) {
        qf::fuzz::fail(std::string("parse_command_line threw something other than qf::error: ") + e.what());
    }
    qf::fuzz::count("accepted");
    if (o.serials.size() > 4) qf::fuzz::fail("accepted more than four -serial");
    std::set<std::string> ids;
    for (const auto& c : o.chardevs) {
        check_chardev(c, "-chardev");
        if (!ids.insert(c.id).second) qf::fuzz::fail("accepted a duplicate chardev id '" + c.id + "'");
    }
    for (const auto& s : o.serials)
        if (s && !s->backend.empty()) check_chardev(*s, "-serial");
    for (const auto& m : o.monitors) {
        if (m.dev) check_chardev(*m.dev, "-qmp");
        else if (m.chardev_id.empty()) qf::fuzz::fail("accepted a monitor with neither a chardev nor an id");
    }
    if (o.daemonize) {
        for (const auto& c : o.chardevs)
            if (c.backend == "stdio") qf::fuzz::fail("accepted stdio with -daemonize");
        if (o.nographic) qf::fuzz::fail("accepted -nographic with -daemonize");
    }
    // What the machine later makes of the values: parsed or refused.
    try {
        for (const auto& a : o.accels)
            if (a.name == "tcg") (void)qf::tcg::parse_engine_options(a.props);
        const qf::x86::cpu_model models[] = {qf::x86::cpu::qemu64::def, qf::x86::cpu::max::def};
        if (!o.cpu_help) (void)qf::x86::select_model(o.cpu.empty() ? "max" : o.cpu, o.cpu_features, models, 2);
        qf::fuzz::count("accepted by the later stages too");
    } catch (const qf::error&) {
        qf::fuzz::count("refused by a later stage (qf::error)");
    } catch (const std::exception& e) {
        qf::fuzz::fail(std::string("a later stage threw something other than qf::error: ") + e.what());
    }
    return 0;
}

// Command lines from the option table's names and values QEMU's syntax
// uses, so that random runs get past the first option: most pieces are
// well formed, some are cut, doubled or joined wrongly.
extern "C" std::size_t qf_fuzz_generate(std::uint8_t* out, std::size_t max, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    auto pick = [&](const auto& list) { return std::string(list[rng() % std::size(list)]); };
    static const char* const names[] = {"M", "machine", "cpu", "accel", "m", "smp", "bios", "kernel", "initrd",
                                        "append", "L", "fw_cfg", "option-rom", "rtc", "boot", "serial", "chardev",
                                        "qmp", "qmp-pretty", "mon", "monitor", "name", "device", "display", "vga",
                                        "nic", "net", "d", "D", "pidfile", "nographic", "S", "no-reboot", "no-hpet",
                                        "no-shutdown", "nodefaults", "daemonize", "version", "help"};
    static const char* const heads[] = {"stdio", "null", "none", "pty", "ringbuf", "file:/tmp/f", "unix:/tmp/s",
                                        "tcp:127.0.0.1:4444", "tcp::0", "chardev:c0", "mon:stdio", "socket", "file",
                                        "tcg", "kvm", "kvm:tcg", "testrig", "pc", "microvm", "help", "max", "qemu64",
                                        "256M", "1.5G", "4096K", "2", "cd", "in_asm,int", "all", "guest_errors", ""};
    static const char* const props[] = {"id=c0", "id=c1", "path=/tmp/x", "path=a,,b", "host=localhost", "port=0",
                                        "port=65535", "port=65536", "server=on", "server=off", "wait=off", "nowait",
                                        "server", "mux=on", "signal=off", "append=on", "size=4096", "size=3",
                                        "nodelay", "tb-size=1", "one-insn-per-tb=on", "split-wx=off",
                                        "interpreter=on", "thread=single", "kernel-irqchip=on", "accel=tcg",
                                        "type=testrig", "hpet=off", "cpus=4", "maxcpus=2", "cores=0", "threads=2",
                                        "sockets=1", "dies=1", "order=c", "menu=on", "splash-time=-1",
                                        "reboot-timeout=x", "once=d", "romfile=r.bin", "bootindex=1", "name=opt/x",
                                        "string=y", "file=/tmp/f", "guest=g", "process=p", "debug-threads=on",
                                        "mode=control", "mode=readline", "pretty=on", "chardev=c0", "+lm", "-sse2",
                                        "popcnt=off", "base=utc", "flag", "=", ""};
    std::string s;
    const unsigned n = 1 + static_cast<unsigned>(rng() % 8);
    for (unsigned i = 0; i < n; ++i) {
        if (!s.empty()) s += '\0';
        s += (rng() % 8 ? "-" : "--") + pick(names);
        if (rng() % 6 == 0) continue;  // perhaps no value where one is due
        s += '\0';
        std::string v = pick(heads);
        const unsigned np = static_cast<unsigned>(rng() % 4);
        for (unsigned k = 0; k < np; ++k) v += (rng() % 10 ? "," : ",,") + pick(props);
        s += v;
    }
    const std::size_t len = std::min(s.size(), max);
    std::memcpy(out, s.data(), len);
    return len;
}
