#include "cpu_rig.hpp"

#include "fuzz.hpp"
#include "qf/accel/tcg/hooks.hpp"
#include "qf/core/error.hpp"
#include "qf/core/log.hpp"
#include "qf/memory/ram.hpp"
#include "state_fields.hpp"
#include "targets/x86/vcpu.hpp"
#include "watchdog.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

namespace qf::fuzz {

using namespace qf::x86;

namespace {

// Beyond the layout's 64 KiB of tables and stacks and its code, RAM the
// registers point at; a page of MMIO and one of ROM after it.
constexpr std::uint64_t ram_size = 2 << 20;
constexpr std::uint64_t mmio_at = 0x200000, rom_at = 0x202000;
// Bounds of one run.
constexpr std::uint64_t insn_budget = 2048;
constexpr unsigned max_exceptions = 64, max_halts = 8, max_kicks = 4096;

// FNV-1a over 64-bit words: the order of events matters, and so does each.
struct event_trace {
    std::uint64_t hash = 0xcbf29ce484222325ull;
    std::uint64_t events = 0;
    void add(std::initializer_list<std::uint64_t> words) {
        ++events;
        for (std::uint64_t w : words) hash = (hash ^ w) * 0x100000001b3ull;
    }
};

// The instruction budget, per thread as the hooks are static.
struct budget {
    static inline thread_local std::uint64_t left = 0;
    static tcg::hook_result on_insn(tcg::env_base*, std::uint64_t) {
        if (left == 0) return tcg::hook_result::stop;
        --left;
        return tcg::hook_result::go_on;
    }
};
using budget_hooks = tcg::hook_policy<budget>;

// For the static callbacks (ports, MMIO, watchpoints): the run in progress.
thread_local event_trace* trace_now = nullptr;
thread_local std::uint64_t device_counter = 0;

// Triage: QF_FUZZ_VERBOSE=2 prints each exception and where the run goes
// on; QF_FUZZ_LOG=int,in_asm,... turns on QEMU's -d items, on stderr.
const int verbose = [] {
    if (const char* items = std::getenv("QF_FUZZ_LOG")) set_log_mask(parse_log_items(items));
    const char* v = std::getenv("QF_FUZZ_VERBOSE");
    return v ? std::atoi(v) : 0;
}();

std::uint32_t port_in(void*, tcg::env_base*, std::uint16_t port, unsigned size) {
    const auto v = static_cast<std::uint32_t>(mix(port * 131ull + size + (++device_counter << 20)));
    const std::uint32_t m = size >= 4 ? ~0u : (1u << (8 * size)) - 1;
    trace_now->add({'I', port, size, v & m});
    return v & m;
}
void port_out(void*, tcg::env_base*, std::uint16_t port, unsigned size, std::uint32_t value) {
    trace_now->add({'O', port, size, value});
}

void mmio_read(void*, std::uint64_t off, std::span<std::byte> out) {
    std::uint64_t v = mix(off + (++device_counter << 16));
    for (auto& b : out) {
        b = static_cast<std::byte>(v);
        v >>= 8;
    }
    trace_now->add({'R', off, out.size()});
}
void mmio_write(void*, std::uint64_t off, std::span<const std::byte> in) {
    std::uint64_t v = 0;
    std::memcpy(&v, in.data(), std::min<std::size_t>(in.size(), 8));
    trace_now->add({'W', off, in.size(), v});
}

// The hidden part a selector load would give.
segment hidden(std::uint16_t selector, std::uint64_t desc) {
    const auto base = static_cast<std::uint32_t>(((desc >> 16) & 0xffffff) | ((desc >> 56) << 24));
    std::uint32_t limit = static_cast<std::uint32_t>((desc & 0xffff) | ((desc >> 32) & 0xf0000));
    const auto attr = static_cast<std::uint16_t>(((desc >> 40) & 0xff) | ((desc >> 52) & 0xf) << 8);
    if (attr & seg_attr::g) limit = (limit << 12) | 0xfff;
    return {base, limit, selector, attr};
}

segment real_seg(std::uint16_t selector, bool code, unsigned dpl = 0) {
    auto attr = static_cast<std::uint16_t>(seg_attr::present | seg_attr::s | seg_attr::writable | seg_attr::accessed | dpl << 5);
    if (code) attr |= seg_attr::code;
    return {std::uint64_t{selector} << 4, 0xffff, selector, attr};
}

} // namespace

struct cpu_outcome {
    cpu_config cfg;
    bool interpreter = false;
    std::size_t code_len = 0;
    host_memory ram{ram_size, "fuzz ram"};
    host_memory rom{0x1000, "fuzz rom"};
    address_space as;
    std::unique_ptr<vcpu> cpu;
    event_trace trace;
    cpu_end end = cpu_end::halted;
    std::string error;
    std::uint64_t insns = 0;
    unsigned exceptions = 0;

