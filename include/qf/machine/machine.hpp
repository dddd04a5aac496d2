#pragma once
// qf::machine: a machine as a type. From the device list the compiler
// derives the port dispatch (an inlined chain of range tests, no table walk,
// no virtual call), the port-overlap and IRQ-sharing checks, the IRQ routing,
// the reset order (declaration order) and the device-state reflection used
// by snapshots and info dumps.
//
// "Pluggable" devices are the exception the command line needs: types the
// machine lists as allowed for -device, whose I/O base is a run-time value
// (-device isa-debugcon,iobase=0x402). They sit behind the static map and
// are reached only when no built-in device claims a port.
#include "qf/core/error.hpp"
#include "qf/devices/device_context.hpp"
#include "qf/machine/irq_lines.hpp"
#include "qf/machine/options.hpp"
#include "qf/machine/port_map.hpp"
#include "qf/machine/reflect.hpp"
#include "qf/machine/vmstate.hpp"
#include "qf/memory/address_space.hpp"
#include "qf/memory/io_map.hpp"
#include "qf/memory/ram.hpp"

#include <boost/hana/basic_tuple.hpp>
#include <boost/hana/contains.hpp>
#include <boost/hana/type.hpp>
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

namespace qf {

template <class... Ds>
struct devices {};
template <class... Ps>
struct pluggable {};

// Fails to compile, naming the device and the machine, when code asks a
// machine for a device it does not have.
template <class Device, class Machine>
struct no_such_device {
    static_assert(sizeof(Device) == 0,
                  "this machine type has no such device: see qf::no_such_device<Device, Machine>");
};

template <class Topology, class Cpu, class Accel, class Devices, class Pluggable = pluggable<>>
class machine;

template <class Topology, class Cpu, class Accel, class... Ds, class... Ps>
class machine<Topology, Cpu, Accel, devices<Ds...>, pluggable<Ps...>> {
public:
    using topology_type = Topology;
    using cpu_type = Cpu;
    using accel_type = Accel;
    static constexpr std::size_t device_count = sizeof...(Ds);
    static constexpr auto device_types = boost::hana::tuple_t<Ds...>;

    static_assert(devices_disjoint<Ds...>());
    static constexpr auto port_map = make_port_map<Ds...>();

    // ISA interrupt inputs of the machine's interrupt-controller interface.
    using irq_controller = irq_lines<16>;
    template <class D>
    static constexpr bool irq_in_range() {
        if constexpr (has_irq<D>) return D::irq < irq_controller::inputs;
        else return true;
    }
    static_assert((irq_in_range<Ds>() && ...),
                  "a device is wired to an IRQ the controller does not have");

    explicit machine(device_context ctx)
        : ctx_(wire_irqs(std::move(ctx), irqs_, memory_, io_)), devices_(((void)sizeof(Ds*), ctx_)...) {}

    machine(const machine&) = delete;
    machine& operator=(const machine&) = delete;

    template <class T>
    T& device() {
        if constexpr (boost::hana::contains(device_types, boost::hana::type_c<T>)) {
            return std::get<T>(devices_);
        } else {
            static_assert(sizeof(no_such_device<T, machine>) == 0);
        }
    }

    irq_controller& irqs() { return irqs_; }
    address_space& memory() { return memory_; }
    const address_space& memory() const { return memory_; }

    // system_reset: every device, in the order the type lists them.
    void reset() {
        std::apply([](auto&... d) { (d.reset(), ...); }, devices_);
        for (auto& p : plugged_) std::visit([](auto& d) { d.reset(); }, p->dev);
    }

