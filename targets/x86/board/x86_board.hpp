#pragma once
// What every x86 board has, whatever its chipset: RAM below and above
// 4 GiB, the -bios image at the top of 4 GiB, the CPUs under either
// accelerator (TCG's translator or KVM vCPUs, up to the topology's bound),
// the 8259's INTR into the boot CPU, port 92's A20 gate and reset, triple
// fault and system reset. A board (testrig, pc) is its device list plus
// what makes it different, given to this template through CRTP:
//
//   Board::name, description, default_bios       (static constexpr)
//   Board::below_4g_limit(ram_size)               where RAM below 4 GiB ends
//   void map_low_bios(std::byte* tail, size)     optional: the BIOS's last
//       128 KiB below 1 MiB (default: a read-only alias over RAM, QEMU's
//       isa-bios); pc puts it under its PAM registers instead
//   void validate_board(const options&)          optional: its own checks
//   static constexpr std::array machine_properties  optional: the -machine
//       properties it takes (their values are its own to check); any
//       other is refused, as QEMU's "Property '...' not found"
//   void init_board(const options&)              optional: run after the
//       CPUs exist (chipset wiring, fw_cfg, CMOS contents)
//   static constexpr bool has_local_apic          optional: under TCG, a
//       local APIC per CPU (0xfee00000, MSIs above it) on one APIC bus,
//       and the IOAPIC wired in if the device list has dev::ioapic; under
//       KVM the kernel's irqchip plays that part
//   bool plug_board_device(const opt_list&)      optional: takes a -device
//       the board builds itself (a PCI function), false for the others
//   void reset_board()                           optional: at each system
//       reset, after the device list's
//   static constexpr bool kvm_kernel_irqchip      optional: -accel kvm's
//       kernel-irqchip when the command line does not say (default off)
//   static bool uses_bios(const options&)         optional: false when the
//       board starts without firmware (no -bios image mapped)
//   void reset_boot_cpu(state&)                   optional: the bootstrap
//       processor's state after each reset (RESET's, changed): a board that
//       loads a kernel itself puts it at the entry there
#include "qf/accel/accel.hpp"
#include "qf/accel/kvm/kvm.hpp"
#include "qf/accel/tcg/dirty_log.hpp"
#include "qf/devices/i8254_pit.hpp"
#include "qf/devices/i8259_pic.hpp"
#include "qf/devices/ioapic.hpp"
#include "qf/devices/port92.hpp"
#include "targets/x86/apic/local_apic.hpp"
#include "targets/x86/boot/linux.hpp"
#include "qf/machine/firmware.hpp"
#include "qf/machine/machine.hpp"
#include "qf/core/log.hpp"
#include "qf/machine/topology.hpp"
#include "targets/x86/cpu_defs.hpp"
#include "targets/x86/kvm_cpu.hpp"
#include "targets/x86/kvm_irqchip_info.hpp"
#include "targets/x86/x86_debug.hpp"
#include "targets/x86/vcpu.hpp"

#include <boost/hana/contains.hpp>
#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

namespace qf::x86 {

// The CPU models every x86 board offers (-cpu), the first the default.
using board_cpu_models = cpu::models<cpu::qemu64, cpu::max>;

template <class Board, class Topology, class Accel, class Devices, class Pluggable = pluggable<>>
class x86_board : public machine<Topology, board_cpu_models, Accel, Devices, Pluggable> {
    using base = machine<Topology, board_cpu_models, Accel, Devices, Pluggable>;

protected:
    static constexpr bool on_kvm = std::is_same_v<Accel, accel::kvm>;
    template <class D>
    static constexpr bool has_device = boost::hana::contains(base::device_types, boost::hana::type_c<D>);
    static constexpr bool tcg_apics = [] {
        if constexpr (on_kvm) return false;
        else if constexpr (requires { Board::has_local_apic; }) return Board::has_local_apic;
        else return false;
    }();

public:
    // The CPU the accelerator runs: TCG's translator or a KVM vCPU, with
    // one interface towards the board.
    using vcpu_type = std::conditional_t<on_kvm, kvm_vcpu, vcpu>;
    // A KVM vCPU runs in a thread of its own (one per CPU), beside the main
    // loop, under the machine lock; TCG's share the main loop's thread.
    static constexpr bool threaded_cpu = on_kvm;
    static constexpr std::uint64_t isa_bios_max = 128 * 1024;

    using base::base;