    std::uint8_t* bytes() { return reinterpret_cast<std::uint8_t*>(ram.data()); }
    void enter_mode();
    void run();
    named_values fields() const;
};

// The state the firmware prologue would leave (firmware_image.cpp), set
// directly: TR and LDTR already loaded, segments flat or real-mode style.
void cpu_outcome::enter_mode() {
    state& s = cpu->st();
    const auto* gdt = reinterpret_cast<const std::uint64_t*>(bytes() + layout::gdt);
    auto seg = [&](std::uint16_t selector) { return hidden(selector, gdt[selector >> 3]); };
    for (unsigned i = 0; i < 16; ++i) s.regs[i] = layout::initial_gpr(i, cfg.sixteen_bit());
    for (unsigned i = 0; i < 16; ++i) {
        s.xmm[i].d[0] = 1.5 * i - 4;
        s.xmm[i].q[1] = mix(i) | (i == 3 ? 0x7ff8'0000'0000'0000ull : 0);
    }
    s.gdt = {layout::gdt, layout::gdt_limit};
    s.ldt = hidden(sel::ldt, gdt[sel::ldt >> 3]);
    s.tr = hidden(sel::tss, gdt[sel::tss >> 3]);
    s.idt = cfg.long_mode() ? dtable{layout::idt, 0xfff} : dtable{layout::idt, 0x7ff};
    s.star = std::uint64_t{0x18} << 48 | std::uint64_t{sel::code64} << 32 | handler_address(0x101, code_len);
    s.lstar = handler_address(0x102, code_len);
    s.cstar = handler_address(0x103, code_len);
    s.fmask = 0x700;
    s.sysenter_cs = sel::code32;
    s.sysenter_eip = handler_address(0x104, code_len);
    s.sysenter_esp = layout::stack0_top;

    std::uint64_t cr0 = 0x10 | 0x20 | 2 | (cfg.ts ? 8 : 0) | (cfg.em ? 4 : 0) | (cfg.ac ? 1u << 18 : 0) |
                        (cfg.wp_tsd ? 1u << 16 : 0);
    std::uint64_t cr4 = (1u << 9) | (1u << 10) | (cfg.wp_tsd ? 4 : 0);
    std::uint64_t flags = eflags_bit::fixed1 | (cfg.iflag ? eflags_bit::if_ : 0) | (cfg.tflag ? eflags_bit::tf : 0) |
                          std::uint64_t{cfg.iopl} << 12 | (cfg.ac ? eflags_bit::ac : 0);
    auto data_segs = [&](segment d) {
        for (unsigned r : {R_DS, R_ES, R_FS, R_GS, R_SS}) s.segs[r] = d;
    };
    s.rip = layout::code;
    s.regs[R_ESP] = layout::stack0_top;
    switch (cfg.mode) {
    case cpu_mode::real:
    case cpu_mode::v86: {
        const unsigned dpl = cfg.mode == cpu_mode::v86 ? 3 : 0;
        if (cfg.mode == cpu_mode::real) {
            cr0 = 0x6000'0010 | (cr0 & 0xc);
            s.idt = {0, 0x3ff};
        } else {
            cr0 |= 1;
            flags |= eflags_bit::vm;
        }
        for (unsigned r : {R_DS, R_ES, R_FS, R_GS}) s.segs[r] = real_seg(0x2000, false, dpl);
        s.segs[R_SS] = real_seg(0, false, dpl);
        s.segs[R_CS] = real_seg(layout::code >> 4, true, dpl);
        s.rip = 0;
        s.regs[R_ESP] = layout::stack3_top;
        break;
    }
    case cpu_mode::prot16:
        cr0 |= 1;
        data_segs(seg(sel::data16));
        s.segs[R_CS] = seg(sel::code16);
        s.rip = 0;
        break;
    case cpu_mode::prot32:
    case cpu_mode::prot32_paging:
        cr0 |= 1;
        data_segs(seg(sel::data32));
        s.segs[R_CS] = seg(sel::code32);
        if (cfg.mode == cpu_mode::prot32_paging) {
            cr0 |= 1u << 31;
            cr4 |= 1u << 4;  // PSE
            s.cr[3] = layout::pd32;
        }
        break;
    case cpu_mode::prot32_ring3:
        cr0 |= 1;
        data_segs(seg(sel::data32_r3));
        s.segs[R_CS] = seg(sel::code32_r3);
        s.regs[R_ESP] = layout::stack3_top;
        break;
    case cpu_mode::long64:
    case cpu_mode::long64_ring3:
    case cpu_mode::compat32:
        cr0 |= 1 | 1u << 31;
        cr4 |= 1u << 5;  // PAE
        s.cr[3] = layout::pml4;
        s.efer = 1 | 1u << 8 | 1u << 10 | 1u << 11;  // SCE, LME, LMA, NXE
        if (cfg.mode == cpu_mode::long64) {
            data_segs(seg(sel::data64));
            s.segs[R_CS] = seg(sel::code64);
        } else if (cfg.mode == cpu_mode::long64_ring3) {
            data_segs(seg(sel::data32_r3));
            s.segs[R_CS] = seg(sel::code64_r3);
            s.regs[R_ESP] = layout::stack3_top;
        } else {
            data_segs(seg(sel::data32));
            s.segs[R_CS] = seg(sel::code32);
        }
        break;
    case cpu_mode::count: break;
    }
    if (!cfg.sixteen_bit() && !cfg.long_mode()) s.efer = 1;  // SCE: SYSCALL outside long mode too
    s.cr[0] = cr0;
    s.cr[4] = cr4;
    load_eflags(s, flags, ~eflags_bit::rf);
    compute_hflags(s);
    if (cfg.watchpoints) {
        s.base.watch[0] = {0x20000, 16, tcg::watch_kind::access};
        s.base.watch[1] = {layout::stack0_top - 0x40, 0x40, tcg::watch_kind::write};
        s.base.nb_watch = 2;
        s.base.on_watch = [](tcg::env_base*, const tcg::watchpoint& wp, std::uint64_t vaddr, unsigned size, bool write,
                             std::uintptr_t) { trace_now->add({'P', wp.vaddr, vaddr, size, write}); };
    }
}

void cpu_outcome::run() {
    state& s = cpu->st();
    bool triple = false;
    cpu->on_triple_fault = [&triple] {
        triple = true;
        return false;
    };
    cpu->stop_on_exceptions(!cfg.deliver);
    trace_now = &trace;
    device_counter = 0;
    budget::left = insn_budget;
    watchdog& wd = watchdog::instance();
    // Without the hook a loop that never faults runs until this limit, so it
    // is short; with it, only a run stuck delivering exceptions gets there.
    wd.arm([c = cpu.get()] { c->kick(); }, std::chrono::milliseconds(cfg.unhooked ? 15 : 1000));
    unsigned halts = 0, kicks = 0, resume = 0;
    const std::uint64_t code_end = layout::code + code_len;
    const char* who = interpreter ? "interp" : "jit";
    for (;;) {
        vcpu::stop r;
        try {
            r = cpu->run();
        } catch (const qf::error& e) {
            end = cpu_end::error;
            error = e.what();
            break;
        }
        if (wd.fired()) {
            end = cpu_end::wall_clock;
            break;
        }
        if (s.base.hook_stop) {
            end = cpu_end::budget;
            break;
        }
        if (triple) {
            end = cpu_end::triple_fault;
            break;
        }
        if (r == vcpu::stop::exception) {
            trace.add({'E', static_cast<std::uint64_t>(cpu->last_exception()), s.error_code, s.rip, s.segs[R_CS].selector});
            if (verbose > 1)
                std::fprintf(stderr, "  %s: exception %d error %#x at %04x:%llx eflags %llx\n", who, cpu->last_exception(),
                             s.error_code, s.segs[R_CS].selector, static_cast<unsigned long long>(s.rip),
                             static_cast<unsigned long long>(compute_eflags(s)));
            if (++exceptions >= max_exceptions) {
                end = cpu_end::exceptions;
                break;
            }
            // Go on one byte past the faulting one, or, when the code went
            // elsewhere, at the next place in the code.
            const std::uint64_t linear = s.segs[R_CS].base + s.rip;
            if (linear >= layout::code && linear < code_end) s.rip += 1;
            else s.rip = layout::code + (resume++ * 61) % (code_len ? code_len : 1) - s.segs[R_CS].base;
            if (!(s.hflags & hflag::cs64)) s.rip &= 0xffff'ffff;
            if (verbose > 1) std::fprintf(stderr, "  %s: resumed at %llx\n", who, static_cast<unsigned long long>(s.rip));
            continue;
        }
        if (r == vcpu::stop::halted) {
            trace.add({'H', s.rip});
            if (++halts > max_halts) {
                end = cpu_end::halted;
                break;
            }
            s.halted = 0;
            continue;
        }
        if (++kicks > max_kicks) {
            end = cpu_end::exceptions;
            break;
        }
    }
    if (wd.disarm() && end != cpu_end::error) end = cpu_end::wall_clock;
    insns = insn_budget - budget::left;
    trace_now = nullptr;
}

cpu_run::cpu_run(const cpu_config& cfg, std::span<const std::uint8_t> code, bool interpreter)
    : o_(std::make_unique<cpu_outcome>()) {
    cpu_outcome& o = *o_;
    o.cfg = cfg;
    o.interpreter = interpreter;
    o.code_len = std::min(code.size(), layout::max_code);
    // Past the code, and in the data the registers point at, 0xff: FF FF
    // is #UD, so code that runs off its end faults instead of sliding
    // through zeros (ADD [EAX], AL) until a limit stops it.
    std::memset(o.bytes() + layout::code, 0xff, ram_size - layout::code);
    std::memcpy(o.bytes() + layout::code, code.data(), o.code_len);
    write_tables(std::span(o.bytes(), ram_size), cfg, o.code_len, true);
    for (unsigned i = 0; i < 0x1000; ++i) o.rom.data()[i] = static_cast<std::byte>(mix(i));
    o.as.add({"ram", {0}, ram_size, region_kind::ram, o.ram.data()});
    o.as.add({"mmio", {mmio_at}, 0x1000, region_kind::mmio, nullptr, {&mmio_read, &mmio_write, nullptr}});
    o.as.add({"rom", {rom_at}, 0x1000, region_kind::rom, o.rom.data()});

    tcg::engine_options eo;
    eo.be = interpreter ? tcg::backend::interpreter : tcg::backend::jit;
    eo.tb_size_mib = cfg.small_buffer ? 1 : 16;
    eo.max_insns = cfg.max_insns;
    eo.nochain = cfg.nochain;
    eo.one_insn_per_tb = cfg.one_insn_per_tb;
    eo.split_wx = cfg.split_wx;
    translate_config tc;
    if (!cfg.unhooked) tc.insn_hook = &budget_hooks::insn_hook;
    o.cpu = std::make_unique<vcpu>(o.as, io_bus{nullptr, &port_in, &port_out}, cpu::max::def, tc, eo);
    o.enter_mode();
    o.run();
}

cpu_run::~cpu_run() = default;

cpu_end cpu_run::end() const { return o_->end; }

named_values cpu_outcome::fields() const {
    named_values f;
    f.reserve(200);
    f.emplace_back("end", static_cast<std::uint64_t>(end));
    f.emplace_back("exceptions", exceptions);
    f.emplace_back("instructions", insns);
    f.emplace_back("events", trace.events);
    f.emplace_back("event hash (exceptions, ports, MMIO, watchpoints in order)", trace.hash);
    append_state(f, cpu->st());
    return f;
}

std::string cpu_run::summary() const {
    static const char* const ends[] = {"halted", "instruction budget", "exception limit", "triple fault", "error",
                                       "wall-clock limit"};
    const cpu_outcome& o = *o_;
    std::string s = std::string(o.interpreter ? "interpreter" : "JIT") + ": ended by " + ends[static_cast<unsigned>(o.end)];
    if (!o.error.empty()) s += " (" + o.error + ")";
    s += ", " + std::to_string(o.insns) + " instructions, " + std::to_string(o.exceptions) + " exceptions\n";
    s += format_state(o.cpu->st());
    return s;
}

std::string cpu_run::difference(const cpu_run& other) const {
    cpu_outcome &a = *o_, &b = *other.o_;
    std::string d;
    if (a.error != b.error) d = "error: '" + a.error + "' against '" + b.error + "'";
    if (d.empty()) d = first_difference(a.fields(), b.fields());
    if (d.empty()) d = memory_difference("RAM", a.bytes(), b.bytes(), ram_size);
    if (d.empty()) return d;
    return "first difference: " + d + "\nin mode " + a.cfg.describe() + "\n" + summary() + other.summary();
}

} // namespace qf::fuzz
