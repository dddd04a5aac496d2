#include "qf/pci/piix.hpp"

#include "qf/core/log.hpp"

#include <cstring>

namespace qf::pci {

namespace {
constexpr std::uint16_t redhat = 0x1af4, qemu_subsystem = 0x1100;

std::uint32_t value_of(std::span<const std::byte> d) {
    std::uint32_t v = 0;
    std::memcpy(&v, d.data(), std::min<std::size_t>(d.size(), 4));
    return v;
}
void put(std::span<std::byte> d, std::uint32_t v) { std::memcpy(d.data(), &v, std::min<std::size_t>(d.size(), 4)); }
} // namespace

// --- PIIX3 ISA bridge -------------------------------------------------------

piix3_isa::piix3_isa(device_context& ctx)
    : pci_function(ctx, "PIIX3", {0x8086, 0x7000, 0x00, 0x060100, 0x80, redhat, qemu_subsystem, 0}) {
    reset();
}

// QEMU's piix3_reset values.
void piix3_isa::reset() {
    reset_config();
    set16(reg::command, 0x0007, get16(reg::command) | 0x0107);
    set16(reg::status, 0x0200);
    const std::pair<unsigned, std::uint8_t> values[] = {{0x4c, 0x4d}, {0x4e, 0x03}, {0x60, 0x80}, {0x61, 0x80},
                                                         {0x62, 0x80}, {0x63, 0x80}, {0x69, 0x02}, {0x70, 0x80},
                                                         {0x76, 0x0c}, {0x77, 0x0c}, {0x78, 0x02}, {0xa0, 0x08},
                                                         {0xa8, 0x0f}};
    for (auto [o, v] : values) cfg_[o] = v;
    pirq_sources_ = {};
    update_irqs();
}

int piix3_isa::pirq_route(unsigned pirq) const {
    const std::uint8_t r = cfg_[0x60 + (pirq & 3)];
    return (r & 0x80) || (r & 0x0f) < 3 ? -1 : r & 0x0f;
}

void piix3_isa::set_intx(unsigned devfn, unsigned pin, bool level) {
    if (pin < 1 || pin > 4) return;
    const unsigned slot = devfn >> 3;
    const unsigned pirq = (pin - 1 + slot + 3) & 3;
    const std::uint32_t bit = 1u << ((devfn & 7) * 4 + (pin - 1)) % 32;
    if (level) pirq_sources_[pirq] |= bit;
    else pirq_sources_[pirq] &= ~bit;
    update_irqs();
}

void piix3_isa::config_written(unsigned offset, unsigned size) {
    if (offset < 0x64 && offset + size > 0x60) update_irqs();
}

// Each ISA IRQ is the OR of the PIRQs routed to it (level, shared).
void piix3_isa::update_irqs() {
    std::array<bool, 16> level{};
    std::array<int, 4> now{-1, -1, -1, -1};
    for (unsigned p = 0; p < 4; ++p) {
        now[p] = pirq_route(p);
        if (now[p] >= 0 && pirq_sources_[p]) level[std::size_t(now[p])] = true;
    }
    if (!ctx_.irq) return;
    for (unsigned p = 0; p < 4; ++p) {
        if (driven_[p] >= 0 && !level[std::size_t(driven_[p])]) ctx_.irq(unsigned(driven_[p])).lower();
        if (now[p] >= 0 && level[std::size_t(now[p])]) ctx_.irq(unsigned(now[p])).raise();
    }
    driven_ = now;
}

// --- PIIX3 IDE --------------------------------------------------------------

piix3_ide::piix3_ide(device_context& ctx)
    : pci_function(ctx, "PIIX3-IDE", {0x8086, 0x7010, 0x00, 0x010180, 0x00, redhat, qemu_subsystem, 0}) {
    // The bus-master registers: no drive and no DMA yet, so a guest that
    // programs them is told in the unimp log.
    define_io_bar(4, 16,
                  {[](void*, std::uint16_t off, std::span<std::byte> d) {
                       std::memset(d.data(), 0, d.size());
                       logf(log_item::unimp, "piix3-ide: bus-master register %#x read (no drives yet)\n", off);
                   },
                   [](void*, std::uint16_t off, std::span<const std::byte>) {
                       logf(log_item::unimp, "piix3-ide: bus-master register %#x written (no drives yet)\n", off);
                   },
                   this});
    reset_config();
}

// --- PIIX4 power management --------------------------------------------------

piix4_pm::piix4_pm(device_context& ctx)
    : pci_function(ctx, "PIIX4-PM", {0x8086, 0x7113, 0x03, 0x068000, 0x00, redhat, qemu_subsystem, 1}, &pm_.config),
      pm_io_(ctx.ports ? ctx.ports->add("piix4-pm", 64, {&pm_read, &pm_write, this}) : 0),
      sci_(ctx.irq ? ctx.irq(9) : irq_line{}) {
    reset();
}

void piix4_pm::reset() {
    reset_config();
    set16(reg::status, 0x0280);
    set8(reg::class_prog, 0x00);
    set32(0x40, 0x0000'0001, 0x0000'ffc0);  // PMBA: I/O space indicator, 64 bytes
    set8(0x5b, 0x02);                       // SMM already set up: no SMM here, as QEMU with smm=off
    set8(0x5f, 0x10 | 0x80);                // LPT at 0x378 is absent; QEMU's value for its own devices
    set8(0x63, 0x60);
    set8(0x67, 0x08);                       // COM1 at 0x3f8 decoded
    set8(0x80, 0x00, 0x01);                 // PMIOSE
    set8(0x90, 0x01);                       // SMBus base, I/O
    set8(0xd2, 0x09);
    pm_.pm1_sts = pm_.pm1_en = pm_.pm1_cnt = 0;
    pm_.apmc = pm_.apms = 0;
    update_io();
    update_sci();
}

std::uint32_t piix4_pm::pm_timer() const {
    const std::int64_t ns = ctx_.timers ? ctx_.timers->now(clock_type::virt) : 0;
    const std::int64_t ticks = ns / 1'000'000'000 * pm_timer_hz + ns % 1'000'000'000 * pm_timer_hz / 1'000'000'000;
    return std::uint32_t(ticks) & 0xff'ffff;
}

void piix4_pm::config_written(unsigned offset, unsigned size) {
    if ((offset < 0x44 && offset + size > 0x40) || (offset <= 0x80 && offset + size > 0x80)) update_io();
}

// QEMU's pm_io_space_update: PMBA while PMIOSE is set.
void piix4_pm::update_io() {
    if (!ctx_.ports) return;
    const std::uint32_t base = get32(0x40) & 0xffc0;
    ctx_.ports->map(pm_io_, (cfg_[0x80] & 1) && base ? std::optional<std::uint16_t>(std::uint16_t(base)) : std::nullopt);
}

void piix4_pm::update_sci() {
    const bool level = (pm_.pm1_sts & pm_.pm1_en & 0x0521) && (pm_.pm1_cnt & 1);  // TMR, GBL, PWRBTN, RTC, with SCI_EN
    sci_.set(level);
}

void piix4_pm::pm_read(void* self, std::uint16_t off, std::span<std::byte> d) {
    auto& pm = *static_cast<piix4_pm*>(self);
    // The PM1 block as one little-endian run: STS, EN, CNT, then the timer.
    std::byte block[12];
    std::memcpy(block, &pm.pm_.pm1_sts, 2);
    std::memcpy(block + 2, &pm.pm_.pm1_en, 2);
    std::memcpy(block + 4, &pm.pm_.pm1_cnt, 2);
    std::memset(block + 6, 0, 2);
    const std::uint32_t t = pm.pm_timer();
    std::memcpy(block + 8, &t, 4);
    for (std::size_t i = 0; i < d.size(); ++i) {
        const unsigned o = off + unsigned(i);
        d[i] = o < sizeof block ? block[o] : std::byte{0};
    }
}

void piix4_pm::pm_write(void* self, std::uint16_t off, std::span<const std::byte> d) {
    auto& pm = *static_cast<piix4_pm*>(self);
    const std::uint32_t v = value_of(d);
    if (off == 0 && d.size() >= 2) {
        pm.pm_.pm1_sts &= std::uint16_t(~v);  // write 1 to clear
    } else if (off == 2 && d.size() >= 2) {
        pm.pm_.pm1_en = std::uint16_t(v);
    } else if (off == 4 && d.size() >= 2) {
        pm.pm_.pm1_cnt = std::uint16_t(v & ~(1u << 13));  // SLP_EN reads as 0
        if (v & (1u << 13)) {
            const unsigned typ = (v >> 10) & 7;
            if (typ == 0 || typ == 2) {  // S5 (and S4, which QEMU also powers off)
                if (pm.on_poweroff) pm.on_poweroff();
            } else {
                logf(log_item::unimp, "piix4-pm: sleep type %u (suspend) is not implemented\n", typ);
            }
        }
    } else {
        logf(log_item::guest_errors, "piix4-pm: write of %zu bytes at PM offset %#x ignored\n", d.size(), off);
    }
    pm.update_sci();
}

void piix4_pm::pio_read(std::uint16_t offset, std::span<std::byte> data) { put(data, offset == 0 ? pm_.apmc : pm_.apms); }

// APM (QEMU's apm.c): 0xb2 is the SMI command port; ACPI enable/disable
// (0xf1/0xf0, the FADT's values) set SCI_EN without SMM. Other commands
// would raise an SMI, which this machine does not have.
void piix4_pm::pio_write(std::uint16_t offset, std::span<const std::byte> data) {
    const auto v = std::uint8_t(value_of(data));
    if (offset == 1) {
        pm_.apms = v;
        return;
    }
    pm_.apmc = v;
    if (v == 0xf1) pm_.pm1_cnt |= 1;
    else if (v == 0xf0) pm_.pm1_cnt &= std::uint16_t(~1u);
    else logf(log_item::unimp, "apm: SMI command %#x: no SMM on this machine\n", v);
    update_sci();
}

} // namespace qf::pci
