// The human monitor through the real binary: a command transcript on
// -monitor stdio whose answers must be QEMU 7.2's (recorded here, and
// where qemu-system-x86_64 is installed compared with its answers on every
// run), -nographic's C-a c, a monitor on a unix socket that gets garbage
// and over-long lines, and QMP's human-monitor-command.
#include "process.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <fstream>
#include <iterator>
#include <poll.h>
#include <regex>
#include <sstream>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>

namespace {

const std::string qforge = qft::build_path("QF_SYSTEM_BINARY", QF_SYSTEM_BINARY);
std::string tmp(const std::string& name) { return "/tmp/qf-hmp-" + std::to_string(getpid()) + "-" + name; }

// Runs argv with text on its stdin (then keeps stdin open a moment, so the
// monitor answers before it sees EOF); the output.
qft::result run_with_input(const std::vector<std::string>& argv, const std::string& text, int hold_ms = 700) {
    int in[2];
    REQUIRE(::pipe2(in, O_CLOEXEC) == 0);
    qft::child c = qft::spawn(argv, in[0]);
    ::close(in[0]);
    REQUIRE(::write(in[1], text.data(), text.size()) == static_cast<ssize_t>(text.size()));
    std::this_thread::sleep_for(std::chrono::milliseconds(hold_ms));
    ::close(in[1]);
    return c.wait(20);
}

// The answers alone: no echo (QEMU's line editor redraws the line with
// escape sequences as it grows), no prompts, no banner, no thread ids.
std::string answers(const std::string& out) {
    std::string s = std::regex_replace(out, std::regex("\x1b\\[[0-9]*[A-Za-z]"), "");
    std::istringstream in(s);
    std::string line, r;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.starts_with("(qemu)") || line.find("type 'help' for more information") != std::string::npos) continue;
        r += std::regex_replace(line, std::regex("thread_id=[0-9]+"), "thread_id=N") + "\n";
    }
    return r;
}

const char* const commands =
    "info status\nx /4x 0xffff0\nxp /2g 0xffff0\nx /8xb 0xffff0\np $pc + 2\np /d 10*3\np /x -1\n"
    "x /2d 0xffff0\nx /4c 0xffff8\nx /2o 0xffff0\nx /2u 0xffff0\nx /2x 0xffff0\np 7\ninfo cpus\nfoo\n"
    "p 1/0\np $nosuch\ninfo nosuch\np 0x10 | 1 & 3\np (2+3)*4\np 010\nx /q 0\nx\ncont\ninfo status\nquit\n";

// What QEMU 7.2 answers (qemu-system-x86_64 -M pc -S -monitor stdio, with
// SeaBIOS at the reset vector).
const char* const expected =
    "VM status: paused (prelaunch)\n"
    "00000000000ffff0: 0x00e05bea 0x2f3630f0 0x392f3332 0x00fc0039\n"
    "00000000000ffff0: 0x2f3630f000e05bea 0x00fc0039392f3332\n"
    "00000000000ffff0: 0xea 0x5b 0xe0 0x00 0xf0 0x30 0x36 0x2f\n"
    "0xfffffff2\n"
    "30\n"
    "0xffffffffffffffff\n"
    "00000000000ffff0: 234  91\n"
    "00000000000ffff8: '2' '3' '/' '9'\n"
    "00000000000ffff0: 0352 0133\n"
    "00000000000ffff0: 234  91\n"
    "00000000000ffff0: 0xea 0x5b\n"
    "0x7\n"
    "* CPU #0: thread_id=N\n"
    "unknown command: 'foo'\n"
    "division by zero\nTry \"help p\" for more information\n"
    "unknown register\nTry \"help p\" for more information\n"
    "unknown command: 'info nosuch'\n"
    "0x1\n"
    "0x14\n"
    "0x8\n"
    "invalid char in format: 'q'\nTry \"help x\" for more information\n"
    "unexpected end of expression\nTry \"help x\" for more information\n"
    "VM status: running\n";


