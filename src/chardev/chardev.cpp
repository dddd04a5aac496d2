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
    : id_(spec.id), backend_name_(spec.backend), mux_(spec.mux), impl_(std::make_unique<impl>()) {
    impl_->env = std::move(env);
    emplace_by_name(backends{}, impl_->backend, *this, spec, impl_->env);
    if (spec.backend == "socket")
        filename_ = (spec.path.empty() ? "tcp:" + spec.host + ":" + std::to_string(spec.port) : "unix:" + spec.path) +
                    ",server=on";
    else if (spec.backend == "file")
        filename_ = "file:" + spec.path;
    else
        filename_ = spec.backend;
    if (spec.mux) filename_ = "mux:" + filename_;
}

chardev::~chardev() = default;

void chardev::write(std::span<const std::byte> data) {
    std::visit([&](auto& b) {
        if constexpr (!std::is_same_v<std::decay_t<decltype(b)>, std::monostate>) b.write(data);
    }, impl_->backend);
}

void chardev::attach(chardev_frontend fe) {
    if (mux_) {
        if (fe_.dev && fe_.focus) fe_.focus(fe_.dev, false);
        fes_.push_back(fe);
        focus_ = fes_.size() - 1;
    }
    fe_ = fe;
    if (connected()) peer_event(true);
    if (mux_ && fe_.focus) fe_.focus(fe_.dev, true);
    accept_input();
}

void chardev::detach(const void* dev) {
    if (!mux_ || !dev) {
        fe_ = {};
        fes_.clear();
        return;
    }
    std::erase_if(fes_, [dev](const chardev_frontend& f) { return f.dev == dev; });
    focus_ = 0;
    fe_ = fes_.empty() ? chardev_frontend{} : fes_.front();
}

void chardev::mux_next() {
    if (fes_.size() < 2) return;
    if (fe_.focus) fe_.focus(fe_.dev, false);
    focus_ = (focus_ + 1) % fes_.size();
    fe_ = fes_[focus_];
    if (fe_.focus) fe_.focus(fe_.dev, true);
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
    watch();
}

void fd_input::watch() {
    unwatched_ = false;
    if (loop_)
        loop_->set_fd_handler(fd_, static_cast<short>(POLLIN | (want_write_ ? POLLOUT : 0)), [this](short rev) {
            if ((rev & POLLOUT) && on_writable) on_writable();
            if (fd_ >= 0 && (rev & (POLLIN | POLLHUP | POLLERR))) readable(rev);
        });
}

void fd_input::stop() {
    if (fd_ >= 0 && loop_ && !unwatched_) loop_->remove_fd(fd_);
    fd_ = -1;
}

void fd_input::update_events() {
    if (fd_ >= 0 && loop_ && !unwatched_) loop_->set_fd_events(fd_, static_cast<short>((paused_ ? 0 : POLLIN) | (want_write_ ? POLLOUT : 0)));
}

void fd_input::resume() {
    if (fd_ >= 0 && paused_) {
        paused_ = false;
        if (unwatched_) watch();
        else update_events();
    }
}

void fd_input::want_write(bool on) {
    want_write_ = on;
    if (unwatched_ && on) watch();  // output must go on: the hang-up is seen again, and paused again
    else update_events();
}

void fd_input::readable(short revents) {
    const std::size_t can = room ? room() : owner_.can_receive();
    if (can == 0) {
        // Stop polling until the frontend calls accept_input(); a hang-up
        // is reported whatever we ask, so the fd leaves the set meanwhile.
        paused_ = true;
        if ((revents & (POLLHUP | POLLERR)) && !(revents & POLLIN) && loop_ && !want_write_) {
            loop_->remove_fd(fd_);
            unwatched_ = true;
        } else {
            update_events();
        }
        return;
    }
    std::byte buf[4096];
    ssize_t n = ::read(fd_, buf, std::min(can, sizeof buf));
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
