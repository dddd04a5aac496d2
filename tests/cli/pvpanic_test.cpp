// -device pvpanic through the real binary. tests/firmware/pvpanic.asm finds
// the port as a firmware does (fw_cfg's etc/pvpanic-port), prints what it
// reads, writes an event (fw_cfg's opt/pvpanic-write, 1 without it) and,
// unless the emulator stops or ends it, says "still running" and leaves
// with status 0x85. What follows the write - QMP's events and replies, the
// run state, COM1's lines, the exit status - must be QEMU 7.2's: the
// expectations below were recorded from qemu-system-x86_64 7.2 and, where
// it is installed, are checked against it again on every run.
#include "process.hpp"
#include "qmp_client.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>
#include <poll.h>
#include <unistd.h>

namespace {

using json = nlohmann::json;
const std::string qforge = qft::build_path("QF_SYSTEM_BINARY", QF_SYSTEM_BINARY);
const std::string firmware = qft::build_path("QF_FIRMWARE_DIR", QF_FIRMWARE_DIR) + "/test-pvpanic.bin";
std::string tmp(const std::string& name) { return "/tmp/qf-pvpanic-" + std::to_string(getpid()) + "-" + name; }

constexpr int still_running = (0x42 << 1) | 1;  // the firmware's exit after its spin

// Ours, then QEMU's where it is installed (said as a warning where not).
std::vector<std::string> emulators() {
    std::vector<std::string> e{qforge};
    if (const std::string q = qft::find_qemu(); !q.empty()) e.push_back(q);
    else WARN("SKIPPED QEMU's side: qemu-system-x86_64 is not installed");
    return e;
}

std::vector<std::string> command(const std::string& binary, const std::vector<std::string>& extra,
                                 const std::string& machine = "pc") {
    std::vector<std::string> a{binary, "-M", machine, "-vga", "none", "-nic", "none", "-display", "none",
                               "-serial", "stdio", "-bios", firmware};
    if (machine == "pc") a.insert(a.end(), {"-device", "isa-debug-exit,iobase=0xf4,iosize=4"});  // built in on testrig
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
}

std::vector<std::string> write_value(const std::string& v) { return {"-fw_cfg", "name=opt/pvpanic-write,string=" + v}; }
std::vector<std::string> cat(std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

using client = qft::qmp_client;

// A command sent once the event `after` has come (after the previous
// command's reply), or at once after that reply when `after` is empty.
struct step {
    std::string after, command;
};

// Events and replies apart: an event from the vCPU (GUEST_PANICKED) races
// the reply to the cont that let it run, but events follow one another in
// an order that does not race, and so do replies.
struct transcript {
    std::vector<std::string> events, replies;
    qft::result r;
};

// Starts BINARY stopped (-S) with a QMP socket, negotiates, sends cont,
// runs the steps, and reads until the process ends its side.
transcript session(const std::vector<std::string>& argv, std::vector<step> steps) {
    const std::string sock = tmp("qmp.sock");
    qft::emulator c(cat(argv, {"-S", "-qmp", "unix:" + sock + ",server=on,wait=off"}));
    transcript t;
    {
        client q(sock);
        REQUIRE(q.next(20000));  // the greeting
        steps.insert(steps.begin(), {{"", R"({"execute": "qmp_capabilities"})"}, {"", R"({"execute": "cont"})"}});
        std::size_t next = 0;
        bool waiting = false, armed = false;
        auto send_due = [&] {
            while (!waiting && next < steps.size() && (armed || steps[next].after.empty())) {
                q.send(steps[next++].command + "\n");
                waiting = true;
                armed = false;
            }
        };
        send_due();
        while (auto m = q.next(20000)) {
            m->erase("timestamp");
            if (m->contains("event")) {
                t.events.push_back(m->dump());
                if (next < steps.size() && (*m)["event"] == steps[next].after) armed = true;
            } else {
                t.replies.push_back(m->dump());
                waiting = false;
            }
            send_due();
        }
        INFO("steps sent: " << next << " of " << steps.size());
        CHECK(next == steps.size());
    }
    t.r = c.wait(20);
    ::unlink(sock.c_str());
    return t;
}

const std::string ok = R"({"return":{}})";
const std::string resume = R"({"event":"RESUME"})", stop = R"({"event":"STOP"})";
std::string status(const std::string& s, bool running = false) {
    return R"({"return":{"running":)" + std::string(running ? "true" : "false") + R"(,"singlestep":false,"status":")" + s +
           R"("}})";
}
std::string event(const std::string& name, const std::string& data) {
    return R"({"data":)" + data + R"(,"event":")" + name + R"("})";
}
const std::string panicked_poweroff = event("GUEST_PANICKED", R"({"action":"poweroff"})");
const std::string panicked_pause = event("GUEST_PANICKED", R"({"action":"pause"})");
const std::string panicked_run = event("GUEST_PANICKED", R"({"action":"run"})");
const std::string crash_loaded = event("GUEST_CRASHLOADED", R"({"action":"run"})");
const std::string shutdown_panic = event("SHUTDOWN", R"({"guest":true,"reason":"guest-panic"})");

