// Migration through the real binary: a guest counting on COM1 is migrated
// mid-run (QMP's migrate, the monitor's) to another qforge process started
// with -incoming, and the two outputs together are the count without a gap
// or a repeat; failures leave the source running and say why.
#include "process.hpp"
#include "qmp_client.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace {

using json = nlohmann::json;
const std::string qforge = qft::build_path("QF_SYSTEM_BINARY", QF_SYSTEM_BINARY);
const std::string counter = qft::build_path("QF_FIRMWARE_DIR", QF_FIRMWARE_DIR) + "/test-counter.bin";
std::string tmp(const std::string& name) { return "/tmp/qf-mig-" + std::to_string(getpid()) + "-" + name; }

std::string whole_count() {
    std::string s;
    for (int i = 0; i < 400; ++i) s += std::to_string(i) + "\r\n";
    return s;
}
std::size_t lines(const std::string& s) { return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n')); }

// A source running the counter with QMP on a unix socket, its serial port in a file.
struct source {
    std::string sock = tmp("qmp.sock"), out = tmp("src.out");
    qft::emulator e;
    qft::qmp_client c;
    source()
        : e({qforge, "-M", "testrig", "-bios", counter, "-display", "none", "-serial", "file:" + tmp("src.out"), "-qmp",
             "unix:" + tmp("qmp.sock") + ",server=on,wait=off"}),
          c(sock) {
        c.message();  // the greeting
        c.command(R"({"execute": "qmp_capabilities"})");
        // Some lines out: the migration lands mid-count.
        REQUIRE(qft::wait_for([&] { return lines(qft::slurp(out)) >= 10; }, 20000));
    }
    json run(const std::string& cmd) { return c.command(cmd).back(); }
    // migrate returns at once, as QEMU's: query-migrate once it has ended.
    json migrated() {
        json m;
        REQUIRE(qft::wait_for(
            [&] {
                m = run(R"({"execute": "query-migrate"})")["return"];
                return m["status"] != "active" && m["status"] != "setup";
            },
            60000));
        return m;
    }
    ~source() {
        std::filesystem::remove(out);
        std::filesystem::remove(sock);
    }
};

} // namespace

TEST_CASE("a counting guest migrated through exec: goes on in the -incoming process without a gap or a repeat") {
    const std::string state = tmp("state"), dst_out = tmp("dst.out");
    std::string src_out;
    {
        source src;
        const json r = src.run(R"({"execute": "migrate", "arguments": {"uri": "exec:cat > )" + state + R"("}})");
        REQUIRE(r.contains("return"));
        const json m = src.migrated();
        CHECK(m["status"] == "completed");
        CHECK(m["ram"]["dirty-sync-count"].get<std::uint64_t>() >= 1);  // at least one pass after the first
        CHECK(m["ram"]["transferred"].get<std::uint64_t>() == std::filesystem::file_size(state));
        // QEMU's source after a completed migration: stopped, postmigrate.
        const json st = src.run(R"({"execute": "query-status"})")["return"];
        CHECK(st["status"] == "postmigrate");
        CHECK(st["running"] == false);
        src_out = qft::slurp(src.out);
        src.run(R"({"execute": "quit"})");
        CHECK(src.e.wait(20).status == 0);
        CHECK(qft::slurp(src.out) == src_out);  // nothing ran after the migration
    }
    const auto dst = qft::run({qforge, "-M", "testrig", "-bios", counter, "-display", "none", "-serial", "file:" + dst_out,
                               "-incoming", "exec:cat " + state}, 60);
    CHECK(dst.status == 1);  // isa-debug-exit with 0
    const std::string rest = qft::slurp(dst_out);
    CHECK(lines(src_out) < 400);
    CHECK_FALSE(rest.empty());
    CHECK(src_out + rest == whole_count());
    std::filesystem::remove(state);
    std::filesystem::remove(dst_out);
}