// Reads from fd until `until` has arrived (or 10 s pass); all that came.
std::string read_until(int fd, const std::string& until) {
    std::string got;
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (got.find(until) == std::string::npos && std::chrono::steady_clock::now() < end) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) continue;
        char b[4096];
        const ssize_t n = ::read(fd, b, sizeof b);
        if (n <= 0) break;
        got.append(b, static_cast<std::size_t>(n));
    }
    return got;
}

void send_all(int fd, std::string_view s) {
    while (!s.empty()) {
        const ssize_t n = ::write(fd, s.data(), s.size());
        REQUIRE(n > 0);
        s.remove_prefix(static_cast<std::size_t>(n));
    }
}

} // namespace

TEST_CASE("the human monitor answers as QEMU's does") {
    const auto ours = run_with_input({qforge, "-M", "pc", "-display", "none", "-monitor", "stdio", "-S"}, commands);
    CHECK(ours.status == 0);
    CHECK(answers(ours.out) == expected);
    // The line editor echoes, the prompt and line ends are QEMU's.
    CHECK(ours.out.find("(qemu) info status\r\nVM status: paused (prelaunch)\r\n(qemu) ") != std::string::npos);

    const std::string qemu = qft::find_qemu();
    if (qemu.empty()) {
        WARN("SKIPPED: qemu-system-x86_64 is not installed: the answers were not compared with QEMU's again");
        return;
    }
    const auto theirs = run_with_input({qemu, "-M", "pc", "-nic", "none", "-display", "none", "-monitor", "stdio", "-S"}, commands);
    CHECK(answers(theirs.out) == answers(ours.out));
}

TEST_CASE("under -nographic C-a c switches between the serial console and the monitor") {
    const auto r = run_with_input({qforge, "-M", "pc", "-nographic", "-S"},
                                  std::string("\x01") + "c" + "info status\r" + "\x01" + "c" + "\x01" + "x", 1500);
    CHECK(r.status == 0);
    CHECK(r.out.find("type 'help' for more information\r\n(qemu) info status\r\nVM status: paused (prelaunch)\r\n(qemu) ") !=
          std::string::npos);
    CHECK(r.err.find("terminating on C-a x") != std::string::npos);
    // With another monitor asked for, C-a c has nothing to switch to.
    const std::string sock = tmp("qmp.sock");
    const auto q = run_with_input({qforge, "-M", "pc", "-nographic", "-S", "-qmp", "unix:" + sock + ",server=on,wait=off"},
                                  std::string("\x01") + "c" + "info status\r" + "\x01" + "x");
    CHECK(q.out.find("(qemu)") == std::string::npos);
    ::unlink(sock.c_str());
}

