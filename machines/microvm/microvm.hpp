#pragma once
// microvm: QEMU's minimal machine of that name (docs/system/i386/
// microvm.rst), without its firmware: no PCI; the board loads a Linux
// bzImage itself and starts it at its 64-bit entry (the Linux boot
// protocol, targets/x86/boot/linux_direct.hpp). The CPUs, the IOAPIC and
// power-off come from ACPI tables the board builds (acpi=on, QEMU's
// default; a full FADT over dev::acpi_pm, where QEMU's is hardware-reduced)
// or, with acpi=off, from an MP table in the last KiB of base memory (for
// kernels built with CONFIG_X86_MPPARSE - Debian's cloud kernel is not:
// it then sees one CPU, as under QEMU's acpi=off). Its devices: the 8259
// pair, the 8254, the RTC, COM1, the ACPI PM registers, a local APIC per
// CPU and the IOAPIC (the kernel's under KVM), isa-debug-exit and the
// debug console on request (-device). The device list is a template
// argument like every board's: a tailored build leaves out what it does
// not need.
#include "qf/devices/acpi_pm.hpp"
#include "qf/devices/i8254_pit.hpp"
#include "qf/devices/i8259_pic.hpp"
#include "qf/devices/ioapic.hpp"
#include "qf/devices/isa_debug_exit.hpp"
#include "qf/devices/isa_debugcon.hpp"
#include "qf/devices/mc146818_rtc.hpp"
#include "qf/devices/uart16550.hpp"
#include "qf/machine/firmware.hpp"
#include "targets/x86/board/x86_board.hpp"
#include "targets/x86/boot/acpi_tables.hpp"
#include "targets/x86/boot/linux_direct.hpp"
#include "targets/x86/boot/mptable.hpp"
#include "targets/x86/boot/pc_cmos.hpp"

#include <array>

