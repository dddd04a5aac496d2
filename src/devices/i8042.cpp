#include "qf/devices/i8042.hpp"

#include "qf/core/log.hpp"

#include <algorithm>

namespace qf::dev {

namespace {

// status register
constexpr std::uint8_t stat_obf = 0x01;
constexpr std::uint8_t stat_selftest = 0x04;
constexpr std::uint8_t stat_cmd = 0x08;
constexpr std::uint8_t stat_unlocked = 0x10;
constexpr std::uint8_t stat_mouse_obf = 0x20;

// command byte
constexpr std::uint8_t mode_kbd_int = 0x01;
constexpr std::uint8_t mode_mouse_int = 0x02;
constexpr std::uint8_t mode_disable_kbd = 0x10;
constexpr std::uint8_t mode_disable_mouse = 0x20;
constexpr std::uint8_t mode_kcc = 0x40;

// output port
constexpr std::uint8_t out_reset = 0x01;  // low holds the CPU in reset
constexpr std::uint8_t out_a20 = 0x02;
constexpr std::uint8_t out_obf = 0x10;
constexpr std::uint8_t out_mouse_obf = 0x20;
// QEMU keeps the unused bits high so that 0xdd/0xdf leave them as a
// read-modify-write of a real port would.
constexpr std::uint8_t out_ones = 0xcc;

// pending sources, in priority order; the device bits match the command
// byte's disable bits so that those can mask them
constexpr std::uint8_t pending_ctrl_kbd = 0x04;
constexpr std::uint8_t pending_ctrl_aux = 0x08;
constexpr std::uint8_t pending_kbd = mode_disable_kbd;
constexpr std::uint8_t pending_aux = mode_disable_mouse;

constexpr std::uint8_t obsrc_kbd = 0x01;
constexpr std::uint8_t obsrc_mouse = 0x02;
constexpr std::uint8_t obsrc_ctrl = 0x04;

// controller commands
constexpr std::uint8_t ccmd_read_mode = 0x20;
constexpr std::uint8_t ccmd_write_mode = 0x60;
constexpr std::uint8_t ccmd_mouse_disable = 0xa7;
constexpr std::uint8_t ccmd_mouse_enable = 0xa8;
constexpr std::uint8_t ccmd_test_mouse = 0xa9;
constexpr std::uint8_t ccmd_self_test = 0xaa;
constexpr std::uint8_t ccmd_kbd_test = 0xab;
constexpr std::uint8_t ccmd_kbd_disable = 0xad;
constexpr std::uint8_t ccmd_kbd_enable = 0xae;
constexpr std::uint8_t ccmd_read_inport = 0xc0;
constexpr std::uint8_t ccmd_read_outport = 0xd0;
constexpr std::uint8_t ccmd_write_outport = 0xd1;
constexpr std::uint8_t ccmd_write_obuf = 0xd2;
constexpr std::uint8_t ccmd_write_aux_obuf = 0xd3;
constexpr std::uint8_t ccmd_write_mouse = 0xd4;
constexpr std::uint8_t ccmd_disable_a20 = 0xdd;
constexpr std::uint8_t ccmd_enable_a20 = 0xdf;
constexpr std::uint8_t ccmd_pulse_bits_3_0 = 0xf0;
constexpr std::uint8_t ccmd_reset = 0xfe;
constexpr std::uint8_t ccmd_no_op = 0xff;

// keyboard commands and replies
constexpr std::uint8_t kcmd_set_leds = 0xed;
constexpr std::uint8_t kcmd_echo = 0xee;
constexpr std::uint8_t kcmd_scancode = 0xf0;
constexpr std::uint8_t kcmd_get_id = 0xf2;
constexpr std::uint8_t kcmd_set_rate = 0xf3;
constexpr std::uint8_t kcmd_enable = 0xf4;
constexpr std::uint8_t kcmd_reset_disable = 0xf5;
constexpr std::uint8_t kcmd_reset_enable = 0xf6;
constexpr std::uint8_t kcmd_set_typematic = 0xfa;
constexpr std::uint8_t kcmd_set_make_break = 0xfc;
constexpr std::uint8_t kcmd_reset = 0xff;
constexpr std::uint8_t kbd_reply_por = 0xaa;
constexpr std::uint8_t kbd_reply_id = 0xab;
constexpr std::uint8_t kbd_reply_ack = 0xfa;
constexpr std::uint8_t kbd_reply_resend = 0xfe;

// mouse commands
constexpr std::uint8_t aux_set_scale11 = 0xe6;
constexpr std::uint8_t aux_set_scale21 = 0xe7;
constexpr std::uint8_t aux_set_res = 0xe8;
constexpr std::uint8_t aux_get_scale = 0xe9;
constexpr std::uint8_t aux_set_stream = 0xea;
constexpr std::uint8_t aux_poll = 0xeb;
constexpr std::uint8_t aux_reset_wrap = 0xec;
constexpr std::uint8_t aux_set_wrap = 0xee;
constexpr std::uint8_t aux_set_remote = 0xf0;
constexpr std::uint8_t aux_get_type = 0xf2;
constexpr std::uint8_t aux_set_sample = 0xf3;
constexpr std::uint8_t aux_enable_dev = 0xf4;
constexpr std::uint8_t aux_disable_dev = 0xf5;
constexpr std::uint8_t aux_set_default = 0xf6;
constexpr std::uint8_t aux_reset = 0xff;
constexpr std::uint8_t aux_ack = 0xfa;

constexpr std::uint8_t mouse_status_remote = 0x40;
constexpr std::uint8_t mouse_status_enabled = 0x20;
constexpr std::uint8_t mouse_status_scale21 = 0x10;

constexpr std::int32_t queue_size = 16;  // what the PS/2 protocol requires
constexpr std::int32_t buffer_mask = 255;

// The 8042's translation of scan code set 2 to set 1 (QEMU's
// translate_table; codes from 0x80 up pass unchanged).
constexpr std::array<std::uint8_t, 256> translate_table = [] {
    constexpr std::uint8_t low[128] = {
        0xff, 0x43, 0x41, 0x3f, 0x3d, 0x3b, 0x3c, 0x58, 0x64, 0x44, 0x42, 0x40, 0x3e, 0x0f, 0x29, 0x59,
        0x65, 0x38, 0x2a, 0x70, 0x1d, 0x10, 0x02, 0x5a, 0x66, 0x71, 0x2c, 0x1f, 0x1e, 0x11, 0x03, 0x5b,
        0x67, 0x2e, 0x2d, 0x20, 0x12, 0x05, 0x04, 0x5c, 0x68, 0x39, 0x2f, 0x21, 0x14, 0x13, 0x06, 0x5d,
        0x69, 0x31, 0x30, 0x23, 0x22, 0x15, 0x07, 0x5e, 0x6a, 0x72, 0x32, 0x24, 0x16, 0x08, 0x09, 0x5f,
        0x6b, 0x33, 0x25, 0x17, 0x18, 0x0b, 0x0a, 0x60, 0x6c, 0x34, 0x35, 0x26, 0x27, 0x19, 0x0c, 0x61,
        0x6d, 0x73, 0x28, 0x74, 0x1a, 0x0d, 0x62, 0x6e, 0x3a, 0x36, 0x1c, 0x1b, 0x75, 0x2b, 0x63, 0x76,
        0x55, 0x56, 0x77, 0x78, 0x79, 0x7a, 0x0e, 0x7b, 0x7c, 0x4f, 0x7d, 0x4b, 0x47, 0x7e, 0x7f, 0x6f,
        0x52, 0x53, 0x50, 0x4c, 0x4d, 0x48, 0x01, 0x45, 0x57, 0x4e, 0x51, 0x4a, 0x37, 0x49, 0x46, 0x54,
    };
    std::array<std::uint8_t, 256> t{};
    for (unsigned i = 0; i < 256; ++i) t[i] = i < 128 ? low[i] : static_cast<std::uint8_t>(i);
    // QEMU's table differs from the identity at 83 and 84 (F7 and SysRq).
    t[0x83] = 0x41;
    t[0x84] = 0x54;
    return t;
}();

void reset_queue(i8042_ps2_queue& q) {
    q.rptr = 0;
    q.wptr = 0;
    q.cwptr = -1;
    q.count = 0;
}

void queue_noirq(i8042_ps2_queue& q, std::uint8_t b) {
    if (q.count >= queue_size) return;
    q.data[static_cast<std::size_t>(q.wptr)] = b;
    q.wptr = (q.wptr + 1) & buffer_mask;
    ++q.count;
}

// Drops the keyboard's unread command replies: a new command supersedes them.
void cqueue_reset(i8042_ps2_queue& q) {
    if (q.cwptr == -1) return;
    q.count -= (q.cwptr - q.rptr) & buffer_mask;
    q.rptr = q.cwptr;
    q.cwptr = -1;
}

std::uint8_t u8(std::byte b) { return static_cast<std::uint8_t>(b); }

} // namespace

i8042::i8042(device_context& ctx)
    : irq_kbd_(ctx.irq ? ctx.irq(irq) : irq_line{}), irq_mouse_(ctx.irq ? ctx.irq(mouse_irq) : irq_line{}) {
    reset_queue(s_.kbd);
    reset_queue(s_.mouse);
    reset();
}

// QEMU's kbd_reset and the PS/2 devices' resets. A controller command
// waiting for its data byte, the last byte read and the keyboard's LEDs
// survive, as they do there.
void i8042::reset() {
    s_.mode = mode_kbd_int | mode_mouse_int;
    s_.status = stat_cmd | stat_unlocked;
    s_.outport = out_reset | out_a20 | out_ones;
    s_.pending = 0;
    deassert_irq();

    s_.kbd.write_cmd = -1;
    reset_queue(s_.kbd);
    s_.kbd_scan_enabled = true;
    s_.kbd_translate = false;
    s_.kbd_scancode_set = 2;

    s_.mouse.write_cmd = -1;
    reset_queue(s_.mouse);
    s_.mouse_status = 0;
    s_.mouse_resolution = 0;
    s_.mouse_sample_rate = 0;
    s_.mouse_wrap = false;
    s_.mouse_type = 0;
    s_.mouse_detect_state = 0;
    s_.mouse_dx = s_.mouse_dy = s_.mouse_dz = 0;
    s_.mouse_buttons = 0;

    kbd_irq(false);
    aux_irq(false);
}

void i8042::pio_read(std::size_t range, std::uint16_t, std::span<std::byte> data) {
    for (auto& b : data) b = std::byte{range == 0 ? read_data() : s_.status};
}

void i8042::pio_write(std::size_t range, std::uint16_t, std::span<const std::byte> data) {
    for (auto b : data) {
        if (range == 0) write_data(u8(b));
        else write_command(u8(b));
    }
}

// ---- the controller ----

// With the extended state, data from a side whose interface is disabled
// waits in its device until the guest enables the interface again.
std::uint8_t i8042::pending() const {
    return s_.pending & static_cast<std::uint8_t>(~s_.mode | ~(pending_kbd | pending_aux));
}

// As QEMU: a keyboard byte raises no IRQ while the keyboard interface is
// disabled, which spares it modelling the real controller's delays.
void i8042::update_irq_lines() {
    bool kbd = false, mouse = false;
    if (s_.status & stat_obf) {
        if (s_.status & stat_mouse_obf) mouse = s_.mode & mode_mouse_int;
        else kbd = (s_.mode & mode_kbd_int) && !(s_.mode & mode_disable_kbd);
    }
    irq_kbd_.set(kbd);
    irq_mouse_.set(mouse);
}

void i8042::deassert_irq() {
    s_.status &= static_cast<std::uint8_t>(~(stat_obf | stat_mouse_obf));
    s_.outport &= static_cast<std::uint8_t>(~(out_obf | out_mouse_obf));
    update_irq_lines();
}

// Moves the highest-priority pending source into the output buffer.
void i8042::update_irq() {
    const std::uint8_t p = pending();
    s_.status &= static_cast<std::uint8_t>(~(stat_obf | stat_mouse_obf));
    s_.outport &= static_cast<std::uint8_t>(~(out_obf | out_mouse_obf));
    if (p) {
        s_.status |= stat_obf;
        s_.outport |= out_obf;
        if (p & pending_ctrl_kbd) {
            s_.obsrc = obsrc_ctrl;
        } else if (p & pending_ctrl_aux) {
            s_.status |= stat_mouse_obf;
            s_.outport |= out_mouse_obf;
            s_.obsrc = obsrc_ctrl;
        } else if (p & pending_kbd) {
            s_.obsrc = obsrc_kbd;
        } else {
            s_.status |= stat_mouse_obf;
            s_.outport |= out_mouse_obf;
            s_.obsrc = obsrc_mouse;
        }
    }
    update_irq_lines();
}

// A full output buffer is left alone: reading it brings in the next byte.
void i8042::safe_update_irq() {
    if (s_.status & stat_obf) return;
    if (pending()) update_irq();
}

void i8042::kbd_irq(bool level) {
    if (level) s_.pending |= pending_kbd;
    else s_.pending &= static_cast<std::uint8_t>(~pending_kbd);
    safe_update_irq();
}

void i8042::aux_irq(bool level) {
    if (level) s_.pending |= pending_aux;
    else s_.pending &= static_cast<std::uint8_t>(~pending_aux);
    safe_update_irq();
}

// The controller's own reply: one byte, ahead of the devices' data.
void i8042::queue(std::uint8_t b, bool aux) {
    s_.cbdata = b;
    s_.pending &= static_cast<std::uint8_t>(~(pending_ctrl_kbd | pending_ctrl_aux));
    s_.pending |= aux ? pending_ctrl_aux : pending_ctrl_kbd;
    safe_update_irq();
}

std::uint8_t i8042::dequeue() {
    const std::uint8_t b = s_.cbdata;
    s_.pending &= static_cast<std::uint8_t>(~(pending_ctrl_kbd | pending_ctrl_aux));
    if (pending()) update_irq();
    return b;
}

void i8042::outport_write(std::uint8_t v) {
    s_.outport = v;
    if (on_a20) on_a20(v & out_a20);
    if (!(v & out_reset) && on_reset) on_reset();
}

void i8042::write_command(std::uint8_t v) {
    // F0-FF pulse the output port's low bits whose command bit is clear;
    // only bit 0, the CPU reset, does anything.
    if ((v & ccmd_pulse_bits_3_0) == ccmd_pulse_bits_3_0) v = (v & 1) ? ccmd_no_op : ccmd_reset;

    switch (v) {
    case ccmd_read_mode: queue(s_.mode, false); break;
    case ccmd_write_mode:
    case ccmd_write_obuf:
    case ccmd_write_aux_obuf:
    case ccmd_write_mouse:
    case ccmd_write_outport: s_.write_cmd = v; break;
    case ccmd_mouse_disable: s_.mode |= mode_disable_mouse; break;
    case ccmd_mouse_enable:
        s_.mode &= static_cast<std::uint8_t>(~mode_disable_mouse);
        safe_update_irq();
        break;
    case ccmd_test_mouse: queue(0x00, false); break;
    case ccmd_self_test:
        s_.status |= stat_selftest;
        queue(0x55, false);
        break;
    case ccmd_kbd_test: queue(0x00, false); break;
    case ccmd_kbd_disable: s_.mode |= mode_disable_kbd; break;
    case ccmd_kbd_enable:
        s_.mode &= static_cast<std::uint8_t>(~mode_disable_kbd);
        safe_update_irq();
        break;
    case ccmd_read_inport: queue(0x80, false); break;
    case ccmd_read_outport: queue(s_.outport, false); break;
    case ccmd_enable_a20:
        if (on_a20) on_a20(true);
        s_.outport |= out_a20;
        break;
    case ccmd_disable_a20:
        if (on_a20) on_a20(false);
        s_.outport &= static_cast<std::uint8_t>(~out_a20);
        break;
    case ccmd_reset:
        if (on_reset) on_reset();
        break;
    case ccmd_no_op: break;
    default: logf(log_item::guest_errors, "unsupported keyboard cmd=0x%02x\n", v); break;
    }
}

std::uint8_t i8042::read_data() {
    if (s_.status & stat_obf) {
        deassert_irq();
        if (s_.obsrc & obsrc_kbd) s_.obdata = ps2_read(false);
        else if (s_.obsrc & obsrc_mouse) s_.obdata = ps2_read(true);
        else if (s_.obsrc & obsrc_ctrl) s_.obdata = dequeue();
    }
    return s_.obdata;
}

void i8042::write_data(std::uint8_t v) {
    switch (s_.write_cmd) {
    case 0:
        kbd_write(v);
        // sending to the keyboard enables its interface again
        s_.mode &= static_cast<std::uint8_t>(~mode_disable_kbd);
        safe_update_irq();
        break;
    case ccmd_write_mode:
        s_.mode = v;
        s_.kbd_translate = v & mode_kcc;
        // the interrupt enables act on the lines at once; the disable bits
        // may let queued data through
        update_irq_lines();
        safe_update_irq();
        break;
    case ccmd_write_obuf: queue(v, false); break;
    case ccmd_write_aux_obuf: queue(v, true); break;
    case ccmd_write_outport: outport_write(v); break;
    case ccmd_write_mouse:
        mouse_write(v);
        s_.mode &= static_cast<std::uint8_t>(~mode_disable_mouse);
        safe_update_irq();
        break;
    default: break;
    }
    s_.write_cmd = 0;
}

// ---- the PS/2 devices ----

void i8042::ps2_queue(bool aux, std::initializer_list<std::uint8_t> bytes) {
    i8042_ps2_queue& q = aux ? s_.mouse : s_.kbd;
    if (queue_size - q.count < static_cast<std::int32_t>(bytes.size())) return;
    for (auto b : bytes) queue_noirq(q, b);
    ps2_set_irq(aux, true);
}

// A keyboard's reply to a command goes ahead of the scan codes already queued.
void i8042::kbd_cqueue(std::initializer_list<std::uint8_t> bytes) {
    i8042_ps2_queue& q = s_.kbd;
    q.rptr = (q.rptr - static_cast<std::int32_t>(bytes.size())) & buffer_mask;
    q.cwptr = q.rptr;
    for (auto b : bytes) {
        q.data[static_cast<std::size_t>(q.cwptr)] = b;
        q.cwptr = (q.cwptr + 1) & buffer_mask;
        ++q.count;
    }
    ps2_set_irq(false, true);
}

std::uint8_t i8042::ps2_read(bool aux) {
    i8042_ps2_queue& q = aux ? s_.mouse : s_.kbd;
    if (q.count == 0) {
        // nothing left: the last byte again, as QEMU does for EMM386
        return q.data[static_cast<std::size_t>((q.rptr - 1) & buffer_mask)];
    }
    const std::uint8_t v = q.data[static_cast<std::size_t>(q.rptr)];
    q.rptr = (q.rptr + 1) & buffer_mask;
    --q.count;
    if (q.rptr == q.cwptr) q.cwptr = -1;
    ps2_set_irq(aux, false);
    if (q.count) ps2_set_irq(aux, true);
    return v;
}

void i8042::kbd_put_keycode(std::uint8_t keycode) {
    if (!s_.kbd_translate) {
        ps2_queue(false, {keycode});
    } else if (keycode == 0xf0) {
        s_.kbd_need_high_bit = true;
    } else if (s_.kbd_need_high_bit) {
        ps2_queue(false, {static_cast<std::uint8_t>(translate_table[keycode] | 0x80)});
        s_.kbd_need_high_bit = false;
    } else {
        ps2_queue(false, {translate_table[keycode]});
    }
}

void i8042::key_event(std::span<const std::uint8_t> set2) {
    if (!s_.kbd_scan_enabled) return;
    switch (s_.kbd_scancode_set) {
    case 1: {
        // Set 1 is what the 8042's translation makes of set 2.
        bool high = false;
        for (auto b : set2) {
            if (b == 0xf0) {
                high = true;
                continue;
            }
            kbd_put_keycode(static_cast<std::uint8_t>(translate_table[b] | (high ? 0x80 : 0)));
            high = false;
        }
        break;
    }
    case 2:
        for (auto b : set2) kbd_put_keycode(b);
        break;
    default:
        logf(log_item::unimp, "ps2: no scan code set %u for key events\n", unsigned{s_.kbd_scancode_set});
        break;
    }
}

void i8042::kbd_reset_keyboard() {
    s_.kbd_scan_enabled = true;
    s_.kbd_scancode_set = 2;
    reset_queue(s_.kbd);
    s_.kbd_leds = 0;
}

void i8042::kbd_write(std::uint8_t v) {
    i8042_ps2_queue& q = s_.kbd;
    cqueue_reset(q);
    switch (q.write_cmd) {
    default:
    case -1:
        switch (v) {
        case 0x00: kbd_cqueue({kbd_reply_ack}); break;
        case 0x05: kbd_cqueue({kbd_reply_resend}); break;
        case kcmd_get_id:  // an MF2 keyboard; the ID's second byte as translated
            kbd_cqueue({kbd_reply_ack, kbd_reply_id, static_cast<std::uint8_t>(s_.kbd_translate ? 0x41 : 0x83)});
            break;
        case kcmd_echo: kbd_cqueue({kcmd_echo}); break;
        case kcmd_enable:
            s_.kbd_scan_enabled = true;
            kbd_cqueue({kbd_reply_ack});
            break;
        case kcmd_scancode:
        case kcmd_set_leds:
        case kcmd_set_rate:
        case kcmd_set_make_break:
            q.write_cmd = v;
            kbd_cqueue({kbd_reply_ack});
            break;
        case kcmd_reset_disable:
            kbd_reset_keyboard();
            s_.kbd_scan_enabled = false;
            kbd_cqueue({kbd_reply_ack});
            break;
        case kcmd_reset_enable:
            kbd_reset_keyboard();
            kbd_cqueue({kbd_reply_ack});
            break;
        case kcmd_reset:
            kbd_reset_keyboard();
            kbd_cqueue({kbd_reply_ack, kbd_reply_por});
            break;
        case kcmd_set_typematic: kbd_cqueue({kbd_reply_ack}); break;
        default:
            logf(log_item::guest_errors, "ps2: unknown keyboard command 0x%02x\n", v);
            kbd_cqueue({kbd_reply_resend});
            break;
        }
        break;
    case kcmd_set_make_break:
        kbd_cqueue({kbd_reply_ack});
        q.write_cmd = -1;
        break;
    case kcmd_scancode:
        if (v == 0) {
            const std::uint8_t set = s_.kbd_scancode_set;
            kbd_cqueue({kbd_reply_ack, s_.kbd_translate ? translate_table[set] : set});
        } else if (v >= 1 && v <= 3) {
            s_.kbd_scancode_set = v;
            kbd_cqueue({kbd_reply_ack});
        } else {
            logf(log_item::guest_errors, "ps2: unknown scan code set %u\n", unsigned{v});
            kbd_cqueue({kbd_reply_resend});
        }
        q.write_cmd = -1;
        break;
    case kcmd_set_leds:
        s_.kbd_leds = v;
        kbd_cqueue({kbd_reply_ack});
        q.write_cmd = -1;
        break;
    case kcmd_set_rate:
        kbd_cqueue({kbd_reply_ack});
        q.write_cmd = -1;
        break;
    }
}

// Queues one packet of the motion not yet sent, clamped to what a packet
// holds; false when the queue has no room for it.
bool i8042::mouse_send_packet() {
    i8042_ps2_queue& q = s_.mouse;
    const std::int32_t needed = s_.mouse_type ? 4 : 3;
    if (queue_size - q.count < needed) return false;

    const std::int32_t dx = std::clamp(s_.mouse_dx, -127, 127);
    const std::int32_t dy = std::clamp(s_.mouse_dy, -127, 127);
    std::int32_t dz = s_.mouse_dz;
    queue_noirq(q, static_cast<std::uint8_t>(0x08 | (dx < 0) << 4 | (dy < 0) << 5 | (s_.mouse_buttons & 0x07)));
    queue_noirq(q, static_cast<std::uint8_t>(dx & 0xff));
    queue_noirq(q, static_cast<std::uint8_t>(dy & 0xff));
    switch (s_.mouse_type) {
    case 3:  // IntelliMouse: the wheel's byte
        dz = std::clamp(dz, -127, 127);
        queue_noirq(q, static_cast<std::uint8_t>(dz & 0xff));
        break;
    case 4:  // Explorer: the wheel and buttons 4 and 5 share one
        dz = std::clamp(dz, -7, 7);
        queue_noirq(q, static_cast<std::uint8_t>((dz & 0x0f) | (s_.mouse_buttons & 0x18) << 1));
        break;
    default: break;  // a plain PS/2 mouse has no wheel: its motion is dropped
    }
    ps2_set_irq(true, true);
    s_.mouse_dx -= dx;
    s_.mouse_dy -= dy;
    s_.mouse_dz -= dz;
    return true;
}

void i8042::mouse_sync() {
    if (!(s_.mouse_status & mouse_status_enabled)) return;
    if (s_.mouse_status & mouse_status_remote) return;
    // motion beyond one packet's reach goes out as several
    while (mouse_send_packet())
        if (s_.mouse_dx == 0 && s_.mouse_dy == 0 && s_.mouse_dz == 0) break;
}

void i8042::mouse_event(int dx, int dy, int dz, std::uint8_t buttons) {
    if (!(s_.mouse_status & mouse_status_enabled)) return;
    s_.mouse_dx += dx;
    s_.mouse_dy -= dy;
    s_.mouse_dz += dz;
    s_.mouse_buttons = buttons;
    mouse_sync();
}

void i8042::mouse_write(std::uint8_t v) {
    i8042_ps2_queue& q = s_.mouse;
    switch (q.write_cmd) {
    default:
    case -1:
        if (s_.mouse_wrap) {  // echo everything but the two ways out
            if (v == aux_reset_wrap) {
                s_.mouse_wrap = false;
                ps2_queue(true, {aux_ack});
                return;
            }
            if (v != aux_reset) {
                ps2_queue(true, {v});
                return;
            }
        }
        switch (v) {
        case aux_set_scale11:
            s_.mouse_status &= static_cast<std::uint8_t>(~mouse_status_scale21);
            ps2_queue(true, {aux_ack});
            break;
        case aux_set_scale21:
            s_.mouse_status |= mouse_status_scale21;
            ps2_queue(true, {aux_ack});
            break;
        case aux_set_stream:
            s_.mouse_status &= static_cast<std::uint8_t>(~mouse_status_remote);
            ps2_queue(true, {aux_ack});
            break;
        case aux_set_wrap:
            s_.mouse_wrap = true;
            ps2_queue(true, {aux_ack});
            break;
        case aux_set_remote:
            s_.mouse_status |= mouse_status_remote;
            ps2_queue(true, {aux_ack});
            break;
        case aux_get_type: ps2_queue(true, {aux_ack, s_.mouse_type}); break;
        case aux_set_res:
        case aux_set_sample:
            q.write_cmd = v;
            ps2_queue(true, {aux_ack});
            break;
        case aux_get_scale:
            ps2_queue(true, {aux_ack, s_.mouse_status, s_.mouse_resolution, s_.mouse_sample_rate});
            break;
        case aux_poll:
            ps2_queue(true, {aux_ack});
            mouse_send_packet();
            break;
        case aux_enable_dev:
            s_.mouse_status |= mouse_status_enabled;
            ps2_queue(true, {aux_ack});
            break;
        case aux_disable_dev:
            s_.mouse_status &= static_cast<std::uint8_t>(~mouse_status_enabled);
            ps2_queue(true, {aux_ack});
            break;
        case aux_set_default:
            s_.mouse_sample_rate = 100;
            s_.mouse_resolution = 2;
            s_.mouse_status = 0;
            ps2_queue(true, {aux_ack});
            break;
        case aux_reset:
            s_.mouse_sample_rate = 100;
            s_.mouse_resolution = 2;
            s_.mouse_status = 0;
            s_.mouse_type = 0;
            reset_queue(q);
            ps2_queue(true, {aux_ack, 0xaa, s_.mouse_type});
            break;
        default:  // QEMU's mouse does not answer these
            logf(log_item::guest_errors, "ps2: unknown mouse command 0x%02x\n", v);
            break;
        }
        break;
    case aux_set_sample:
        s_.mouse_sample_rate = v;
        // the rate sequences 200,100,80 and 200,200,80 switch on the
        // IntelliMouse wheel and the Explorer's buttons
        switch (s_.mouse_detect_state) {
        default:
        case 0:
            if (v == 200) s_.mouse_detect_state = 1;
            break;
        case 1:
            s_.mouse_detect_state = v == 100 ? 2 : v == 200 ? 3 : 0;
            break;
        case 2:
            if (v == 80) s_.mouse_type = 3;
            s_.mouse_detect_state = 0;
            break;
        case 3:
            if (v == 80) s_.mouse_type = 4;
            s_.mouse_detect_state = 0;
            break;
        }
        ps2_queue(true, {aux_ack});
        q.write_cmd = -1;
        break;
    case aux_set_res:
        s_.mouse_resolution = v;
        ps2_queue(true, {aux_ack});
        q.write_cmd = -1;
        break;
    }
}

} // namespace qf::dev