TEST_CASE("migrate over a unix socket from the human monitor to a waiting -incoming process") {
    const std::string path = tmp("mig.sock"), dst_out = tmp("dst2.out");
    qft::emulator dst({qforge, "-M", "testrig", "-bios", counter, "-display", "none", "-serial", "file:" + dst_out,
                       "-incoming", "unix:" + path});
    REQUIRE(qft::wait_for([&] { return std::filesystem::exists(path); }));
    std::string src_out;
    {
        source src;
        const json r = src.run(R"({"execute": "human-monitor-command", "arguments": {"command-line": "migrate -d unix:)" + path + R"("}})");
        CHECK(r["return"] == "");
        src.migrated();
        const std::string info =
            src.run(R"({"execute": "human-monitor-command", "arguments": {"command-line": "info migrate"}})")["return"];
        CHECK(info.find("Migration status: completed") != std::string::npos);
        CHECK(info.find("dirty sync count: ") != std::string::npos);
        src_out = qft::slurp(src.out);
        src.run(R"({"execute": "quit"})");
        src.e.wait(20);
    }
    CHECK(dst.wait(60).status == 1);
    CHECK(src_out + qft::slurp(dst_out) == whole_count());
    std::filesystem::remove(dst_out);
}

TEST_CASE("a guest writing all over 16 MiB migrated live keeps every page it wrote and goes on where it was") {
    const std::string dirtier = qft::build_path("QF_FIRMWARE_DIR", QF_FIRMWARE_DIR) + "/test-dirtier.bin";
    const std::string sock = tmp("live.sock"), out = tmp("live-src.out"), state = tmp("live.state"), dst_out = tmp("live-dst.out");
    std::string src_out;
    json m;
    {
        // 512 MiB: the first pass over RAM takes a while, and the guest runs between its steps.
        qft::emulator src({qforge, "-M", "testrig", "-m", "512", "-bios", dirtier, "-display", "none", "-serial",
                           "file:" + out, "-qmp", "unix:" + sock + ",server=on,wait=off"});
        qft::qmp_client c(sock);
        c.message();
        c.command(R"({"execute": "qmp_capabilities"})");
        REQUIRE(c.command(R"({"execute": "migrate-set-capabilities", "arguments": {"capabilities": [{"capability": "events", "state": true}]}})")
                    .back()
                    .contains("return"));
        REQUIRE(qft::wait_for([&] { return lines(qft::slurp(out)) >= 20; }, 30000));
        REQUIRE(c.command(R"({"execute": "migrate", "arguments": {"uri": "exec:cat > )" + state + R"("}})").back().contains("return"));
        std::vector<std::string> events;
        REQUIRE(qft::wait_for(
            [&] {
                for (const json& e : c.command(R"({"execute": "query-migrate"})"))
                    if (e.contains("event") && e["event"] == "MIGRATION") events.push_back(e["data"]["status"]);
                m = c.command(R"({"execute": "query-migrate"})").back()["return"];
                return m["status"] == "completed" || m["status"] == "failed";
            },
            60000));
        for (const json& e : c.command(R"({"execute": "query-status"})"))
            if (e.contains("event") && e["event"] == "MIGRATION") events.push_back(e["data"]["status"]);
        REQUIRE(m["status"] == "completed");
        // The guest ran and wrote pages while RAM was sent (only it writes
        // RAM here), and they went in a pass after the first.
        CHECK(m["ram"]["dirty-pages-rate"].get<std::uint64_t>() > 0);
        CHECK(m["ram"]["dirty-sync-count"].get<std::uint64_t>() >= 2);
        CHECK(m["ram"]["total"].get<std::uint64_t>() == 512ull << 20);
        CHECK(m["ram"]["remaining"].get<std::uint64_t>() == 0);
        CHECK(m["downtime"].get<std::uint64_t>() <= m["total-time"].get<std::uint64_t>());
        CHECK(std::find(events.begin(), events.end(), "completed") != events.end());
        CHECK(c.command(R"({"execute": "query-status"})").back()["return"]["status"] == "postmigrate");
        src_out = qft::slurp(out);
        c.command(R"({"execute": "quit"})");
        src.wait(20);
    }
    const auto dst = qft::run({qforge, "-M", "testrig", "-m", "512", "-bios", dirtier, "-display", "none", "-serial",
                               "file:" + dst_out, "-incoming", "exec:cat " + state}, 120);
    const std::string rest = qft::slurp(dst_out);
    INFO(rest.substr(0, 400));
    CHECK(rest.find("BAD") == std::string::npos);
    CHECK(dst.status == 1);  // isa-debug-exit 0, not 0x3f
    std::string whole;
    char line[16];
    for (unsigned i = 0; i < 200; ++i) {
        std::snprintf(line, sizeof line, "%08x \r\n", i);
        whole += line;
    }
    CHECK_FALSE(rest.empty());
    CHECK(src_out + rest == whole);
    for (const auto& f : {sock, out, state, dst_out}) std::filesystem::remove(f);
}

