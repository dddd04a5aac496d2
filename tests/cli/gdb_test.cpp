// The gdbstub through the real binary: Debian's gdb in batch mode drives
// tests/firmware/gdb.asm from the reset vector (real-mode steps, a
// breakpoint in long mode, registers and memory read and written, a
// watchpoint that fires on a store, continue to the exit), and where
// qemu-system-x86_64 is installed the same script runs against it and
// the transcripts must agree; then a raw client sends what gdb never
// would (bad checksums, oversized packets, garbage) and the stub answers
// as QEMU's does, the guest running on.
#include "process.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <fstream>
#include <poll.h>
#include <regex>
#include <sstream>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>

namespace {

const std::string qforge = qft::build_path("QF_SYSTEM_BINARY", QF_SYSTEM_BINARY);
const std::string firmware = qft::build_path("QF_FIRMWARE_DIR", QF_FIRMWARE_DIR) + "/test-gdb.bin";
std::string tmp(const std::string& name) { return "/tmp/qf-gdb-" + std::to_string(getpid()) + "-" + name; }


bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

// Runs a gdb script (SOCK stands for the stub's socket) against an
// emulator started with argv plus its -gdb option; gdb's output and the
// emulator's result.
struct session_result {
    std::string gdb;
    qft::result emu;
};
session_result run_gdb(const std::vector<std::string>& argv, const std::string& script, const std::string& tag) {
    const std::string sock = tmp(tag + ".sock"), file = tmp(tag + ".gdb");
    ::unlink(sock.c_str());
    std::vector<std::string> args = argv;
    args.insert(args.end(), {"-gdb", "unix:" + sock + ",server=on,wait=off", "-S"});
    qft::emulator e(args);
    REQUIRE(qft::wait_for([&] { return exists(sock); }));
    {
        std::ofstream f(file);
        f << "set pagination off\nset confirm off\ntarget remote " << sock << "\n" << script;
    }
    const std::string gdb = qft::find_program("gdb");
    REQUIRE(!gdb.empty());
    auto g = qft::run({gdb, "-batch", "-nx", "-x", file}, 60);
    ::unlink(file.c_str());
    session_result r{g.out + g.err, e.wait(20)};
    ::unlink(sock.c_str());
    return r;
}

// What legitimately differs between the two transcripts: the FPU's reset
// values (the SDM's 0x40 control word and an all-empty tag word here;
// QEMU starts with FINIT's 0x37f and reports the tag word as 0), and how
// the session ends (QEMU's isa-debug-exit closes the connection; the stub
// here tells gdb the exit status first).
std::string normalise(const std::string& s) {
    std::istringstream in(s);
    std::string line, out;
    while (std::getline(in, line)) {
        if (line.starts_with("fctrl") || line.starts_with("ftag") || line.find("exited with code") != std::string::npos ||
            line.find("Remote connection closed") != std::string::npos ||
            line.find("Error in sourced command file") != std::string::npos)
            continue;
        out += line + "\n";
    }
    return out;
}

const char* const script = R"(p/x $pc
p/x $cs
stepi
p/x $pc
stepi
p/x $pc
break *0xf8000
continue
p/x $pc
p/x $efer
info registers
monitor info status
monitor p $pc
monitor xp /2x 0xf8000
stepi
stepi
p/x $rax
p/x $rbx
set $rbx = 0x40
stepi
p/x $rax
watch *(long *)0x2000
continue
p/x $pc
x/gx 0x2000
set {char}0x3000 = 0x21
x/bx 0x3000
delete
info all-registers
info threads
continue
)";

std::vector<std::string> pc_args() {
    return {qforge, "-M", "pc", "-display", "none", "-bios", firmware, "-device", "isa-debug-exit,iobase=0xf4,iosize=4"};
}