    // Port I/O, as the CPU issues it (IN/OUT of 1, 2 or 4 bytes).
    void pio_read(pio_addr port, std::span<std::byte> data) {
        if (dispatch_read(port.value, data, std::index_sequence_for<Ds...>{})) return;
        if (data.size() > 1) {  // straddles devices, or unassigned: byte by byte
            for (std::size_t i = 0; i < data.size(); ++i)
                pio_read({std::uint16_t(port.value + i)}, data.subspan(i, 1));
            return;
        }
        data[0] = std::byte{0xff};  // nothing answers: the bus floats high
    }
    void pio_write(pio_addr port, std::span<const std::byte> data) {
        if (dispatch_write(port.value, data, std::index_sequence_for<Ds...>{})) return;
        if (data.size() > 1)
            for (std::size_t i = 0; i < data.size(); ++i)
                pio_write({std::uint16_t(port.value + i)}, data.subspan(i, 1));
    }

    // -device DRIVER,iobase=...: adds an instance of a pluggable type.
    void plug(const opt_list& o) {
        bool found = ((o.head == Ps::qemu_name ? (plug_one<Ps>(o), true) : false) || ... || false);
        if (!found) throw error("-device " + o.head + ": no such device on this machine (-device help lists them)");
    }
    static std::string pluggable_help() {
        std::string s;
        ((s += "name \"" + std::string(Ps::qemu_name) + "\", bus ISA\n"), ...);
        return s;
    }
    template <class D>
    static constexpr bool is_builtin = (std::is_same_v<D, Ds> || ...);

    // Device state, reflected.
    std::string info_devices() {
        std::string out;
        std::size_t i = 0;
        std::apply([&](auto&... d) {
            ((out += dump_state(std::string(std::decay_t<decltype(d)>::name) + "#" + std::to_string(i++),
                                d.state())),
             ...);
        }, devices_);
        return out;
    }
    // info qtree: each device on the system bus with its ports, ISA IRQ
    // and reflected state; then the -device ones with their I/O range.
    std::string info_tree() {
        std::string out = "bus: main-system-bus\n  type System\n";
        char line[64];
        auto one = [&]<class D>(D& d) {
            out += "  dev: " + std::string(D::name) + ", id \"\"\n";
            if constexpr (has_ports<D>)
                for (const port_range& r : D::ports) {
                    std::snprintf(line, sizeof line, "    ioports 0x%04x-0x%04x\n", unsigned(r.base), unsigned(r.last()));
                    out += line;
                }
            if constexpr (has_irq<D>) out += "    isa irq " + std::to_string(D::irq) + "\n";
            out += dump_state("    state", d.state());
        };
        std::apply([&](auto&... d) { (one(d), ...); }, devices_);
        for (const auto& p : plugged_)
            std::visit([&]<class P>(const P&) {
                std::snprintf(line, sizeof line, "    ioports 0x%04x-0x%04x\n", unsigned(p->range.base),
                              unsigned(p->range.last()));
                out += "  dev: " + std::string(P::qemu_name) + ", id \"\"\n" + line;
            }, p->dev);
        return out;
    }
    std::vector<std::byte> save_devices() {
        std::vector<std::byte> out;
        std::apply([&](auto&... d) { (save_state(out, d.state()), ...); }, devices_);
        return out;
    }
    void load_devices(std::span<const std::byte> in) {
        std::apply([&](auto&... d) { ((in = in.subspan(load_state(in, d.state()))), ...); }, devices_);
        if (!in.empty()) throw error("device snapshot has trailing data");
        // What a device derives from its registers (timers, outputs) follows them.
        std::apply([](auto&... d) { (post_load_of(d), ...); }, devices_);
    }

