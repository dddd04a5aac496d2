#pragma once
// The 16550A UART (National Semiconductor PC16550D data sheet; QEMU's
// hw/char/serial.c is the behaviour firmware expects). Transmission is
// instantaneous, as in QEMU when the backend takes the byte: the transmit
// FIFO never holds a byte, THRE/TEMT are set again at once. The receive FIFO,
// its trigger levels and the character-timeout interrupt are modelled.
#include "qf/devices/device_context.hpp"
#include "qf/memory/bus.hpp"

#include <array>
#include <boost/hana/define_struct.hpp>
#include <cstdint>
#include <memory>
#include <span>

namespace qf::dev {

namespace uart {
// Register offsets.
inline constexpr unsigned rbr = 0, thr = 0, dll = 0, ier = 1, dlm = 1, iir = 2, fcr = 2, lcr = 3,
                          mcr = 4, lsr = 5, msr = 6, scr = 7;
// IER
inline constexpr std::uint8_t ier_rdi = 0b0001, ier_thri = 0b0010, ier_rlsi = 0b0100, ier_msi = 0b1000;
// IIR
inline constexpr std::uint8_t iir_no_int = 0x01, iir_msi = 0x00, iir_thri = 0x02, iir_rdi = 0x04,
                              iir_rlsi = 0x06, iir_cti = 0x0c, iir_fifo_enabled = 0xc0;
// FCR
inline constexpr std::uint8_t fcr_fe = 0b0000'0001, fcr_rfr = 0b0000'0010, fcr_xfr = 0b0000'0100,
                              fcr_itl_mask = 0b1100'0000;
// LCR
inline constexpr std::uint8_t lcr_dlab = 0b1000'0000;
// MCR
inline constexpr std::uint8_t mcr_dtr = 0b0'0001, mcr_rts = 0b0'0010, mcr_out1 = 0b0'0100,
                              mcr_out2 = 0b0'1000, mcr_loop = 0b1'0000;
// LSR
inline constexpr std::uint8_t lsr_dr = 0x01, lsr_oe = 0x02, lsr_pe = 0x04, lsr_fe = 0x08,
                              lsr_bi = 0x10, lsr_thre = 0x20, lsr_temt = 0x40,
                              lsr_int_any = lsr_bi | lsr_fe | lsr_pe | lsr_oe;
// MSR
inline constexpr std::uint8_t msr_dcts = 0x01, msr_ddsr = 0x02, msr_teri = 0x04, msr_ddcd = 0x08,
                              msr_cts = 0x10, msr_dsr = 0x20, msr_ri = 0x40, msr_dcd = 0x80,
                              msr_delta_mask = 0x0f;
inline constexpr unsigned fifo_size = 16;
} // namespace uart

struct uart16550_state {
    BOOST_HANA_DEFINE_STRUCT(uart16550_state,
        (std::uint16_t, divider),
        (std::uint8_t, rbr),
        (std::uint8_t, ier),
        (std::uint8_t, iir),
        (std::uint8_t, lcr),
        (std::uint8_t, mcr),
        (std::uint8_t, lsr),
        (std::uint8_t, msr),
        (std::uint8_t, scr),
        (std::uint8_t, fcr),
        (bool, thr_ipending),
        (bool, timeout_ipending),
        (std::array<std::uint8_t, 16>, rx_fifo),
        (std::uint8_t, rx_head),
        (std::uint8_t, rx_count));
    bool operator==(const uart16550_state&) const = default;
};

// The register logic; independent of where the machine puts the UART.
class uart16550_core {
public:
    uart16550_core(chardev* chr, timer_lists* timers, irq_line irq);
    ~uart16550_core();
    uart16550_core(const uart16550_core&) = delete;
    uart16550_core& operator=(const uart16550_core&) = delete;

    // A loaded state's registers: null if it could be this UART's, else why not.
    const char* check_loaded_state() const {
        return s_.rx_head < 16 && s_.rx_count <= 16 ? nullptr : "the receive FIFO's pointers are past it";
    }
    void reset();
    // After a loaded state: the character timeout, a timer and not a
    // register, is armed again for data waiting below the trigger level
    // (four characters from now, where QEMU keeps the saved expiry), and
    // the IRQ line follows the loaded registers.
    void post_load();
    std::uint8_t read(unsigned reg);
    void write(unsigned reg, std::uint8_t value);

    void pio_read(std::uint16_t offset, std::span<std::byte> data) {
        for (std::size_t i = 0; i < data.size(); ++i) data[i] = std::byte(read((offset + i) & 7));
    }
    void pio_write(std::uint16_t offset, std::span<const std::byte> data) {
        for (std::size_t i = 0; i < data.size(); ++i) write((offset + i) & 7, std::uint8_t(data[i]));
    }

    // chardev frontend
    std::size_t can_receive() const;
    void receive(std::span<const std::byte> data);

    uart16550_state& state() { return s_; }
    const uart16550_state& state() const { return s_; }
    bool irq_level() const { return irq_level_; }

private:
    void receive_byte(std::uint8_t b);
    void update_irq();
    void update_msr_loopback();
    void arm_timeout();
    unsigned trigger_level() const;
    ns char_time() const;

    uart16550_state s_{};
    chardev* chr_;
    timer_lists* timers_;
    std::unique_ptr<timer> timeout_;
    irq_line irq_;
    bool irq_level_ = false;
};

// The UART at an I/O base with an ISA IRQ, as the machine type names it
// (uart16550<0x3f8, 4> is COM1).
template <std::uint16_t Base, unsigned Irq>
class uart16550 : public uart16550_core {
public:
    static constexpr std::string_view name = "uart16550";
    static constexpr std::array ports{port_range{Base, 8}};
    static constexpr unsigned irq = Irq;
    using state_type = uart16550_state;

    explicit uart16550(device_context& ctx)
        : uart16550_core(ctx.next_serial ? ctx.next_serial() : nullptr, ctx.timers,
                         ctx.irq ? ctx.irq(Irq) : irq_line{}) {}
};

} // namespace qf::dev
