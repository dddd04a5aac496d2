#pragma once
// testrig: the smallest machine a firmware test needs - one x86 CPU (up to
// 16 under KVM with the kernel's local APICs, -smp), RAM, a
// -bios image at the top of 4 GiB (its last 128 KiB also below 1 MiB, as
// QEMU's isa-bios alias), the PC's 8259A pair and 8254 timer, a 16550A at
// 0x3f8 (IRQ 4), a debug console at 0xe9 and isa-debug-exit at 0xf4. No
// local APIC, no PCI: it boots test firmware, not an operating system.
#include "qf/accel/accel.hpp"
#include "qf/accel/kvm/kvm.hpp"
#include "qf/devices/isa_debug_exit.hpp"
#include "qf/devices/i8254_pit.hpp"
#include "qf/devices/i8259_pic.hpp"
#include "qf/devices/isa_debugcon.hpp"
#include "qf/devices/port92.hpp"
#include "qf/devices/uart16550.hpp"
#include "qf/machine/firmware.hpp"
#include "qf/machine/machine.hpp"
#include "qf/machine/topology.hpp"
#include "targets/x86/cpu_defs.hpp"
#include "targets/x86/kvm_cpu.hpp"
#include "targets/x86/vcpu.hpp"

#include <memory>
#include <type_traits>

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
class testrig
    : public machine<testrig_topology<Accel>, x86::cpu::models<x86::cpu::qemu64, x86::cpu::max>, Accel, Devices,
                     pluggable<dev::isa_debugcon_core, dev::isa_debug_exit_core>> {
    using base = typename testrig::machine;
    static constexpr bool on_kvm = std::is_same_v<Accel, accel::kvm>;

public:
    // The CPU the accelerator runs: TCG's translator or a KVM vCPU, with
    // one interface towards the machine.
    using vcpu_type = std::conditional_t<on_kvm, x86::kvm_vcpu, x86::vcpu>;
    // A KVM vCPU runs in a thread of its own (one per CPU), beside the main
    // loop, under the machine lock; TCG's shares the main loop's thread.
    static constexpr bool threaded_cpu = on_kvm;
    static constexpr std::string_view name = "testrig";
    static constexpr std::string_view description = "qforge firmware test rig (1 CPU, RAM, -bios, PIC, PIT, COM1, 0xe9, 0xf4)";
    static constexpr std::string_view default_bios = "qforge-demo.bin";
    // RAM below 4 GiB ends here; the rest starts at 4 GiB (the hole holds the BIOS).
    static constexpr std::uint64_t below_4g_limit = 0xc000'0000;
    static constexpr std::uint64_t isa_bios_max = 128 * 1024;

    using base::base;

    // -cpu NAME,+feat...; "host" (KVM's own CPUID) exists only under KVM.
    static x86::cpu_model cpu_model_for(const options& o) {
        if (o.cpu == "host") {
            if constexpr (!on_kvm) throw error("CPU model 'host' requires KVM or HVF");
            if (!o.cpu_features.empty()) throw error("-cpu host: features are the host's; +feat and -feat do not apply");
            x86::cpu_model m = base::cpu_type::select("max", {});
            m.name = "host";
            return m;
        }
        return base::cpu_type::select(o.cpu, o.cpu_features);
    }

    static void validate(const options& o) {
        if (!o.kernel.empty())
            throw error("-kernel " + o.kernel + ": machine testrig cannot boot a Linux kernel (use -M pc, not implemented yet)");
        if (!o.initrd.empty()) throw error("-initrd: needs -kernel, which machine testrig does not support");
        if (!o.append.empty()) throw error("-append: needs -kernel, which machine testrig does not support");
        if constexpr (on_kvm)
            if (o.cpu_count() > 1 && !accel_props(o).kernel_irqchip)
                throw error("-smp " + std::to_string(o.cpu_count()) +
                            ": the other CPUs start through their local APICs (INIT and SIPI), which testrig has "
                            "under KVM only with -accel kvm,kernel-irqchip=on");
        const unsigned phys_bits = cpu_model_for(o).phys_bits;
        std::uint64_t limit = 1ull << phys_bits;
        std::uint64_t above = o.ram_size > below_4g_limit ? o.ram_size - below_4g_limit : 0;
        if (above && (1ull << 32) + above > limit)
            throw error("-m: " + std::to_string(o.ram_size >> 20) + " MiB of RAM does not fit the CPU's " +
                        std::to_string(phys_bits) + "-bit physical address space");
    }

    // machine->init(): the run-time part of the wiring.
    void init(const options& o) {
        this->ram_ = host_memory(o.ram_size, "testrig.ram");
        std::uint64_t low = std::min(o.ram_size, below_4g_limit);
        auto& mem = this->memory();
        mem.add({"ram-below-4g", {0}, low, region_kind::ram, this->ram_.data()});
        if (o.ram_size > low)
            mem.add({"ram-above-4g", {1ull << 32}, o.ram_size - low, region_kind::ram, this->ram_.data() + low});

        auto image = !o.bios_image.empty()
                         ? check_bios_image(o.bios.empty() ? "(in memory)" : o.bios, o.bios_image)
                         : load_bios_image(find_firmware("-bios", o.bios.empty() ? std::string(default_bios) : o.bios, o.datadirs));
        this->rom_ = host_memory(image.size(), "testrig.bios");
        std::memcpy(this->rom_.data(), image.data(), image.size());
        mem.add({"bios", {(1ull << 32) - image.size()}, image.size(), region_kind::rom, this->rom_.data()});
        std::uint64_t isa = std::min<std::uint64_t>(image.size(), isa_bios_max);
        mem.add({"isa-bios", {0x10'0000 - isa}, isa, region_kind::rom,
                 this->rom_.data() + image.size() - isa, {}, 1});

        for (auto& d : o.devices) this->plug(d);

        // The CPUs, with the accelerator's settings (-accel tcg,... or kvm,...).
        const auto props = accel_props(o);
        const x86::io_bus io{this, &io_in, &io_out};
        const unsigned ncpus = o.cpu_count();
        if constexpr (on_kvm) {
            guest_ = std::make_unique<x86::kvm_guest>(mem, props);
            for (unsigned i = 0; i < ncpus; ++i) {
                cpus_.push_back(std::make_unique<vcpu_type>(*guest_, x86::cpu_topology{i, ncpus}, io, mem, cpu_model_for(o),
                                                            o.cpu == "host"));
                cpus_.back()->set_big_lock(this->services().big_lock);
            }
        } else {
            using hooks = typename Accel::hooks;
            x86::translate_config cfg;
            if constexpr (hooks::has_insn) cfg.insn_hook = &hooks::insn_hook;
            if constexpr (hooks::has_mem) cfg.mem_hook = &hooks::mem_hook;
            cpus_.push_back(std::make_unique<vcpu_type>(mem, io, cpu_model_for(o), cfg, props));
        }
        vcpu_type& bsp = *cpus_.front();
        bool own_pic = true;
        if constexpr (on_kvm) {
            // The kernel's 8259A pair and PIT answer their ports themselves;
            // ISA lines go to the kernel's irqchip.
            if (guest_->options().kernel_irqchip) {
                own_pic = false;
                this->irqs().on_change = [this](unsigned line, bool level) { guest_->vm().irq_line(line, level); };
            }
        }
        // ISA lines into the PIC, its INTR into the CPU.
        if constexpr (boost::hana::contains(base::device_types, boost::hana::type_c<dev::i8259_pair>)) {
            if (own_pic) {
                auto& pic = this->template device<dev::i8259_pair>();
                this->irqs().on_change = [&pic](unsigned n, bool level) { pic.set_irq(n, level); };
                for (unsigned n = 0; n < 16; ++n)
                    if (this->irqs().level(n)) pic.set_irq(n, true);
                pic.on_intr = [&bsp](bool level) { bsp.set_intr(level); };
                bsp.interrupt_ack = [&pic] { return pic.acknowledge(); };
            }
        }
        // Port 92: the A20 gate, and a reset at the next instruction boundary.
        if constexpr (boost::hana::contains(base::device_types, boost::hana::type_c<dev::port92>)) {
            auto& p92 = this->template device<dev::port92>();
            p92.on_a20 = [this](bool on) {
                for (auto& c : cpus_) c->set_a20(on);
            };
            p92.on_reset = [this] {
                reset_requested_ = true;
                kick_cpu();
            };
        }
        // A triple fault resets the machine, as on a PC; -no-reboot turns
        // that into a shutdown with status 0, as in QEMU.
        no_reboot_ = o.no_reboot;
        for (auto& c : cpus_)
            c->on_triple_fault = [this, no_reboot = o.no_reboot] {
                if (no_reboot) {
                    this->services().request_exit(0);
                    return false;
                }
                reset();
                return true;
            };
    }

    // system_reset: the devices (the kernel's too, under KVM), then the CPUs.
    void reset() {
        base::reset();
        if constexpr (on_kvm)
            if (guest_) guest_->reset();
        for (auto& c : cpus_) c->reset();
    }

    // The main loop's (or a vCPU thread's) side of CPU i: run until kicked;
    // false when halted.
    bool run_cpu(unsigned i = 0) {
        const bool go_on = cpus_[i]->run() != vcpu_type::stop::halted;
        if (reset_requested_) {  // port 92's reset, as QEMU's system reset request (-no-reboot: shutdown)
            reset_requested_ = false;
            if (no_reboot_) this->services().request_exit(0);
            else reset();
            return true;
        }
        return go_on;
    }
    unsigned cpu_count() const { return static_cast<unsigned>(cpus_.size()); }
    bool cpu_runnable(unsigned i = 0) const { return i < cpus_.size() && cpus_[i]->runnable(); }
    void kick_cpu(unsigned i) {
        if (i < cpus_.size()) cpus_[i]->kick();
    }
    void kick_cpu() {
        for (auto& c : cpus_) c->kick();
    }
    // The bootstrap processor (or CPU i).
    vcpu_type& cpu(unsigned i = 0) { return *cpus_.at(i); }

private:
    std::unique_ptr<x86::kvm_guest> guest_;  // under KVM: the VM the vCPUs share
    std::vector<std::unique_ptr<vcpu_type>> cpus_;
    bool reset_requested_ = false, no_reboot_ = false;

    static auto accel_props(const options& o) {
        for (auto& a : o.accels)
            if (a.name == Accel::name) return Accel::props(a.props);
        return decltype(Accel::props({})){};
    }

    // IN and OUT reach the generated port dispatch (and the hook policy).
    static std::uint32_t io_in(void* ctx, tcg::env_base* env, std::uint16_t port, unsigned size) {
        auto& m = *static_cast<testrig*>(ctx);
        std::uint32_t v = 0;
        m.pio_read({port}, std::as_writable_bytes(std::span(&v, 1)).first(size));
        Accel::hooks::io(env, port, size, false, v);
        return v;
    }
    static void io_out(void* ctx, tcg::env_base* env, std::uint16_t port, unsigned size, std::uint32_t value) {
        auto& m = *static_cast<testrig*>(ctx);
        Accel::hooks::io(env, port, size, true, value);
        m.pio_write({port}, std::as_bytes(std::span(&value, 1)).first(size));
    }
};

} // namespace qf::machines