namespace qf::machines {

// Under KVM the kernel's irqchip has the IOAPIC (and the local APICs).
template <class Accel>
using microvm_devices = std::conditional_t<
    std::is_same_v<Accel, accel::kvm>,
    devices<dev::i8259_pair, dev::i8254_pit, dev::mc146818_rtc, dev::uart16550<0x3f8, 4>, dev::acpi_pm>,
    devices<dev::i8259_pair, dev::i8254_pit, dev::mc146818_rtc, dev::uart16550<0x3f8, 4>, dev::acpi_pm,
            dev::ioapic>>;

using microvm_topology = topology<sockets<1>, cores<16>, threads<1>>;

template <class Accel = accel::tcg<>, class Devices = microvm_devices<Accel>>
class microvm : public x86::x86_board<microvm<Accel, Devices>, microvm_topology, Accel, Devices,
                                      pluggable<dev::isa_debugcon_core, dev::isa_debug_exit_core>> {
    using board = typename microvm::x86_board;

public:
    static constexpr std::string_view name = "microvm";
    static constexpr std::string_view description = "microvm (i386): no PCI, no firmware; -kernel started directly";
    static constexpr std::string_view default_ram_id = "microvm.ram";
    static constexpr std::string_view default_bios = "";  // none: -kernel, or a -bios of the user's
    static constexpr bool has_local_apic = true;
    static constexpr bool kvm_kernel_irqchip = true;
    // QEMU's microvm_memory_init: RAM below 4 GiB up to 3 GiB.
    static constexpr std::uint64_t below_4g_limit(std::uint64_t ram) { return ram > 0xc000'0000 ? 0xc000'0000 : ram; }
    // Where Linux's smp_scan_config looks first after the bottom KiB: the
    // last KiB of 640. The ACPI tables go where it scans for the RSDP.
    static constexpr std::uint32_t mptable_addr = 639 * 1024, acpi_addr = 0xe'0000;

    // QEMU's microvm properties. Those for devices this board always has
    // take on (and auto); off needs a build without the device.
    static constexpr std::array<std::string_view, 9> machine_properties = {
        "pic", "pit", "rtc", "isa-serial", "acpi", "pcie", "ioapic2", "auto-kernel-cmdline", "x-option-roms"};

    using board::board;

    static bool uses_bios(const options& o) { return o.kernel.empty(); }

    static void validate_board(const options& o) {
        for (const auto& [key, value] : o.machine_props) {
            const bool on_off_auto = key == "pic" || key == "pit" || key == "rtc" || key == "acpi" || key == "pcie" ||
                                     key == "ioapic2";
            if (on_off_auto && value != "on" && value != "off" && value != "auto")
                throw error("Parameter '" + key + "' does not accept value '" + value + "'");
            if (!on_off_auto && value != "on" && value != "off")
                throw error("Parameter '" + key + "' expects 'on' or 'off'");
            if ((key == "pic" || key == "pit" || key == "rtc" || key == "isa-serial") && value == "off")
                throw error("-machine " + key + "=off: this build's microvm has the device; leave it out of the "
                            "board's device list (machines/microvm/microvm.hpp) for a microvm without it");
            if ((key == "pcie" || key == "ioapic2") && value == "on")
                throw error("-machine " + key + "=on: not implemented; microvm here has no PCIe and one IOAPIC");
        }
        if (o.kernel.empty() && o.bios.empty() && o.bios_image.empty())
            throw error("machine microvm has no firmware: give it a Linux kernel (-kernel bzImage) or -bios");
        if (!o.kernel.empty() && (!o.bios.empty() || !o.bios_image.empty()))
            throw error("-kernel with -bios: microvm starts the kernel itself, without firmware");
        if (o.kernel.empty() && !o.initrd.empty()) throw error("-initrd only allowed with -kernel option");
        if (o.kernel.empty() && !o.append.empty()) throw error("-append only allowed with -kernel option");
        if (!o.fw_cfg.empty()) throw error("-fw_cfg: machine microvm has no fw_cfg device here");
        if (!o.option_roms.empty()) throw error("-option-rom: machine microvm has no fw_cfg to hand it to firmware");
        if (!o.rtc.empty()) dev::parse_rtc_option(o.rtc);
        if constexpr (board::on_kvm)
            if (!board::accel_props(o).kernel_irqchip)
                throw error("-accel kvm,kernel-irqchip=off: microvm's local APICs and IOAPIC are the kernel's "
                            "under KVM (kernel-irqchip=on)");
    }

    // -machine acpi=on|off|auto: the last one wins; on by default.
    static bool acpi_enabled(const options& o) {
        bool on = true;
        for (const auto& [key, value] : o.machine_props)
            if (key == "acpi") on = value != "off";
        return on;
    }

    // QMP's system_powerdown.
    void press_power_button() { this->template device<dev::acpi_pm>().press_power_button(); }

    void init_board(const options& o) {
        auto& pm = this->template device<dev::acpi_pm>();
        pm.on_poweroff = [this] { this->shutdown(); };
        pm.on_reset = [this] { this->request_reset("the ACPI reset register"); };
        auto& rtc = this->template device<dev::mc146818_rtc>();
        if (!o.rtc.empty()) rtc.configure(dev::parse_rtc_option(o.rtc));
        x86::pc_cmos_set_memory(rtc, this->ram_below_4g(), this->ram_above_4g());  // microvm_set_rtc
        if (!o.kernel.empty()) {
            load_kernel(o);
            map_reset_stub();
        }
    }

    // At every reset, as a boot loader would: the kernel, initrd, zero
    // page, page tables and MP table into RAM, the CPU at the entry.
    void reset_boot_cpu(x86::state& s) {
        if (!boot_) return;
        for (const auto& blob : boot_->blobs) this->memory().dma_write(gpa{blob.addr}, blob.bytes);
        x86::enter_linux_direct(s, *boot_);
    }

private:
    void load_kernel(const options& o) {
        const std::vector<std::byte> kernel = read_file("-kernel", o.kernel);
        x86::linux_boot_config lb = this->linux_boot_from(o, kernel);
        // Base memory to 0x9fc00, reserved what the board puts below 1 MiB
        // (the ACPI tables at 0xe0000, or the MP table at 0x9fc00), RAM from
        // 1 MiB (the PC's hole between is left out).
        const bool acpi = acpi_enabled(o);
        std::vector<x86::e820_entry> e820 = {{0, mptable_addr, x86::e820_ram}};
        if (acpi) e820.push_back({acpi_addr, 0x10'0000 - acpi_addr, x86::e820_reserved});
        else e820.push_back({mptable_addr, 0xa'0000 - mptable_addr, x86::e820_reserved});
        e820.push_back({0x10'0000, this->ram_below_4g() - 0x10'0000, x86::e820_ram});
        if (this->ram_above_4g()) e820.push_back({1ull << 32, this->ram_above_4g(), x86::e820_ram});
        try {
            boot_ = x86::build_linux_direct(std::move(lb), e820);
        } catch (const error& e) {
            throw error("-kernel " + o.kernel + ": " + e.what());
        }
        if (acpi) {
            x86::acpi_config a;
            a.addr = acpi_addr;
            a.cpus = o.cpu_count();
            a.pm1_evt = dev::acpi_pm::pm1_evt;
            a.pm1_cnt = dev::acpi_pm::pm1_cnt;
            a.reset_port = dev::acpi_pm::reset_port;
            a.reset_value = dev::acpi_pm::reset_value;
            a.sci_irq = dev::acpi_pm::sci_irq;
            boot_->blobs.push_back({acpi_addr, x86::build_acpi_tables(a)});
            return;
        }
        const auto& model = this->cpu().model();
        x86::mptable_config mp;
        mp.addr = mptable_addr;
        mp.cpus = o.cpu_count();
        mp.cpu_signature = model.signature();
        mp.cpu_features = model.features.word(x86::feature_word::l1_edx);
        mp.ioapic_version = dev::ioapic::version;
        boot_->blobs.push_back({mptable_addr, x86::build_mptable(mp)});
    }

    // Without firmware nothing answers at the BIOS's reset vector, where
    // Linux's last ways to reboot jump (reboot=b, and its fallback after a
    // panic when no reset register worked): a page of ROM below 1 MiB whose
    // last 16 bytes ask for a reset through dev::acpi_pm's register, as a
    // firmware's reset path would.
    void map_reset_stub() {
        reset_stub_ = host_memory(0x1000, "microvm.reset");
        static constexpr std::uint8_t stub[] = {
            0xb0, dev::acpi_pm::reset_value,                          // mov al, value
            0xba, dev::acpi_pm::reset_port & 0xff, dev::acpi_pm::reset_port >> 8,  // mov dx, port
            0xee,                                                     // out dx, al
            0xf4, 0xeb, 0xfd};                                        // hlt, and back to it
        std::memcpy(reset_stub_.data() + 0xff0, stub, sizeof stub);
        this->memory().add({"microvm.reset", {0xf'f000}, 0x1000, region_kind::rom, reset_stub_.data(), {}, 1});
    }

    std::optional<x86::linux_direct_boot> boot_;
    host_memory reset_stub_;
};

} // namespace qf::machines