TEST_CASE("a monitor on a unix socket survives garbage and over-long lines and QMP runs its commands") {
    const std::string hmp = tmp("hmp.sock"), qmp = tmp("qmp.sock");
    ::unlink(hmp.c_str());
    ::unlink(qmp.c_str());
    qft::child c = qft::spawn({qforge, "-M", "pc", "-display", "none", "-S", "-monitor", "unix:" + hmp + ",server=on,wait=off",
                               "-chardev", "socket,id=q,path=" + qmp + ",server=on,wait=off", "-mon", "chardev=q,mode=control"});
    int fd = -1;
    REQUIRE(qft::wait_for([&] { return (fd = qft::connect_unix(hmp)) >= 0; }));
    CHECK(read_until(fd, "(qemu) ").find("type 'help' for more information\r\n(qemu) ") != std::string::npos);
    // Bytes that are no command, a line far past the editor's bound, arrow
    // keys: each line gets its answer, and the monitor is still there.
    std::string junk;
    for (int i = 0; i < 256; ++i) junk += static_cast<char>(i == '\r' || i == '\n' ? 'z' : i);
    send_all(fd, junk + "\r" + std::string(100000, 'a') + "\r\x1b[A\x1b[Binfo status\r");
    CHECK(read_until(fd, "VM status: paused (prelaunch)\r\n(qemu) ").find("VM status: paused (prelaunch)") != std::string::npos);
    ::close(fd);

    int q = -1;
    REQUIRE(qft::wait_for([&] { return (q = qft::connect_unix(qmp)) >= 0; }));
    read_until(q, "\n");
    send_all(q, "{\"execute\": \"qmp_capabilities\"}\n");
    read_until(q, "\n");
    send_all(q, "{\"execute\": \"human-monitor-command\", \"arguments\": {\"command-line\": \"info status\"}}\n");
    CHECK(read_until(q, "\n").find("{\"return\": \"VM status: paused (prelaunch)\\r\\n\"}") != std::string::npos);
    send_all(q, "{\"execute\": \"human-monitor-command\", \"arguments\": {\"command-line\": \"p 1\", \"cpu-index\": 7}}\n");
    CHECK(read_until(q, "\n").find("\"desc\": \"Invalid CPU index\"") != std::string::npos);
    // A line of a megabyte can nest an expression past any stack, and a
    // count can ask for gigabytes: both are refused, the session stays.
    send_all(q, "{\"execute\": \"human-monitor-command\", \"arguments\": {\"command-line\": \"p " +
                    std::string(200000, '(') + "\"}}\n");
    CHECK(read_until(q, "\n").find("expression nested too deeply") != std::string::npos);
    send_all(q, "{\"execute\": \"human-monitor-command\", \"arguments\": {\"command-line\": \"p " +
                    std::string(900, '(') + "1" + std::string(900, ')') + "\"}}\n");
    CHECK(read_until(q, "\n").find("{\"return\": \"0x1\\r\\n\"}") != std::string::npos);
    send_all(q, "{\"execute\": \"human-monitor-command\", \"arguments\": {\"command-line\": \"xp /99999999999999999999x 0\"}}\n");
    CHECK(read_until(q, "\n").find("count past 1048576") != std::string::npos);
    send_all(q, "{\"execute\": \"human-monitor-command\", \"arguments\": {\"command-line\": \"quit\"}}\n");
    CHECK(c.wait(20).status == 0);
    ::close(q);
    ::unlink(hmp.c_str());
    ::unlink(qmp.c_str());
}

namespace {
// CPU seconds (user + system) a process has used, from /proc.
double cpu_seconds(pid_t pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    std::istringstream rest(stat.substr(stat.rfind(')') + 2));
    std::vector<std::string> fields;
    for (std::string w; rest >> w;) fields.push_back(w);
    // Fields 14 and 15 (utime, stime) are the 12th and 13th after the name.
    return (std::stod(fields.at(11)) + std::stod(fields.at(12))) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}
} // namespace

TEST_CASE("stdin at its end while the guest reads nothing costs no CPU") {
    // The guest never reads COM1 (the VM waits under -S): the bytes stay
    // in the UART and the mux, stdin hangs up, and nothing may spin on it.
    for (const auto& serial : {std::vector<std::string>{"-nographic"}, std::vector<std::string>{"-serial", "stdio"}}) {
        int in[2];
        REQUIRE(::pipe2(in, O_CLOEXEC) == 0);
        std::vector<std::string> argv = {qforge, "-M", "pc", "-display", "none", "-S"};
        argv.insert(argv.end(), serial.begin(), serial.end());
        qft::child c = qft::spawn(argv, in[0]);
        ::close(in[0]);
        const std::string text(200, 'a');
        REQUIRE(::write(in[1], text.data(), text.size()) == static_cast<ssize_t>(text.size()));
        ::close(in[1]);
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        const double before = cpu_seconds(c.pid);
        std::this_thread::sleep_for(std::chrono::seconds(1));
        const double used = cpu_seconds(c.pid) - before;
        INFO(serial.front() << ": " << used << " s of CPU in 1 s");
        CHECK(used < 0.2);
        ::kill(c.pid, SIGTERM);
        c.wait(10);
    }
}

