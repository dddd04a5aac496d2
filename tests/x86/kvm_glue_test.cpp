// The KVM backend's parts that need no /dev/kvm: exit decoding from
// recorded kvm_run pages, the memory slot layout of a machine's address
// space, CPUID from a definition cut to a host's supported set, and the
// CPU state in KVM's structures and back.
#include "qf/accel/kvm/exits.hpp"
#include "qf/accel/kvm/slots.hpp"
#include "qf/accel/kvm/vm.hpp"
#include "qf/core/error.hpp"
#include "qf/memory/ram.hpp"
#include "targets/x86/kvm_cpu.hpp"

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <memory>
#include <unistd.h>
#include <vector>

using namespace qf;
using namespace qf::x86;

namespace {

// A kvm_run page as KVM_GET_VCPU_MMAP_SIZE sizes it (the run struct, then
// the I/O data page).
struct run_page {
    static constexpr std::size_t size = 2 * 4096;
    std::unique_ptr<std::uint64_t[]> mem{new std::uint64_t[size / 8]()};
    kvm_run& run() { return *reinterpret_cast<kvm_run*>(mem.get()); }
    std::byte* at(std::size_t off) { return reinterpret_cast<std::byte*>(mem.get()) + off; }
};

const kvm_cpuid_entry2* leaf(const std::vector<kvm_cpuid_entry2>& v, std::uint32_t fn, std::uint32_t index = 0) {
    for (const auto& e : v)
        if (e.function == fn && e.index == index) return &e;
    return nullptr;
}

} // namespace

