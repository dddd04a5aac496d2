#include "qf/chardev/backends.hpp"

#include <algorithm>

namespace qf::chardevs {

ringbuf::ringbuf(chardev& owner, const chardev_spec& spec, chardev_env&)
    : owner_(owner), ring_(spec.size) {}

void ringbuf::write(std::span<const std::byte> data) {
    for (auto b : data) ring_[total_++ & (ring_.size() - 1)] = char(b);
}

std::uint64_t ringbuf::first_unread() const {
    return std::max(read_, total_ > ring_.size() ? total_ - ring_.size() : 0);
}

std::string ringbuf::contents() const {
    std::string s;
    s.reserve(static_cast<std::size_t>(total_ - first_unread()));
    for (std::uint64_t i = first_unread(); i < total_; ++i) s += ring_[i & (ring_.size() - 1)];
    return s;
}

std::string ringbuf::read(std::size_t max) {
    std::string s = contents();
    if (s.size() > max) s.resize(max);
    read_ = first_unread() + s.size();
    return s;
}

std::string ringbuf::take() { return read(static_cast<std::size_t>(-1)); }

void ringbuf::send_to_guest(std::string_view s) {
    pending_in_ += s;
    accept_input();
}

void ringbuf::accept_input() {
    while (!pending_in_.empty()) {
        std::size_t n = std::min(owner_.can_receive(), pending_in_.size());
        if (n == 0) return;
        owner_.deliver(std::as_bytes(std::span(pending_in_.data(), n)));
        pending_in_.erase(0, n);
    }
}

} // namespace qf::chardevs
