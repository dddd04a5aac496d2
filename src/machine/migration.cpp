#include "qf/machine/migration.hpp"

#include "qf/core/error.hpp"
#include "qf/core/main_loop.hpp"
#include "qf/core/signals.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <new>
#include <string>
#include <utility>

#include <poll.h>

#include <fcntl.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

namespace qf::migration {

namespace {

enum class kind { exec, unix_socket, tcp };
struct target {
    kind k;
    std::string arg;           // the command or the path
    std::string host, port;    // tcp
};

target parse(std::string_view uri) {
    const auto colon = uri.find(':');
    const std::string_view scheme = uri.substr(0, colon == std::string_view::npos ? uri.size() : colon);
    const std::string rest(colon == std::string_view::npos ? std::string_view{} : uri.substr(colon + 1));
    if (scheme == "exec" && !rest.empty()) return {kind::exec, rest, {}, {}};
    if (scheme == "unix" && !rest.empty()) return {kind::unix_socket, rest, {}, {}};
    if (scheme == "tcp") {
        const auto last = rest.rfind(':');
        if (last != std::string::npos && last + 1 < rest.size()) {
            std::string host = rest.substr(0, last);
            if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
            return {kind::tcp, {}, host, rest.substr(last + 1)};
        }
    }
    throw error("migration: '" + std::string(uri) + "' is not exec:CMD, unix:PATH or tcp:[HOST]:PORT");
}

addrinfo* resolve(const target& t, bool passive) {
    addrinfo hints{}, *res = nullptr;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    if (int rc = ::getaddrinfo(t.host.empty() ? nullptr : t.host.c_str(), t.port.c_str(), &hints, &res))
        throw error("migration: address resolution failed for " + t.host + ":" + t.port + ": " + gai_strerror(rc));
    return res;
}

sockaddr_un unix_address(const std::string& path) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (path.size() >= sizeof a.sun_path) throw error("migration: socket path too long: " + path);
    path.copy(a.sun_path, path.size());
    return a;
}

// A TCP connection is left to complete in the main loop (in_progress):
// a host that does not answer must not hold it for minutes.
int connect_to(const target& t, bool& in_progress) {
    in_progress = false;
    if (t.k == kind::unix_socket) {
        sockaddr_un a = unix_address(t.arg);
        const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) {
            const auto msg = errno_message("migration: connect unix:" + t.arg);
            if (fd >= 0) ::close(fd);
            throw error(msg);
        }
        return fd;
    }
    addrinfo* res = resolve(t, false);
    std::string why = "no usable address";
    int fd = -1;
    for (auto* a = res; a && fd < 0; a = a->ai_next) {
        fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd >= 0 && ::connect(fd, a->ai_addr, a->ai_addrlen) < 0) {
            if (errno == EINPROGRESS) {
                in_progress = true;
                break;
            }
            why = errno_message("connect tcp:" + t.host + ":" + t.port);
            ::close(fd);
            fd = -1;
        }
    }
    ::freeaddrinfo(res);
    if (fd < 0) throw error("migration: " + why);
    return fd;
}

int listen_on(const target& t) {
    if (t.k == kind::unix_socket) {
        sockaddr_un a = unix_address(t.arg);
        const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ::unlink(t.arg.c_str());
        if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0 || ::listen(fd, 1) < 0) {
            const auto msg = errno_message("-incoming: bind unix:" + t.arg);
            if (fd >= 0) ::close(fd);
            throw error(msg);
        }
        return fd;
    }
    addrinfo* res = resolve(t, true);
    std::string why = "no usable address";
    int fd = -1;
    for (auto* a = res; a && fd < 0; a = a->ai_next) {
        fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, 0);
        if (fd < 0) continue;
        int one = 1;
        ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (::bind(fd, a->ai_addr, a->ai_addrlen) < 0 || ::listen(fd, 1) < 0) {
            why = errno_message("bind tcp:" + t.host + ":" + t.port);
            ::close(fd);
            fd = -1;
        }
    }
    ::freeaddrinfo(res);
    if (fd < 0) throw error("-incoming: " + why);
    return fd;
}

// /bin/sh -c CMD with one end of a pipe as its stdin (to_command) or stdout.
pid_t spawn(const std::string& cmd, bool to_command, int& our_end) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) < 0) throw error(errno_message("migration: pipe"));
    const pid_t pid = ::fork();
    if (pid < 0) {
        const auto msg = errno_message("migration: fork");
        ::close(p[0]);
        ::close(p[1]);
        throw error(msg);
    }
    if (pid == 0) {
        ::dup2(to_command ? p[0] : p[1], to_command ? 0 : 1);
        ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
    }
    ::close(to_command ? p[0] : p[1]);
    our_end = to_command ? p[1] : p[0];
    return pid;
}

