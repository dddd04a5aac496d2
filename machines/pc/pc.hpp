#pragma once
// pc: QEMU 7.2's pc-i440fx board, what SeaBIOS and Linux look for: the
// i440FX host bridge (PAM, SMRAM) at 00:00.0, PIIX3's ISA bridge and IDE
// at 00:01.0/.1, PIIX4 power management at 00:01.3, on configuration
// mechanism #1; the ISA devices of a PC (the 8259 pair, the 8254, port 92,
// COM1); Debian's SeaBIOS as its default -bios.
#include "qf/devices/fw_cfg.hpp"
#include "qf/devices/hpet.hpp"
#include "qf/devices/pc_testdev.hpp"
#include "qf/devices/i8042.hpp"
#include "qf/devices/i8254_pit.hpp"
#include "qf/devices/ioapic.hpp"
#include "qf/devices/i8259_pic.hpp"
#include "qf/devices/isa_debug_exit.hpp"
#include "qf/devices/isa_debugcon.hpp"
#include "qf/devices/mc146818_rtc.hpp"
#include "qf/devices/port92.hpp"
#include "qf/devices/pvpanic.hpp"
#include "qf/devices/uart16550.hpp"
#include "qf/pci/i440fx.hpp"
#include "qf/pci/pci_host.hpp"
#include "qf/pci/pci_testdev.hpp"
#include "qf/pci/piix.hpp"
#include "qf/core/log.hpp"
#include "qf/machine/firmware.hpp"
#include "targets/x86/board/x86_board.hpp"
#include "targets/x86/boot/linux.hpp"
#include "targets/x86/boot/multiboot.hpp"
#include "targets/x86/boot/pc_cmos.hpp"
#include "targets/x86/boot/pc_fw_cfg.hpp"

#include <array>
#include <map>
#include <utility>

