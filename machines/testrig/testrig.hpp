#pragma once
// testrig: the smallest machine a firmware test needs - one x86 CPU (up to
// 16 under KVM with the kernel's local APICs, -smp), RAM, a
// -bios image at the top of 4 GiB (its last 128 KiB also below 1 MiB, as
// QEMU's isa-bios alias), the PC's 8259A pair and 8254 timer, a 16550A at
// 0x3f8 (IRQ 4), a debug console at 0xe9 and isa-debug-exit at 0xf4. No
// local APIC, no PCI: it boots test firmware, not an operating system.
#include "qf/devices/i8254_pit.hpp"
#include "qf/devices/i8259_pic.hpp"
#include "qf/devices/isa_debug_exit.hpp"
#include "qf/devices/isa_debugcon.hpp"
#include "qf/devices/port92.hpp"
#include "qf/devices/pvpanic.hpp"
#include "qf/devices/uart16550.hpp"
#include "targets/x86/board/x86_board.hpp"

namespace qf::machines {

// The device set a firmware test rig has by default.
using testrig_devices = devices<dev::i8259_pair, dev::i8254_pit, dev::port92, dev::uart16550<0x3f8, 4>,
                                dev::isa_debugcon<0xe9>, dev::isa_debug_exit<0xf4, 4>>;

// One CPU under TCG, whose testrig has no local APIC to start others; under
// KVM up to 16 cores in one socket, started by the kernel's local APICs.
template <class Accel>
using testrig_topology =
    topology<sockets<1>, cores<std::is_same_v<Accel, accel::kvm> ? 16 : 1>, threads<1>>;

// Devices is a choice too: a tailored rig compiles in only what it lists
// (without the PIC, no external interrupts reach the CPU).
template <class Accel = accel::tcg<>, class Devices = testrig_devices>
class testrig : public x86::x86_board<testrig<Accel, Devices>, testrig_topology<Accel>, Accel, Devices,
                                      pluggable<dev::isa_debugcon_core, dev::isa_debug_exit_core, dev::pvpanic_core>> {
    using board = typename testrig::x86_board;

public:
    static constexpr std::string_view name = "testrig";
    static constexpr std::string_view description = "qforge firmware test rig (1 CPU, RAM, -bios, PIC, PIT, COM1, 0xe9, 0xf4)";
    static constexpr std::string_view default_bios = "qforge-demo.bin";
    // RAM below 4 GiB ends here; the rest starts at 4 GiB (the hole holds the BIOS).
    static constexpr std::uint64_t below_4g_limit(std::uint64_t) { return 0xc000'0000; }

    using board::board;

    static void validate_board(const options& o) {
        if (!o.kernel.empty())
            throw error("-kernel " + o.kernel + ": machine testrig cannot boot a Linux kernel (use -M pc, not implemented yet)");
        if (!o.initrd.empty()) throw error("-initrd: needs -kernel, which machine testrig does not support");
        if (!o.append.empty()) throw error("-append: needs -kernel, which machine testrig does not support");
        // Nothing on this board reads them: no fw_cfg, no CMOS.
        if (!o.fw_cfg.empty()) throw error("-fw_cfg: machine testrig has no fw_cfg device (use -M pc)");
        if (!o.rtc.empty()) throw error("-rtc: machine testrig has no RTC (use -M pc)");
        if constexpr (board::on_kvm)
            if (o.cpu_count() > 1 && !board::accel_props(o).kernel_irqchip)
                throw error("-smp " + std::to_string(o.cpu_count()) +
                            ": the other CPUs start through their local APICs (INIT and SIPI), which testrig has "
                            "under KVM only with -accel kvm,kernel-irqchip=on");
    }
};

} // namespace qf::machines
