#pragma once
// Runs the emulator binary as a child process for the command-line tests.
#include "../build_path.hpp"

#include <functional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace qft {

struct result {
    int status = -1;  // exit status, or 128+signal
    std::string out, err;
};

// Runs to completion (killed after timeout_s), stdin from /dev/null.
result run(const std::vector<std::string>& args, int timeout_s = 20);

// A child left running: its pid, and files that collect its output.
struct child {
    pid_t pid = -1;
    std::string out_path, err_path;
    result wait(int timeout_s = 20);  // reaps; kills with SIGKILL after the timeout
    std::string err_so_far() const;
};
child spawn(const std::vector<std::string>& args, int stdin_fd = -1, int stdout_fd = -1);

// A child that is killed if a failed REQUIRE leaves before it is reaped.
struct emulator {
    child c;
    bool reaped = false;
    explicit emulator(const std::vector<std::string>& argv) : c(spawn(argv)) {}
    ~emulator();
    emulator(const emulator&) = delete;
    emulator& operator=(const emulator&) = delete;
    result wait(int timeout_s);
    pid_t pid() const { return c.pid; }
};

// A connected unix stream socket (close-on-exec), or -1.
int connect_unix(const std::string& path);

std::string slurp(const std::string& path);
// qemu-system-x86_64's path on PATH, or "" (the QEMU comparisons run it,
// and ctest skips them where there is none).
std::string find_qemu();
// A program's path on PATH, or "".
std::string find_program(const std::string& name);
// QF_KVM_SKIP="name=why;name=why": what a host's KVM cannot run right, each
// with the reason (scripts/kvm-nested names what its emulated SVM gets
// wrong); "" if name is not there. Said as a skip, never passed silently.
std::string kvm_skip_reason(const std::string& name);
bool wait_for(const std::function<bool()>& cond, int timeout_ms = 10000);

} // namespace qft
