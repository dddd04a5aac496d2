// Port I/O dispatch: the machine type's generated dispatch against a
// classic run-time registry (a sorted vector of port ranges, binary search,
// a virtual call), both reaching the very same device objects' code.
#include "machines/testrig/testrig.hpp"

#include <algorithm>
#include <benchmark/benchmark.h>
#include <memory>
#include <vector>

namespace {

using testrig = qf::machines::testrig<>;

struct bench_services {
    qf::clocks clk;
    qf::timer_lists timers{clk};
    qf::device_context ctx() {
        qf::device_context c;
        c.timers = &timers;
        c.request_exit = [](int) {};
        return c;
    }
};

// The run-time registry a classic emulator has.
struct io_handler {
    virtual ~io_handler() = default;
    virtual void read(std::uint16_t off, std::span<std::byte> d) = 0;
    virtual void write(std::uint16_t off, std::span<const std::byte> d) = 0;
};
template <class D>
struct io_adapter final : io_handler {
    explicit io_adapter(D& d) : dev(d) {}
    void read(std::uint16_t off, std::span<std::byte> d) override { dev.pio_read(off, d); }
    void write(std::uint16_t off, std::span<const std::byte> d) override { dev.pio_write(off, d); }
    D& dev;
};
class registry {
public:
    void add(qf::port_range r, std::unique_ptr<io_handler> h) {
        entries_.push_back({r, std::move(h)});
        std::sort(entries_.begin(), entries_.end(), [](auto& a, auto& b) { return a.r.base < b.r.base; });
    }
    void read(std::uint16_t port, std::span<std::byte> d) {
        if (auto* e = find(port)) e->h->read(std::uint16_t(port - e->r.base), d);
        else std::fill(d.begin(), d.end(), std::byte{0xff});
    }
    void write(std::uint16_t port, std::span<const std::byte> d) {
        if (auto* e = find(port)) e->h->write(std::uint16_t(port - e->r.base), d);
    }

private:
    struct entry {
        qf::port_range r;
        std::unique_ptr<io_handler> h;
    };
    entry* find(std::uint16_t port) {
        auto it = std::upper_bound(entries_.begin(), entries_.end(), port,
                                   [](std::uint16_t p, const entry& e) { return p < e.r.base; });
        if (it == entries_.begin()) return nullptr;
        --it;
        return it->r.contains(port) ? &*it : nullptr;
    }
    std::vector<entry> entries_;
};

// A mix like a firmware's: UART status polls and data, the scratch register.
constexpr std::uint16_t ports[] = {0x3fd, 0x3ff, 0x3fd, 0x3fb, 0x3fe, 0x3ff, 0x3fd, 0x3fc};

void static_dispatch(benchmark::State& st) {
    bench_services s;
    testrig m(s.ctx());
    std::byte b{};
    for (auto _ : st) {
        for (auto p : ports) {
            m.pio_write({0x3ff}, {&b, 1});
            m.pio_read({p}, {&b, 1});
        }
        benchmark::DoNotOptimize(b);
    }
    st.SetItemsProcessed(st.iterations() * 2 * std::size(ports));
}

void runtime_registry(benchmark::State& st) {
    bench_services s;
    testrig m(s.ctx());  // the same device objects, reached the classic way
    registry reg;
    auto& uart = m.device<qf::dev::uart16550<0x3f8, 4>>();
    auto& dbg = m.device<qf::dev::isa_debugcon<0xe9>>();
    auto& ex = m.device<qf::dev::isa_debug_exit<0xf4, 4>>();
    reg.add({0x3f8, 8}, std::make_unique<io_adapter<std::decay_t<decltype(uart)>>>(uart));
    reg.add({0xe9, 1}, std::make_unique<io_adapter<std::decay_t<decltype(dbg)>>>(dbg));
    reg.add({0xf4, 4}, std::make_unique<io_adapter<std::decay_t<decltype(ex)>>>(ex));
    std::byte b{};
    for (auto _ : st) {
        for (auto p : ports) {
            reg.write(0x3ff, {&b, 1});
            reg.read(p, {&b, 1});
        }
        benchmark::DoNotOptimize(b);
    }
    st.SetItemsProcessed(st.iterations() * 2 * std::size(ports));
}

BENCHMARK(static_dispatch);
BENCHMARK(runtime_registry);

} // namespace

BENCHMARK_MAIN();
