#include "qf/chardev/backends.hpp"
#include "qf/core/error.hpp"
#include "qf/core/main_loop.hpp"
#include "fd_io.hpp"
#include "qf/core/signals.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace qf::chardevs {
namespace {

int listen_tcp(const chardev_spec& s, std::uint16_t& bound) {
    addrinfo hints{}, *res = nullptr;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    std::string port = std::to_string(s.port);
    if (int rc = ::getaddrinfo(s.host.empty() ? nullptr : s.host.c_str(), port.c_str(), &hints, &res))
        throw error("chardev '" + s.id + "': address resolution failed for " + s.host + ":" + port +
                    ": " + gai_strerror(rc));
    int fd = -1;
    std::string why = "no usable address";
    for (auto* a = res; a; a = a->ai_next) {
        fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, 0);
        if (fd < 0) continue;
        int one = 1;
        ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, 16) == 0) break;
        why = errno_message("bind " + s.host + ":" + port);
        ::close(fd);
        fd = -1;
    }
    ::freeaddrinfo(res);
    if (fd < 0) throw error("chardev '" + s.id + "': " + why);
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    bound = ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                                           : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    return fd;
}

int listen_unix(const chardev_spec& s) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (s.path.size() >= sizeof a.sun_path)
        throw error("chardev '" + s.id + "': socket path too long: " + s.path);
    s.path.copy(a.sun_path, s.path.size());
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw error(errno_message("chardev '" + s.id + "': socket"));
    ::unlink(s.path.c_str());
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0 || ::listen(fd, 16) < 0) {
        auto msg = errno_message("chardev '" + s.id + "': bind " + s.path);
        ::close(fd);
        throw error(msg);
    }
    return fd;
}

} // namespace

socket::socket(chardev& owner, const chardev_spec& spec, chardev_env& env)
    : owner_(owner), loop_(env.loop), input_(owner, env.loop) {
    if (spec.path.empty()) {
        listen_ = listen_tcp(spec, port_);
    } else {
        listen_ = listen_unix(spec);
        unix_path_ = spec.path;
    }
    input_.on_eof = [this] { drop_client(); };
    input_.on_writable = [this] { flush(); };
    if (loop_) loop_->set_fd_handler(listen_, POLLIN, [this](short) { accept_client(); });
    if (spec.wait) {
        // QEMU blocks start-up until the first client connects.
        std::string where = spec.path.empty() ? "tcp:" + spec.host + ":" + std::to_string(port_)
                                              : "unix:" + spec.path;
        report_error("info: waiting for connection on: " + where + ",server=on");
        while (client_ < 0) {
            accept_client();
            if (client_ >= 0 || errno == ECONNABORTED) continue;
            if (errno != EINTR) throw error(errno_message("chardev '" + spec.id + "': accept"));
            if (signals::shutdown_pending()) signals::die_of_pending_signal();
        }
    }
}

socket::~socket() {
    drop_client(false);  // the frontend may be gone already
    if (loop_ && listen_ >= 0) loop_->remove_fd(listen_);
    if (listen_ >= 0) ::close(listen_);
    if (!unix_path_.empty()) ::unlink(unix_path_.c_str());
}

// One client at a time, as QEMU: while one is attached the listening
// socket leaves the poll set, so the next waits in the backlog (not reset)
// and is taken when the first leaves.
void socket::accept_client() {
    if (client_ >= 0) return;
    int fd = ::accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) return;
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    client_ = fd;
    if (loop_) loop_->set_fd_events(listen_, 0);
    input_.start(fd);
    owner_.peer_event(true);
}

void socket::drop_client(bool tell) {
    if (client_ < 0) return;
    input_.stop();
    ::close(client_);
    client_ = -1;
    pending_.clear();
    if (tell) owner_.peer_event(false);
    if (loop_ && listen_ >= 0) loop_->set_fd_events(listen_, POLLIN);
}

// What the client cannot take now waits (up to max_pending) and goes when
// it makes room: a monitor's answers arrive whole however slowly the
// client reads.
void socket::write(std::span<const std::byte> data) {
    if (client_ < 0) return;
    if (pending_.empty()) data = data.subspan(write_some(client_, data));
    if (data.empty()) return;
    const std::size_t room = max_pending - std::min(max_pending, pending_.size());
    pending_.append(reinterpret_cast<const char*>(data.data()), std::min(room, data.size()));
    input_.want_write(true);
}

void socket::flush() {
    if (client_ < 0) return;
    const std::size_t n = write_some(client_, std::as_bytes(std::span(pending_.data(), pending_.size())));
    pending_.erase(0, n);
    if (pending_.empty()) {
        input_.want_write(false);
        owner_.accept_input();  // a frontend that waited for its output to go may take input again
    }
}

} // namespace qf::chardevs
