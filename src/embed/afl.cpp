#include "qf/embed/afl.hpp"

#include "qf/core/error.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

namespace qf::embed::afl {

namespace {
constexpr int ctl_fd = 198, status_fd = 199;  // afl-fuzz's FORKSRV_FD and FORKSRV_FD + 1
// afl-fuzz looks for this name in a binary to tell an instrumented one.
constexpr const char* shm_env = "__AFL_SHM_ID";
// ... and for this one to tell a persistent target: without it, it ends
// the child after each input, and each would boot the firmware again.
volatile const char persistent_signature[] = "##SIG_AFL_PERSISTENT##";

bool read_word(int fd, std::uint32_t& v) {
    for (;;) {
        const ssize_t n = ::read(fd, &v, 4);
        if (n == 4) return true;
        if (n < 0 && errno == EINTR) continue;
        return false;
    }
}
bool write_word(int fd, std::uint32_t v) { return ::write(fd, &v, 4) == 4; }

bool first_input = true;
} // namespace

bool under_afl() { return std::getenv(shm_env) && ::fcntl(ctl_fd, F_GETFD) != -1 && ::fcntl(status_fd, F_GETFD) != -1; }

std::span<std::uint8_t> attach_coverage_map() {
    const char* id = std::getenv(shm_env);
    if (!id) throw error("afl: __AFL_SHM_ID is not set (not started by afl-fuzz)");
    std::size_t size = 65536;
    if (const char* s = std::getenv("AFL_MAP_SIZE")) {
        char* end = nullptr;
        const unsigned long v = std::strtoul(s, &end, 0);
        if (!*s || *end || v < 64 || v > (1ul << 23) || (v & (v - 1)))
            throw error(std::string("afl: AFL_MAP_SIZE '") + s + "' is not a power of two from 64 to 8 MiB");
        size = v;
    }
    void* p = ::shmat(std::atoi(id), nullptr, 0);
    if (p == reinterpret_cast<void*>(-1))
        throw error(std::string("afl: cannot attach the coverage map (shmat ") + id + "): " + std::strerror(errno));
    // afl-fuzz offers megabytes (AFL_MAP_SIZE is its segment's size); the
    // classic 64 KiB holds a firmware's edges, and is what serve_forks
    // tells afl-fuzz to clear and scan.
    return {static_cast<std::uint8_t*>(p), std::min<std::size_t>(size, 65536)};
}

void serve_forks(std::size_t map_size) {
    (void)persistent_signature[0];  // kept in the binary: the linker drops what nothing reads
    // The hello names one option, the map's size: afl-fuzz otherwise clears
    // and scans a map of megabytes after each input (a millisecond each,
    // 60 times the run itself on a small firmware).
    constexpr std::uint32_t opt_enabled = 0x80000001, opt_map_size = 0x40000000;
    if (map_size < 2 || map_size > (1u << 23)) std::_Exit(1);
    const auto hello = opt_enabled | opt_map_size | static_cast<std::uint32_t>((map_size - 1) << 1);
    if (!write_word(status_fd, hello)) std::_Exit(1);
    pid_t child = -1;
    bool stopped = false;
    for (;;) {
        std::uint32_t was_killed = 0;
        if (!read_word(ctl_fd, was_killed)) std::_Exit(0);  // afl-fuzz is gone
        // afl-fuzz killed a stopped child on its timeout: reap it.
        if (stopped && was_killed) {
            int st = 0;
            ::waitpid(child, &st, 0);
            stopped = false;
        }
        if (!stopped) {
            child = ::fork();
            if (child < 0) std::_Exit(1);
            if (child == 0) {
                ::close(ctl_fd);
                ::close(status_fd);
                const rlimit no_core{0, 0};  // a reported crash is not a core dump
                ::setrlimit(RLIMIT_CORE, &no_core);
                first_input = true;
                return;
            }
        } else {
            ::kill(child, SIGCONT);
            stopped = false;
        }
        if (!write_word(status_fd, static_cast<std::uint32_t>(child))) std::_Exit(1);
        int st = 0;
        while (::waitpid(child, &st, WUNTRACED) < 0)
            if (errno != EINTR) std::_Exit(1);
        stopped = WIFSTOPPED(st);
        if (!write_word(status_fd, static_cast<std::uint32_t>(st))) std::_Exit(1);
    }
}

void next_input() {
    if (first_input) {
        first_input = false;
        return;
    }
    ::raise(SIGSTOP);
}

void report_crash() {
    std::signal(SIGABRT, SIG_DFL);
    ::raise(SIGABRT);
    std::_Exit(134);
}

std::vector<std::byte> read_input(int fd, std::size_t max) {
    std::vector<std::byte> out(max);
    if (::lseek(fd, 0, SEEK_SET) < 0 && errno != ESPIPE)
        throw error(std::string("afl: cannot rewind the input: ") + std::strerror(errno));
    std::size_t got = 0;
    while (got < max) {
        const ssize_t n = ::read(fd, out.data() + got, max - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw error(std::string("afl: cannot read the input: ") + std::strerror(errno));
        if (n == 0) break;
        got += static_cast<std::size_t>(n);
    }
    out.resize(got);
    return out;
}

} // namespace qf::embed::afl