const std::string wrote_1 = "pvpanic port 0505 reads 03, writing 01\n";

} // namespace

TEST_CASE("pvpanic: the port reads its events and only its own bits act") {
    struct run_case {
        std::vector<std::string> args;
        std::string out;
        int status;
    };
    const std::vector<run_case> cases = {
        // Events 3 (panicked, crash loaded); a write of 0 does nothing.
        {{"-device", "pvpanic"}, "pvpanic port 0505 reads 03, writing 00\nstill running\n", still_running},
        // ioport= moves it, and fw_cfg's etc/pvpanic-port says where;
        // events= is only what a read says.
        {{"-device", "pvpanic,ioport=0x600,events=9"}, "pvpanic port 0600 reads 09, writing 00\nstill running\n",
         still_running},
        {{"-device", "pvpanic,ioport=1536,id=pp"}, "pvpanic port 0600 reads 03, writing 00\nstill running\n",
         still_running},
        // No pvpanic: no fw_cfg file, nothing answers at 0x505.
        {{}, "no etc/pvpanic-port\npvpanic port 0505 reads ff, writing 00\nstill running\n", still_running},
    };
    for (const std::string& binary : emulators())
        for (const auto& k : cases) {
            const auto argv = command(binary, cat(k.args, write_value("0")));
            std::string line;
            for (auto& a : argv) line += a + " ";
            INFO(line);
            const qft::result r = qft::run(argv, 30);
            INFO("stderr: " << r.err);
            CHECK(r.out == k.out);
            CHECK(r.status == k.status);
        }
}

TEST_CASE("pvpanic: a panic under the default action is GUEST_PANICKED poweroff and a guest-panic SHUTDOWN") {
    for (const std::string& binary : emulators()) {
        INFO(binary);
        // QEMU also asks to stop the VM in guest-panicked, but takes the
        // shutdown first: no STOP event, exit status 0.
        transcript t = session(command(binary, {"-device", "pvpanic"}), {});
        CHECK(t.events == std::vector<std::string>{resume, panicked_poweroff, shutdown_panic});
        CHECK(t.replies == std::vector<std::string>{ok, ok});
        CHECK(t.r.out == wrote_1);  // nothing ran on to "still running"
        CHECK(t.r.status == 0);
        // Bits 0 and 1 together: the panic.
        t = session(command(binary, cat({"-device", "pvpanic"}, write_value("3"))), {});
        CHECK(t.events == std::vector<std::string>{resume, panicked_poweroff, shutdown_panic});
        CHECK(t.r.status == 0);
        // -action panic=exit-failure: the same events, status 1.
        t = session(command(binary, {"-device", "pvpanic", "-action", "panic=exit-failure"}), {});
        CHECK(t.events == std::vector<std::string>{resume, panicked_poweroff, shutdown_panic});
        CHECK(t.r.out == wrote_1);
        CHECK(t.r.status == 1);
    }
}

TEST_CASE("pvpanic: under -no-shutdown a panic leaves the VM stopped in guest-panicked until cont") {
    for (const std::string& binary : emulators()) {
        INFO(binary);
        transcript t = session(command(binary, {"-device", "pvpanic", "-no-shutdown"}),
                               {{"STOP", R"({"execute": "query-status"})"}, {"", R"({"execute": "cont"})"}});
        CHECK(t.events == std::vector<std::string>{resume, panicked_pause, stop, resume});
        CHECK(t.replies == std::vector<std::string>{ok, ok, status("guest-panicked"), ok});
        CHECK(t.r.out == wrote_1 + "still running\n");  // the guest went on after cont
        CHECK(t.r.status == still_running);
        // -action panic=pause, the same; system_reset makes it prelaunch, and
        // the second panic stops it again until quit.
        t = session(command(binary, {"-device", "pvpanic", "-action", "panic=pause"}),
                    {{"STOP", R"({"execute": "query-status"})"},
                     {"", R"({"execute": "system_reset"})"},
                     {"RESET", R"({"execute": "query-status"})"},
                     {"", R"({"execute": "cont"})"},
                     {"STOP", R"({"execute": "query-status"})"},
                     {"", R"({"execute": "quit"})"}});
        CHECK(t.events == std::vector<std::string>{resume, panicked_pause, stop,
                                                   event("RESET", R"({"guest":false,"reason":"host-qmp-system-reset"})"),
                                                   resume, panicked_pause, stop,
                                                   event("SHUTDOWN", R"({"guest":false,"reason":"host-qmp-quit"})")});
        CHECK(t.replies == std::vector<std::string>{ok, ok, status("guest-panicked"), ok, status("prelaunch"), ok,
                                                    status("guest-panicked"), ok});
        CHECK(t.r.out == wrote_1 + wrote_1);
        CHECK(t.r.status == 0);
        // exit-failure under -no-shutdown: the shutdown stops the VM (state
        // shutdown, which cont refuses).
        t = session(command(binary, {"-device", "pvpanic", "-action", "panic=exit-failure", "-no-shutdown"}),
                    {{"STOP", R"({"execute": "query-status"})"},
                     {"", R"({"execute": "cont"})"},
                     {"", R"({"execute": "quit"})"}});
        CHECK(t.events == std::vector<std::string>{resume, panicked_poweroff, shutdown_panic, stop,
                                                   event("SHUTDOWN", R"({"guest":false,"reason":"host-qmp-quit"})")});
        CHECK(t.replies ==
              std::vector<std::string>{ok, ok, status("shutdown"),
                                       R"({"error":{"class":"GenericError","desc":"Resetting the Virtual Machine is required"}})",
                                       ok});
        CHECK(t.r.status == 0);
    }
}