namespace {
// A TCP port on 127.0.0.1 that nothing listens on just now.
int free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}
} // namespace

TEST_CASE("migrate over TCP to a waiting -incoming process, and to a port where nothing listens") {
    const std::string port = std::to_string(free_port()), dst_out = tmp("tcp-dst.out");
    qft::emulator dst({qforge, "-M", "testrig", "-bios", counter, "-display", "none", "-serial", "file:" + dst_out,
                       "-incoming", "tcp:127.0.0.1:" + port});
    std::string src_out;
    {
        source src;
        // Listening before the constructor returned: connect until it answers.
        json m;
        for (int i = 0; i < 100; ++i) {
            REQUIRE(src.run(R"({"execute": "migrate", "arguments": {"uri": "tcp:127.0.0.1:)" + port + R"("}})").contains("return"));
            m = src.migrated();
            if (m["status"] == "completed") break;
            ::usleep(50000);
        }
        REQUIRE(m["status"] == "completed");
        src_out = qft::slurp(src.out);
        // A port where nothing listens: the connection fails, at once or
        // (a non-blocking connect in progress) on the way.
        const std::string closed = std::to_string(free_port());
        const json r = src.run(R"({"execute": "migrate", "arguments": {"uri": "tcp:127.0.0.1:)" + closed + R"("}})");
        std::string why;
        if (r.contains("error")) {
            why = r["error"]["desc"];
        } else {
            const json f = src.migrated();
            CHECK(f["status"] == "failed");
            why = f["error-desc"];
        }
        CHECK(why.find("connect tcp:127.0.0.1:" + closed) != std::string::npos);
        CHECK(src.run(R"({"execute": "query-status"})")["return"]["status"] == "postmigrate");  // from the migration before
        src.run(R"({"execute": "quit"})");
        src.e.wait(20);
    }
    CHECK(dst.wait(60).status == 1);
    CHECK(src_out + qft::slurp(dst_out) == whole_count());
    std::filesystem::remove(dst_out);
}

TEST_CASE("migrate_cancel stops a migration whose peer takes nothing and the guest runs on and capabilities refuse garbage") {
    const std::string dirtier = qft::build_path("QF_FIRMWARE_DIR", QF_FIRMWARE_DIR) + "/test-dirtier.bin";
    const std::string sock = tmp("cancel.sock"), peer = tmp("peer.sock");
    // A peer that accepts (the backlog) and never reads: the stream fills its buffer and waits.
    const int l = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    peer.copy(a.sun_path, sizeof a.sun_path - 1);
    REQUIRE(::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(l, 1) == 0);
    qft::emulator src({qforge, "-M", "testrig", "-bios", dirtier, "-display", "none", "-serial", "null", "-qmp",
                       "unix:" + sock + ",server=on,wait=off"});
    qft::qmp_client c(sock);
    c.message();
    c.command(R"({"execute": "qmp_capabilities"})");
    auto run = [&](const std::string& cmd) { return c.command(cmd).back(); };
    for (const char* bad : {R"({"capability": "nope", "state": true})", R"({"capability": "postcopy-ram", "state": true})",
                            R"({"capability": 3, "state": true})", R"("events")"}) {
        INFO(bad);
        const json r = run(std::string(R"({"execute": "migrate-set-capabilities", "arguments": {"capabilities": [)") + bad + "]}}");
        CHECK(r.contains("error"));
    }
    CHECK(run(R"({"execute": "migrate-set-capabilities", "arguments": {"capabilities": [{"capability": "postcopy-ram", "state": false}]}})").contains("return"));
    const json caps = run(R"({"execute": "query-migrate-capabilities"})")["return"];
    REQUIRE(caps.size() == 21);  // QEMU 7.2's
    for (const json& cap : caps) CHECK(cap["state"] == false);  // nothing was turned on
    CHECK(run(R"({"execute": "migrate", "arguments": {"uri": "unix:)" + peer + R"("}})").contains("return"));
    const json again = run(R"({"execute": "migrate", "arguments": {"uri": "unix:)" + peer + R"("}})");
    CHECK(again["error"]["desc"] == "There's a migration process in progress");
    ::usleep(300000);
    CHECK(run(R"({"execute": "query-migrate"})")["return"]["status"] == "active");  // the peer holds it
    CHECK(run(R"({"execute": "migrate_cancel"})").contains("return"));
    CHECK(run(R"({"execute": "query-migrate"})")["return"]["status"] == "cancelled");
    CHECK(run(R"({"execute": "query-status"})")["return"]["status"] == "running");
    run(R"({"execute": "quit"})");
    src.wait(20);
    ::close(l);
    for (const auto& f : {sock, peer}) std::filesystem::remove(f);
}

