#include "qf/chardev/backends.hpp"

namespace qf::chardevs {

ringbuf::ringbuf(chardev& owner, const chardev_spec& spec, chardev_env&)
    : owner_(owner), ring_(spec.size) {}

void ringbuf::write(std::span<const std::byte> data) {
    for (auto b : data) ring_[total_++ & (ring_.size() - 1)] = char(b);
}

std::string ringbuf::contents() const {
    std::uint64_t n = std::min<std::uint64_t>(total_, ring_.size());
    std::string s;
    s.reserve(n);
    for (std::uint64_t i = total_ - n; i < total_; ++i) s += ring_[i & (ring_.size() - 1)];
    return s;
}

std::string ringbuf::take() {
    auto s = contents();
    total_ = 0;
    return s;
}

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
