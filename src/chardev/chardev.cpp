#include "qf/chardev/chardev.hpp"
#include "qf/chardev/backends.hpp"
#include "qf/core/error.hpp"
#include "qf/core/main_loop.hpp"

#include <cerrno>
#include <unistd.h>
#include <variant>

namespace qf {

template <class... B>
struct backend_list {
    using variant = std::variant<std::monostate, B...>;
};
using backends = backend_list<chardevs::stdio, chardevs::file, chardevs::null, chardevs::socket,
                              chardevs::pty, chardevs::ringbuf>;

struct chardev::impl {
    chardev_env env;
    backends::variant backend;
};

namespace {
template <class... B>
void emplace_by_name(backend_list<B...>, backends::variant& v, chardev& owner,
                     const chardev_spec& spec, chardev_env& env) {
    bool found = ((spec.backend == B::name ? (v.template emplace<B>(owner, spec, env), true) : false) || ...);
    if (!found) throw error("-chardev " + spec.backend + ": unknown chardev backend");
}
template <class... B>
std::string names(backend_list<B...>) {
    std::string s;
    ((s += std::string(B::name) + "\n"), ...);
    return s;
}
} // namespace

chardev::chardev(const chardev_spec& spec, chardev_env env)
    : id_(spec.id), backend_name_(spec.backend), impl_(std::make_unique<impl>()) {
    impl_->env = std::move(env);
    emplace_by_name(backends{}, impl_->backend, *this, spec, impl_->env);
}

chardev::~chardev() = default;

void chardev::write(std::span<const std::byte> data) {
    std::visit([&](auto& b) {
        if constexpr (!std::is_same_v<std::decay_t<decltype(b)>, std::monostate>) b.write(data);
    }, impl_->backend);
}

void chardev::attach(chardev_frontend fe) {
    fe_ = fe;
    if (connected()) peer_event(true);
    accept_input();
}

std::size_t chardev::pending_output() {
    if (auto* s = as<chardevs::socket>()) return s->pending();
    return 0;
}

bool chardev::connected() {
    if (auto* s = as<chardevs::socket>()) return s->connected();
    return true;
}

void chardev::accept_input() {
    std::visit([&](auto& b) {
        if constexpr (!std::is_same_v<std::decay_t<decltype(b)>, std::monostate>) b.accept_input();
    }, impl_->backend);
}

template <class Backend>
Backend* chardev::as() {
    return std::get_if<Backend>(&impl_->backend);
}
template chardevs::stdio* chardev::as<chardevs::stdio>();
template chardevs::file* chardev::as<chardevs::file>();
template chardevs::null* chardev::as<chardevs::null>();
template chardevs::socket* chardev::as<chardevs::socket>();
template chardevs::pty* chardev::as<chardevs::pty>();
template chardevs::ringbuf* chardev::as<chardevs::ringbuf>();

std::string chardev_backends_help() { return "Available chardev backend types:\n" + names(backends{}); }

namespace chardevs {

void fd_input::start(int fd) {
    fd_ = fd;
    paused_ = false;
    want_write_ = false;
    if (loop_)
        loop_->set_fd_handler(fd, POLLIN, [this](short rev) {
            if ((rev & POLLOUT) && on_writable) on_writable();
            if (fd_ >= 0 && (rev & (POLLIN | POLLHUP | POLLERR))) readable();
        });
}

void fd_input::stop() {
    if (fd_ >= 0 && loop_) loop_->remove_fd(fd_);
    fd_ = -1;
}

void fd_input::update_events() {
    if (fd_ >= 0 && loop_) loop_->set_fd_events(fd_, static_cast<short>((paused_ ? 0 : POLLIN) | (want_write_ ? POLLOUT : 0)));
}

void fd_input::resume() {
    if (fd_ >= 0 && paused_) {
        paused_ = false;
        update_events();
    }
}

void fd_input::want_write(bool on) {
    want_write_ = on;
    update_events();
}

void fd_input::readable() {
    std::size_t room = owner_.can_receive();
    if (room == 0) {
        // Stop polling until the frontend calls accept_input().
        paused_ = true;
        update_events();
        return;
    }
    std::byte buf[4096];
    ssize_t n = ::read(fd_, buf, std::min(room, sizeof buf));
    if (n > 0) {
        std::span<const std::byte> data(buf, std::size_t(n));
        if (filter) filter(data);
        else owner_.deliver(data);
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        stop();
        if (on_eof) on_eof();
    }
}

} // namespace chardevs
} // namespace qf