namespace {

// Monitor commands on -monitor stdio once SeaBIOS has set the board up
// (its idle loop, no disk): the answers alone.
std::string after_seabios(const std::string& binary, const std::string& text, const std::vector<std::string>& extra = {},
                          int wait_ms = 1500) {
    int in[2];
    REQUIRE(::pipe2(in, O_CLOEXEC) == 0);
    std::vector<std::string> argv = {binary, "-M", "pc", "-nic", "none", "-vga", "none", "-display", "none", "-monitor", "stdio"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    qft::child c = qft::spawn(argv, in[0]);
    ::close(in[0]);
    std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
    REQUIRE(::write(in[1], text.data(), text.size()) == static_cast<ssize_t>(text.size()));
    const auto r = c.wait(20);
    ::close(in[1]);
    return answers(r.out);
}

// info pci, pic, lapic and irq there.
std::string device_views(const std::string& binary, const std::vector<std::string>& extra = {},
                         const std::string& views = "info pci\ninfo pic\ninfo lapic\ninfo irq\n", int wait_ms = 1500) {
    const std::string a = after_seabios(binary, "stop\n" + views + "quit\n", extra, wait_ms);
    // What the moment of the stop decides: requests pending in the PIC
    // and the APIC, and in service (a stop between the timer interrupt's
    // delivery and SeaBIOS's EOI finds IRQ0 in the ISR; a nested-KVM run
    // caught it), the APIC timer's count, how many timer ticks and floppy
    // interrupts (QEMU has a floppy controller) there were.
    std::string s = std::regex_replace(a, std::regex("irr=[0-9a-f]{2}"), "irr=..");
    s = std::regex_replace(s, std::regex("isr=[0-9a-f]{2}"), "isr=..");
    s = std::regex_replace(s, std::regex("(IRR|ISR)\t [^\n]*"), "$1\t ...");
    s = std::regex_replace(s, std::regex("current_count = [0-9]+"), "current_count = N");
    s = std::regex_replace(s, std::regex("\n ?[06]: [0-9]+"), "");
    return s;
}

} // namespace

TEST_CASE("the monitor: info pci pic lapic and irq on a booted pc are QEMU 7.2's") {
    const std::string ours = device_views(qforge);
    CHECK_THAT(ours, Catch::Contains("    IDE controller: PCI device 8086:7010\n"));
    CHECK_THAT(ours, Catch::Contains("      BAR4: I/O at 0xc000 [0xc00f].\n"));  // SeaBIOS placed it
    CHECK_THAT(ours, Catch::Contains("ioapic0: ver=0x20 id=0x00"));
    CHECK_THAT(ours, Catch::Contains("pic0: irr=.. imr="));
    CHECK_THAT(ours, Catch::Contains("SPIV\t 0x000001ff APIC enabled"));  // SeaBIOS turned it on
    CHECK_THAT(ours, Catch::Contains("IRQ statistics for ioapic:\n"));
    const std::string qemu = qft::find_qemu();
    if (qemu.empty()) {
        WARN("SKIPPED the comparison with QEMU: qemu-system-x86_64 is not installed");
        return;
    }
    CHECK(ours == device_views(qemu));
}

TEST_CASE("the monitor: info jit gives the time per TCG stage of what SeaBIOS made translate") {
    const std::string a = after_seabios(qforge, "info jit\nquit\n");
    std::smatch m;
    REQUIRE(std::regex_search(a, m, std::regex("TB translations +([0-9]+)\n")));
    CHECK(std::stoul(m[1]) > 100);
    REQUIRE(std::regex_search(a, m, std::regex("guest bytes translated +([0-9]+)\n")));
    CHECK(std::stoul(m[1]) > 100);
    REQUIRE(std::regex_search(a, m, std::regex("host bytes per guest byte +([0-9.]+)\n")));
    CHECK(std::stod(m[1]) > 1);
    // The optimizer and liveness leave fewer ops than the front end made.
    REQUIRE(std::regex_search(a, m, std::regex("IR ops per guest insn +([0-9.]+) from the front end, ([0-9.]+) to code generation\n")));
    CHECK(std::stod(m[1]) > 1);
    CHECK(std::stod(m[2]) > 1);
    CHECK(std::stod(m[2]) < std::stod(m[1]));
    for (const char* stage : {"front end \\(decode, IR\\)", "optimizer", "liveness", "code generation", "all stages"}) {
        INFO(stage);
        // total ms, ns per TB, ns per guest instruction: all spent.
        REQUIRE(std::regex_search(a, m, std::regex(std::string("  ") + stage + " +([0-9.]+) +([0-9]+) +([0-9.]+)\n")));
        CHECK(std::stod(m[1]) > 0);
        CHECK(std::stod(m[2]) > 0);
        CHECK(std::stod(m[3]) > 0);
    }
}

TEST_CASE("the monitor: info qtree ioapic and lapic of another CPU") {
    const auto r = run_with_input({qforge, "-M", "pc", "-smp", "2", "-nic", "none", "-display", "none", "-S", "-monitor", "stdio"},
                                  "info qtree\ninfo ioapic\ninfo pic\ninfo lapic 1\ninfo lapic 2\ninfo pci\nquit\n");
    const std::string a = answers(r.out);
    CHECK_THAT(a, Catch::Contains("bus: main-system-bus\n"));
    CHECK_THAT(a, Catch::Contains("  dev: i8259, id \"\"\n    ioports 0x0020-0x0021\n"));
    CHECK_THAT(a, Catch::Contains("    state.master = {irr=0x"));
    CHECK_THAT(a, Catch::Contains("dumping local APIC state for CPU 1 \n"));
    CHECK_THAT(a, Catch::Contains("No CPU with APIC ID 2\n"));
    // info ioapic is info pic's IOAPIC half.
    const auto ioapic = a.find("ioapic0:");
    REQUIRE(ioapic != std::string::npos);
    const auto end = a.find("  Remote IRR", ioapic);
    REQUIRE(end != std::string::npos);
    const std::string table = a.substr(ioapic, a.find('\n', end) - ioapic);
    CHECK(a.find(table, ioapic + 1) != std::string::npos);
    // testrig has neither PCI nor an IOAPIC: said plainly.
    const auto t = run_with_input({qforge, "-M", "testrig", "-display", "none", "-S", "-monitor", "stdio"},
                                  "info pci\ninfo ioapic\ninfo pic\nquit\n");
    const std::string b = answers(t.out);
    CHECK_THAT(b, Catch::Contains("info pci: machine testrig has no PCI bus\n"));
    CHECK_THAT(b, Catch::Contains("info ioapic: machine testrig has none\n"));
    CHECK_THAT(b, Catch::Contains("pic1: irr=00"));
}

// Hidden ([.]): ctest runs it by name, and skips it where KVM cannot run
// (scripts/kvm-nested runs it in a guest with KVM). The kernel's irqchip,
// read for the monitor, says what the board's own models say under TCG.
TEST_CASE("the monitor under KVM: info pic ioapic and lapic from the kernel's irqchip", "[.]") {
    const std::string views = "info pci\ninfo pic\ninfo ioapic\ninfo lapic\n";
    // Time for SeaBIOS to finish even in a nested guest's slow KVM.
    const std::string kvm = device_views(qforge, {"-accel", "kvm"}, views, 5000);
    CHECK_THAT(kvm, Catch::Contains("ioapic0: ver=0x"));
    CHECK_THAT(kvm, Catch::Contains("SPIV\t 0x000001ff APIC enabled"));
    CHECK(kvm == device_views(qforge, {}, views));
}
