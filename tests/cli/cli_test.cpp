// The command line and process behaviour of qforge-system-x86_64, through
// the real binary: exit statuses, one-line errors, signals, -pidfile,
// -daemonize, the terminal under -nographic.
#include "process.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <thread>
#include <unistd.h>

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {
const std::string qemu = qft::build_path("QF_SYSTEM_BINARY", QF_SYSTEM_BINARY);
const std::string demo = qft::build_path("QF_DEMO_BIOS", QF_DEMO_BIOS);

// On machine testrig, whose default -bios is the demo firmware (pc, the
// default machine, boots SeaBIOS: seabios_test.cpp).
std::vector<std::string> cmd(std::initializer_list<std::string> args) {
    std::vector<std::string> v{qemu, "-M", "testrig"};
    v.insert(v.end(), args);
    return v;
}
std::string tmp(const std::string& name) { return "/tmp/qf-cli-" + std::to_string(getpid()) + "-" + name; }
bool exists(const std::string& p) { return access(p.c_str(), F_OK) == 0; }
int count_lines(const std::string& s) { return int(std::count(s.begin(), s.end(), '\n')); }
} // namespace

TEST_CASE("option -M help / -cpu help / -d help / -device help / -version and -h print and exit 0") {
    auto r = qft::run(cmd({"-M", "help"}));
    CHECK(r.status == 0);
    CHECK_THAT(r.out, StartsWith("Supported machines are:\n"
                                  "pc                  Standard PC (i440FX + PIIX, 1996) (alias of pc-i440fx-7.2)\n"
                                  "pc-i440fx-7.2       Standard PC (i440FX + PIIX, 1996) (default)\n"));
    CHECK_THAT(r.out, Contains("\ntestrig "));
    CHECK(r.err.empty());
    r = qft::run(cmd({"-cpu", "help"}));
    CHECK(r.status == 0);
    CHECK_THAT(r.out, Contains("qemu64"));
    r = qft::run(cmd({"-d", "help"}));
    CHECK(r.status == 0);
    CHECK_THAT(r.out, Contains("guest_errors"));
    r = qft::run(cmd({"-device", "help"}));
    CHECK(r.status == 0);
    CHECK_THAT(r.out, Contains("isa-debug-exit"));
    r = qft::run(cmd({"-version"}));
    CHECK(r.status == 0);
    CHECK_THAT(r.out, Contains("version"));
    r = qft::run(cmd({"-h"}));
    CHECK(r.status == 0);
    for (auto* opt : {"-machine", "-cpu", "-accel", "-m ", "-smp", "-bios", "-kernel", "-initrd", "-append",
                      "-serial", "-chardev", "-device", "-nographic", "-display", "-d ", "-D ", "-S ",
                      "-no-reboot", "-no-shutdown", "-pidfile", "-daemonize", "-L ", "-version"})
        CHECK_THAT(r.out, Contains(opt));
}

