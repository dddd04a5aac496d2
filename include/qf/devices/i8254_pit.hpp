#pragma once
// The Intel 8254 programmable interval timer at 40-43, with port 61's
// channel 2 gate and output (Intel 82C54 data sheet; QEMU's hw/timer/
// i8254.c and pcspk are the behaviour firmware expects). Counts follow the
// vm clock at 1.193182 MHz, computed when read; channel 0's output drives
// IRQ 0 through a timer armed for its next transition.
#include "qf/devices/device_context.hpp"
#include "qf/memory/bus.hpp"

#include <array>
#include <boost/hana/define_struct.hpp>
#include <cstdint>
#include <memory>
#include <span>

namespace qf::dev {

struct i8254_channel {
    BOOST_HANA_DEFINE_STRUCT(i8254_channel,
        (std::uint32_t, count),          // the reload value, 1..65536
        (std::uint16_t, latched_count),
        (std::uint8_t, count_latched),   // the read state of a latched count, 0 none
        (bool, status_latched),
        (std::uint8_t, status),
        (std::uint8_t, read_state),
        (std::uint8_t, write_state),
        (std::uint8_t, write_latch),
        (std::uint8_t, rw_mode),
        (std::uint8_t, mode),
        (bool, bcd),
        (bool, gate),
        (std::int64_t, count_load_time),       // vm ns
        (std::int64_t, next_transition_time));  // vm ns, -1 none
    bool operator==(const i8254_channel&) const = default;
};

struct i8254_state {
    BOOST_HANA_DEFINE_STRUCT(i8254_state, (std::array<i8254_channel, 3>, ch), (bool, speaker_data), (bool, refresh),
                             (bool, irq_disabled));  // channel 0 drives no IRQ (set_irq_enabled)
    bool operator==(const i8254_state&) const = default;
};

class i8254_pit {
public:
    static constexpr std::string_view name = "i8254";
    static constexpr std::array ports{port_range{0x40, 4}, port_range{0x61, 1}};
    static constexpr unsigned irq = 0;
    static constexpr std::int64_t frequency = 1'193'182;
    using state_type = i8254_state;

    explicit i8254_pit(device_context& ctx);
    ~i8254_pit();
    i8254_pit(const i8254_pit&) = delete;
    i8254_pit& operator=(const i8254_pit&) = delete;

    void reset();
    // A loaded state's registers: null if it could be a PIT's, else why not.
    const char* check_loaded_state() const {
        for (const auto& c : s_.ch)
            if (c.count < 1 || c.count > 0x10000 || c.mode > 5 || c.rw_mode > 3 || c.read_state > 4 || c.write_state > 4 ||
                c.count_latched > 4)
                return "a counter's registers are not a PIT's";
        return nullptr;
    }
    // After a state load (QEMU's pit_post_load): the IRQ timer armed for
    // the saved transition; the line's level is the interrupt controllers'.
    void post_load();
    // Ranges: 0 the counters and control word (40-43), 1 port 61.
    void pio_read(std::size_t range, std::uint16_t offset, std::span<std::byte> data);
    void pio_write(std::size_t range, std::uint16_t offset, std::span<const std::byte> data);

    // QEMU's pit_irq_control: channel 0 stops or restarts driving IRQ 0,
    // counting on regardless. The HPET's legacy replacement route takes
    // IRQ 0 over this way; under KVM's irqchip the kernel's PIT has IRQ 0
    // and this one is never enabled. A reset leaves it as it is.
    void set_irq_enabled(bool on);

    // A channel's OUT and count now (for tests and port 61).
    bool out(unsigned channel) const;
    std::uint16_t count(unsigned channel) const;
    i8254_state& state() { return s_; }

private:
    std::int64_t now() const;
    void load_count(unsigned channel, std::uint32_t value);
    void set_gate(unsigned channel, bool gate);
    void irq_timer_update(std::int64_t current);
    std::uint8_t read_counter(unsigned channel);
    void write_counter(unsigned channel, std::uint8_t v);
    void write_control(std::uint8_t v);

    i8254_state s_{};
    timer_lists* timers_;
    irq_line irq_;
    std::unique_ptr<timer> irq_timer_;
};

} // namespace qf::dev
