#pragma once
// The local APIC (xAPIC mode) of one vCPU: the register page, interrupt
// acceptance and priority, EOI, the LVT with its timer, IPIs through the ICR,
// INIT and SIPI (SDM vol. 3, ch. 10 "Advanced Programmable Interrupt
// Controller"; QEMU 7.2's hw/intc/apic.c and apic_common.c are the behaviour
// firmware and Linux expect). x2APIC is not modelled: the CPU model must not
// advertise it, and IA32_APIC_BASE refuses its enable bit.
//
// What the CPU does with it:
//   - on_interrupt_change(level) -> vcpu::set_intr(level);
//   - vcpu::interrupt_ack        -> acknowledge();
//   - MOV to/from CR8            -> set_cr8() / cr8();
//   - RDMSR/WRMSR 0x1B           -> apic_base() / set_apic_base() (false: #GP);
//   - CPU accesses to base_address() .. +0xFFF -> mmio_read / mmio_write of
//     the APIC of the CPU that makes them;
//   - on_init, on_sipi, on_nmi, on_smi: see below.
#include "targets/x86/apic/apic_bus.hpp"

#include "qf/core/timer.hpp"

#include <array>
#include <boost/hana/define_struct.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>

namespace qf::x86 {

// The LVT entries, in register order (0x320 onwards).
enum lvt_index : unsigned { lvt_timer, lvt_thermal, lvt_perf, lvt_lint0, lvt_lint1, lvt_error, lvt_count };

// Error status register bits (SDM 10.5.3).
namespace esr {
inline constexpr std::uint32_t send_illegal_vector = 1u << 5;
inline constexpr std::uint32_t receive_illegal_vector = 1u << 6;
inline constexpr std::uint32_t illegal_register = 1u << 7;
}

struct local_apic_state {
    BOOST_HANA_DEFINE_STRUCT(local_apic_state,
        (std::uint64_t, apic_base),        // IA32_APIC_BASE
        (std::uint8_t, id),
        (std::uint8_t, tpr),
        (std::uint8_t, log_dest),          // LDR[31:24]
        (std::uint8_t, dest_mode),         // DFR[31:28]: 0xf flat, 0 cluster
        (std::uint32_t, spurious_vec),     // SVR
        (std::array<std::uint32_t, 8>, isr),
        (std::array<std::uint32_t, 8>, tmr),
        (std::array<std::uint32_t, 8>, irr),
        (std::array<std::uint32_t, lvt_count>, lvt),
        (std::uint32_t, esr),              // what a read returns
        (std::uint32_t, esr_pending),      // errors since the last ESR write
        (std::array<std::uint32_t, 2>, icr),
        (std::uint32_t, divide_conf),
        (std::uint32_t, initial_count),
        (std::int64_t, initial_count_load_time),  // vm ns
        (std::int64_t, timer_expiry),             // vm ns, -1 none
        (bool, wait_for_sipi),
        (bool, lint0_level),
        (bool, lint1_level));
    bool operator==(const local_apic_state&) const = default;
};

class local_apic {
public:
    static constexpr std::string_view name = "apic";
    static constexpr std::uint64_t default_base = 0xfee0'0000;
    // QEMU 7.2: version 0x14, six LVT entries (max LVT index 5 in bits 23:16).
    static constexpr std::uint32_t version = 0x0005'0014;
    // QEMU's timer counts one bus cycle per ns (a 1 GHz bus) before the divider.
    static constexpr std::int64_t bus_frequency = 1'000'000'000;
    static constexpr std::uint64_t base_bsp = 1u << 8, base_extd = 1u << 10, base_enable = 1u << 11;
    using state_type = local_apic_state;

    // Joins bus at index (vCPU index; index 0 is the bootstrap processor).
    // apic_id is the initial APIC ID; timers may be null for a timer-less
    // test. phys_addr_bits bounds IA32_APIC_BASE (40: QEMU's TCG default).
    local_apic(apic_bus& bus, unsigned index, std::uint8_t apic_id, timer_lists* timers,
               unsigned phys_addr_bits = 40);
    ~local_apic();
    local_apic(const local_apic&) = delete;
    local_apic& operator=(const local_apic&) = delete;

    // Power-on / system reset: base 0xFEE00000 enabled, SVR 0xFF, LVTs
    // masked, and on the BSP LINT0 in ExtINT mode (QEMU sets it so that the
    // 8259 reaches CPU 0 as the BIOS would have it); an AP waits for SIPI.
    void reset();
    // After the state was loaded from a snapshot: re-arms the timer.
    void post_load();
    local_apic_state& state() { return s_; }
    const local_apic_state& state() const { return s_; }