TEST_CASE("a failed migration leaves the source running and says why") {
    source src;
    const json r = src.run(R"({"execute": "migrate", "arguments": {"uri": "exec:exit 3"}})");
    REQUIRE(r.contains("return"));  // it fails on the way, as QEMU's
    const json m = src.migrated();
    CHECK(m["status"] == "failed");
    CHECK(m["error-desc"].get<std::string>().find("exited with status 3") != std::string::npos);
    CHECK(src.run(R"({"execute": "query-status"})")["return"]["status"] == "running");
    const json none = src.run(R"({"execute": "migrate", "arguments": {"uri": "unix:/nonexistent/qf-mig.sock"}})");
    CHECK(none["error"]["desc"].get<std::string>().find("migration: connect unix:/nonexistent/qf-mig.sock") != std::string::npos);
    const json bad = src.run(R"({"execute": "migrate", "arguments": {"uri": "fd:3"}})");
    CHECK(bad["error"]["desc"].get<std::string>().find("is not exec:CMD, unix:PATH or tcp:[HOST]:PORT") != std::string::npos);
    src.run(R"({"execute": "quit"})");
    src.e.wait(20);
}

TEST_CASE("a stream of another configuration is refused by -incoming with one line and status 1") {
    const std::string state = tmp("state3");
    {
        source src;
        REQUIRE(src.run(R"({"execute": "migrate", "arguments": {"uri": "exec:cat > )" + state + R"("}})").contains("return"));
        CHECK(src.migrated()["status"] == "completed");
        src.run(R"({"execute": "quit"})");
        src.e.wait(20);
    }
    const auto r = qft::run({qforge, "-M", "testrig", "-m", "256", "-bios", counter, "-display", "none", "-incoming",
                             "exec:cat " + state});
    CHECK(r.status == 1);
    CHECK(r.err.find("section 'machine': RAM is 128 MiB there, 256 MiB here (-m)") != std::string::npos);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    const auto junk = qft::run({qforge, "-M", "testrig", "-bios", counter, "-display", "none", "-incoming", "exec:echo nope"});
    CHECK(junk.status == 1);
    CHECK(junk.err.find("not a qforge state stream") != std::string::npos);
    std::filesystem::remove(state);
}

