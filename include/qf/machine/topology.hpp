#pragma once
// The CPU topology a machine type is built for: the upper bound of -smp.
namespace qf {

template <unsigned N> struct sockets { static constexpr unsigned value = N; };
template <unsigned N> struct cores { static constexpr unsigned value = N; };
template <unsigned N> struct threads { static constexpr unsigned value = N; };

template <class Sockets, class Cores, class Threads>
struct topology {
    static constexpr unsigned max_sockets = Sockets::value;
    static constexpr unsigned max_cores = Cores::value;
    static constexpr unsigned max_threads = Threads::value;
    static constexpr unsigned max_cpus = max_sockets * max_cores * max_threads;
    static_assert(max_cpus >= 1, "a machine needs at least one CPU");
};

} // namespace qf
