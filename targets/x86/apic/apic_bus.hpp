#pragma once
// The interrupt messages that travel between APICs: IPIs from a local APIC's
// ICR, redirections from the IOAPIC and MSIs from devices all become one
// apic_message, and the apic_bus hands it to the local APICs it addresses
// (SDM vol. 3, 10.6 "Issuing interprocessor interrupts"; QEMU 7.2's
// apic_get_delivery_bitmask and apic_bus_deliver in hw/intc/apic.c).
//
// The bus is implemented in src/x86/apic/local_apic.cpp, beside the APIC it
// serves: neither makes sense without the other.
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

namespace qf::x86 {

class local_apic;

enum class delivery_mode : std::uint8_t {
    fixed = 0,
    lowest_priority = 1,
    smi = 2,
    reserved = 3,
    nmi = 4,
    init = 5,
    startup = 6,  // SIPI: only from an ICR
    extint = 7,
};

enum class dest_mode : std::uint8_t { physical = 0, logical = 1 };
enum class trigger_mode : std::uint8_t { edge = 0, level = 1 };
enum class dest_shorthand : std::uint8_t { none = 0, self = 1, all_including_self = 2, all_excluding_self = 3 };

struct apic_message {
    // Physical: an APIC ID, 0xff for all. Logical: a message destination
    // address matched against each APIC's DFR/LDR.
    std::uint8_t dest = 0;
    dest_mode dmode = dest_mode::physical;
    delivery_mode mode = delivery_mode::fixed;
    std::uint8_t vector = 0;
    // ICR bit 14: only an INIT with level 0 and level trigger (the "INIT
    // level de-assert" of old MP systems) looks at it.
    bool level = true;
    trigger_mode trigger = trigger_mode::edge;
    // Only an ICR has a sender, and so only an IPI can use a shorthand.
    dest_shorthand shorthand = dest_shorthand::none;
};

// An MSI write (address 0xFEExxxxx, data) as the message it carries, or
// nullopt (logged) where the address is not in the interrupt range or the
// delivery mode is one an MSI cannot use (SIPI, the reserved mode 3).
// Redirection hint (address bit 3) is ignored, as QEMU does.
std::optional<apic_message> decode_msi(std::uint64_t addr, std::uint32_t data);

class apic_bus {
public:
    // xAPIC IDs are 8 bits and 0xff is the broadcast.
    static constexpr unsigned max_apics = 255;

    apic_bus() = default;
    apic_bus(const apic_bus&) = delete;
    apic_bus& operator=(const apic_bus&) = delete;

    // A local APIC joins at its vCPU index (its constructor does this).
    void attach(unsigned index, local_apic& apic);
    void detach(unsigned index);
    local_apic* at(unsigned index) const { return index < apics_.size() ? apics_[index] : nullptr; }
    std::size_t size() const { return apics_.size(); }

    // Hands m to the APICs it addresses. source is the sending APIC for an
    // IPI (the shorthands need it), nullptr for the IOAPIC and MSIs.
    // Lowest priority goes to the first addressed APIC by index: QEMU 7.2
    // does no arbitration ("XXX: search for focus processor, arbitration"),
    // and guests see the same CPU take the interrupt as under QEMU.
    void deliver(const apic_message& m, local_apic* source = nullptr);
    // A device's (or the IOAPIC's) write of data to addr in 0xFEE00000-0xFEEFFFFF.
    void deliver_msi(std::uint64_t addr, std::uint32_t data);

    // The 8259's INTR, which reaches every CPU's LINT0 (QEMU's
    // pic_irq_request); each APIC decides from its LVT whether it listens.
    void set_pic_intr(bool level);
    // An external NMI (the NMI button, a watchdog) on every CPU's LINT1.
    void set_nmi(bool level);

    // Wired by the board:
    // A local APIC's EOI of a level-triggered vector, to the IOAPIC(s).
    std::function<void(std::uint8_t vector)> on_level_eoi;
    // The 8259's interrupt acknowledge, for an APIC whose LINT0 passes the
    // 8259's INTR through (virtual wire, ExtINT).
    std::function<std::uint8_t()> extint_ack;

private:
    friend class local_apic;
    // The APICs that m addresses, in index order; returns how many.
    std::size_t targets(const apic_message& m, local_apic* source, std::array<local_apic*, max_apics>& out) const;

    std::vector<local_apic*> apics_;
};

} // namespace qf::x86