TEST_CASE("pvpanic: panic=none and a loaded crash kernel are events and the guest runs on") {
    for (const std::string& binary : emulators()) {
        INFO(binary);
        transcript t = session(command(binary, {"-device", "pvpanic", "-action", "panic=none"}), {});
        CHECK(t.events == std::vector<std::string>{resume, panicked_run});
        CHECK(t.r.out == wrote_1 + "still running\n");
        CHECK(t.r.status == still_running);
        // Bit 1 alone: GUEST_CRASHLOADED whatever -action says. With an
        // unknown bit too (0xa), logged once under guest_errors.
        t = session(command(binary, cat({"-device", "pvpanic", "-d", "guest_errors"}, write_value("a"))), {});
        CHECK(t.events == std::vector<std::string>{resume, crash_loaded});
        CHECK(t.r.out == "pvpanic port 0505 reads 03, writing 0a\nstill running\n");
        CHECK(t.r.err.find("pvpanic: unknown event 0xa.\nGuest crash loaded") != std::string::npos);
        CHECK(t.r.status == still_running);
    }
}

TEST_CASE("pvpanic: bad properties and -action values are refused with a clear error") {
    struct bad {
        std::vector<std::string> args;
        std::string says;
        bool qemu_says_it_too;  // QEMU's words; else only its status 1
    };
    const std::vector<bad> cases = {
        {{"-device", "pvpanic,ioport=0x10000"}, "'ioport'", false},  // QEMU: "Parameter 'ioport' expects uint16_t"
        {{"-device", "pvpanic,ioport=abc"}, "'ioport'", false},
        {{"-device", "pvpanic,ioport=-1"}, "'ioport'", false},
        {{"-device", "pvpanic,events=256"}, "'events'", false},  // QEMU: "Parameter 'events' expects uint8_t"
        {{"-device", "pvpanic,foo=1"}, "'foo' not found", false},  // QEMU: "Property 'pvpanic.foo' not found"
        {{"-device", "pvpanic", "-device", "pvpanic,ioport=0x600"}, "duplicate fw_cfg file name: etc/pvpanic-port", true},
        {{"-action", "panic=bogus"}, "-action panic=bogus: Parameter 'panic' does not accept value 'bogus'", true},
        {{"-action", "panic"}, "Parameter 'panic' does not accept value 'on'", true},
        {{"-action", "foo=bar"}, "-action foo=bar: Invalid parameter 'foo'", true},
        {{"-action", "shutdown=halt"}, "Parameter 'shutdown' does not accept value 'halt'", true},
    };
    for (const std::string& binary : emulators())
        for (const auto& k : cases) {
            const auto argv = command(binary, k.args);
            INFO(binary << " " << k.args.back());
            const qft::result r = qft::run(argv, 30);
            INFO("stderr: " << r.err);
            CHECK(r.status == 1);
            if (binary == qforge || k.qemu_says_it_too) CHECK(r.err.find(k.says) != std::string::npos);
        }
    // Departure: a port over a built-in device's is refused here (QEMU's
    // later ISA region would win over COM1's).
    const qft::result r = qft::run(command(qforge, {"-device", "pvpanic,ioport=0x3f8"}), 30);
    CHECK(r.status == 1);
    CHECK(r.err.find("already taken by a built-in device") != std::string::npos);
    CHECK(qft::run({qforge, "-M", "pc", "-device", "help"}).out.find("name \"pvpanic\", bus ISA\n") != std::string::npos);
}

TEST_CASE("pvpanic: on testrig the port is there without fw_cfg") {
    // No fw_cfg: the firmware takes 0x505 and writes 1. Ours only: QEMU has
    // no testrig (and registers no pvpanic port where there is no fw_cfg).
    qft::result r = qft::run(command(qforge, {"-device", "pvpanic"}, "testrig"), 30);
    CHECK(r.out == wrote_1);
    CHECK(r.status == 0);
    r = qft::run(command(qforge, {"-device", "pvpanic", "-action", "panic=none"}, "testrig"), 30);
    CHECK(r.out == wrote_1 + "still running\n");
    CHECK(r.status == still_running);
    r = qft::run(command(qforge, {}, "testrig"), 30);
    CHECK(r.out == "pvpanic port 0505 reads ff, writing 01\nstill running\n");
    CHECK(r.status == still_running);
}