TEST_CASE("bad input is one line on stderr naming the option / exit status 1 / stdout untouched") {
    std::string small = tmp("small.bin");
    { int fd = open(small.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644); REQUIRE(write(fd, "abc", 3) == 3); close(fd); }
    struct bad { std::vector<std::string> args; std::string says; };
    std::vector<bad> cases = {
        {{"-frobnicate"}, "-frobnicate: invalid option"},
        {{"-m"}, "-m: requires an argument"},
        {{"-m", "0"}, "-m 0"},
        {{"-m", "banana"}, "-m banana: invalid RAM size"},
        {{"-m", "100T", "-S"}, "does not fit"},
        {{"-M", "vax"}, "-machine vax: unsupported machine type"},
        {{"-cpu", "pentium9"}, "-cpu pentium9: unknown CPU model"},
        {{"-cpu", "qemu64,+avx512f"}, "not implemented yet"},
        {{"-smp", "4"}, "-smp: machine testrig supports at most 1 CPU"},
        {{"-accel", "kvm", "-smp", "2"}, "-smp 2: the other CPUs start through their local APICs"},
        {{"-accel", "kvm,kernel-irqchip=on", "-smp", "17"}, "-smp: machine testrig supports at most 16 CPU(s)"},
        {{"-accel", "kvm,kernel-irqchip=on", "-smp", "2,sockets=2"}, "supports at most 16 CPU(s) (1 socket(s)"},
        {{"-accel", "xen"}, "-accel xen: invalid accelerator"},
        {{"-accel", "tcg,tb-size=lots", "-S"}, "-accel tcg,tb-size=lots: not a size in MiB"},
        {{"-accel", "tcg,one-insn-per-tb=maybe", "-S"}, "'maybe' is not on or off"},
        {{"-accel", "tcg,thread=multi", "-S"}, "multi-threaded TCG is not implemented yet"},
        {{"-accel", "kvm,kernel-irqchip=maybe"}, "Parameter 'kernel-irqchip' does not accept value 'maybe'"},
        {{"-accel", "kvm,dirty-ring-size=4096"}, "invalid parameter 'dirty-ring-size'"},
        {{"-cpu", "host"}, "CPU model 'host' requires KVM or HVF"},
        {{"-bios", "/nonexistent/fw.bin"}, "-bios /nonexistent/fw.bin: cannot open firmware"},
        {{"-bios", small}, "is not a multiple of 64 KiB"},
        {{"-kernel", small}, "machine testrig cannot boot a Linux kernel"},
        {{"-device", "e1000"}, "-device e1000: no such device"},
        {{"-device", "isa-debugcon,iobase=0x402,chardev=nope", "-S"}, "chardev 'nope' not found"},
        {{"-serial", "chardev:nope"}, "no chardev with id 'nope'"},
        {{"-serial", "file:/nonexistent/dir/out"}, "cannot open /nonexistent/dir/out"},
        {{"-chardev", "socket,id=s,host=256.1.1.1,port=1,server=on,wait=off"}, "chardev 's'"},
        {{"-D", "/nonexistent/dir/log", "-S"}, "-D /nonexistent/dir/log"},
        {{"-d", "nonsense"}, "-d nonsense: unknown log item"},
        {{"-display", "sdl"}, "no graphical display"},
        {{"-nographic", "-daemonize"}, "-nographic cannot be used with -daemonize"},
        {{"-mon", "chardev=c,mode=bogus"}, "-mon: parameter 'mode' does not accept value 'bogus'"},
        {{"-mon", "mode=control"}, "-mon: parameter 'chardev' is missing"},
        {{"-mon", "chardev=c"}, "-mon: chardev 'c' not found"},
        {{"-nographic", "-monitor", "stdio"}, "cannot use stdio by multiple character devices"},
        {{"-monitor", "stdio", "-daemonize"}, "-monitor stdio: cannot use stdio with -daemonize"},
        {{"-gdb", "chardev:x"}, "-gdb chardev:x: a chardev of its own is needed"},
        {{"-gdb", "bogus"}, "-serial bogus: unknown serial backend"},
        {{"-qmp", "none"}, "-qmp none: there is no monitor to make"},
        {{"-qmp", "bogus:x"}, "-serial bogus:x: unknown serial backend"},
        {{"-name", "guest=x,colour=red"}, "-name: invalid parameter 'colour'"},
        // A daemon with stdio anywhere: refused, so no terminal is left raw.
        {{"-daemonize", "-chardev", "stdio,id=c", "-serial", "chardev:c"}, "-chardev stdio,id=c: cannot use stdio with -daemonize"},
        {{"-daemonize", "-serial", "mon:stdio"}, "-serial mon:stdio: cannot use stdio with -daemonize"},
        {{"-daemonize", "-qmp", "stdio"}, "-qmp stdio: cannot use stdio with -daemonize"},
        {{"-fw_cfg", "opt/x,string=y"}, "-fw_cfg: machine testrig has no fw_cfg device"},
        {{"-rtc", "base=utc"}, "-rtc: machine testrig has no RTC"},
        // pc's own (a later -M wins):
        {{"-M", "pc", "-boot", "order=x"}, "Invalid boot device 'x'"},
        {{"-M", "pc", "-boot", "cc"}, "Boot device 'c' was given twice"},
        {{"-M", "pc", "-boot", "order=e"}, "Invalid boot device for PC: 'e'"},
        {{"-M", "pc", "-boot", "cadn"}, "Too many boot devices for PC"},
        {{"-M", "pc", "-boot", "menu=maybe"}, "Parameter 'boot.menu' expects 'on' or 'off'"},
        {{"-M", "pc", "-boot", "foo=1"}, "Parameter 'boot.foo' is unexpected"},
        {{"-M", "pc", "-rtc", "base=yesterday"}, "-rtc"},
        {{"-M", "pc", "-fw_cfg", "opt/x"}, "-fw_cfg opt/x"},
        {{"-M", "pc", "-option-rom", "x.rom,bootindex=first"}, "Parameter 'bootindex' expects a number"},
        {{"-M", "pc", "-option-rom", "x.rom,speed=9"}, "Invalid parameter 'speed'"},
        {{"-M", "pc", "-device", "pci-testdev,membar=3"}, "membar"},
        {{"-M", "pc", "-device", "pci-testdev,addr=zz"}, "pci-testdev"},
        {{"-M", "pc", "-device", "pc-testdev,speed=9"}, "property 'speed' not found"},
        {{"-M", "pc", "-vga", "std"}, "-vga std: not implemented yet"},
        {{"-M", "pc", "-nic", "user"}, "-nic user: networking is not implemented yet"},
        {{"-M", "pc,foo=bar"}, "Property 'pc-machine.foo' not found"},  // QEMU: 'pc-i440fx-7.2-machine.foo'
        {{"-M", "pc,hpet=maybe"}, "Parameter 'hpet' expects 'on' or 'off'"},
        {{"-M", "testrig,hpet=off"}, "Property 'testrig-machine.hpet' not found"},
        {{"-M", "testrig", "-no-hpet"}, "Property 'testrig-machine.hpet' not found"},
        // microvm's:
        {{"-M", "microvm"}, "machine microvm has no firmware: give it a Linux kernel"},
        {{"-M", "microvm", "-kernel", small}, "-kernel " + small + ": not a Linux bzImage"},
        {{"-M", "microvm", "-kernel", small, "-bios", small}, "-kernel with -bios"},
        {{"-M", "microvm", "-initrd", small, "-bios", small}, "-initrd only allowed with -kernel option"},
        {{"-M", "microvm,foo=1", "-kernel", small}, "Property 'microvm-machine.foo' not found"},
        {{"-M", "microvm,pic=maybe", "-kernel", small}, "Parameter 'pic' does not accept value 'maybe'"},
        {{"-M", "microvm,isa-serial=auto", "-kernel", small}, "Parameter 'isa-serial' expects 'on' or 'off'"},
        {{"-M", "microvm,pit=off", "-kernel", small}, "pit=off: this build's microvm has the device"},
        {{"-M", "microvm,pcie=on", "-kernel", small}, "pcie=on: not implemented"},
        {{"-M", "microvm", "-fw_cfg", "opt/x,string=y", "-kernel", small}, "machine microvm has no fw_cfg"},
        {{"-M", "microvm", "-accel", "kvm,kernel-irqchip=off", "-kernel", small}, "kernel-irqchip=on"},
        {{"-M", "microvm", "-smp", "17", "-kernel", small}, "machine microvm supports at most 16 CPU(s)"},
    };
    for (auto& c : cases) {
        auto args = cmd({});
        args.insert(args.end(), c.args.begin(), c.args.end());
        auto r = qft::run(args);
        INFO("args: " << c.args.front() << " ...  stderr: " << r.err);
        CHECK(r.status == 1);
        CHECK(r.out.empty());
        CHECK(count_lines(r.err) == 1);
        CHECK_THAT(r.err, StartsWith("qforge-system-x86_64: "));
        CHECK_THAT(r.err, Contains(c.says));
    }
    unlink(small.c_str());
}

