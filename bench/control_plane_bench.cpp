// The control plane's round trips against any emulator that speaks QEMU's
// protocols: QMP query-status on a unix socket, and single-steps through
// the gdbstub (one 's' packet and its stop reply each). bench/control-plane
// runs it on qforge and on QEMU in the same run.
//   qf_bench_control qmp SOCKET N     -> round trips per second
//   qf_bench_control gdb SOCKET N     -> single-steps per second
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>

namespace {

int connect_unix(const char* path) {
    for (int tries = 0; tries < 500; ++tries) {
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
        const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) return fd;
        ::close(fd);
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::fprintf(stderr, "qf_bench_control: cannot connect to %s\n", path);
    std::exit(1);
}

void send_all(int fd, std::string_view s) {
    while (!s.empty()) {
        const ssize_t n = ::write(fd, s.data(), s.size());
        if (n <= 0) std::exit(1);
        s.remove_prefix(static_cast<std::size_t>(n));
    }
}

// Reads until `until` appears in what came (kept after it for next time).
void read_until(int fd, std::string& buf, std::string_view until) {
    for (;;) {
        if (const auto at = buf.find(until); at != std::string::npos) {
            buf.erase(0, at + until.size());
            return;
        }
        char b[4096];
        const ssize_t n = ::read(fd, b, sizeof b);
        if (n <= 0) {
            std::fprintf(stderr, "qf_bench_control: connection closed\n");
            std::exit(1);
        }
        buf.append(b, static_cast<std::size_t>(n));
    }
}

std::string frame(std::string_view payload) {
    unsigned sum = 0;
    for (char c : payload) sum += static_cast<unsigned char>(c);
    char cs[4];
    std::snprintf(cs, sizeof cs, "#%02x", sum & 0xff);
    return "$" + std::string(payload) + cs;
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: qf_bench_control qmp|gdb SOCKET N\n");
        return 2;
    }
    const std::string_view what = argv[1];
    const int n = std::atoi(argv[3]);
    const int fd = connect_unix(argv[2]);
    std::string buf;
    using clock = std::chrono::steady_clock;
    clock::time_point t0;
    if (what == "qmp") {
        read_until(fd, buf, "\n");  // the greeting
        send_all(fd, "{\"execute\": \"qmp_capabilities\"}\n");
        read_until(fd, buf, "\n");
        t0 = clock::now();
        for (int i = 0; i < n; ++i) {
            send_all(fd, "{\"execute\": \"query-status\"}\n");
            read_until(fd, buf, "\"return\"");
            read_until(fd, buf, "\n");
        }
    } else if (what == "gdb") {
        // No acks where the stub offers that (QEMU 7.2 does not): what
        // gdb itself would do with each.
        send_all(fd, frame("QStartNoAckMode"));
        read_until(fd, buf, "$");
        const bool no_ack = buf.starts_with("OK#");
        read_until(fd, buf, "#");
        while (buf.size() < 2) {  // the checksum
            char b[64];
            const ssize_t got = ::read(fd, b, sizeof b);
            if (got <= 0) return 1;
            buf.append(b, static_cast<std::size_t>(got));
        }
        buf.erase(0, 2);
        if (!no_ack) send_all(fd, "+");
        t0 = clock::now();
        for (int i = 0; i < n; ++i) {
            send_all(fd, frame("s"));
            read_until(fd, buf, "$T05");
            read_until(fd, buf, "#");
            if (!no_ack) send_all(fd, "+");
        }
    } else {
        return 2;
    }
    const double s = std::chrono::duration<double>(clock::now() - t0).count();
    std::printf("%.0f\n", n / s);
    return 0;
}