// A raw client, for what gdb never sends.
class raw_client {
public:
    explicit raw_client(const std::string& path) { REQUIRE(qft::wait_for([&] { return (fd_ = qft::connect_unix(path)) >= 0; })); }
    ~raw_client() {
        if (fd_ >= 0) ::close(fd_);
    }
    void send_raw(std::string_view s) {
        while (!s.empty()) {
            // MSG_NOSIGNAL: an emulator that died is a failed check, not a SIGPIPE.
            const ssize_t n = ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL);
            REQUIRE(n > 0);
            s.remove_prefix(static_cast<std::size_t>(n));
        }
    }
    static std::string frame(std::string_view payload) {
        unsigned sum = 0;
        for (char c : payload) sum += static_cast<unsigned char>(c);
        char cs[3];
        std::snprintf(cs, sizeof cs, "%02x", sum & 0xff);
        return "$" + std::string(payload) + "#" + cs;
    }
    // What arrives within timeout_ms, up to and including a whole packet.
    std::string read_until_packet(int timeout_ms = 10000) {
        const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
        for (;;) {
            if (auto h = buf_.find('#'); h != std::string::npos && buf_.size() >= h + 3) {
                std::string r = buf_.substr(0, h + 3);
                buf_.erase(0, h + 3);
                return r;
            }
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
            if (left.count() <= 0) return "<timeout:" + buf_ + ">";
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
            char b[65536];
            const ssize_t n = ::read(fd_, b, sizeof b);
            if (n <= 0) return "<eof:" + buf_ + ">";
            buf_.append(b, static_cast<std::size_t>(n));
        }
    }
    // A command and its answer's payload ('+' acks stripped).
    std::string ask(std::string_view payload) {
        send_raw(frame(payload));
        std::string r = read_until_packet();
        const auto d = r.find('$');
        if (d == std::string::npos) return r;
        return r.substr(d + 1, r.size() - d - 4);
    }

private:
    int fd_ = -1;
    std::string buf_;
};

} // namespace

TEST_CASE("gdb drives the firmware through the gdbstub as it drives QEMU", "[.]") {
    const auto ours = run_gdb(pc_args(), script, "pc");
    INFO(ours.gdb);
    // From the reset vector into real-mode code, one instruction at a time.
    CHECK(ours.gdb.find("$1 = 0xfff0\n$2 = 0xf000\n") != std::string::npos);
    CHECK(ours.gdb.find("$3 = 0x0\n") != std::string::npos);
    CHECK(ours.gdb.find("$4 = 0x1\n") != std::string::npos);
    // The breakpoint in long mode, registers read and written.
    CHECK(ours.gdb.find("Breakpoint 1, 0x00000000000f8000 in ?? ()") != std::string::npos);
    CHECK(ours.gdb.find("$6 = 0x500\n") != std::string::npos);
    // Monitor commands through gdb (qRcmd).
    CHECK(ours.gdb.find("VM status: paused (debug)\r\n0xf8000\r\n00000000000f8000: 0x001234b8 0x0010bb00\r\n") !=
          std::string::npos);
    CHECK(ours.gdb.find("$7 = 0x1234\n$8 = 0x10\n") != std::string::npos);
    CHECK(ours.gdb.find("$9 = 0x1274\n") != std::string::npos);
    // The watchpoint stops after the store, with the new value in memory.
    CHECK(ours.gdb.find("Old value = 0\nNew value = 4724\n") != std::string::npos);
    CHECK(ours.gdb.find("$10 = 0xf8016\n") != std::string::npos);
    CHECK(ours.gdb.find("0x2000:\t0x0000000000001274") != std::string::npos);
    CHECK(ours.gdb.find("0x3000:\t0x21") != std::string::npos);
    CHECK(ours.gdb.find("cr0            0xe0000011          [ PG CD NW ET PE ]") != std::string::npos);
    CHECK(ours.gdb.find("Thread 1.1 (CPU#0 [running])") != std::string::npos);
    // The byte gdb wrote is the exit status: (0x21 << 1) | 1.
    CHECK(ours.gdb.find("exited with code 0103") != std::string::npos);
    CHECK(ours.emu.status == 0x43);

    const std::string qemu = qft::find_qemu();
    if (qemu.empty()) {
        WARN("SKIPPED: qemu-system-x86_64 is not installed: the transcript was not compared with QEMU's");
        return;
    }
    auto qargs = pc_args();
    qargs[0] = qemu;
    qargs.insert(qargs.begin() + 1, {"-nic", "none", "-accel", "tcg"});
    const auto theirs = run_gdb(qargs, script, "qemu");
    CHECK(theirs.emu.status == 0x43);
    CHECK(normalise(ours.gdb) == normalise(theirs.gdb));
}

TEST_CASE("gdb on testrig and on a CPU without long mode which it sees as an i386", "[.]") {
    const auto t = run_gdb({qforge, "-M", "testrig", "-display", "none", "-bios", firmware},
                           "break *0xf8000\ncontinue\np/x $pc\nkill\n", "testrig");
    INFO(t.gdb);
    CHECK(t.gdb.find("Breakpoint 1, 0x00000000000f8000") != std::string::npos);
    CHECK(t.gdb.find("$1 = 0xf8000") != std::string::npos);

    const auto i = run_gdb({qforge, "-M", "pc", "-cpu", "qemu64,-lm", "-display", "none", "-bios", firmware},
                           "show architecture\nstepi\nstepi\ninfo registers eip cs eflags\np $rip\nkill\n", "i386");
    INFO(i.gdb);
    CHECK(i.gdb.find("(currently \"i386\")") != std::string::npos);
    CHECK(i.gdb.find("eip            0x1                 0x1") != std::string::npos);
    CHECK(i.gdb.find("cs             0xf000              61440") != std::string::npos);
    CHECK(i.gdb.find("$1 = void") != std::string::npos);  // no rip on an i386
    CHECK(i.emu.status == 0);
}