    // The register page (offset within the 4 KiB page). Registers are 32
    // bits at 16-byte strides; other sizes read 0 and are ignored on write.
    void mmio_read(std::uint64_t offset, std::span<std::byte> data);
    void mmio_write(std::uint64_t offset, std::span<const std::byte> data);
    std::uint32_t read(std::uint32_t offset);
    void write(std::uint32_t offset, std::uint32_t value);

    // IA32_APIC_BASE. The BSP bit is read-only; once the enable bit is
    // cleared it stays clear until reset (QEMU 7.2, which also clears
    // CPUID.1:EDX.APIC then: see hw_enabled()). Reserved bits and the
    // x2APIC enable: false, the CPU raises #GP.
    std::uint64_t apic_base() const { return s_.apic_base; }
    bool set_apic_base(std::uint64_t value);
    std::uint64_t base_address() const { return s_.apic_base & 0xffff'f000 & phys_mask_; }
    bool hw_enabled() const { return s_.apic_base & base_enable; }
    bool is_bsp() const { return s_.apic_base & base_bsp; }

    // CR8 is TPR[7:4].
    std::uint8_t cr8() const { return s_.tpr >> 4; }
    void set_cr8(std::uint8_t value);

    // Whether the CPU's INTR is asserted: a vector above the PPR in the IRR
    // of an enabled APIC, or the 8259's INTR passed through LINT0.
    bool has_interrupt() const;
    // The 8259's INTR passes through: the APIC is hardware-disabled, or
    // LINT0 is unmasked in ExtINT mode; and the 8259 asserts INTR.
    bool is_extint_pending() const;
    // INTA: the 8259's vector (through apic_bus::extint_ack) if it passes
    // through, else the highest IRR vector above the PPR moves to the ISR
    // and is returned; the spurious vector (SVR[7:0]) if nothing qualifies.
    int acknowledge();

    // The LINT pins: the 8259's INTR (usually through apic_bus::set_pic_intr)
    // and the external NMI; what they do is the LVT's business.
    void set_lint0(bool level);
    void set_lint1(bool level);

    // Messages from the bus.
    void accept(std::uint8_t vector, trigger_mode trigger);
    void deliver_nmi();
    void deliver_smi();
    void deliver_init();
    void deliver_sipi(std::uint8_t vector);

    bool waiting_for_sipi() const { return s_.wait_for_sipi; }
    std::uint8_t id() const { return s_.id; }
    unsigned index() const { return index_; }
    std::uint8_t ppr() const;
    // info lapic, as QEMU's x86_cpu_dump_local_apic_state prints it for
    // CPU cpu_index (x2apic: the CPU model has x2APIC, which changes how
    // ICR2 reads).
    std::string info(unsigned cpu_index, bool x2apic) const {
        return format(s_, cpu_index, x2apic, current_count(), ppr());
    }
    // The same for a state (KVM's in-kernel APIC's too), with the timer's
    // current count and the PPR as they stand.
    static std::string format(const local_apic_state& s, unsigned cpu_index, bool x2apic, std::uint32_t current_count,
                              std::uint8_t ppr);
    // The current count of the timer (what 0x390 reads).
    std::uint32_t current_count() const;

    // Wired by the CPU:
    // Told whenever has_interrupt() may have changed, with its new value.
    std::function<void(bool)> on_interrupt_change;
    // INIT was delivered: this APIC is back to its INIT state; the CPU does
    // its INIT (registers as at RESET but for the caches, FPU/SSE, MTRRs)
    // and, if waiting_for_sipi(), stays stopped until on_sipi. The BSP
    // (waiting_for_sipi() false) starts at the reset vector.
    std::function<void()> on_init;
    // A SIPI woke this CPU from wait-for-SIPI: CS = vector << 8, base
    // vector << 12, IP 0.
    std::function<void(std::uint8_t vector)> on_sipi;
    std::function<void()> on_nmi;
    std::function<void()> on_smi;

private:
    std::int64_t now() const;
    void init_reset();
    void update_irq();
    int irq_pending() const;  // <0 below the PPR, 0 none, >0 the vector
    void set_error(std::uint32_t bit);
    void local_deliver(unsigned lvt);
    void send_ipi();
    void eoi();
    void write_lvt(unsigned n, std::uint32_t value);
    unsigned count_shift() const;
    bool next_timer(std::int64_t current);
    void timer_update(std::int64_t current);
    void timer_fired();

    apic_bus& bus_;
    unsigned index_;
    std::uint8_t initial_id_;
    std::uint64_t phys_mask_;
    timer_lists* timers_;
    std::unique_ptr<timer> timer_;
    local_apic_state s_{};
};

} // namespace qf::x86
