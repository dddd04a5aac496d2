#include "qf/memory/io_map.hpp"

namespace qf {

io_map::id io_map::add(std::string name, std::uint16_t length, io_ops ops) {
    entries_.push_back({std::move(name), length, ops, std::nullopt});
    return entries_.size() - 1;
}

void io_map::map(id i, std::optional<std::uint16_t> base) {
    entry& e = entries_.at(i);
    if (base && std::uint32_t(*base) + e.length > 0x10000) base.reset();
    mapped_ += std::size_t(base.has_value()) - std::size_t(e.base.has_value());
    if (base && base != e.base) e.mapped_at = ++maps_;
    e.base = base;
    covered_.fill(0);
    for (const entry& m : entries_)
        if (m.base)
            for (std::uint32_t p = *m.base; p < std::uint32_t(*m.base) + m.length; ++p) covered_[p >> 6] |= 1ull << (p & 63);
}

// Of two BARs the guest put over each other, the one mapped last answers,
// as in QEMU (a subregion added at the same priority goes in front).
const io_map::entry* io_map::find(std::uint16_t port, std::size_t size) const {
    const entry* found = nullptr;
    for (const entry& e : entries_)
        if (e.base && port >= *e.base && port + size <= std::uint32_t(*e.base) + e.length &&
            (!found || e.mapped_at > found->mapped_at))
            found = &e;
    return found;
}

bool io_map::read(std::uint16_t port, std::span<std::byte> data) const {
    const entry* e = find(port, data.size());
    if (!e) return false;
    e->ops.read(e->ops.dev, std::uint16_t(port - *e->base), data);
    return true;
}

bool io_map::write(std::uint16_t port, std::span<const std::byte> data) const {
    const entry* e = find(port, data.size());
    if (!e) return false;
    e->ops.write(e->ops.dev, std::uint16_t(port - *e->base), data);
    return true;
}

} // namespace qf