TEST_CASE("a machine started with -incoming defer waits in inmigrate with QMP up until migrate-incoming names the stream") {
    const std::string state = tmp("state4"), sock = tmp("defer.sock"), dst_out = tmp("dst4.out");
    std::string src_out;
    {
        source src;
        REQUIRE(src.run(R"({"execute": "migrate", "arguments": {"uri": "exec:cat > )" + state + R"("}})").contains("return"));
        CHECK(src.migrated()["status"] == "completed");
        src_out = qft::slurp(src.out);
        src.run(R"({"execute": "quit"})");
        src.e.wait(20);
    }
    qft::emulator dst({qforge, "-M", "testrig", "-bios", counter, "-display", "none", "-serial", "file:" + dst_out,
                       "-incoming", "defer", "-qmp", "unix:" + sock + ",server=on,wait=off"});
    qft::qmp_client c(sock);
    c.message();
    c.command(R"({"execute": "qmp_capabilities"})");
    auto run = [&](const std::string& cmd) { return c.command(cmd).back(); };
    CHECK(run(R"({"execute": "query-status"})")["return"]["status"] == "inmigrate");
    CHECK(run(R"({"execute": "query-migrate"})")["return"] == json::object());
    const json bad = run(R"({"execute": "migrate-incoming", "arguments": {"uri": "fd:3"}})");
    CHECK(bad["error"]["desc"].get<std::string>().find("is not exec:CMD, unix:PATH or tcp:[HOST]:PORT") != std::string::npos);
    CHECK(run(R"({"execute": "query-status"})")["return"]["status"] == "inmigrate");
    // As QEMU's: stop and cont here only say whether it runs once loaded.
    CHECK(run(R"({"execute": "stop"})").contains("return"));
    CHECK(run(R"({"execute": "cont"})").contains("return"));
    CHECK(run(R"({"execute": "system_reset"})").contains("return"));
    CHECK(run(R"({"execute": "query-status"})")["return"]["status"] == "inmigrate");
    CHECK(run(R"({"execute": "migrate-incoming", "arguments": {"uri": "exec:cat )" + state + R"("}})").contains("return"));
    const json again = run(R"({"execute": "migrate-incoming", "arguments": {"uri": "exec:cat )" + state + R"("}})");
    CHECK(again["error"]["desc"] == "The incoming migration has already been started");
    CHECK(dst.wait(60).status == 1);  // the count goes on and ends with isa-debug-exit 0
    CHECK(src_out + qft::slurp(dst_out) == whole_count());

    // Without -incoming, and through the human monitor.
    qft::emulator plain({qforge, "-M", "testrig", "-bios", counter, "-display", "none", "-S", "-qmp",
                         "unix:" + sock + ",server=on,wait=off"});
    qft::qmp_client p(sock);
    p.message();
    p.command(R"({"execute": "qmp_capabilities"})");
    const json no = p.command(R"({"execute": "migrate-incoming", "arguments": {"uri": "exec:true"}})").back();
    CHECK(no["error"]["desc"] == "'-incoming' was not specified on the command line");
    const json hmp =
        p.command(R"({"execute": "human-monitor-command", "arguments": {"command-line": "migrate_incoming exec:true"}})").back();
    CHECK(hmp["return"].get<std::string>().find("'-incoming' was not specified on the command line") != std::string::npos);
    p.command(R"({"execute": "quit"})");
    plain.wait(20);
    for (const auto& f : {state, sock, dst_out}) std::filesystem::remove(f);
}

TEST_CASE("a pc migrated once SeaBIOS set it up has its memory map and PCI devices and registers and devices on the -incoming side") {
    const std::string sock = tmp("pc.sock"), sock2 = tmp("pc2.sock"), state = tmp("pc.state");
    const std::vector<std::string> views = {"info mtree", "info pci", "info registers", "info qtree", "info pic"};
    auto hmp = [](qft::qmp_client& c, const std::string& line) {
        return c.command(R"({"execute": "human-monitor-command", "arguments": {"command-line": ")" + line + R"("}})")
            .back()["return"]
            .get<std::string>();
    };
    std::vector<std::string> before;
    {
        // -nographic: SeaBIOS's console on the serial port (sercon), on stdout.
        // The RTC on the VM's clock: the host's would tick on in the stopped
        // source between the save and its views.
        qft::emulator src({qforge, "-M", "pc", "-nographic", "-rtc", "clock=vm", "-qmp", "unix:" + sock + ",server=on,wait=off"});
        qft::qmp_client c(sock);
        c.message();
        c.command(R"({"execute": "qmp_capabilities"})");
        // PAM shadowing, PCI BARs, the PIC and the APICs programmed.
        REQUIRE(qft::wait_for([&] { return qft::slurp(src.c.out_path).find("No bootable device.") != std::string::npos; }, 60000));
        REQUIRE(c.command(R"({"execute": "migrate", "arguments": {"uri": "exec:cat > )" + state + R"("}})").back().contains("return"));
        REQUIRE(qft::wait_for([&] {
            return c.command(R"({"execute": "query-migrate"})").back()["return"]["status"] == "completed";
        }));
        for (const auto& v : views) before.push_back(hmp(c, v));
        c.command(R"({"execute": "quit"})");
        src.wait(20);
    }
    qft::emulator dst({qforge, "-M", "pc", "-S", "-display", "none", "-rtc", "clock=vm", "-incoming", "exec:cat " + state, "-qmp",
                       "unix:" + sock2 + ",server=on,wait=off"});
    qft::qmp_client c(sock2);
    c.message();
    c.command(R"({"execute": "qmp_capabilities"})");
    // The stream is read in the main loop: inmigrate until it is loaded, then paused (-S).
    REQUIRE(qft::wait_for([&] { return c.command(R"({"execute": "query-status"})").back()["return"]["status"] == "paused"; }));
    for (std::size_t i = 0; i < views.size(); ++i) {
        INFO(views[i]);
        CHECK(hmp(c, views[i]) == before[i]);
    }
    CHECK(before[0].find("pam-ram") != std::string::npos);  // the BIOS shadowed into RAM, on both sides
    c.command(R"({"execute": "quit"})");
    dst.wait(20);
    for (const auto& f : {sock, sock2, state}) std::filesystem::remove(f);
}