    // The devices as sections of a state stream (vmstate.hpp): a section a
    // device, named for its type ("#2", "#3" for more of one type; -device
    // ones "plugged:NAME@PORT"), its version D::state_version (1 unless the
    // type says).
    void save_vm_devices(vmstate::writer& w) {
        std::vector<std::string> names;
        auto one = [&]<class D>(D& d) {
            w.section(section_name(names, D::name), version_of<D>(), vmstate::save_fields(d.state()));
        };
        std::apply([&](auto&... d) { (one(d), ...); }, devices_);
        for (auto& p : plugged_)
            std::visit([&]<class P>(P& d) {
                if constexpr (requires { d.state(); })
                    w.section(plugged_name<P>(p->range), version_of<P>(), vmstate::save_fields(d.state()));
            }, p->dev);
    }
    // Loads each device's section and takes it out of `sections`; a device
    // without one, or a section newer than this build reads, is refused.
    // Then each device's post_load.
    void load_vm_devices(std::vector<vmstate::section>& sections) {
        std::vector<std::string> names;
        auto one = [&]<class D>(D& d) {
            const auto name = section_name(names, D::name);
            vmstate::load_fields(name, vmstate::take(sections, name, version_of<D>()).payload, d.state());
            // Registers no running device can hold (indexes past its
            // arrays, a zero divisor) are refused, not run.
            if constexpr (requires { d.check_loaded_state(); }) {
                if (const char* why = d.check_loaded_state()) throw error("vmstate: section '" + name + "': " + why);
            }
        };
        std::apply([&](auto&... d) { (one(d), ...); }, devices_);
        for (auto& p : plugged_)
            std::visit([&]<class P>(P& d) {
                if constexpr (requires { d.state(); }) {
                    const auto name = plugged_name<P>(p->range);
                    vmstate::load_fields(name, vmstate::take(sections, name, version_of<P>()).payload, d.state());
                }
            }, p->dev);
        std::apply([](auto&... d) { (post_load_of(d), ...); }, devices_);
    }

protected:
    template <class D>
    static constexpr std::uint32_t version_of() {
        if constexpr (requires { D::state_version; }) return D::state_version;
        else return 1;
    }
    static std::string section_name(std::vector<std::string>& seen, std::string_view type) {
        std::string n(type);
        const auto same = std::count_if(seen.begin(), seen.end(), [&](const std::string& s) { return s == n; });
        seen.push_back(n);
        return same ? n + "#" + std::to_string(same + 1) : n;
    }
    template <class P>
    static std::string plugged_name(const port_range& r) {
        char at[16];
        std::snprintf(at, sizeof at, "@0x%x", unsigned(r.base));
        return "plugged:" + std::string(P::qemu_name) + at;
    }
    template <class D>
    static void post_load_of(D& d) {
        if constexpr (requires { d.post_load(); }) d.post_load();
    }
    host_memory ram_;
    host_memory rom_;

private:
    // memory_ is not built yet: only its address is taken.
    static device_context wire_irqs(device_context ctx, irq_controller& irqs, address_space& memory, io_map& io) {
        ctx.irq = [&irqs](unsigned gsi) { return irqs.line(gsi); };
        ctx.memory = &memory;
        ctx.mmio = &memory;
        ctx.ports = &io;
        return ctx;
    }

    template <std::size_t I, std::size_t R, class Fn>
    bool try_range(std::uint16_t port, std::size_t size, Fn&& fn) {
        using D = std::tuple_element_t<I, std::tuple<Ds...>>;
        constexpr port_range r = D::ports[R];
        std::uint16_t off = std::uint16_t(port - r.base);
        if (off >= r.length || off + size > r.length) return false;
        fn(std::get<I>(devices_), off, R);
        return true;
    }
    template <std::size_t I, class Fn>
    bool try_device(std::uint16_t port, std::size_t size, Fn&& fn) {
        using D = std::tuple_element_t<I, std::tuple<Ds...>>;
        if constexpr (has_ports<D>) {
            return [&]<std::size_t... R>(std::index_sequence<R...>) {
                return (try_range<I, R>(port, size, fn) || ...);
            }(std::make_index_sequence<D::ports.size()>{});
        } else {
            return false;
        }
    }
    template <std::size_t... I>
    bool dispatch_read(std::uint16_t port, std::span<std::byte> data, std::index_sequence<I...>) {
        // A device with several port ranges is told which one (pio_read(range, offset, data)).
        auto rd = [&](auto& dev, std::uint16_t off, std::size_t r) {
            if constexpr (std::decay_t<decltype(dev)>::ports.size() > 1) dev.pio_read(r, off, data);
            else dev.pio_read(off, data);
        };
        // Run-time ranges (PCI BARs) first: a BAR over a board port wins.
        if (io_.covers(port) && io_.read(port, data)) return true;
        if ((try_device<I>(port, data.size(), rd) || ...)) return true;
        return plugged_.empty() ? false : plugged_read(port, data);
    }
    template <std::size_t... I>
    bool dispatch_write(std::uint16_t port, std::span<const std::byte> data, std::index_sequence<I...>) {
        auto wr = [&](auto& dev, std::uint16_t off, std::size_t r) {
            if constexpr (std::decay_t<decltype(dev)>::ports.size() > 1) dev.pio_write(r, off, data);
            else dev.pio_write(off, data);
        };
        if (io_.covers(port) && io_.write(port, data)) return true;
        if ((try_device<I>(port, data.size(), wr) || ...)) return true;
        return plugged_.empty() ? false : plugged_write(port, data);
    }