TEST_CASE("KVM exits decode from recorded kvm_run pages, and malformed ones are errors") {
    run_page p;
    kvm_run& r = p.run();

    r.exit_reason = KVM_EXIT_IO;  // REP OUTSW of three words to port 0x3f8
    r.io.direction = KVM_EXIT_IO_OUT;
    r.io.size = 2;
    r.io.port = 0x3f8;
    r.io.count = 3;
    r.io.data_offset = 4096;
    const std::uint16_t words[3] = {0x4241, 0x4443, 0x4645};
    std::memcpy(p.at(4096), words, sizeof words);
    auto ev = kvm::decode_exit(r, run_page::size);
    const auto* io = std::get_if<kvm::exit_io>(&ev);
    REQUIRE(io);
    CHECK(io->out);
    CHECK(io->port == 0x3f8);
    CHECK(io->size == 2);
    CHECK(io->count == 3);
    REQUIRE(io->data.size() == 6);
    CHECK(std::memcmp(io->data.data(), words, 6) == 0);
    CHECK(io->data.data() == p.at(4096));

    r.io.data_offset = run_page::size - 4;  // six bytes do not fit
    CHECK_THROWS_AS(kvm::decode_exit(r, run_page::size), error);
    r.io.data_offset = 4096;
    r.io.size = 3;
    CHECK_THROWS_AS(kvm::decode_exit(r, run_page::size), error);

    r.exit_reason = KVM_EXIT_MMIO;
    r.mmio.phys_addr = 0xfee0'0300;
    r.mmio.len = 4;
    r.mmio.is_write = 1;
    std::memcpy(r.mmio.data, "\x01\x02\x03\x04", 4);
    ev = kvm::decode_exit(r, run_page::size);
    const auto* m = std::get_if<kvm::exit_mmio>(&ev);
    REQUIRE(m);
    CHECK(m->addr == 0xfee0'0300);
    CHECK(m->write);
    REQUIRE(m->data.size() == 4);
    CHECK(m->data[3] == std::byte{4});
    r.mmio.len = 9;
    CHECK_THROWS_AS(kvm::decode_exit(r, run_page::size), error);

    r.exit_reason = KVM_EXIT_HLT;
    CHECK(std::holds_alternative<kvm::exit_hlt>(kvm::decode_exit(r, run_page::size)));
    r.exit_reason = KVM_EXIT_SHUTDOWN;
    CHECK(std::holds_alternative<kvm::exit_shutdown>(kvm::decode_exit(r, run_page::size)));
    r.exit_reason = KVM_EXIT_IRQ_WINDOW_OPEN;
    CHECK(std::holds_alternative<kvm::exit_irq_window>(kvm::decode_exit(r, run_page::size)));

    r.exit_reason = KVM_EXIT_FAIL_ENTRY;
    r.fail_entry.hardware_entry_failure_reason = 0x80000021;  // VMX: invalid guest state
    r.fail_entry.cpu = 5;
    ev = kvm::decode_exit(r, run_page::size);
    const auto* f = std::get_if<kvm::exit_fail_entry>(&ev);
    REQUIRE(f);
    CHECK(f->reason == 0x80000021);
    CHECK(f->cpu == 5);

    r.exit_reason = KVM_EXIT_INTERNAL_ERROR;
    r.internal.suberror = KVM_INTERNAL_ERROR_EMULATION;
    r.internal.ndata = 40;  // more than the array holds: cut to it
    for (unsigned i = 0; i < 16; ++i) r.internal.data[i] = i;
    ev = kvm::decode_exit(r, run_page::size);
    const auto* ie = std::get_if<kvm::exit_internal_error>(&ev);
    REQUIRE(ie);
    CHECK(ie->data.size() == 16);
    CHECK(kvm::internal_error_name(ie->suberror).starts_with("KVM_INTERNAL_ERROR_EMULATION"));

    // The debugger's exit (KVM_SET_GUEST_DEBUG): what stopped, and where.
    r.exit_reason = KVM_EXIT_DEBUG;
    r.debug.arch.exception = 1;
    r.debug.arch.pc = 0xf8000;
    r.debug.arch.dr6 = 0xffff0ff1;
    r.debug.arch.dr7 = 0x602;
    ev = kvm::decode_exit(r, run_page::size);
    const auto* de = std::get_if<kvm::exit_debug>(&ev);
    REQUIRE(de);
    CHECK(de->exception == 1);
    CHECK(de->pc == 0xf8000);
    CHECK(de->dr6 == 0xffff0ff1);
    CHECK(de->dr7 == 0x602);

    r.exit_reason = KVM_EXIT_IOAPIC_EOI;  // one qforge never asks for
    ev = kvm::decode_exit(r, run_page::size);
    REQUIRE(std::holds_alternative<kvm::exit_unhandled>(ev));
    CHECK(kvm::exit_reason_name(std::get<kvm::exit_unhandled>(ev).reason) == "KVM_EXIT_IOAPIC_EOI");
    CHECK(kvm::exit_reason_name(999) == "exit reason 999");
}

TEST_CASE("a host KVM on PVM is told from hardware KVM by the modules loaded") {
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path() / ("qf-sysmod-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir / "kvm");
    CHECK_FALSE(qf::kvm::host_is_pvm(dir.string()));  // no vendor module listed
    fs::create_directory(dir / "kvm_pvm");
    CHECK(qf::kvm::host_is_pvm(dir.string()));
    fs::create_directory(dir / "kvm_intel");
    CHECK_FALSE(qf::kvm::host_is_pvm(dir.string()));  // hardware KVM beside it
    fs::remove(dir / "kvm_intel");
    fs::create_directory(dir / "kvm_amd");
    CHECK_FALSE(qf::kvm::host_is_pvm(dir.string()));
    fs::remove_all(dir);
}

TEST_CASE("memory slots follow the flat view: the BIOS alias splits RAM, MMIO gets none, ROM is read-only") {
    host_memory ram(128 << 20, "ram"), rom(64 << 10, "rom");
    address_space as;
    as.add({"ram-below-4g", {0}, ram.size(), region_kind::ram, ram.data()});
    as.add({"bios", {(1ull << 32) - rom.size()}, rom.size(), region_kind::rom, rom.data()});
    as.add({"isa-bios", {0x10'0000 - rom.size()}, rom.size(), region_kind::rom, rom.data(), {}, 1});
    as.add({"mmio", {0xfee0'0000}, 0x1000, region_kind::mmio, nullptr,
            {[](void*, std::uint64_t, std::span<std::byte>) {}, [](void*, std::uint64_t, std::span<const std::byte>) {}, nullptr}});
    const auto slots = kvm::plan_slots(as);
    REQUIRE(slots.size() == 4);
    CHECK(slots[0].gpa == 0);
    CHECK(slots[0].size == 0xf0000);
    CHECK(slots[0].host == ram.data());
    CHECK(!slots[0].readonly);
    CHECK(slots[1].gpa == 0xf0000);
    CHECK(slots[1].size == 0x10000);
    CHECK(slots[1].host == rom.data());
    CHECK(slots[1].readonly);
    CHECK(slots[2].gpa == 0x100000);
    CHECK(slots[2].host == ram.data() + 0x100000);
    CHECK(slots[2].size == ram.size() - 0x100000);
    CHECK(slots[3].gpa == 0xffff0000);
    CHECK(slots[3].readonly);
    for (std::size_t i = 0; i < slots.size(); ++i) CHECK(slots[i].id == i);

    // A read-only view of RAM (PAM) is a writable slot, as under QEMU; a
    // ROM over it stays read-only.
    region pam{"pam-rom", {0xc0000}, 0x4000, region_kind::rom, ram.data() + 0xc0000, {}, 2, true};
    pam.ram_alias = true;
    as.add(pam);
    const auto with_pam = kvm::plan_slots(as);
    REQUIRE(with_pam.size() == 6);
    CHECK(with_pam[1].gpa == 0xc0000);
    CHECK(with_pam[1].host == ram.data() + 0xc0000);
    CHECK(!with_pam[1].readonly);
    CHECK(with_pam[3].gpa == 0xf0000);
    CHECK(with_pam[3].readonly);

    address_space odd;
    odd.add({"ram", {0}, 0x1800, region_kind::ram, ram.data()});  // not whole pages
    CHECK_THROWS_WITH(kvm::plan_slots(odd), Catch::Contains("4 KiB pages"));
}

TEST_CASE("CPUID for KVM: the definition's leaves with the host's missing features cut") {
    const cpu_model m = cpu::max::def;
    // A host without SSE4.2, POPCNT, BMI2 and RDTSCP, and 39-bit physical addresses.
    std::vector<kvm_cpuid_entry2> supported;
    for (std::uint32_t fn : {0u, 1u, 7u, 0x8000'0000u, 0x8000'0001u, 0x8000'0008u}) {
        kvm_cpuid_entry2 e{};
        e.function = fn;
        e.eax = e.ebx = e.ecx = e.edx = ~0u;
        if (fn == 7) e.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
        supported.push_back(e);
    }
    supported[1].ecx &= ~((1u << 20) | (1u << 23) | (1u << 31));  // no SSE4.2, POPCNT; KVM leaves out the hypervisor bit
    supported[2].ebx &= ~(1u << 8);                                // no BMI2
    supported[4].edx &= ~(1u << 27);                               // no RDTSCP
    supported[5].eax = 0x3027;
    const auto out = guest_cpuid(m, supported, false);

    const auto* l1 = leaf(out, 1);
    REQUIRE(l1);
    CHECK(l1->eax == m.signature());
    CHECK(!(l1->ecx & (1u << 20)));
    CHECK(!(l1->ecx & (1u << 23)));
    CHECK((l1->ecx & (1u << 19)));  // SSE4.1 stays
    CHECK((l1->ecx & (1u << 31)));  // the hypervisor bit, as QEMU sets it
    CHECK(l1->edx == cpuid(m, 1, 0).edx);
    const auto* l7 = leaf(out, 7);
    REQUIRE(l7);
    CHECK((l7->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX));
    CHECK(!(l7->ebx & (1u << 8)));
    CHECK((l7->ebx & (1u << 3)));  // BMI1 stays
    const auto* e1 = leaf(out, 0x8000'0001);
    REQUIRE(e1);
    CHECK(!(e1->edx & (1u << 27)));
    CHECK((e1->edx & (1u << 29)));  // LM stays
    const auto* e8 = leaf(out, 0x8000'0008);
    REQUIRE(e8);
    CHECK((e8->eax & 0xff) == 39);
    // Identity leaves are the definition's own.
    const auto* l0 = leaf(out, 0);
    REQUIRE(l0);
    CHECK(l0->ebx == cpuid(m, 0, 0).ebx);
    CHECK(l0->eax == m.level);
    REQUIRE(leaf(out, m.xlevel));
    // Leaf 4 lists its caches up to the null one, with the index significant.
    const auto* c0 = leaf(out, 4, 0);
    if (m.level >= 4) {
        REQUIRE(c0);
        CHECK((c0->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX));
    }

    const feature_set missing = kvm_missing_features(m, supported);
    CHECK(missing.has(feat::sse4_2));
    CHECK(missing.has(feat::popcnt));
    CHECK(missing.has(feat::bmi2));
    CHECK(missing.has(feat::rdtscp));
    CHECK(!missing.has(feat::sse4_1));
    CHECK(!missing.has(feat::hypervisor));

    // -cpu host: the host's leaves as they are, plus the hypervisor bit.
    const auto host = guest_cpuid(m, supported, true);
    REQUIRE(host.size() == supported.size());
    CHECK((leaf(host, 1)->ecx & (1u << 31)));
    CHECK(!(leaf(host, 1)->ecx & (1u << 20)));
}

TEST_CASE("CPUID for KVM under -smp: each CPU's APIC ID, and how many there are, in the topology leaves") {
    const cpu_model m = cpu::max::def;
    REQUIRE(m.level >= 0xb);
    std::vector<kvm_cpuid_entry2> supported;
    for (std::uint32_t fn : {0u, 1u, 7u, 0xbu, 0x8000'0000u, 0x8000'0001u, 0x8000'0008u}) {
        kvm_cpuid_entry2 e{};
        e.function = fn;
        e.eax = e.ebx = e.ecx = e.edx = ~0u;
        if (fn == 7 || fn == 0xb) e.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
        supported.push_back(e);
    }
    // One CPU: the leaves are the definition's (APIC ID 0, no count, no HTT).
    const auto one = guest_cpuid(m, supported, false, {0, 1});
    CHECK(leaf(one, 1)->ebx == cpuid(m, 1, 0).ebx);
    CHECK(leaf(one, 1)->edx == cpuid(m, 1, 0).edx);
    for (std::uint32_t i = 0; i < 3; ++i) {
        REQUIRE(leaf(one, 0xb, i));
        CHECK(leaf(one, 0xb, i)->eax == cpuid(m, 0xb, i).eax);
        CHECK(leaf(one, 0xb, i)->ebx == cpuid(m, 0xb, i).ebx);
        CHECK(leaf(one, 0xb, i)->edx == 0);
    }
    CHECK(leaf(one, 0x8000'0008)->ecx == cpuid(m, 0x8000'0008, 0).ecx);

    // The third CPU of five: APIC ID 2; three bits of core ID.
    const auto third = guest_cpuid(m, supported, false, {2, 5});
    const auto* l1 = leaf(third, 1);
    CHECK(l1->ebx >> 24 == 2);
    CHECK(((l1->ebx >> 16) & 0xff) == 5);
    CHECK((l1->ebx & 0xffff) == (cpuid(m, 1, 0).ebx & 0xffff));  // CLFLUSH size stays
    CHECK((l1->edx & (1u << 28)));                                 // HTT: the count is valid
    CHECK(leaf(third, 0xb, 0)->ebx == 1);                          // one thread per core
    CHECK(leaf(third, 0xb, 0)->edx == 2);
    CHECK((leaf(third, 0xb, 1)->eax & 0x1f) == 3);
    CHECK((leaf(third, 0xb, 1)->ebx & 0xffff) == 5);
    CHECK(leaf(third, 0xb, 1)->ecx == cpuid(m, 0xb, 1).ecx);  // the core level
    CHECK(leaf(third, 0xb, 1)->edx == 2);
    CHECK(leaf(third, 0xb, 2)->edx == 2);
    const auto* e8 = leaf(third, 0x8000'0008);
    CHECK((e8->ecx & 0xff) == 4);
    CHECK(((e8->ecx >> 12) & 0xf) == 3);

    // -cpu host gets its APIC ID too.
    const auto host = guest_cpuid(m, supported, true, {3, 4});
    CHECK(leaf(host, 1)->ebx >> 24 == 3);
    CHECK(((leaf(host, 1)->ebx >> 16) & 0xff) == 4);
}

TEST_CASE("the CPU state goes into KVM's registers and comes back whole") {
    state s{};
    reset_state(s, cpu::qemu64::def);
    SECTION("the reset state: real mode at F000:FFF0") {
        const kvm_state k = to_kvm(s);
        CHECK(k.regs.rip == 0xfff0);
        CHECK(k.regs.rflags == 2);
        CHECK(k.regs.rdx == cpu::qemu64::def.signature());
        CHECK(k.sregs.cs.selector == 0xf000);
        CHECK(k.sregs.cs.base == 0xffff0000);
        CHECK(k.sregs.cs.limit == 0xffff);
        CHECK(k.sregs.cs.type == 0xb);
        CHECK(k.sregs.cs.present == 1);
        CHECK(k.sregs.cs.s == 1);
        CHECK(!k.sregs.cs.unusable);
        CHECK(k.sregs.tr.type == 0xb);
        CHECK(k.sregs.ldt.type == 2);
        CHECK(k.sregs.cr0 == 0x60000010);
        CHECK(k.fpu.fcw == 0x40);
        CHECK(k.fpu.mxcsr == 0x1f80);
    }
    SECTION("long mode with a null SS, x87 values under a moved TOP, XMM and flags") {
        s.segs[R_CS] = {0, 0xffffffff, 0x18, 0xa9b};  // 64-bit code: L, G, present, type B
        s.segs[R_SS] = {0, 0, 0, 0};                  // null
        s.segs[R_FS].base = 0x7fff'1234'5000ull;
        s.cr[0] = 0x8000'0011;
        s.cr[3] = 0x10000;
        s.cr[4] = 0x20;
        s.efer = 0x500;
        s.gdt = {0xf1000, 0x37};
        s.idt = {0x20000, 0xfff};
        for (unsigned i = 0; i < 16; ++i) s.regs[i] = 0x1111'1111'1111'1111ull * (i + 1);
        s.rip = 0xffff'8000'0000'1000ull;
        load_eflags(s, 0x246 | eflags_bit::cf, ~0ull);
        s.fsw = 6u << 11;  // TOP = 6: ST(0) is R6
        for (unsigned i = 0; i < 8; ++i) s.fpr[i] = {0x8000'0000'0000'0000ull | i, static_cast<std::uint16_t>(0x3fff + i)};
        s.ftw = 0xc0;
        s.xmm[15].q[0] = 0xdead'beef;
        s.mxcsr = 0x1f80 | 0x8000;
        compute_hflags(s);

        const kvm_state k = to_kvm(s);
        CHECK(k.sregs.cs.l == 1);
        CHECK(k.sregs.cs.db == 0);
        CHECK(k.sregs.cs.g == 1);
        CHECK(k.sregs.ss.unusable == 1);
        CHECK(k.sregs.fs.base == 0x7fff'1234'5000ull);
        CHECK(k.regs.rsp == s.regs[R_ESP]);
        CHECK(k.regs.rbx == s.regs[R_EBX]);
        CHECK(k.regs.r15 == s.regs[15]);
        CHECK(k.regs.rflags == (0x247 | 2));
        std::uint64_t st0;
        std::memcpy(&st0, k.fpu.fpr[0], 8);
        CHECK(st0 == s.fpr[6].mant);
        std::uint64_t st2;
        std::memcpy(&st2, k.fpu.fpr[2], 8);
        CHECK(st2 == s.fpr[0].mant);  // (6 + 2) & 7

        state back{};
        from_kvm(back, k);
        CHECK(std::memcmp(back.regs, s.regs, sizeof s.regs) == 0);
        CHECK(back.rip == s.rip);
        CHECK(compute_eflags(back) == compute_eflags(s));
        for (unsigned i = 0; i < 6; ++i) {
            INFO("segment " << i);
            CHECK(back.segs[i].base == s.segs[i].base);
            CHECK(back.segs[i].limit == s.segs[i].limit);
            CHECK(back.segs[i].selector == s.segs[i].selector);
            CHECK(back.segs[i].attr == s.segs[i].attr);
        }
        CHECK(back.cr[0] == s.cr[0]);
        CHECK(back.cr[3] == s.cr[3]);
        CHECK(back.efer == s.efer);
        CHECK(back.gdt.base == s.gdt.base);
        CHECK(back.idt.limit == s.idt.limit);
        for (unsigned i = 0; i < 8; ++i) {
            CHECK(back.fpr[i].mant == s.fpr[i].mant);
            CHECK(back.fpr[i].sign_exp == s.fpr[i].sign_exp);
        }
        CHECK(back.ftw == s.ftw);
        CHECK(back.xmm[15].q[0] == 0xdead'beef);
        CHECK(back.mxcsr == s.mxcsr);
        CHECK(back.hflags == s.hflags);  // 64-bit code, CPL 0
    }
    SECTION("the MSRs the state keeps round-trip by index") {
        s.star = 0x0023'0010'0000'0000ull;
        s.lstar = 0xffff'ffff'8100'0000ull;
        s.kernel_gs_base = 0x1234;
        s.sysenter_eip = 0x5678;
        s.tsc_aux = 3;
        const auto v = msr_values(s, true);
        CHECK(v.size() == kvm_state_msrs().size());
        std::vector<std::uint32_t> idx;
        std::vector<std::uint64_t> val;
        for (const auto& [i, x] : v) {
            idx.push_back(i);
            val.push_back(x);
        }
        state back{};
        set_msr_values(back, idx, val);
        CHECK(back.star == s.star);
        CHECK(back.lstar == s.lstar);
        CHECK(back.kernel_gs_base == s.kernel_gs_base);
        CHECK(back.sysenter_eip == s.sysenter_eip);
        CHECK(back.tsc_aux == 3);
        CHECK(back.pat == s.pat);
        CHECK(msr_values(s, false).size() == kvm_state_msrs().size() - 1);  // TSC_AUX only with RDTSCP
        // Only what the host lists (KVM_GET_MSR_INDEX_LIST), even none.
        const std::uint32_t host[] = {0x277, 0xc000'0081, 0x12345678};
        const auto kept = msr_values(s, true, std::span<const std::uint32_t>(host));
        REQUIRE(kept.size() == 2);
        CHECK(kept[0].first == 0x277);
        CHECK(kept[1] == std::pair<std::uint32_t, std::uint64_t>{0xc000'0081, s.star});
        CHECK(msr_values(s, true, std::span<const std::uint32_t>()).empty());
    }
}

TEST_CASE("GSI routing under KVM is QEMU's pc: the PIT's GSI 0 on IOAPIC pin 2, GSI 2 nowhere") {
    const auto routes = qf::x86::pc_gsi_routes();
    auto pins = [&](unsigned gsi) {
        std::vector<std::pair<unsigned, unsigned>> v;
        for (const auto& e : routes)
            if (e.gsi == gsi) {
                CHECK(e.type == KVM_IRQ_ROUTING_IRQCHIP);
                v.emplace_back(e.u.irqchip.irqchip, e.u.irqchip.pin);
            }
        return v;
    };
    using pv = std::vector<std::pair<unsigned, unsigned>>;
    CHECK(pins(0) == pv{{KVM_IRQCHIP_PIC_MASTER, 0}, {KVM_IRQCHIP_IOAPIC, 2}});
    CHECK(pins(2).empty());
    CHECK(pins(8) == pv{{KVM_IRQCHIP_PIC_SLAVE, 0}, {KVM_IRQCHIP_IOAPIC, 8}});
    CHECK(pins(14) == pv{{KVM_IRQCHIP_PIC_SLAVE, 6}, {KVM_IRQCHIP_IOAPIC, 14}});
    CHECK(pins(16) == pv{{KVM_IRQCHIP_IOAPIC, 16}});
    CHECK(pins(23) == pv{{KVM_IRQCHIP_IOAPIC, 23}});
    CHECK(pins(24).empty());
    CHECK(routes.size() == 7 + 8 + 23);
}