TEST_CASE("the gdbstub refuses what gdb never sends and the guest runs on") {
    const std::string sock = tmp("raw.sock");
    ::unlink(sock.c_str());
    qft::emulator e({qforge, "-M", "pc", "-display", "none", "-bios", firmware, "-device",
                "isa-debug-exit,iobase=0xf4,iosize=4", "-gdb", "unix:" + sock + ",server=on,wait=off", "-S"});
    {
        raw_client c(sock);
        // A bad checksum is refused with '-' and nothing done.
        c.send_raw("$?#00");
        CHECK(c.read_until_packet(300).starts_with("<timeout:-"));
        CHECK(c.ask("?") == "T05thread:01;");
        // Registers: the whole set is 608 bytes; one outside it is an error.
        CHECK(c.ask("g").size() == 2 * 608);
        CHECK(c.ask("p0") == "0000000000000000");
        CHECK(c.ask("p1000") == "E14");
        CHECK(c.ask("Pzz=00") == "E14");
        // Memory: too long a read, a malformed address, a good one.
        CHECK(c.ask("m0,100000") == "E22");
        CHECK(c.ask("mzz,4") == "E22");
        CHECK(c.ask("m3000,2") == "0000");
        CHECK(c.ask("M3000,2:zz11") == "E22");
        CHECK(c.ask("M3000,1:0102") == "E22");  // more data than the length
        CHECK(c.ask("Z9,0,1") == "");           // no such kind: not supported
        CHECK(c.ask("Z2,2000,0") == "E22");     // a zero-length watchpoint
        CHECK(c.ask("Z0,f8000,1") == "OK");
        CHECK(c.ask("z0,f8000,1") == "OK");
        CHECK(c.ask("qXfer:features:read:nosuch.xml:0,100") == "E00");
        CHECK(c.ask("Hg5") == "E22");  // there is one CPU
        CHECK(c.ask("T2") == "E22");
        CHECK(c.ask("vCont;x") == "");
        CHECK(c.ask("nonsense") == "");
        // The monitor's gdbserver would end this very stub: refused where it
        // is the command word, however spaced; a line that only contains the
        // word runs (the monitor's answer in an O packet, then OK).
        const auto rcmd = [](std::string_view line) {
            std::string p = "qRcmd,";
            for (const unsigned char ch : line) {
                char b[3];
                std::snprintf(b, sizeof b, "%02x", ch);
                p += b;
            }
            return p;
        };
        CHECK(c.ask(rcmd("gdbserver")) == "E22");
        CHECK(c.ask(rcmd(" \tgdbserver tcp::1234\r\n")) == "E22");
        for (const char* line : {"info gdbserverfoo", "gdbserverfoo", "help gdbserver"}) {
            INFO(line);
            CHECK(c.ask(rcmd(line)).starts_with("O"));
            std::string next;
            do next = c.read_until_packet();
            while (next.starts_with("$O") && !next.starts_with("$OK#"));
            CHECK(next == "$OK#9a");
        }
        // An oversized packet is dropped whole, then garbage without framing.
        c.send_raw("$" + std::string(20000, 'm') + "#00");
        CHECK(c.read_until_packet(300).starts_with("<timeout:-"));
        c.send_raw(std::string(1 << 20, 'x'));
        CHECK(c.ask("qC") == "QC01");
        // A client that leaves in the middle of a packet.
        c.send_raw("$m0,10");
    }
    {
        raw_client c(sock);
        // Every byte of memory gdb wrote reaches the guest: the exit status
        // comes from 0x3000, after the firmware's own store there.
        CHECK(c.ask("Z0,f8000,1") == "OK");
        c.send_raw(raw_client::frame("c"));
        const std::string stop = c.read_until_packet();
        CHECK(stop.find("$T05thread:01;#") != std::string::npos);
        CHECK(c.ask("z0,f8000,1") == "OK");
        // Ctrl-C stops a guest that runs (it spins while 0x3000 holds 0xff).
        CHECK(c.ask("M3000,1:ff") == "OK");
        c.send_raw(raw_client::frame("c"));
        CHECK(c.read_until_packet(300).starts_with("<timeout:+"));  // acked, running
        c.send_raw("\x03");
        CHECK(c.read_until_packet().find("$T02thread:01;#") != std::string::npos);
        CHECK(c.ask("M3000,1:2a") == "OK");
        CHECK(c.ask("m3000,1") == "2a");
        c.send_raw(raw_client::frame("c"));
        CHECK(c.read_until_packet().find("$W55#") != std::string::npos);
    }
    CHECK(e.wait(20).status == 0x55);
}

