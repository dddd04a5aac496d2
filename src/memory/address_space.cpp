#include "qf/memory/address_space.hpp"
#include "qf/core/error.hpp"
#include "qf/core/log.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstring>
#include <set>

namespace qf {

region_id address_space::add(region r) {
    if (r.size == 0) throw error("memory region '" + r.name + "' is empty");
    std::uint64_t last = r.base.value + r.size - 1;
    if (last < r.base.value) throw error("memory region '" + r.name + "' wraps the address space");
    for (auto& o : regions_) {
        std::uint64_t olast = o.base.value + o.size - 1;
        if (!o.may_overlap && !r.may_overlap && o.priority == r.priority && r.base.value <= olast &&
            o.base.value <= last)
            throw error("memory region '" + r.name + "' overlaps '" + o.name + "'");
    }
    const std::uint64_t first = r.base.value;
    const bool on = r.enabled;
    regions_.push_back(std::move(r));
    rebuild();
    if (on) changed(first, last);
    return regions_.size() - 1;
}

void address_space::set_enabled(region_id id, bool on) {
    region& r = regions_.at(id);
    if (r.enabled == on) return;
    r.enabled = on;
    rebuild();
    changed(r.base.value, r.base.value + r.size - 1);
}

void address_space::move(region_id id, gpa base) {
    region& r = regions_.at(id);
    if (r.base == base) return;
    if (base.value + r.size - 1 < base.value) throw error("memory region '" + r.name + "' wraps the address space");
    const std::uint64_t old = r.base.value;
    r.base = base;
    rebuild();
    if (r.enabled) {
        changed(old, old + r.size - 1);
        changed(base.value, base.value + r.size - 1);
    }
}

void address_space::remove_listener(memory_listener* l) const { std::erase(listeners_, l); }

void address_space::changed(std::uint64_t first, std::uint64_t last) const {
    for (auto* l : listeners_) l->map_changed(first, last);
}

// Sweep over every region boundary; each elementary interval belongs to the
// highest-priority region covering it (later-added wins a tie, never reached
// since equal priorities may not overlap).
void address_space::rebuild() {
    flat_.clear();
    std::set<std::uint64_t> cuts;  // start points of elementary intervals
    for (auto& r : regions_) {
        if (!r.enabled) continue;
        cuts.insert(r.base.value);
        std::uint64_t end = r.base.value + r.size;  // 0 when the region ends at 2^64
        if (end) cuts.insert(end);
    }
    for (auto it = cuts.begin(); it != cuts.end(); ++it) {
        std::uint64_t first = *it;
        auto next = std::next(it);
        std::uint64_t last = next == cuts.end() ? UINT64_MAX : *next - 1;
        const region* best = nullptr;
        for (auto& r : regions_) {
            if (r.enabled && first >= r.base.value && first - r.base.value < r.size &&
                (!best || r.priority > best->priority))
                best = &r;
        }
        if (!best) continue;
        if (!flat_.empty() && flat_.back().r == best && flat_.back().last + 1 == first)
            flat_.back().last = last;
        else
            flat_.push_back({first, last, best});
    }
}

const address_space::segment* address_space::find(gpa a) const {
    const auto hits = [&](std::size_t i) { return i < flat_.size() && flat_[i].first <= a.value && a.value <= flat_[i].last; };
    const std::size_t h0 = hit_[0].load(std::memory_order_relaxed);
    if (hits(h0)) return &flat_[h0];
    const std::size_t h1 = hit_[1].load(std::memory_order_relaxed);
    if (hits(h1)) return &flat_[h1];
    auto it = std::upper_bound(flat_.begin(), flat_.end(), a.value,
                               [](std::uint64_t v, const segment& s) { return v < s.first; });
    if (it == flat_.begin()) return nullptr;
    --it;
    if (a.value > it->last) return nullptr;
    hit_[1].store(h0, std::memory_order_relaxed);
    hit_[0].store(static_cast<std::size_t>(it - flat_.begin()), std::memory_order_relaxed);
    return &*it;
}

// How many of `size` bytes from an unassigned address a stay unassigned.
std::uint64_t address_space::unassigned_run(gpa a, std::uint64_t size) const {
    auto it = std::upper_bound(flat_.begin(), flat_.end(), a.value,
                               [](std::uint64_t v, const segment& x) { return v < x.first; });
    return it == flat_.end() ? size : std::min<std::uint64_t>(size, it->first - a.value);
}

void address_space::read(gpa a, std::span<std::byte> out) const {
    while (!out.empty()) {
        const segment* s = find(a);
        std::uint64_t chunk;
        if (!s) {
            chunk = unassigned_run(a, out.size());
            std::memset(out.data(), 0, chunk);
            logf(log_item::guest_errors, "read of unassigned memory at 0x%" PRIx64 "\n", a.value);
        } else {
            chunk = std::min<std::uint64_t>(out.size(), s->last - a.value + 1);
            std::uint64_t off = a.value - s->r->base.value;
            if (s->r->kind == region_kind::mmio)
                s->r->ops.read(s->r->ops.dev, off, out.first(chunk));
            else
                std::memcpy(out.data(), s->r->host + off, chunk);
        }
        out = out.subspan(chunk);
        a = a + chunk;
    }
}

template <bool Loader>
void address_space::write_impl(gpa a, std::span<const std::byte> in) const {
    while (!in.empty()) {
        const segment* s = find(a);
        std::uint64_t chunk;
        if (!s) {
            chunk = unassigned_run(a, in.size());
            if (Loader) throw error("cannot load data at unassigned address 0x" + [&] {
                char b[20];
                std::snprintf(b, sizeof b, "%" PRIx64, a.value);
                return std::string(b);
            }());
            logf(log_item::guest_errors, "write to unassigned memory at 0x%" PRIx64 "\n", a.value);
        } else {
            chunk = std::min<std::uint64_t>(in.size(), s->last - a.value + 1);
            std::uint64_t off = a.value - s->r->base.value;
            switch (s->r->kind) {
            case region_kind::ram: std::memcpy(s->r->host + off, in.data(), chunk); break;
            case region_kind::rom:
                if (Loader)
                    std::memcpy(s->r->host + off, in.data(), chunk);
                else
                    logf(log_item::guest_errors, "write to ROM '%s' at 0x%" PRIx64 " ignored\n",
                         s->r->name.c_str(), a.value);
                break;
            case region_kind::mmio:
                if (Loader) throw error("cannot load data into MMIO region '" + s->r->name + "'");
                s->r->ops.write(s->r->ops.dev, off, in.first(chunk));
                break;
            }
        }
        in = in.subspan(chunk);
        a = a + chunk;
    }
}

void address_space::write(gpa a, std::span<const std::byte> in) const { write_impl<false>(a, in); }
void address_space::load(gpa a, std::span<const std::byte> in) const {
    write_impl<true>(a, in);
    if (!in.empty())
        for (auto* l : listeners_) l->ram_written(a.value, in.size());
}

bool address_space::all_memory(gpa a, std::uint64_t size) const {
    if (size == 0) return true;
    if (a.value + size - 1 < a.value) return false;
    while (size) {
        const segment* s = find(a);
        if (!s || s->r->kind == region_kind::mmio) return false;
        const std::uint64_t chunk = std::min<std::uint64_t>(size, s->last - a.value + 1);
        size -= chunk;
        a = a + chunk;
    }
    return true;
}

bool address_space::dma_read(gpa a, std::span<std::byte> out) const {
    if (!all_memory(a, out.size())) {
        std::memset(out.data(), 0, out.size());
        logf(log_item::guest_errors, "DMA read of 0x%zx bytes at 0x%" PRIx64 " outside memory\n", out.size(), a.value);
        return false;
    }
    read(a, out);
    return true;
}

// As QEMU's address_space_write for a bus master: each part of the range
// that is RAM is written; a part that is ROM, MMIO or unassigned is refused
// (QEMU's DMA would reach MMIO; ours does not yet), and the whole reports
// failure. An unassigned stretch is skipped in one step: a guest may point
// a 4 GiB transfer at nothing.
template <class Fill>
bool address_space::dma_store(gpa a, std::uint64_t size, Fill&& fill) const {
    if (size != 0 && a.value + size - 1 < a.value) {
        logf(log_item::guest_errors, "DMA write of 0x%" PRIx64 " bytes at 0x%" PRIx64 " wraps\n", size, a.value);
        return false;
    }
    bool ok = true;
    for (std::uint64_t done = 0; done < size;) {
        const gpa at = a + done;
        const segment* s = find(at);
        const std::uint64_t chunk = s ? std::min<std::uint64_t>(size - done, s->last - at.value + 1)
                                      : unassigned_run(at, size - done);
        if (s && s->r->kind == region_kind::ram) {
            fill(s->r->host + (at.value - s->r->base.value), done, chunk);
            for (auto* l : listeners_) l->ram_written(at.value, chunk);
        } else {
            if (ok)
                logf(log_item::guest_errors,
                     "DMA write of 0x%" PRIx64 " bytes at 0x%" PRIx64 ": 0x%" PRIx64 " is %s, refused\n", size,
                     a.value, at.value, !s ? "outside memory" : s->r->kind == region_kind::rom ? "ROM" : "MMIO");
            ok = false;
        }
        done += chunk;
    }
    return ok;
}

bool address_space::dma_write(gpa a, std::span<const std::byte> in) const {
    return dma_store(a, in.size(), [&](std::byte* to, std::uint64_t from, std::uint64_t n) {
        std::memcpy(to, in.data() + from, n);
    });
}

bool address_space::dma_fill(gpa a, std::uint64_t size, std::byte value) const {
    return dma_store(a, size, [&](std::byte* to, std::uint64_t, std::uint64_t n) { std::memset(to, static_cast<int>(value), n); });
}

std::string format_flat_view(const address_space& as) {
    std::string out = "FlatView #0\n AS \"memory\", root: system\n Root memory region: system\n";
    for (const auto& seg : as.flat_view()) {
        const region& r = *seg.r;
        char b[160];
        std::snprintf(b, sizeof b, "  %016" PRIx64 "-%016" PRIx64 " (prio %d, %s%s): %s\n", seg.first, seg.last,
                      r.priority, r.kind == region_kind::ram ? "ram" : r.kind == region_kind::rom ? "rom" : "i/o",
                      r.ram_alias ? ", readonly" : "", r.name.c_str());
        out += b;
    }
    return out;
}

} // namespace qf
