#include "process.hpp"

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace qft {

std::string find_program(const std::string& name) {
    std::istringstream path(std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin");
    for (std::string dir; std::getline(path, dir, ':');)
        if (const std::string p = dir + "/" + name; access(p.c_str(), X_OK) == 0) return p;
    return {};
}

std::string find_qemu() { return find_program("qemu-system-x86_64"); }

std::string kvm_skip_reason(const std::string& name) {
    const char* env = std::getenv("QF_KVM_SKIP");
    std::istringstream items(env ? env : "");
    for (std::string item; std::getline(items, item, ';');) {
        const std::size_t eq = item.find('=');
        if (item.substr(0, eq) == name) return eq == std::string::npos ? "no reason given" : item.substr(eq + 1);
    }
    return {};
}

std::string slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

bool wait_for(const std::function<bool()>& cond, int timeout_ms) {
    for (int i = 0; i < timeout_ms / 10; ++i) {
        if (cond()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return cond();
}

child spawn(const std::vector<std::string>& args, int stdin_fd, int stdout_fd) {
    static int counter = 0;
    child c;
    std::string base = "/tmp/qf-cli-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
    c.out_path = base + ".out";
    c.err_path = base + ".err";
    c.pid = fork();
    if (c.pid == 0) {
        int in = stdin_fd >= 0 ? stdin_fd : open("/dev/null", O_RDONLY);
        int out = stdout_fd >= 0 ? stdout_fd : open(c.out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int err = open(c.err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(in, 0);
        dup2(out, 1);
        dup2(err, 2);
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        execv(argv[0], argv.data());
        _exit(127);
    }
    return c;
}

std::string child::err_so_far() const { return slurp(err_path); }

result child::wait(int timeout_s) {
    result r;
    int st = 0;
    bool done = false;
    for (int i = 0; i < timeout_s * 100; ++i) {
        if (waitpid(pid, &st, WNOHANG) == pid) {
            done = true;
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!done) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    r.out = slurp(out_path);
    r.err = slurp(err_path);
    unlink(out_path.c_str());
    unlink(err_path.c_str());
    return r;
}

result run(const std::vector<std::string>& args, int timeout_s) { return spawn(args).wait(timeout_s); }

emulator::~emulator() {
    if (!reaped) {
        ::kill(c.pid, SIGKILL);
        c.wait(5);
    }
}

result emulator::wait(int timeout_s) {
    reaped = true;
    return c.wait(timeout_s);
}

int connect_unix(const std::string& path) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    path.copy(a.sun_path, sizeof a.sun_path - 1);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) return fd;
    ::close(fd);
    return -1;
}

} // namespace qft