    struct plugged_device {
        port_range range;
        std::variant<Ps...> dev;
        template <class P, class... A>
        plugged_device(port_range r, std::in_place_type_t<P> t, A&&... a) : range(r), dev(t, std::forward<A>(a)...) {}
    };

    bool plugged_read(std::uint16_t port, std::span<std::byte> data) {
        for (auto& p : plugged_) {
            std::uint16_t off = std::uint16_t(port - p->range.base);
            if (off < p->range.length && off + data.size() <= p->range.length) {
                std::visit([&](auto& d) { d.pio_read(off, data); }, p->dev);
                return true;
            }
        }
        return false;
    }
    bool plugged_write(std::uint16_t port, std::span<const std::byte> data) {
        for (auto& p : plugged_) {
            std::uint16_t off = std::uint16_t(port - p->range.base);
            if (off < p->range.length && off + data.size() <= p->range.length) {
                std::visit([&](auto& d) { d.pio_write(off, data); }, p->dev);
                return true;
            }
        }
        return false;
    }

    template <class P>
    void plug_one(const opt_list& o) {
        auto spec = P::parse(o);  // throws qf::error on bad properties
        // The same device where the machine already has it built in (the
        // firmware suite's "-device isa-debug-exit,iobase=0xf4,iosize=4" on
        // testrig): the built-in one takes the options.
        bool builtin = false;
        std::apply([&](auto&... d) {
            ([&](auto& dev) {
                using D = std::decay_t<decltype(dev)>;
                if constexpr (std::is_base_of_v<P, D>)
                    if (D::ports.size() == 1 &&
                        D::ports[0].base == spec.range.base && D::ports[0].length == spec.range.length) {
                        dev.replug(spec, ctx_);
                        builtin = true;
                    }
            }(d), ...);
        }, devices_);
        if (builtin) return;
        for (auto& e : port_map)
            if (spec.range.base <= e.last && e.base <= spec.range.last())
                throw error("-device " + o.head + ": I/O ports 0x" + hex(spec.range.base) + "-0x" +
                            hex(spec.range.last()) + " are already taken by a built-in device");
        for (auto& p : plugged_)
            if (spec.range.base <= p->range.last() && p->range.base <= spec.range.last())
                throw error("-device " + o.head + ": I/O ports 0x" + hex(spec.range.base) +
                            " are already taken by another -device");
        plugged_.push_back(std::make_unique<plugged_device>(spec.range, std::in_place_type<P>, spec, ctx_));
    }
    static std::string hex(std::uint32_t v) {
        char b[12];
        std::snprintf(b, sizeof b, "%x", v);
        return b;
    }

    irq_controller irqs_;
    io_map io_;  // before ctx_ and the devices, which map into it
    device_context ctx_;
    std::tuple<Ds...> devices_;

protected:
    const device_context& services() const { return ctx_; }

private:
    std::vector<std::unique_ptr<plugged_device>> plugged_;
    address_space memory_;
};

} // namespace qf