    // -cpu NAME,+feat...; "host" (KVM's own CPUID) exists only under KVM.
    static cpu_model cpu_model_for(const options& o) {
        if (o.cpu == "host") {
            if constexpr (!on_kvm) throw error("CPU model 'host' requires KVM or HVF");
            if (!o.cpu_features.empty()) throw error("-cpu host: features are the host's; +feat and -feat do not apply");
            cpu_model m = base::cpu_type::select("max", {});
            m.name = "host";
            return m;
        }
        return base::cpu_type::select(o.cpu, o.cpu_features);
    }

    static void validate(const options& o) {
        for (const auto& [key, value] : o.machine_props) {
            bool known = false;
            if constexpr (requires { Board::machine_properties; })
                for (std::string_view p : Board::machine_properties) known |= p == key;
            if (!known) throw error("Property '" + std::string(Board::name) + "-machine." + key + "' not found");
        }
        if constexpr (requires { Board::validate_board(o); }) Board::validate_board(o);
        const unsigned phys_bits = cpu_model_for(o).phys_bits;
        const std::uint64_t low = Board::below_4g_limit(o.ram_size);
        const std::uint64_t above = o.ram_size > low ? o.ram_size - low : 0;
        if (above && (1ull << 32) + above > (1ull << phys_bits))
            throw error("-m: " + std::to_string(o.ram_size >> 20) + " MiB of RAM does not fit the CPU's " +
                        std::to_string(phys_bits) + "-bit physical address space");
    }

