#pragma once
// Compile-time checks and tables over a machine's device list: the I/O port
// map (with overlaps rejected by a static_assert that names both devices and
// the range) and the IRQ routing (no two devices on one ISA line).
#include "qf/memory/bus.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <tuple>
#include <utility>

namespace qf {

template <class D>
concept has_ports = requires { D::ports; };
template <class D>
concept has_irq = requires { D::irq; };

// Instantiated only when two devices claim the same ports. The compiler's
// "required from" note then reads, e.g.,
//   qf::ports_overlap<qf::dev::uart16550<1016, 4>, qf::dev::isa_debugcon<1016>, 1016, 1016>
// (devices, first port, last port, in decimal).
template <class DeviceA, class DeviceB, std::uint32_t FirstPort, std::uint32_t LastPort>
struct ports_overlap {
    static_assert(sizeof(DeviceA) == 0,
                  "two devices of this machine claim the same I/O ports: see the template "
                  "arguments of qf::ports_overlap<DeviceA, DeviceB, FirstPort, LastPort>");
};

template <class DeviceA, class DeviceB, unsigned Gsi>
struct irq_shared {
    static_assert(sizeof(DeviceA) == 0,
                  "two devices of this machine are wired to the same (edge-triggered ISA) "
                  "interrupt line: see qf::irq_shared<DeviceA, DeviceB, Gsi>");
};

namespace detail {

template <class A, class B>
constexpr std::array<std::uint32_t, 3> first_overlap() {
    if constexpr (has_ports<A> && has_ports<B>) {
        for (auto ra : A::ports)
            for (auto rb : B::ports) {
                std::uint32_t lo = std::max<std::uint32_t>(ra.base, rb.base);
                std::uint32_t hi = std::min(ra.last(), rb.last());
                if (lo <= hi) return {1, lo, hi};
            }
    }
    return {0, 0, 0};
}

template <class A, class B>
constexpr bool pair_ok() {
    constexpr auto ov = first_overlap<A, B>();
    if constexpr (ov[0] != 0) {
        return sizeof(ports_overlap<A, B, ov[1], ov[2]>) == 0;
    } else if constexpr (has_irq<A> && has_irq<B>) {
        if constexpr (A::irq == B::irq) return sizeof(irq_shared<A, B, A::irq>) == 0;
        else return true;
    } else {
        return true;
    }
}

template <class Tuple, std::size_t I, std::size_t J>
constexpr bool check_pair() {
    if constexpr (J <= I) return true;
    else return pair_ok<std::tuple_element_t<I, Tuple>, std::tuple_element_t<J, Tuple>>();
}

template <class Tuple, std::size_t I, std::size_t... J>
constexpr bool check_row(std::index_sequence<J...>) {
    return (check_pair<Tuple, I, J>() && ...);
}

template <class... Ds, std::size_t... I>
constexpr bool check_all(std::index_sequence<I...>) {
    using T = std::tuple<Ds...>;
    return (check_row<T, I>(std::index_sequence_for<Ds...>{}) && ... && true);
}

} // namespace detail

// True, or a compile error naming the clash.
template <class... Ds>
constexpr bool devices_disjoint() {
    return detail::check_all<Ds...>(std::index_sequence_for<Ds...>{});
}

struct port_map_entry {
    std::uint16_t base;
    std::uint32_t last;
    std::size_t device;  // index in the machine's device list
};

template <class D>
constexpr std::size_t port_range_count() {
    if constexpr (has_ports<D>) return D::ports.size();
    else return 0;
}

// The sorted port map of a device list (for `info`-style listings and the
// tests; dispatch itself is generated code, see machine.hpp).
template <class... Ds>
constexpr auto make_port_map() {
    constexpr std::size_t n = (port_range_count<Ds>() + ... + 0);
    std::array<port_map_entry, n> map{};
    std::size_t k = 0, dev = 0;
    (
        [&] {
            if constexpr (has_ports<Ds>)
                for (auto r : Ds::ports) map[k++] = {r.base, r.last(), dev};
            ++dev;
        }(),
        ...);
    std::sort(map.begin(), map.end(), [](auto a, auto b) { return a.base < b.base; });
    return map;
}

} // namespace qf