void reap(pid_t pid, const std::string& cmd) {
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR) throw error(errno_message("migration: waitpid"));
        // A shutdown does not wait for a command that does not end.
        if (signals::shutdown_pending()) ::kill(pid, SIGKILL);
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        throw error("migration: exec:" + cmd + " " +
                    (WIFEXITED(st) ? "exited with status " + std::to_string(WEXITSTATUS(st))
                                   : "died of signal " + std::to_string(WTERMSIG(st))));
}

} // namespace

void check_uri(std::string_view uri) { parse(uri); }

outgoing::outgoing(std::string_view uri) : what_(uri) {
    const target t = parse(uri);
    if (t.k == kind::exec) {
        pid_ = spawn(t.arg, true, fd_);
        cmd_ = t.arg;
        what_ = "exec:" + t.arg;
    } else {
        fd_ = connect_to(t, connecting_);
    }
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
}

bool outgoing::connected() {
    if (!connecting_) return true;
    pollfd p{fd_, POLLOUT, 0};
    if (::poll(&p, 1, 0) == 0) return false;
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    if (err) {
        errno = err;
        throw error(errno_message("migration: connect " + what_));
    }
    connecting_ = false;
    return true;
}

outgoing::~outgoing() {
    if (fd_ >= 0) ::close(fd_);
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        int st;
        while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
        }
    }
}

std::size_t outgoing::write_some(std::span<const std::byte> data) {
    std::size_t done = 0;
    while (done < data.size()) {
        const ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (n <= 0) {
            // exec:'s command ended early: its status says more than EPIPE.
            const auto why = errno_message("migration: writing to " + what_);
            if (pid_ > 0) {
                ::close(std::exchange(fd_, -1));
                reap(std::exchange(pid_, -1), cmd_);
            }
            throw error(why);
        }
        done += static_cast<std::size_t>(n);
    }
    return done;
}

void outgoing::finish() {
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
    if (pid_ > 0) reap(std::exchange(pid_, -1), cmd_);
}

incoming::incoming(main_loop& loop, std::string_view uri, std::uint64_t max_bytes, done_fn done, failed_fn failed,
                   vmstate::splitter::take_fn take_section)
    : loop_(loop), what_(uri), max_(max_bytes), done_(std::move(done)), failed_(std::move(failed)),
      in_(std::move(take_section)) {
    const target t = parse(uri);
    if (t.k == kind::exec) {
        pid_ = spawn(t.arg, false, data_fd_);
        cmd_ = t.arg;
        what_ = "exec:" + t.arg;
        ::fcntl(data_fd_, F_SETFL, ::fcntl(data_fd_, F_GETFL) | O_NONBLOCK);
        loop_.set_fd_handler(data_fd_, POLLIN, [this](short) { read_some(); });
        return;
    }
    listen_fd_ = listen_on(t);
    ::fcntl(listen_fd_, F_SETFL, ::fcntl(listen_fd_, F_GETFL) | O_NONBLOCK);
    loop_.set_fd_handler(listen_fd_, POLLIN, [this](short) { accept_one(); });
}

incoming::~incoming() {
    close_fds();
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        int st;
        while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
        }
    }
}

void incoming::close_fds() {
    for (int* fd : {&listen_fd_, &data_fd_})
        if (*fd >= 0) {
            loop_.remove_fd(*fd);
            ::close(*fd);
            *fd = -1;
        }
}

// One connection, as QEMU takes: the listener goes once it is accepted.
void incoming::accept_one() {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED) return;
        return end(errno_message("-incoming: accept"));
    }
    loop_.remove_fd(listen_fd_);
    ::close(listen_fd_);
    listen_fd_ = -1;
    data_fd_ = fd;
    loop_.set_fd_handler(data_fd_, POLLIN, [this](short) { read_some(); });
}

void incoming::read_some() {
    std::byte buf[1 << 16];
    for (;;) {
        const ssize_t n = ::read(data_fd_, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (n < 0) return end(errno_message("migration: reading from " + what_));
        if (n == 0) return end({});
        try {
            in_.feed({buf, static_cast<std::size_t>(n)});
        } catch (const std::bad_alloc&) {
            return end("migration: no memory for the stream from " + what_ + " (" + std::to_string(in_.buffered() >> 20) + " MiB)");
        } catch (const std::exception& e) {  // a section refused as it came
            return end(e.what());
        }
        if (in_.buffered() > max_)
            return end("migration: " + what_ + " sends more than a stream of this machine can be");
    }
}

void incoming::end(std::string why) {
    if (ended_) return;
    ended_ = true;
    close_fds();
    if (pid_ > 0) {
        if (!why.empty()) ::kill(pid_, SIGKILL);
        try {
            const pid_t pid = std::exchange(pid_, -1);
            reap(pid, cmd_);
        } catch (const error& e) {
            if (why.empty()) why = e.what();
        }
    }
    // From the loop's next iteration: the callee may destroy this object.
    if (why.empty()) loop_.schedule([done = done_, in = std::move(in_.kept())]() mutable { done(std::move(in)); });
    else loop_.schedule([failed = failed_, why = std::move(why)] { failed(why); });
}

} // namespace qf::migration