    // machine->init(): the run-time part of the wiring.
    void init(const options& o) {
        Board& board = static_cast<Board&>(*this);
        auto& mem = this->memory();
        this->ram_ = host_memory(o.ram_size, "ram");
        ram_below_4g_ = std::min(o.ram_size, Board::below_4g_limit(o.ram_size));
        mem.add({"ram-below-4g", {0}, ram_below_4g_, region_kind::ram, this->ram_.data()});
        if (o.ram_size > ram_below_4g_)
            mem.add({"ram-above-4g", {1ull << 32}, o.ram_size - ram_below_4g_, region_kind::ram,
                     this->ram_.data() + ram_below_4g_});

        bool bios = true;
        if constexpr (requires { Board::uses_bios(o); }) bios = Board::uses_bios(o);
        if (bios) map_bios(o, board);

        for (auto& d : o.devices) {
            if constexpr (requires { board.plug_board_device(d); })
                if (board.plug_board_device(d)) continue;
            this->plug(d);
        }
        create_cpus(o);
        wire_common(o);
        if constexpr (requires { board.init_board(o); }) board.init_board(o);
        if constexpr (requires(state& s) { board.reset_boot_cpu(s); })
            cpus_.front()->on_reset = [&board](state& s) { board.reset_boot_cpu(s); };
    }

private:
    // The -bios image at the top of 4 GiB, its last 128 KiB below 1 MiB.
    void map_bios(const options& o, Board& board) {
        auto& mem = this->memory();
        auto image = !o.bios_image.empty()
                         ? check_bios_image(o.bios.empty() ? "(in memory)" : o.bios, o.bios_image)
                         : load_bios_image(find_firmware(
                               "-bios", o.bios.empty() ? std::string(Board::default_bios) : o.bios, o.datadirs));
        this->rom_ = host_memory(image.size(), "bios");
        std::memcpy(this->rom_.data(), image.data(), image.size());
        // Below PCI BARs (-1), as QEMU's BIOS sits in the PCI address space
        // under the BARs mapped over it.
        mem.add({"bios", {(1ull << 32) - image.size()}, image.size(), region_kind::rom, this->rom_.data(), {}, -2});
        const std::uint64_t isa = std::min<std::uint64_t>(image.size(), isa_bios_max);
        std::byte* tail = this->rom_.data() + image.size() - isa;
        if constexpr (requires { board.map_low_bios(tail, isa); }) board.map_low_bios(tail, isa);
        else mem.add({"isa-bios", {0x10'0000 - isa}, isa, region_kind::rom, tail, {}, 1});
    }

public:
    // system_reset: the devices (the kernel's too, under KVM), then the CPUs.
    void reset() {
        base::reset();
        if constexpr (requires { static_cast<Board&>(*this).reset_board(); }) static_cast<Board&>(*this).reset_board();
        if constexpr (on_kvm)
            if (guest_) guest_->reset();
        for (auto& c : cpus_) c->reset();
    }

    // Asks for a system reset at the next instruction boundary (port 92,
    // the keyboard controller, PIIX's reset control): -no-reboot makes it a
    // shutdown, as QEMU's qemu_system_reset_request. `by` says what asked,
    // under -d cpu_reset.
    void request_reset(const char* by, shutdown_cause cause = shutdown_cause::guest_reset) {
        logf(log_item::cpu_reset, "system reset requested by %s%s\n", by, no_reboot_ ? " (-no-reboot: shutdown)" : "");
        reset_cause_ = cause;
        reset_requested_ = true;
        kick_cpu();
    }

    // QMP's system_reset, from the main loop: at the CPUs' next stop while
    // they run, else at once (QEMU resets a paused VM too). -no-reboot
    // makes it a shutdown, as in QEMU.
    void system_reset_from_host(bool vm_running) {
        if (vm_running) return request_reset("QMP system_reset", shutdown_cause::host_qmp_system_reset);
        if (no_reboot_) return shutdown(shutdown_cause::host_qmp_system_reset);
        reset();
        if (this->services().reset_done) this->services().reset_done(shutdown_cause::host_qmp_system_reset);
    }

    // The main loop's (or a vCPU thread's) side of CPU i: run until kicked;
    // false when halted.
    bool run_cpu(unsigned i = 0) {
        current_cpu_ = i;  // whose local APIC the page at 0xfee00000 is
        const auto stopped = cpus_[i]->run();
        if (stopped == vcpu_type::stop::debug && this->services().debug_stop)
            this->services().debug_stop(i, take_debug_event(*cpus_[i]));
        const bool go_on = stopped != vcpu_type::stop::halted;
        if (reset_requested_) {
            reset_requested_ = false;
            if (no_reboot_) {
                shutdown(reset_cause_);
            } else {
                reset();
                if (this->services().reset_done) this->services().reset_done(reset_cause_);
            }
            return true;
        }
        return go_on;
    }
    unsigned cpu_count() const { return static_cast<unsigned>(cpus_.size()); }

    // The whole machine as a state stream (qf/machine/vmstate.hpp), from
    // the main loop with the CPUs stopped: "machine" (the type's name, RAM
    // size, CPU count, checked on load), "ram" (the pages that are not
    // zero), then save_vm_tail's. TCG only.
    std::vector<std::byte> save_vm(std::string_view machine_name) requires(!on_kvm) {
        vmstate::writer w;
        save_vm_head(w, machine_name);
        std::vector<std::uint64_t> all;
        for (std::uint64_t off = 0; off < this->ram_.size(); off += 4096) all.push_back(off);
        w.section("ram", 1, vmstate::ram_payload({this->ram_.data(), this->ram_.size()}, all, false));
        save_vm_tail(w);
        return w.finish();
    }
    // The stream's parts, for a live migration that sends RAM while the
    // guest runs: the "machine" section first; the rest ("clock", "cpu#i",
    // "apic#i", a section a device) with the CPUs stopped, last.
    void save_vm_head(vmstate::writer& w, std::string_view machine_name) const requires(!on_kvm) {
        vmstate::bytes_out m;
        m.put_string(machine_name);
        m.put(this->ram_.size());
        m.put(static_cast<std::uint32_t>(cpus_.size()));
        m.put_string(cpu_model_name_);
        m.put(firmware_hash());
        w.section("machine", 1, m.buf);
    }
    void save_vm_tail(vmstate::writer& w) requires(!on_kvm) {
        // Guest time: the devices' timers and counters are relative to it.
        vmstate::bytes_out clk;
        clk.put(this->services().timers ? this->services().timers->clock_source().now(clock_type::virt) : ns{0});
        w.section("clock", 1, clk.buf);
        for (unsigned i = 0; i < cpus_.size(); ++i) {
            w.section("cpu#" + std::to_string(i), vcpu_type::state_version, cpus_[i]->save_state());
            if constexpr (tcg_apics) w.section("apic#" + std::to_string(i), 1, vmstate::save_fields(apics_[i]->state()));
        }
        this->save_vm_devices(w);
    }
    std::span<const std::byte> ram_bytes() const { return {this->ram_.data(), this->ram_.size()}; }

    // RAM pages written from now on, by the CPUs (the softmmu keeps a clean
    // page's TLB write entries on the slow path until its first write) and
    // by devices (the address space's listeners): a live migration's dirty
    // pages. take_dirty gives their offsets in RAM and starts over.
    void start_dirty_log() requires(!on_kvm) {
        const std::uint64_t top = ram_above_4g() ? (1ull << 32) + ram_above_4g() : ram_below_4g_;
        dirty_.emplace((top + tcg::page_size - 1) >> tcg::page_bits);
        dirty_watch_.log = &*dirty_;
        this->memory().add_listener(&dirty_watch_);
        for (auto& c : cpus_) {
            c->st().base.dirty = &*dirty_;
            tcg::tlb_flush(&c->st().base);  // every entry again traps its page's first write
        }
    }
    std::vector<std::uint64_t> take_dirty() requires(!on_kvm) {
        std::vector<std::uint64_t> out;
        if (!dirty_) return out;
        for (const std::uint64_t page : dirty_->pages()) {
            const std::uint64_t gpa = page << tcg::page_bits;
            if (gpa < ram_below_4g_) out.push_back(gpa);
            else if (gpa >= (1ull << 32) && gpa - (1ull << 32) < ram_above_4g()) out.push_back(ram_below_4g_ + gpa - (1ull << 32));
        }
        dirty_->clear();
        for (auto& c : cpus_) tcg::tlb_flush(&c->st().base);
        std::sort(out.begin(), out.end());
        out.erase(std::unique(out.begin(), out.end()), out.end());
        return out;
    }
    void stop_dirty_log() requires(!on_kvm) {
        if (!dirty_) return;
        this->memory().remove_listener(&dirty_watch_);
        for (auto& c : cpus_) {
            c->st().base.dirty = nullptr;
            tcg::tlb_flush(&c->st().base);
        }
        dirty_.reset();
    }
    void load_vm(std::string_view machine_name, std::span<const std::byte> stream) requires(!on_kvm) {
        auto sections = vmstate::read(stream);
        auto take = [&](const std::string& name, std::uint32_t version) { return vmstate::take(sections, name, version); };
        {
            vmstate::bytes_in m("machine", take("machine", 1).payload);
            const std::string name = m.get_string();
            const auto ram = m.get<std::uint64_t>();
            const auto ncpus = m.get<std::uint32_t>();
            if (name != machine_name) m.fail("a stream of machine '" + name + "', this one is '" + std::string(machine_name) + "'");
            if (ram != this->ram_.size())
                m.fail("RAM is " + std::to_string(ram >> 20) + " MiB there, " + std::to_string(this->ram_.size() >> 20) +
                       " MiB here (-m)");
            if (ncpus != cpus_.size())
                m.fail(std::to_string(ncpus) + " CPUs there, " + std::to_string(cpus_.size()) + " here (-smp)");
            const std::string model = m.get_string();
            if (model != cpu_model_name_) m.fail("CPU model " + model + " there, " + cpu_model_name_ + " here (-cpu)");
            if (m.get<std::uint64_t>() != firmware_hash()) m.fail("another firmware there (-bios)");
        }
        // Everything is checked before anything changes: a refused stream
        // leaves the machine as it was (but for RAM an incoming migration
        // has put in place already, load_ram_section).
        vmstate::bytes_in clk("clock", take("clock", 1).payload);
        const auto vm_now = clk.get<ns>();
        std::vector<vmstate::ram_page> pages;
        const bool streamed = std::exchange(ram_streamed_, false);
        if (!streamed) vmstate::take_ram(sections, this->ram_.size(), pages);
        std::vector<vmstate::section> cpu_secs, apic_secs;
        for (unsigned i = 0; i < cpus_.size(); ++i) {
            cpu_secs.push_back(take("cpu#" + std::to_string(i), vcpu_type::state_version));
            if constexpr (tcg_apics) apic_secs.push_back(take("apic#" + std::to_string(i), 1));
        }
        // The CPUs' and APICs' payloads checked into copies.
        std::vector<local_apic_state> apic_states;
        for (unsigned i = 0; i < cpus_.size(); ++i) {
            cpus_[i]->check_state(cpu_secs[i].payload);
            if constexpr (tcg_apics) {
                apic_states.push_back(apics_[i]->state());
                vmstate::load_fields(apic_secs[i].name, apic_secs[i].payload, apic_states.back());
            }
        }
        {
            // The devices' sections are checked by loading them: a refusal
            // puts back what they held (-device ones too).
            vmstate::writer keep;
            this->save_vm_devices(keep);
            const auto before = keep.finish();
            clocks* clk_src = this->services().timers ? &this->services().timers->clock_source() : nullptr;
            const ns vm_before = clk_src ? clk_src->now(clock_type::virt) : 0;
            // Before the devices: their post_load re-arms timers from it.
            if (clk_src) clk_src->set_vm(vm_now);
            try {
                this->load_vm_devices(sections);
                if (!sections.empty())
                    throw error("vmstate: section '" + sections.front().name + "' is not part of this machine");
            } catch (...) {
                if (clk_src) clk_src->set_vm(vm_before);
                auto back = vmstate::read(before);
                this->load_vm_devices(back);
                throw;
            }
        }
        // Nothing below refuses.
        if (!streamed) std::memset(this->ram_.data(), 0, this->ram_.size());
        put_pages(pages);
        for (unsigned i = 0; i < cpus_.size(); ++i) {
            cpus_[i]->load_state(cpu_secs[i].payload);
            if constexpr (tcg_apics) {
                apics_[i]->state() = apic_states[i];
                apics_[i]->post_load();
            }
            cpus_[i]->engine().flush();  // all of RAM is new
        }
        reset_requested_ = false;
    }
    // An incoming migration's "ram" section, put in place as it arrives
    // (RAM zeroed before the first): the load_vm that follows takes the
    // rest of the stream without RAM. The machine is waiting in inmigrate,
    // and a stream that then fails to load ends the process.
    void load_ram_section(const vmstate::section& s) requires(!on_kvm) {
        std::vector<vmstate::ram_page> pages;
        vmstate::ram_pages(s, this->ram_.size(), pages);
        if (!std::exchange(ram_streamed_, true)) std::memset(this->ram_.data(), 0, this->ram_.size());
        put_pages(pages);
    }
    void put_pages(const std::vector<vmstate::ram_page>& pages) {
        for (const auto& p : pages) {
            if (p.bytes.empty()) std::memset(this->ram_.data() + p.offset, 0, std::min<std::uint64_t>(4096, this->ram_.size() - p.offset));
            else std::memcpy(this->ram_.data() + p.offset, p.bytes.data(), p.bytes.size());
        }
    }
    // What a state stream must have been made with: the -bios image's
    // bytes (FNV-1a), and the CPU model (set in init).
    std::uint64_t firmware_hash() const {
        std::uint64_t h = 0xcbf29ce484222325ull;
        const std::byte* p = this->rom_.data();
        for (std::uint64_t i = 0; i < this->rom_.size(); ++i) h = (h ^ std::to_integer<std::uint8_t>(p[i])) * 0x100000001b3ull;
        return h;
    }

    // The human monitor's info registers and info jit.
    std::string format_registers(unsigned i) requires(!on_kvm) { return format_state(cpus_.at(i)->st()); }
    std::string jit_info() requires(!on_kvm) {
        std::vector<tcg::engine*> e;
        for (auto& c : cpus_) e.push_back(&c->engine());
        return tcg::format_stats(e);
    }
    // The NMI button (QEMU's x86_nmi): through each local APIC's LINT1 where
    // the APIC is on (its LVT decides, as the BIOS and the OS set it), else
    // straight to the CPU; KVM's vCPUs take KVM_NMI.
    void inject_nmi() {
        if constexpr (tcg_apics) {
            apic_bus_->set_nmi(true);
            apic_bus_->set_nmi(false);
        } else {
            for (auto& c : cpus_) c->raise_nmi();
        }
    }
    // The human monitor's device views: info pic, ioapic, irq, lapic, qtree.
    std::optional<std::string> device_info(std::string_view what, unsigned cpu) {
        if (what == "qtree") return this->info_tree();
        std::string out;
        if constexpr (on_kvm) {
            // The kernel's irqchip stands in for the board's: its state.
            if (kernel_irqchip()) {
                auto& vm = guest_->vm();
                if (what == "pic" || what == "ioapic") {
                    out = format_kernel_ioapic(vm.irqchip(KVM_IRQCHIP_IOAPIC));
                    if (what == "pic")
                        out += format_kernel_pic(vm.irqchip(KVM_IRQCHIP_PIC_MASTER), vm.irqchip(KVM_IRQCHIP_PIC_SLAVE));
                    return out;
                }
                if (what == "lapic") return format_kernel_lapic(cpus_.at(cpu)->kernel_lapic(), cpu);
                if (what == "irq") return "info irq: KVM's in-kernel irqchip keeps no interrupt counts\n";
            }
        }
        if (what == "pic" || what == "ioapic" || what == "irq") {
            if constexpr (has_device<dev::ioapic>)
                out += what == "irq" ? this->template device<dev::ioapic>().irq_statistics()
                                     : this->template device<dev::ioapic>().info();
            if constexpr (has_device<dev::i8259_pair>)
                if (what != "ioapic")
                    out += what == "irq" ? this->template device<dev::i8259_pair>().irq_statistics()
                                         : this->template device<dev::i8259_pair>().info();
        } else if (what == "lapic") {
            // No x2APIC is emulated: ICR2 reads as xAPIC's.
            if constexpr (tcg_apics) out = apics_.at(cpu)->info(cpu, false);
            else out = "local apic state not available\n";
        }
        if (out.empty()) return std::nullopt;
        return out;
    }
    // The gdbstub's hold on the CPUs.
    debug_target debugger() {
        std::vector<vcpu_type*> v;
        for (auto& c : cpus_) v.push_back(c.get());
        if constexpr (on_kvm) return kvm_debug_target(std::move(v), this->memory());
        else return tcg_debug_target(std::move(v), this->memory());
    }
    // A pending reset makes a halted CPU runnable: run_cpu is where it is done.
    bool cpu_runnable(unsigned i = 0) const { return reset_requested_ || (i < cpus_.size() && cpus_[i]->runnable()); }
    void kick_cpu(unsigned i) {
        if (i < cpus_.size()) cpus_[i]->kick();
    }
    void kick_cpu() {
        for (auto& c : cpus_) c->kick();
    }
    // The bootstrap processor (or CPU i).
    vcpu_type& cpu(unsigned i = 0) { return *cpus_.at(i); }

    std::uint64_t ram_below_4g() const { return ram_below_4g_; }
    std::uint64_t ram_above_4g() const { return this->ram_.size() - ram_below_4g_; }
    std::byte* ram() { return this->ram_.data(); }

protected:
    static auto accel_props(const options& o) {
        std::vector<std::pair<std::string, std::string>> props;
        if constexpr (on_kvm)
            if constexpr (requires { Board::kvm_kernel_irqchip; })
                props.emplace_back("kernel-irqchip", Board::kvm_kernel_irqchip ? "on" : "off");
        for (auto& a : o.accels)
            if (a.name == Accel::name) props.insert(props.end(), a.props.begin(), a.props.end());  // later ones win
        return Accel::props(props);
    }
    // What -kernel (its bytes, which the caller keeps), -initrd and -append
    // give a Linux loader: pc's, through fw_cfg, or microvm's own.
    linux_boot_config linux_boot_from(const options& o, std::span<const std::byte> kernel) const {
        linux_boot_config lb;
        lb.kernel_path = o.kernel;
        lb.kernel = kernel;
        lb.append = o.append;
        if (!o.initrd.empty()) {
            lb.initrd_path = o.initrd;
            lb.initrd = read_file("-initrd", o.initrd);
        }
        lb.below_4g_mem_size = ram_below_4g_;
        return lb;
    }
    // Under KVM: the VM the vCPUs share.
    kvm_guest& kvm() requires on_kvm { return *guest_; }
    // Whether the kernel's irqchip (KVM) stands in for the board's PIC.
    bool kernel_irqchip() const {
        if constexpr (on_kvm) return guest_ && guest_->options().kernel_irqchip;
        else return false;
    }

private:
    void create_cpus(const options& o) {
        auto& mem = this->memory();
        const auto props = accel_props(o);
        const io_bus io{this, &io_in, &io_out};
        const unsigned ncpus = o.cpu_count();
        if constexpr (on_kvm) {
            guest_ = std::make_unique<kvm_guest>(mem, props);
            for (unsigned i = 0; i < ncpus; ++i) {
                cpus_.push_back(std::make_unique<vcpu_type>(*guest_, cpu_topology{i, ncpus}, io, mem,
                                                            cpu_model_for(o), o.cpu == "host"));
                cpus_.back()->set_big_lock(this->services().big_lock);
            }
        } else {
            using hooks = typename Accel::hooks;
            translate_config cfg;
            if constexpr (hooks::has_insn) cfg.insn_hook = &hooks::insn_hook;
            if constexpr (hooks::has_mem) cfg.mem_hook = &hooks::mem_hook;
            if constexpr (hooks::has_block) cfg.block_hook = &hooks::block_hook;
            if constexpr (hooks::has_interrupt) cfg.interrupt_hook = &hooks::interrupt;
            cfg.pause_yields = ncpus > 1;
            const cpu_model model = cpu_model_for(o);
            cpu_model_name_ = std::string(model.name);
            for (unsigned i = 0; i < ncpus; ++i)
                cpus_.push_back(std::make_unique<vcpu_type>(mem, io, model, cfg, props, cpu_topology{i, ncpus}));
            for (auto& c : cpus_) c->engine().join(engines_);
            if constexpr (tcg_apics) {
                apic_bus_ = std::make_unique<apic_bus>();
                for (unsigned i = 0; i < ncpus; ++i) {
                    apics_.push_back(std::make_unique<local_apic>(*apic_bus_, i, static_cast<std::uint8_t>(i),
                                                                  this->services().timers, model.phys_bits));
                    cpus_[i]->attach_apic(*apics_.back());
                }
                // The APIC page of the CPU that makes the access; the rest of
                // the megabyte takes MSIs (QEMU's apic-msi region).
                mem.add({"apic-msi", {local_apic::default_base}, 0x10'0000, region_kind::mmio, nullptr,
                         {[](void* b, std::uint64_t off, std::span<std::byte> d) {
                              auto& self = *static_cast<x86_board*>(b);
                              // QEMU's apic_mem_read decodes (addr >> 4) & 0xff over
                              // the whole megabyte: the page repeats.
                              self.apics_[self.current_cpu_]->mmio_read(off & 0xfff, d);
                          },
                          [](void* b, std::uint64_t off, std::span<const std::byte> d) {
                              auto& self = *static_cast<x86_board*>(b);
                              if (off < 0x1000) {
                                  self.apics_[self.current_cpu_]->mmio_write(off, d);
                                  return;
                              }
                              std::uint32_t v = 0;
                              std::memcpy(&v, d.data(), std::min<std::size_t>(d.size(), 4));
                              self.apic_bus_->deliver_msi(local_apic::default_base + off, v);
                          },
                          this}});
            }
        }
    }

    void wire_common(const options& o) {
        vcpu_type& bsp = *cpus_.front();
        if constexpr (on_kvm) {
            // The kernel's 8259A pair and PIT (port 61 too) answer their
            // ports themselves; ISA lines go to the kernel's irqchip. Our
            // PIT never sees its ports there: it would tick on in QEMU's
            // reset state, an 18.2 Hz square wave, waking us for nothing
            // and, on GSI 0 beside the kernel's, hiding the kernel PIT's
            // edges (4-7 of 25 ticks came through). So it drives no IRQ.
            if (kernel_irqchip()) {
                if constexpr (has_device<dev::i8254_pit>)
                    this->template device<dev::i8254_pit>().set_irq_enabled(false);
                this->irqs().on_change = [this](unsigned line, bool level) { guest_->vm().irq_line(line, level); };
            }
        }
        if constexpr (tcg_apics) {
            wire_apics();
        } else if constexpr (has_device<dev::i8259_pair>) {
            // ISA lines into the PIC, its INTR into the CPU.
            if (!kernel_irqchip()) {
                auto& pic = this->template device<dev::i8259_pair>();
                this->irqs().on_change = [&pic](unsigned n, bool level) { pic.set_irq(n, level); };
                for (unsigned n = 0; n < 16; ++n)
                    if (this->irqs().level(n)) pic.set_irq(n, true);
                pic.on_intr = [&bsp](bool level) { bsp.set_intr(level); };
                bsp.interrupt_ack = [&pic] { return pic.acknowledge(); };
            }
        }
        if constexpr (has_device<dev::port92>) {
            auto& p92 = this->template device<dev::port92>();
            p92.on_a20 = [this](bool on) { set_a20(on); };
            p92.on_reset = [this] { request_reset("port 92 (fast reset)"); };
        }
        // A triple fault resets the machine, as on a PC; -no-reboot turns
        // that into a shutdown with status 0, as in QEMU.
        no_reboot_ = o.no_reboot;
        for (auto& c : cpus_)
            c->on_triple_fault = [this, no_reboot = o.no_reboot] {
                logf(log_item::cpu_reset, "system reset requested by a triple fault%s\n",
                     no_reboot ? " (-no-reboot: shutdown)" : "");
                if (no_reboot) {
                    shutdown(shutdown_cause::guest_reset);
                    return false;
                }
                reset();
                if (this->services().reset_done) this->services().reset_done(shutdown_cause::guest_reset);
                return true;
            };
    }

    // The 8259's INTR reaches every local APIC's LINT0 (virtual wire), and
    // ISA lines go to both the 8259 and the IOAPIC (IRQ 0 on pin 2, QEMU's
    // interrupt source override), whose messages and EOIs ride the APIC bus.
    void wire_apics() {
        auto& pic = this->template device<dev::i8259_pair>();
        pic.on_intr = [this](bool level) { apic_bus_->set_pic_intr(level); };
        apic_bus_->extint_ack = [&pic] { return pic.acknowledge(); };
        if constexpr (has_device<dev::ioapic>) {
            auto& io = this->template device<dev::ioapic>();
            this->memory().add({"ioapic", {dev::ioapic::mmio.base}, dev::ioapic::mmio.length, region_kind::mmio,
                                nullptr,
                                {[](void* d, std::uint64_t off, std::span<std::byte> b) {
                                     static_cast<dev::ioapic*>(d)->mmio_read(off, b);
                                 },
                                 [](void* d, std::uint64_t off, std::span<const std::byte> b) {
                                     static_cast<dev::ioapic*>(d)->mmio_write(off, b);
                                 },
                                 &io}});
            io.send_msi = [this](std::uint64_t addr, std::uint32_t data) { apic_bus_->deliver_msi(addr, data); };
            io.extint_ack = [&pic] { return pic.acknowledge(); };
            apic_bus_->on_level_eoi = [&io](std::uint8_t vector) { io.eoi(vector); };
            // QEMU's gsi_handler: GSIs below 16 reach the 8259 too.
            this->irqs().on_change = [&pic, &io](unsigned n, bool level) {
                if (n < 16) pic.set_irq(n, level);
                io.count_input(n, level);
                io.set_irq(n == 0 ? 2 : n, level);
            };
        } else {
            this->irqs().on_change = [&pic](unsigned n, bool level) { pic.set_irq(n, level); };
        }
        for (unsigned n = 0; n < 16; ++n)
            if (this->irqs().level(n)) this->irqs().on_change(n, true);
    }

protected:
    // The guest shut down: the run ends with status 0, or stops under
    // -no-shutdown.
    void shutdown(shutdown_cause cause = shutdown_cause::guest_shutdown) {
        if (this->services().request_shutdown) this->services().request_shutdown(cause);
        else this->services().request_exit(0);
    }

    // A 32-bit MSI write (from a device that masters the bus) where no
    // guest access is under way: the APIC bus takes 0xfee00000-0xfeefffff,
    // memory the rest. False when nothing took it.
    bool deliver_msi(std::uint64_t addr, std::uint32_t data) {
        if constexpr (on_kvm) {
            // The kernel's APICs take the range (QEMU's kvm-apic-msi).
            if (kernel_irqchip() && (addr >> 20) == (local_apic::default_base >> 20)) {
                guest_->vm().signal_msi(addr, data);
                return true;
            }
        }
        if constexpr (tcg_apics) {
            if ((addr >> 20) == (local_apic::default_base >> 20)) {
                apic_bus_->deliver_msi(addr, data);
                return true;
            }
        }
        return this->memory().dma_write(gpa{addr}, std::as_bytes(std::span(&data, 1)));
    }

    void set_a20(bool on) {
        for (auto& c : cpus_) c->set_a20(on);
    }

private:
    // IN and OUT reach the generated port dispatch (and the hook policy).
    static std::uint32_t io_in(void* ctx, tcg::env_base* env, std::uint16_t port, unsigned size) {
        auto& m = *static_cast<x86_board*>(ctx);
        std::uint32_t v = 0;
        m.pio_read({port}, std::as_writable_bytes(std::span(&v, 1)).first(size));
        Accel::hooks::io(env, port, size, false, v);
        return v;
    }
    static void io_out(void* ctx, tcg::env_base* env, std::uint16_t port, unsigned size, std::uint32_t value) {
        auto& m = *static_cast<x86_board*>(ctx);
        Accel::hooks::io(env, port, size, true, value);
        m.pio_write({port}, std::as_bytes(std::span(&value, 1)).first(size));
    }

    std::unique_ptr<kvm_guest> guest_;  // under KVM: the VM the vCPUs share
    std::unique_ptr<apic_bus> apic_bus_;  // under TCG, with local APICs
    std::vector<std::unique_ptr<local_apic>> apics_;
    std::vector<tcg::engine*> engines_;  // TCG: the CPUs' engines, which see each other's stores to code
    std::vector<std::unique_ptr<vcpu_type>> cpus_;
    // A live migration's dirty pages; devices' RAM writes reach it through
    // the address space.
    struct dirty_watch final : memory_listener {
        tcg::dirty_log* log = nullptr;
        void map_changed(std::uint64_t, std::uint64_t) override {}
        void ram_written(std::uint64_t addr, std::uint64_t len) override {
            if (log) log->mark_range(addr, len);
        }
    };
    std::optional<tcg::dirty_log> dirty_;
    dirty_watch dirty_watch_;
    bool ram_streamed_ = false;  // load_ram_section has put RAM in place
    unsigned current_cpu_ = 0;
    std::uint64_t ram_below_4g_ = 0;
    bool reset_requested_ = false, no_reboot_ = false;
    std::string cpu_model_name_;  // -cpu's model, which a state stream must match
    shutdown_cause reset_cause_ = shutdown_cause::guest_reset;
};

} // namespace qf::x86
