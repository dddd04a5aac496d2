#pragma once
// The 8042 keyboard controller at 60 (data) and 64 (status and commands),
// with a PS/2 keyboard and mouse behind it: QEMU 7.2's hw/input/pckbd.c
// (with the pc machine's defaults: extended state on, keyboard throttle off)
// and hw/input/ps2.c, byte for byte what SeaBIOS and Linux's i8042 driver
// see there. The controller's output port drives the A20 gate and the CPU
// reset, as port 92 does.
//
// IRQ lines: the keyboard's is `irq` (1), the mouse's is `mouse_irq` (12);
// the constructor takes both from device_context::irq. Both are levels, high
// while the output buffer holds that side's data and its interrupt is on.
#include "qf/devices/device_context.hpp"
#include "qf/memory/bus.hpp"

#include <array>
#include <boost/hana/define_struct.hpp>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <span>
#include <string_view>

namespace qf::dev {

// One PS/2 device's receive queue (QEMU's PS2Queue and write_cmd): at most
// 16 scan codes or packet bytes, with a keyboard's command replies put in
// front of them, in a 256-byte ring as QEMU keeps it.
struct i8042_ps2_queue {
    BOOST_HANA_DEFINE_STRUCT(i8042_ps2_queue,
        (std::array<std::uint8_t, 256>, data),
        (std::int32_t, rptr),
        (std::int32_t, wptr),
        (std::int32_t, cwptr),       // past the last command reply, -1 none
        (std::int32_t, count),
        (std::int32_t, write_cmd));  // the command waiting for its parameter, -1 none
    bool operator==(const i8042_ps2_queue&) const = default;
};

struct i8042_state {
    BOOST_HANA_DEFINE_STRUCT(i8042_state,
        // the controller
        (std::uint8_t, write_cmd),   // the command waiting for a byte at 60, 0 none
        (std::uint8_t, status),
        (std::uint8_t, mode),        // the command byte
        (std::uint8_t, outport),
        (std::uint8_t, pending),     // which sources have data (controller, keyboard, mouse)
        (std::uint8_t, obsrc),       // whose byte the output buffer holds
        (std::uint8_t, obdata),      // the last byte read from 60
        (std::uint8_t, cbdata),      // the controller's own reply
        // the keyboard
        (i8042_ps2_queue, kbd),
        (bool, kbd_scan_enabled),
        (bool, kbd_translate),       // command byte bit 6: set 2 codes leave as set 1
        (bool, kbd_need_high_bit),   // translating, after an F0 break prefix
        (std::uint8_t, kbd_scancode_set),
        (std::uint8_t, kbd_leds),
        // the mouse
        (i8042_ps2_queue, mouse),
        (std::uint8_t, mouse_status),  // remote 0x40, enabled 0x20, 2:1 scaling 0x10
        (std::uint8_t, mouse_resolution),
        (std::uint8_t, mouse_sample_rate),
        (bool, mouse_wrap),
        (std::uint8_t, mouse_type),    // 0 PS/2, 3 IntelliMouse, 4 IntelliMouse Explorer
        (std::uint8_t, mouse_detect_state),
        (std::uint8_t, mouse_buttons),
        (std::int32_t, mouse_dx),      // motion not yet sent
        (std::int32_t, mouse_dy),
        (std::int32_t, mouse_dz));
    bool operator==(const i8042_state&) const = default;
};

class i8042 {
public:
    static constexpr std::string_view name = "i8042";
    static constexpr std::array ports{port_range{0x60, 1}, port_range{0x64, 1}};
    static constexpr unsigned irq = 1;
    static constexpr unsigned mouse_irq = 12;
    using state_type = i8042_state;

    // Mouse buttons as mouse_event takes them (the packet's order).
    static constexpr std::uint8_t button_left = 0x01, button_right = 0x02, button_middle = 0x04,
                                  button_side = 0x08, button_extra = 0x10;

    explicit i8042(device_context& ctx);

    std::function<void(bool)> on_a20;  // the output port's gate was written
    std::function<void()> on_reset;    // the output port pulled the CPU's reset

    // A loaded state's registers: null if they could be this controller's, else why not.
    const char* check_loaded_state() const {
        for (const auto* q : {&s_.kbd, &s_.mouse})
            if (q->rptr < 0 || q->rptr >= 256 || q->wptr < 0 || q->wptr >= 256 || q->count < 0 || q->count > 256 ||
                q->cwptr < -1 || q->cwptr >= 256)
                return "a PS/2 queue's pointers are past it";
        return nullptr;
    }
    void reset();
    // Ranges: 0 the data port (60), 1 status and command (64).
    void pio_read(std::size_t range, std::uint16_t offset, std::span<std::byte> data);
    void pio_write(std::size_t range, std::uint16_t offset, std::span<const std::byte> data);

    // A key went down or up, given as its scan code set 2 sequence ({0x1c}
    // for A down, {0xf0, 0x1c} for A up, {0xe0, 0x75} for up arrow). The
    // keyboard sends it in the set the guest chose (set 1 by the 8042's own
    // translation; set 3, which no PC guest selects, is not made and is
    // logged as unimp) and through the controller's translation when
    // command byte bit 6 is set. Dropped while scanning is disabled, as
    // QEMU does.
    void key_event(std::span<const std::uint8_t> set2);
    // Motion and the buttons now held: dx right, dy down and dz the wheel
    // (down positive), as QEMU's input layer gives them; the packet's y
    // points up. Ignored until the guest enables the mouse; in remote mode
    // the motion waits for a poll (EB).
    void mouse_event(int dx, int dy, int dz, std::uint8_t buttons);

    state_type& state() { return s_; }

private:
    // the controller (pckbd.c)
    std::uint8_t pending() const;
    void update_irq_lines();
    void deassert_irq();
    void update_irq();
    void safe_update_irq();
    void kbd_irq(bool level);
    void aux_irq(bool level);
    void queue(std::uint8_t b, bool aux);
    std::uint8_t dequeue();
    void outport_write(std::uint8_t v);
    void write_command(std::uint8_t v);
    std::uint8_t read_data();
    void write_data(std::uint8_t v);

    // the devices (ps2.c)
    void ps2_set_irq(bool aux, bool level) { aux ? aux_irq(level) : kbd_irq(level); }
    void ps2_queue(bool aux, std::initializer_list<std::uint8_t> bytes);
    void kbd_cqueue(std::initializer_list<std::uint8_t> bytes);
    std::uint8_t ps2_read(bool aux);
    void kbd_put_keycode(std::uint8_t keycode);
    void kbd_reset_keyboard();
    void kbd_write(std::uint8_t v);
    bool mouse_send_packet();
    void mouse_sync();
    void mouse_write(std::uint8_t v);

    state_type s_{};
    irq_line irq_kbd_, irq_mouse_;
};

} // namespace qf::dev
