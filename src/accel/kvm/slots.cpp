#include "qf/accel/kvm/slots.hpp"

#include "qf/core/error.hpp"

#include <cinttypes>
#include <cstdio>

namespace qf::kvm {

namespace {
constexpr std::uint64_t page = 4096;
std::string hex(std::uint64_t v) {
    char b[24];
    std::snprintf(b, sizeof b, "%#" PRIx64, v);
    return b;
}
} // namespace

std::vector<slot> plan_slots(const address_space& as) {
    std::vector<slot> out;
    for (const auto& seg : as.flat_view()) {
        const region& r = *seg.r;
        if (r.kind == region_kind::mmio) continue;
        const std::uint64_t size = seg.last - seg.first + 1;
        std::byte* host = r.host + (seg.first - r.base.value);
        if (seg.first % page || size % page || reinterpret_cast<std::uintptr_t>(host) % page)
            throw error("kvm: " + r.name + " at " + hex(seg.first) + " (" + hex(size) +
                        " bytes) is not whole 4 KiB pages, which KVM needs");
        out.push_back({static_cast<std::uint32_t>(out.size()), seg.first, size, host, r.kind == region_kind::rom && !r.ram_alias});
    }
    return out;
}

} // namespace qf::kvm