TEST_CASE("a bad option leaves nothing half-started") {
    std::string pid = tmp("half.pid"), out = tmp("half.out");
    auto r = qft::run(cmd({"-pidfile", pid, "-serial", "file:" + out, "-smp", "8"}));
    CHECK(r.status == 1);
    CHECK_FALSE(exists(pid));
    CHECK_FALSE(exists(out));
}

TEST_CASE("the demo firmware runs from the reset vector to isa-debug-exit on both TCG backends") {
    for (const char* accel : {"tcg", "tcg,interpreter=on", "tcg,one-insn-per-tb=on"}) {
        auto r = qft::run(cmd({"-nographic", "-accel", accel}));
        INFO(accel << ": " << r.err);
        CHECK(r.status == 1);  // isa-debug-exit with 0: (0 << 1) | 1, as QEMU
        CHECK(r.out == "Hello from qforge: the demo firmware is running on machine testrig.\r\n");
        CHECK(r.err.empty());
    }
}

namespace {
bool kvm_usable() {
    struct stat st {};
    if (stat("/dev/kvm", &st) != 0 || !S_ISCHR(st.st_mode)) return false;
    const int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) return false;
    close(fd);
    return true;
}
} // namespace

TEST_CASE("option -accel kvm runs on /dev/kvm, or says in one line why not and exits 1 / a second -accel is the fallback") {
    const std::string hello = "Hello from qforge: the demo firmware is running on machine testrig.\r\n";
    if (kvm_usable()) {
        auto r = qft::run(cmd({"-nographic", "-accel", "kvm"}));
        INFO(r.err);
        CHECK(r.status == 1);
        CHECK(r.out == hello);
        return;
    }
    auto r = qft::run(cmd({"-nographic", "-accel", "kvm"}));
    CHECK(r.status == 1);
    CHECK(r.out.empty());
    CHECK(count_lines(r.err) == 1);
    CHECK_THAT(r.err, Contains("-accel kvm: failed to initialize kvm: "));
    CHECK_THAT(r.err, Contains("/dev/kvm"));
    // QEMU's fallback, both spellings: the reason, then the next accelerator runs the guest.
    for (auto args : {std::vector<std::string>{"-accel", "kvm", "-accel", "tcg"}, std::vector<std::string>{"-M", "accel=kvm:tcg"}}) {
        auto v = cmd({"-nographic"});
        v.insert(v.end(), args.begin(), args.end());
        auto f = qft::run(v);
        INFO(f.err);
        CHECK(f.status == 1);
        CHECK(f.out == hello);
        CHECK_THAT(f.err, Contains("failed to initialize kvm"));
        CHECK_THAT(f.err, Contains("falling back to tcg"));
    }
    WARN("SKIPPED: /dev/kvm cannot be opened here, so only the refusal and the fallback were checked");
}