TEST_CASE("the gdbstub drives a guest under KVM", "[.]") {
    // What gdb would send, by hand (the nested-KVM guest has no gdb):
    // single steps from the reset vector, registers and memory written, a
    // debug-register breakpoint, an INT3 breakpoint, a debug-register
    // watchpoint, continue to the exit.
    const std::string sock = tmp("kvm.sock");
    ::unlink(sock.c_str());
    qft::emulator e({qforge, "-M", "pc", "-accel", "kvm", "-display", "none", "-bios", firmware, "-device",
                     "isa-debug-exit,iobase=0xf4,iosize=4", "-gdb", "unix:" + sock + ",server=on,wait=off", "-S", "-d",
                     "int,guest_errors,cpu_reset"});
    raw_client c(sock);
    const auto stopped = [&](const std::string& want) {
        const std::string got = c.read_until_packet();
        if (got.find(want) == std::string::npos) std::this_thread::sleep_for(std::chrono::milliseconds(300));
        INFO("got " << got << "; the emulator's log: " << e.c.err_so_far());
        CHECK(got.find(want) != std::string::npos);
    };
    CHECK(c.ask("?") == "T05thread:01;");
    // rip is register 16, little-endian: the reset vector, then the far
    // jump's target 0xf000:0, then the next instruction (CLI).
    CHECK(c.ask("p10") == "f0ff000000000000");
    c.send_raw(raw_client::frame("s"));
    stopped("$T05thread:01;#");
    CHECK(c.ask("p10") == "0000000000000000");
    c.send_raw(raw_client::frame("s"));
    stopped("$T05thread:01;#");
    CHECK(c.ask("p10") == "0100000000000000");
    // Written registers reach KVM: rdi (register 5) survives a step.
    CHECK(c.ask("P5=efbeadde00000000") == "OK");
    c.send_raw(raw_client::frame("s"));
    stopped("$T05thread:01;#");
    CHECK(c.ask("p5") == "efbeadde00000000");
    const std::string no_int3 = qft::kvm_skip_reason("gdb-int3"), no_dr = qft::kvm_skip_reason("gdb-debugregs");
    if (!no_dr.empty() || !no_int3.empty()) {
        WARN("SKIPPED: the breakpoints and the watchpoint: " << no_dr << "; " << no_int3);
    } else {
        CHECK(c.ask("Z1,f8000,1") == "OK");
        c.send_raw(raw_client::frame("c"));
        stopped("$T05thread:01;#");
        CHECK(c.ask("p10") == "00800f0000000000");
        CHECK(c.ask("z1,f8000,1") == "OK");
        // An INT3 the stub writes, and takes out again.
        CHECK(c.ask("Z0,f800a,1") == "OK");
        c.send_raw(raw_client::frame("c"));
        stopped("$T05thread:01;#");
        CHECK(c.ask("p10") == "0a800f0000000000");
        CHECK(c.ask("z0,f800a,1") == "OK");
        CHECK(c.ask("mf800a,1") == "48");  // the instruction's own byte again (REX.W)
        CHECK(c.ask("Z3,2000,8") == "");     // no read-only watchpoints in the debug registers
        CHECK(c.ask("Z2,2001,8") == "E22");  // nor unaligned ones
        CHECK(c.ask("Z2,2000,8") == "OK");
        c.send_raw(raw_client::frame("c"));
        stopped("$T05thread:01;watch:2000;#");
        CHECK(c.ask("p10") == "16800f0000000000");  // after the store
        CHECK(c.ask("m2000,8") == "7412000000000000");
        CHECK(c.ask("z2,2000,8") == "OK");
        // The firmware's own store to 0x3000 is past: the exit status is ours.
        CHECK(c.ask("M3000,1:2a") == "OK");
        c.send_raw(raw_client::frame("c"));
        stopped("$W55#");
        CHECK(e.wait(20).status == 0x55);
        return;
    }
    c.send_raw(raw_client::frame("c"));
    stopped("$W23#");
    CHECK(e.wait(20).status == 0x23);
}
