#include "qf/core/daemonize.hpp"
#include "qf/core/error.hpp"

#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace qf {

void daemonizer::detach() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) < 0) throw error(errno_message("-daemonize: pipe"));
    pid_t pid = ::fork();
    if (pid < 0) throw error(errno_message("-daemonize: fork"));
    if (pid > 0) {
        ::close(fds[1]);
        char status = 1;
        ssize_t n;
        do n = ::read(fds[0], &status, 1);
        while (n < 0 && errno == EINTR);
        // EOF means the daemon died before it was ready; it said why on stderr.
        std::_Exit(n == 1 && status == 0 ? 0 : 1);
    }
    ::close(fds[0]);
    ::setsid();
    // A second fork so the daemon can never reacquire a controlling terminal.
    pid = ::fork();
    if (pid < 0) throw error(errno_message("-daemonize: fork"));
    if (pid > 0) std::_Exit(0);
    ::umask(027);
    std::signal(SIGTSTP, SIG_IGN);
    std::signal(SIGTTOU, SIG_IGN);
    std::signal(SIGTTIN, SIG_IGN);
    pipe_fd_ = fds[1];
}

void daemonizer::ready() {
    if (pipe_fd_ < 0) return;
    if (::chdir("/") < 0) throw error(errno_message("-daemonize: chdir /"));
    int null = ::open("/dev/null", O_RDWR);
    if (null >= 0) {
        ::dup2(null, STDIN_FILENO);
        ::dup2(null, STDOUT_FILENO);
        ::dup2(null, STDERR_FILENO);
        if (null > STDERR_FILENO) ::close(null);
    }
    char ok = 0;
    [[maybe_unused]] auto n = ::write(pipe_fd_, &ok, 1);
    ::close(pipe_fd_);
    pipe_fd_ = -1;
}

} // namespace qf