TEST_CASE("option -d with -D logs the guest code, the CPU state and resets to the file, not to stdout") {
    const std::string log = tmp("d.log");
    auto r = qft::run(cmd({"-nographic", "-d", "in_asm,cpu,cpu_reset,exec", "-D", log}));
    CHECK(r.status == 1);
    CHECK(r.out == "Hello from qforge: the demo firmware is running on machine testrig.\r\n");
    std::string text;
    {
        FILE* f = fopen(log.c_str(), "r");
        REQUIRE(f);
        char buf[4096];
        std::size_t n;
        while ((n = fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
        fclose(f);
    }
    unlink(log.c_str());
    CHECK_THAT(text, Contains("CPU Reset (CPU 0)"));
    CHECK_THAT(text, Contains("RIP=000000000000fff0 RFL=00000002"));  // the reset vector
    CHECK_THAT(text, Contains("CS =f000 00000000ffff0000 0000ffff"));
    CHECK_THAT(text, Contains("IN: "));
    CHECK_THAT(text, Contains("Trace 0:"));
}

TEST_CASE("SIGTERM and SIGINT shut down in order with QEMU's exit status 0") {
    for (int sig : {SIGTERM, SIGINT, SIGHUP}) {
        std::string pid = tmp("sig.pid");
        auto c = qft::spawn(cmd({"-S", "-display", "none", "-pidfile", pid}));
        REQUIRE(qft::wait_for([&] { return !qft::slurp(pid).empty(); }));
        kill(c.pid, sig);
        auto r = c.wait();
        CHECK(r.status == 0);
        CHECK_THAT(r.err, Contains("terminating on signal " + std::to_string(sig)));
        CHECK(r.out.empty());
        CHECK_FALSE(exists(pid));  // removed on the way out
    }
}

TEST_CASE("option -no-shutdown: the guest's shutdown stops the VM, the process runs on until told to quit") {
    const std::string triple = qft::build_path("QF_FIRMWARE_DIR", QF_FIRMWARE_DIR) + "/test-triple.bin";
    // -no-reboot makes the triple fault a shutdown: status 0 at once...
    auto r = qft::run(cmd({"-nographic", "-no-reboot", "-bios", triple}));
    CHECK(r.status == 0);
    CHECK(r.out == "triple fault next\r\n");
    // ...and -no-shutdown stops the VM there instead, as QEMU.
    auto c = qft::spawn(cmd({"-nographic", "-no-reboot", "-no-shutdown", "-bios", triple}));
    REQUIRE(qft::wait_for([&] { return qft::slurp(c.out_path) == "triple fault next\r\n"; }));
    usleep(300'000);
    int st = 0;
    CHECK(waitpid(c.pid, &st, WNOHANG) == 0);  // still there
    kill(c.pid, SIGTERM);
    auto done = c.wait();
    CHECK(done.status == 0);
    CHECK(done.out == "triple fault next\r\n");
}

TEST_CASE("option -pidfile holds a lock: a second instance refuses") {
    std::string pid = tmp("lock.pid");
    auto first = qft::spawn(cmd({"-S", "-display", "none", "-pidfile", pid}));
    REQUIRE(qft::wait_for([&] { return qft::slurp(pid) == std::to_string(first.pid) + "\n"; }));
    auto second = qft::run(cmd({"-S", "-display", "none", "-pidfile", pid}));
    CHECK(second.status == 1);
    CHECK_THAT(second.err, Contains("cannot create PID file"));
    CHECK_THAT(second.err, Contains("another instance holds its lock"));
    CHECK(qft::slurp(pid) == std::to_string(first.pid) + "\n");  // untouched
    kill(first.pid, SIGTERM);
    CHECK(first.wait().status == 0);
    CHECK_FALSE(exists(pid));
}

TEST_CASE("option -daemonize: the parent returns 0 once the daemon is up / 1 if it fails") {
    std::string pid = tmp("daemon.pid");
    auto r = qft::run(cmd({"-daemonize", "-S", "-display", "none", "-pidfile", pid}));
    CHECK(r.status == 0);
    auto text = qft::slurp(pid);
    REQUIRE_FALSE(text.empty());
    pid_t daemon = std::stoi(text);
    CHECK(kill(daemon, 0) == 0);  // alive, detached
    kill(daemon, SIGTERM);
    CHECK(qft::wait_for([&] { return kill(daemon, 0) != 0 && !exists(pid); }));

    auto bad = qft::run(cmd({"-daemonize", "-S", "-display", "none", "-pidfile", "/nonexistent/dir/p"}));
    CHECK(bad.status == 1);
    CHECK_THAT(bad.err, Contains("cannot create PID file"));
}

TEST_CASE("option -nographic puts the terminal in raw mode / C-a h helps / C-a x quits / the terminal comes back") {
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    REQUIRE(master >= 0);
    REQUIRE(grantpt(master) == 0);
    REQUIRE(unlockpt(master) == 0);
    int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
    REQUIRE(slave >= 0);
    termios before{};
    REQUIRE(tcgetattr(slave, &before) == 0);
    REQUIRE((before.c_lflag & ICANON));

    auto c = qft::spawn(cmd({"-nographic", "-S"}), slave);
    auto lflag = [&] {
        termios t{};
        tcgetattr(slave, &t);
        return t.c_lflag;
    };
    REQUIRE(qft::wait_for([&] { return (lflag() & ICANON) == 0; }));
    CHECK((lflag() & ECHO) == 0);
    CHECK((lflag() & ISIG) != 0);  // Ctrl-C still stops the emulator, as QEMU

    REQUIRE(write(master, "\x01h", 2) == 2);
    CHECK(qft::wait_for([&] { return c.err_so_far().find("C-a x    exit emulator") != std::string::npos; }));
    REQUIRE(write(master, "\x01x", 2) == 2);
    auto r = c.wait();
    CHECK(r.status == 0);
    CHECK(r.out.empty());
    termios after{};
    REQUIRE(tcgetattr(slave, &after) == 0);
    CHECK(after.c_lflag == before.c_lflag);
    CHECK(after.c_iflag == before.c_iflag);

    // A signal restores it too.
    auto c2 = qft::spawn(cmd({"-nographic", "-S"}), slave);
    REQUIRE(qft::wait_for([&] { return (lflag() & ICANON) == 0; }));
    kill(c2.pid, SIGTERM);
    CHECK(c2.wait().status == 0);
    CHECK(lflag() == before.c_lflag);
    close(slave);
    close(master);
}

TEST_CASE("option -serial pty announces its device/ -serial tcp listens/ -device for the built-in is accepted") {
    auto c = qft::spawn(cmd({"-S", "-display", "none", "-serial", "pty", "-device",
                             "isa-debug-exit,iobase=0xf4,iosize=4"}));
    REQUIRE(qft::wait_for([&] { return c.err_so_far().find("char device redirected to /dev/pts/") != std::string::npos; }));
    CHECK_THAT(c.err_so_far(), Contains("(label serial0)"));
    kill(c.pid, SIGTERM);
    CHECK(c.wait().status == 0);

    std::string sock = tmp("serial.sock");
    auto c2 = qft::spawn(cmd({"-S", "-display", "none", "-serial", "unix:" + sock + ",server=on,wait=off"}));
    CHECK(qft::wait_for([&] { return exists(sock); }));
    kill(c2.pid, SIGTERM);
    CHECK(c2.wait().status == 0);
    CHECK_FALSE(exists(sock));
}

TEST_CASE("empty -bios -cpu -pidfile and -D values and one chardev for two serial ports get QEMU's errors") {
    const std::pair<std::vector<std::string>, std::string> cases[] = {
        {{"-bios", ""}, "could not load PC BIOS ''"},
        {{"-cpu", ""}, "-cpu option cannot be empty"},
        {{"-pidfile", ""}, "cannot create PID file: Could not create '': No such file or directory"},
        {{"-D", ""}, "Error opening logfile : No such file or directory"},
        {{"-chardev", "null,id=c", "-serial", "chardev:c", "-serial", "chardev:c"}, "Device 'c' is in use"},
    };
    for (const auto& [args, message] : cases) {
        std::vector<std::string> v{qemu, "-M", "testrig", "-display", "none", "-S"};
        v.insert(v.end(), args.begin(), args.end());
        const auto r = qft::run(v, 10);
        INFO(args.front() << " " << args.back());
        CHECK(r.status == 1);
        CHECK(r.err == "qforge-system-x86_64: " + message + "\n");
    }
}

TEST_CASE("a socket path takes QEMU's escaped comma") {
    const std::string sock = tmp("a,b.sock");
    std::string escaped = sock;
    escaped.replace(escaped.find(','), 1, ",,");
    auto c = qft::spawn(cmd({"-S", "-display", "none", "-serial", "unix:" + escaped + ",server=on,wait=off"}));
    CHECK(qft::wait_for([&] { return exists(sock); }));
    kill(c.pid, SIGTERM);
    CHECK(c.wait().status == 0);
    CHECK_FALSE(exists(sock));
}

// Each blocking wait ends on SIGTERM, as QEMU's: opening a -bios FIFO no
// one writes and waiting for a socket's first client (start-up, where the
// signal kills QEMU: status 143), and writing serial output to a pipe no
// one reads (running: the orderly exit, status 0).
TEST_CASE("SIGTERM ends a wait in open and accept at start-up and a blocked write to stdout") {
    auto ends_on_term = [](qft::child& c, int want) {
        std::this_thread::sleep_for(std::chrono::milliseconds(700));
        kill(c.pid, SIGTERM);
        const auto r = c.wait(5);  // SIGKILL after 5 s: a status of 137
        CHECK(r.status == want);
    };
    const std::string fifo = tmp("bios.fifo");
    REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
    auto c1 = qft::spawn(cmd({"-display", "none", "-bios", fifo}));
    ends_on_term(c1, 128 + SIGTERM);
    unlink(fifo.c_str());
    auto c2 = qft::spawn(cmd({"-display", "none", "-serial", "tcp:127.0.0.1:0,server=on"}));
    ends_on_term(c2, 128 + SIGTERM);
    // A firmware that writes 'x' to COM1 for ever: stdout, a pipe that
    // fills, blocks the write.
    const std::string bios = tmp("flood.bin");
    {
        std::string image(64 << 10, '\0');
        const char code[] = {'\xba', '\xf8', '\x03', '\xb0', 'x', '\xee', '\xeb', '\xfd'};
        image.replace(0xfff0, sizeof code, code, sizeof code);
        std::FILE* f = std::fopen(bios.c_str(), "wb");
        REQUIRE(f);
        std::fwrite(image.data(), 1, image.size(), f);
        std::fclose(f);
    }
    int p[2];
    REQUIRE(pipe(p) == 0);
    auto c3 = qft::spawn(cmd({"-display", "none", "-serial", "stdio", "-bios", bios}), -1, p[1]);
    close(p[1]);
    ends_on_term(c3, 0);
    close(p[0]);
    unlink(bios.c_str());
}