TEST_CASE("savevm and loadvm and delvm and info snapshots keep named snapshots in -vmstate-file and -loadvm starts from one") {
    const std::string file = tmp("snaps.qfvm"), sock = tmp("sv.sock"), out = tmp("sv.out"), out2 = tmp("sv2.out");
    auto hmp = [](qft::qmp_client& c, const std::string& line) {
        return c.command(R"({"execute": "human-monitor-command", "arguments": {"command-line": ")" + line + R"("}})")
            .back()["return"]
            .get<std::string>();
    };
    std::string at_save;
    {
        qft::emulator e({qforge, "-M", "testrig", "-bios", counter, "-display", "none", "-serial", "file:" + out,
                         "-vmstate-file", file, "-qmp", "unix:" + sock + ",server=on,wait=off"});
        qft::qmp_client c(sock);
        c.message();
        c.command(R"({"execute": "qmp_capabilities"})");
        CHECK(hmp(c, "info snapshots") == "There is no snapshot available.\r\n");
        REQUIRE(qft::wait_for([&] { return lines(qft::slurp(out)) >= 10; }, 20000));
        hmp(c, "stop");
        at_save = qft::slurp(out);
        CHECK(hmp(c, "savevm s1") == "");
        CHECK(hmp(c, "savevm s2") == "");
        const std::string list = hmp(c, "info snapshots");
        CHECK(list.find("List of snapshots present on all disks:") == 0);
        CHECK(list.find(" s1 ") != std::string::npos);
        CHECK(list.find(" s2 ") != std::string::npos);
        CHECK(hmp(c, "delvm s2") == "");
        CHECK(hmp(c, "info snapshots").find(" s2 ") == std::string::npos);
        CHECK(hmp(c, "delvm s2") == "Snapshot 's2' not found\r\n");
        CHECK(hmp(c, "loadvm nope") == "Snapshot 'nope' does not exist in one or more devices\r\n");
        // On from the snapshot, later back to it: the count after it again.
        hmp(c, "cont");
        REQUIRE(qft::wait_for([&] { return lines(qft::slurp(out)) >= lines(at_save) + 5; }, 20000));
        hmp(c, "stop");
        const std::string before_load = qft::slurp(out);
        CHECK(hmp(c, "loadvm s1") == "");
        // The stream is read in the main loop: inmigrate until it is loaded, then paused (-S).
    REQUIRE(qft::wait_for([&] { return c.command(R"({"execute": "query-status"})").back()["return"]["status"] == "paused"; }));
        hmp(c, "cont");
        REQUIRE(qft::wait_for([&] { return lines(qft::slurp(out)) >= lines(before_load) + 5; }, 20000));
        const std::string after = qft::slurp(out).substr(before_load.size());
        CHECK(whole_count().substr(at_save.size(), after.size()) == after);
        c.command(R"({"execute": "quit"})");
        e.wait(20);
    }
    // Another process from the snapshot: the rest of the count.
    const auto r = qft::run({qforge, "-M", "testrig", "-bios", counter, "-display", "none", "-serial", "file:" + out2,
                             "-vmstate-file", file, "-loadvm", "s1"}, 60);
    CHECK(r.status == 1);
    CHECK(at_save + qft::slurp(out2) == whole_count());
    const auto none = qft::run({qforge, "-M", "testrig", "-bios", counter, "-display", "none", "-loadvm", "s1"});
    CHECK(none.status == 1);
    CHECK(none.err.find("No block device can accept snapshots") != std::string::npos);
    for (const auto& f : {file, sock, out, out2}) std::filesystem::remove(f);
}