namespace qf::machines {

// Under KVM the kernel's irqchip has the IOAPIC (and the local APICs);
// under TCG it is this board's.
template <class Accel>
using pc_devices = std::conditional_t<
    std::is_same_v<Accel, accel::kvm>,
    devices<dev::i8259_pair, dev::i8254_pit, dev::i8042, dev::port92, dev::uart16550<0x3f8, 4>, dev::mc146818_rtc,
            pci::pci_host, pci::i440fx, pci::piix3_isa, pci::piix3_ide, pci::piix4_pm, dev::fw_cfg_io, dev::hpet>,
    devices<dev::i8259_pair, dev::i8254_pit, dev::i8042, dev::port92, dev::uart16550<0x3f8, 4>, dev::mc146818_rtc,
            pci::pci_host, pci::i440fx, pci::piix3_isa, pci::piix3_ide, pci::piix4_pm, dev::fw_cfg_io, dev::ioapic, dev::hpet>>;

// Up to 16 CPUs, started through the local APICs (INIT, SIPI): TCG's run
// round-robin in one thread, KVM's each in its own.
using pc_topology = topology<sockets<1>, cores<16>, threads<1>>;

template <class Accel = accel::tcg<>, class Devices = pc_devices<Accel>>
class pc : public x86::x86_board<pc<Accel, Devices>, pc_topology, Accel, Devices,
                                 pluggable<dev::isa_debugcon_core, dev::isa_debug_exit_core, dev::pc_testdev_core,
                                           dev::pvpanic_core>> {
    using board = typename pc::x86_board;

public:
    static constexpr std::string_view name = "pc";
    static constexpr std::string_view description = "Standard PC (i440FX + PIIX, 1996)";
    static constexpr std::string_view qemu_name = "pc-i440fx-7.2";  // -M takes it too
    static constexpr std::string_view default_ram_id = "pc.ram";
    static constexpr std::string_view default_bios = "bios-256k.bin";
    static constexpr std::uint64_t pc_rom_size = 0x20000;
    static constexpr bool has_local_apic = true;
    static constexpr bool kvm_kernel_irqchip = true;  // as QEMU's pc

    // QEMU's pc_init1: all RAM below 4 GiB up to 3.5 GiB; from there, the
    // first 3 GiB below and the rest above (gigabyte_align).
    static constexpr std::uint64_t below_4g_limit(std::uint64_t ram) {
        return ram >= 0xe000'0000 ? 0xc000'0000 : ram;
    }

    using board::board;

    // query-pci, info pci: what sits on bus 0.
    std::vector<pci_device_info> pci_devices() { return this->template device<pci::pci_host>().describe(); }

    // QEMU's pc-i440fx machine properties that this board has.
    static constexpr std::array<std::string_view, 1> machine_properties = {"hpet"};
    // -machine hpet=on|off (-no-hpet), as QEMU's: the last one wins.
    static bool hpet_enabled(const options& o) {
        bool on = true;
        for (const auto& [key, value] : o.machine_props)
            if (key == "hpet") {
                if (value != "on" && value != "off") throw error("Parameter 'hpet' expects 'on' or 'off'");
                on = value == "on";
            }
        return on;
    }

    static void validate_board(const options& o) {
        hpet_enabled(o);
        if (o.kernel.empty() && !o.initrd.empty()) throw error("-initrd only allowed with -kernel option");
        if (o.kernel.empty() && !o.append.empty()) throw error("-append only allowed with -kernel option");
        if constexpr (board::on_kvm)
            if (o.cpu_count() > 1 && !board::accel_props(o).kernel_irqchip)
                throw error("-smp " + std::to_string(o.cpu_count()) +
                            ": the other CPUs start through their local APICs, which pc has under KVM only with "
                            "-accel kvm,kernel-irqchip=on");
        // Their errors before anything starts.
        for (auto& f : o.fw_cfg) dev::parse_fw_cfg_option(f);
        bool pvpanic = false;
        for (auto& d : o.devices) {
            if (d.head == pci::pci_testdev::name) pci::pci_testdev::parse(d);
            // QEMU's second pvpanic fails on its fw_cfg file.
            if (d.head == dev::pvpanic_core::qemu_name && std::exchange(pvpanic, true))
                throw error("-device pvpanic: duplicate fw_cfg file name: " +
                            std::string(dev::pvpanic_core::fw_cfg_file));
        }
        if (!o.rtc.empty()) dev::parse_rtc_option(o.rtc);
        x86::pc_check_boot_order(o.boot_order);
    }

    // The BIOS's low alias sits under PAM, beside the option-ROM area.
    void map_low_bios(std::byte* tail, std::uint64_t size) {
        pc_rom_ = host_memory(pc_rom_size, "pc.rom");
        this->template device<pci::i440fx>().map_memory(this->ram(), pc_rom_.data(), tail, size);
    }

    // -device pci-testdev: a PCI function of this board's, attached once
    // the chipset's are (QEMU's first free slot).
    bool plug_board_device(const opt_list& d) {
        if (d.head != pci::pci_testdev::name) return false;
        pci_testdev_specs_.push_back(pci::pci_testdev::parse(d));
        return true;
    }

    void reset_board() {
        for (auto& d : pci_testdevs_) d->reset();
    }

    // QMP's system_powerdown.
    void press_power_button() { this->template device<pci::piix4_pm>().press_power_button(); }

    // The board's state stream, but -device pci-testdev's state (its
    // doorbells, ioeventfd emulation) is not in it yet: refused, not lost.
    std::vector<std::byte> save_vm(std::string_view machine_name)
        requires requires(board& b, std::string_view n) { b.save_vm(n); }
    {
        if (!pci_testdevs_.empty()) throw error("migration: -device pci-testdev cannot be migrated yet");
        return board::save_vm(machine_name);
    }
    void save_vm_head(vmstate::writer& w, std::string_view machine_name) const
        requires requires(const board& b, vmstate::writer& wr, std::string_view n) { b.save_vm_head(wr, n); }
    {
        if (!pci_testdevs_.empty()) throw error("migration: -device pci-testdev cannot be migrated yet");
        board::save_vm_head(w, machine_name);
    }
    void load_vm(std::string_view machine_name, std::span<const std::byte> stream)
        requires requires(board& b, std::string_view n, std::span<const std::byte> st) { b.load_vm(n, st); }
    {
        if (!pci_testdevs_.empty()) throw error("migration: -device pci-testdev cannot be migrated yet");
        board::load_vm(machine_name, stream);
    }

    void init_board(const options& o) {
        auto& host = this->template device<pci::pci_host>();
        host.attach(0x00, this->template device<pci::i440fx>());
        host.attach(0x08, this->template device<pci::piix3_isa>());
        host.attach(0x09, this->template device<pci::piix3_ide>());
        host.attach(0x0b, this->template device<pci::piix4_pm>());
        for (auto& spec : pci_testdev_specs_) {
            const unsigned devfn = pci::pci_testdev::choose_devfn(host, spec);
            pci_testdevs_.push_back(std::make_unique<pci::pci_testdev>(this->services(), spec));
            host.attach(devfn, *pci_testdevs_.back());
        }
        wire_hpet(o);
        host.on_reset = [this] { this->request_reset("PIIX's reset control register (0xcf9)"); };
        auto& kbd = this->template device<dev::i8042>();
        kbd.on_a20 = [this](bool on) { this->set_a20(on); };
        kbd.on_reset = [this] { this->request_reset("the i8042 (pulse of its reset line)"); };
        // S5: the guest powered off - exit 0, or stop under -no-shutdown,
        // as QEMU's shutdown request.
        this->template device<pci::piix4_pm>().on_poweroff = [this] { this->shutdown(); };
        init_fw_cfg(o);
        init_cmos(o);
    }

private:
    // What QEMU's pc gives SeaBIOS: RAM layout and e820, CPU counts, boot
    // settings, then -fw_cfg's files. Not yet: ACPI and SMBIOS tables (the
    // firmware builds its own), QEMU's kvmvapic option ROM (no vapic
    // device here).
    void init_fw_cfg(const options& o) {
        auto& fw = this->template device<dev::fw_cfg_io>();
        x86::pc_fw_cfg_config c;
        c.common.nographic = o.nographic;
        c.common.boot_menu = o.boot_menu;
        c.common.splash_time = o.boot_splash_time;
        c.common.reboot_timeout = o.boot_reboot_timeout;
        c.below_4g_mem_size = this->ram_below_4g();
        c.above_4g_mem_size = this->ram_above_4g();
        c.boot_cpus = o.cpu_count();
        c.max_cpus = o.smp && o.smp->maxcpus ? o.smp->maxcpus : o.cpu_count();
        if (o.smp) c.topology = {1, o.smp->cores ? o.smp->cores : 1, o.smp->threads ? o.smp->threads : 1};
        c.cpu = this->cpu().model();
        c.hpet = hpet_wired_;
        add_option_roms(o, c);
        if (!o.kernel.empty()) load_kernel(o, fw, c);
        x86::add_pc_entries(fw, c);
        // -device pvpanic: its port for the firmware, as QEMU's realize adds it.
        for (auto& d : o.devices)
            if (d.head == dev::pvpanic_core::qemu_name) {
                const std::uint16_t port = dev::pvpanic_core::parse(d).range.base;
                fw.add_file(std::string(dev::pvpanic_core::fw_cfg_file),
                            {std::byte(port & 0xff), std::byte(port >> 8)});
            }
        for (auto& f : o.fw_cfg) dev::add_user_entry(fw, dev::parse_fw_cfg_option(f));
        fw.boot_order_list = [this] { return boot_devices(); };
    }

    // -kernel, as QEMU's pc does it: a multiboot kernel (its modules from
    // -initrd) or a Linux bzImage (its initrd), with the command line
    // (-append), in fw_cfg, and QEMU's own option ROM that loads them
    // (multiboot_dma.bin or linuxboot_dma.bin, package qemu-system-data)
    // as the first boot device.
    void load_kernel(const options& o, dev::fw_cfg_io& fw, x86::pc_fw_cfg_config& c) {
        const std::vector<std::byte> kernel = read_file("-kernel", o.kernel);
        x86::multiboot_config mb;
        mb.kernel_path = o.kernel;
        mb.kernel = kernel;
        mb.append = o.append;
        if (!o.initrd.empty()) mb.initrd = o.initrd;
        mb.roms.push_back({o.bios.empty() ? std::string(pc::default_bios) : o.bios,
                           (1ull << 32) - this->rom_.size(), {this->rom_.data(), this->rom_.size()}});
        std::string_view rom_name = x86::multiboot_rom_name, device = x86::multiboot_boot_device;
        if (!x86::load_multiboot(fw, mb)) {
            // QEMU 7.2 boots an ELF without a multiboot header through PVH.
            static constexpr std::byte elf[] = {std::byte{0x7f}, std::byte{'E'}, std::byte{'L'}, std::byte{'F'}};
            if (!x86::is_linux_kernel(kernel) && kernel.size() >= 4 && std::equal(elf, elf + 4, kernel.begin()))
                throw error("-kernel " + o.kernel + ": an ELF kernel without a multiboot header (QEMU boots it through "
                            "PVH, which is not implemented yet)");
            x86::linux_boot_config lb = this->linux_boot_from(o, kernel);
            try {
                x86::load_linux(fw, std::move(lb));
            } catch (const error& e) {
                throw error("-kernel " + o.kernel + ": " + e.what());
            }
            rom_name = x86::linuxboot_rom_name;
            device = x86::linuxboot_boot_device;
        }
        const std::string rom = find_firmware("-kernel", std::string(rom_name), o.datadirs);
        c.option_roms.emplace_back(std::string(rom_name), read_file("-kernel", rom));
        boot_roms_.emplace(0, std::string(device));
    }

    // QEMU's pc_basic_device_init: unless -machine hpet=off (-no-hpet), the
    // HPET between the PIT's and the RTC's
    // outputs and the interrupt controllers (its legacy replacement route
    // takes IRQ 0 and 8 over), its outputs straight to the GSIs, its FSB
    // messages as MSIs. In legacy mode the PIT keeps counting but drives
    // no IRQ 0 - ours, or under KVM's irqchip the kernel's (which needs
    // KVM_CAP_PIT_STATE2 for that: without it QEMU leaves the HPET out,
    // and so does this board).
    void wire_hpet(const options& o) {
        if (!hpet_enabled(o)) return;
        if constexpr (board::on_kvm)
            if (this->kernel_irqchip() && !this->kvm().has_pit_state2()) return;
        hpet_wired_ = true;
        auto& hpet = this->template device<dev::hpet>();
        this->memory().add({"hpet", {dev::hpet::mmio.base}, dev::hpet::mmio.length, region_kind::mmio, nullptr,
                            {[](void* d, std::uint64_t off, std::span<std::byte> b) {
                                 static_cast<dev::hpet*>(d)->mmio_read(off, b);
                             },
                             [](void* d, std::uint64_t off, std::span<const std::byte> b) {
                                 static_cast<dev::hpet*>(d)->mmio_write(off, b);
                             },
                             &hpet}});
        gsi_ = this->irqs().on_change;
        for (unsigned r = 0; r < dev::hpet::wired_routes; ++r)
            hpet.set_output(r, irq_line{[](void* self, unsigned n, bool level) { static_cast<pc*>(self)->gsi_(n, level); },
                                        this, r});
        this->irqs().on_change = [this, &hpet](unsigned n, bool level) {
            if (n == 0) hpet.pit_irq(level);
            else if (n == 8) hpet.rtc_irq(level);
            else gsi_(n, level);
        };
        hpet.on_legacy_mode = [this](bool legacy) {
            if constexpr (board::on_kvm)
                if (this->kernel_irqchip()) return this->kvm().set_pit_hpet_legacy(legacy);
            this->template device<dev::i8254_pit>().set_irq_enabled(!legacy);
        };
        hpet.msi = [this](std::uint64_t addr, std::uint32_t data) {
            if (!this->deliver_msi(addr, data))
                logf(log_item::guest_errors, "hpet: FSB message to %#llx outside memory dropped\n",
                         static_cast<unsigned long long>(addr));
        };
    }

    // -option-rom: each file as "genroms/BASENAME", which SeaBIOS runs. A
    // file that cannot be read is said on stderr and left out, as QEMU
    // does (the machine still starts).
    void add_option_roms(const options& o, x86::pc_fw_cfg_config& c) {
        for (const opt_list& rom : o.option_roms) {
            const std::string file = rom.get("romfile").value_or("");
            try {
                const std::string path = find_firmware("-option-rom", file, o.datadirs);
                std::string file_name = path.substr(path.rfind('/') + 1);
                c.option_roms.emplace_back(file_name, read_file("-option-rom", path));
                if (auto i = rom.get("bootindex")) boot_roms_.emplace(std::stoi(*i), "/rom@genroms/" + file_name);
            } catch (const error& e) {
                report_error(e.what());
            }
        }
    }

    // QEMU's get_boot_devices_list: by bootindex, each path and '\n', the
    // whole list NUL-terminated; empty when nothing has a bootindex.
    std::vector<std::byte> boot_devices() const {
        std::string list;
        for (auto& [index, path] : boot_roms_) list += path + "\n";
        if (list.empty()) return {};
        list += '\0';
        auto b = reinterpret_cast<const std::byte*>(list.data());
        return {b, b + list.size()};
    }

    // The RTC's date and clock, then the NVRAM bytes SeaBIOS reads (memory
    // sizes, CPU count, boot order). No floppy controller here, so no
    // drives in 10/14 (QEMU's default has an empty 2.88M drive 0).
    void init_cmos(const options& o) {
        auto& rtc = this->template device<dev::mc146818_rtc>();
        if (!o.rtc.empty()) rtc.configure(dev::parse_rtc_option(o.rtc));
        x86::pc_cmos_config c;
        c.below_4g_mem_size = this->ram_below_4g();
        c.above_4g_mem_size = this->ram_above_4g();
        c.boot_cpus = o.cpu_count();
        c.boot_order = o.boot_order;
        x86::pc_cmos_init(rtc, c);
    }

    host_memory pc_rom_;
    std::multimap<int, std::string> boot_roms_;  // bootindex -> device path
    std::vector<pci::pci_testdev::plug_spec> pci_testdev_specs_;
    std::vector<std::unique_ptr<pci::pci_testdev>> pci_testdevs_;
    std::function<void(unsigned, bool)> gsi_;  // the PIC and IOAPIC inputs, behind the HPET
    bool hpet_wired_ = false;
};

} // namespace qf::machines
