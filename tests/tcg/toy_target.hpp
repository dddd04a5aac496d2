#pragma once
// A toy guest for driving the TCG engine end to end before the x86 front
// end exists: 8-byte instructions (opcode, rd, rs, rt, imm32), eight 64-bit
// registers, 1 MiB of identity-mapped RAM, a console at MMIO 0x100000 and
// faults on everything else.
#include "qf/accel/tcg/engine.hpp"
#include "qf/accel/tcg/hooks.hpp"
#include "qf/memory/address_space.hpp"
#include "qf/memory/ram.hpp"

#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

namespace qf::tcg::toy {

enum op : std::uint8_t {
    HALT = 0x00, LI = 0x01, ADD = 0x02, ADDI = 0x03, SUB = 0x04, MUL = 0x05, XOR = 0x06, SHLI = 0x07,
    LD = 0x08, ST = 0x09, STB = 0x0a, BNE = 0x0b, JMP = 0x0c, JR = 0x0d, LDB = 0x0e, ANDI = 0x0f, SHRI = 0x10,
    OUT = 0x11, INT = 0x12,  // OUT imm(port), rs ; INT imm(vector): r7 = vector
};

struct insn {
    std::uint8_t opc, rd, rs, rt;
    std::int32_t imm;
};
inline std::uint64_t encode(insn i) {
    return std::uint64_t{i.opc} | std::uint64_t{i.rd} << 8 | std::uint64_t{i.rs} << 16 | std::uint64_t{i.rt} << 24 |
           std::uint64_t{static_cast<std::uint32_t>(i.imm)} << 32;
}

struct state {
    env_base base;
    std::uint64_t r[8];
    std::uint64_t pc;
    std::uint64_t halted;
    std::uint64_t fault_addr;
    std::uint64_t faults;
    std::uint64_t illegal;
};

inline constexpr std::uint64_t ram_size = 1 << 20;
inline constexpr std::uint64_t console = 0x100000;

// Hooks: a tcg::hook_policy, or void for a translator that has no hook
// code paths at all (the baseline the empty policy must match).
template <class Hooks = void>
class basic_machine {
public:
    explicit basic_machine(engine_options opt = {}) : ram_(ram_size, "toy ram"), eng_(opt) {
        as_.add({"ram", {0}, ram_size, region_kind::ram, ram_.data()});
        as_.add({"console", {console}, page_size, region_kind::mmio, nullptr,
                 mmio_ops{[](void*, std::uint64_t, std::span<std::byte> d) { std::memset(d.data(), 0, d.size()); },
                          [](void* self, std::uint64_t, std::span<const std::byte> d) {
                              static_cast<basic_machine*>(self)->out += static_cast<char>(d[0]);
                          },
                          this}});
        st_.base.mmu = &mmu_;
        st_.base.as = &as_;
        st_.base.owner = this;
        eng_.attach(&st_.base, target_ops{this, &init_globals, &translate, &restore, &key, &mmu_idx});
        reset();
    }

    void reset() {
        std::memset(st_.r, 0, sizeof st_.r);
        st_.pc = st_.halted = st_.fault_addr = st_.faults = st_.illegal = 0;
        st_.base.exit_request = 0;
    }
    void load(std::uint64_t addr, const std::vector<insn>& prog) {
        for (const insn& i : prog) {
            const std::uint64_t w = encode(i);
            std::memcpy(ram_.data() + addr, &w, 8);
            addr += 8;
        }
    }
    // Runs until HALT, a fault or an illegal instruction.
    void run() {
        st_.base.exit_request = 0;
        eng_.run();
    }

    state& cpu() { return st_; }
    engine& eng() { return eng_; }
    std::byte* ram() { return ram_.data(); }
    std::string out;

private:
    static constexpr bool hooked = !std::is_void_v<Hooks>;
    static basic_machine& of(env_base* env) { return *static_cast<basic_machine*>(env->owner); }

    static void port_out(env_base* env, std::uint64_t port, std::uint64_t value) {
        if constexpr (hooked) Hooks::io(env, static_cast<std::uint16_t>(port), 1, true, static_cast<std::uint32_t>(value));
        if (port == 0xe9) of(env).out += static_cast<char>(value);
    }
    static void interrupt(env_base* env, std::uint64_t vector) {
        if constexpr (hooked) Hooks::interrupt(env, static_cast<unsigned>(vector));
        reinterpret_cast<state&>(*env).r[7] = vector;
    }
    static constexpr helper_info h_out = make_helper<&port_out>("out", helper_flag::no_write_globals);
    static constexpr helper_info h_int = make_helper<&interrupt>("int", 0);

    static void init_globals(void*, context& c) {
        for (int i = 0; i < 8; ++i)
            c.global(type::i64, static_cast<std::int32_t>(offsetof(state, r) + 8 * i), "r" + std::to_string(i));
        c.global(type::i64, static_cast<std::int32_t>(offsetof(state, pc)), "pc");
    }
    static temp reg(unsigned i) { return temp{1 + (i & 7)}; }
    static temp pc() { return temp{9}; }

    static void halt(env_base* env) {
        auto& s = reinterpret_cast<state&>(*env);
        s.halted = 1;
        env->exit_request = 1;
    }
    static void illegal(env_base* env) {
        auto& s = reinterpret_cast<state&>(*env);
        s.illegal++;
        env->exit_request = 1;
        cpu_loop_exit(env);
    }
    static constexpr helper_info h_halt = make_helper<&halt>("halt", helper_flag::no_read_globals | helper_flag::no_write_globals);
    static constexpr helper_info h_illegal = make_helper<&illegal>("illegal", 0);

    static void fill(env_base* env, std::uint64_t vaddr, access_type, unsigned mmu_idx, std::uintptr_t retaddr) {
        if (vaddr < ram_size || (vaddr >= console && vaddr < console + page_size)) {
            tlb_set_page(env, vaddr, vaddr, prot::rwx, mmu_idx);
            return;
        }
        auto& s = reinterpret_cast<state&>(*env);
        static_cast<engine*>(env->engine)->restore_state(retaddr);
        s.fault_addr = vaddr;
        s.faults++;
        env->exit_request = 1;
        cpu_loop_exit(env);
    }

    static void restore(void*, env_base* env, const std::uint64_t data[2]) { reinterpret_cast<state&>(*env).pc = data[0]; }
    static tb_key key(void*, const env_base* env) { return tb_key{reinterpret_cast<const state&>(*env).pc, 0, 0, 0}; }
    static unsigned mmu_idx(void*, const tb_key&) { return 0; }

    static void goto_tb(translation& tr, unsigned n, std::uint64_t dest) {
        context& c = tr.ctx();
        if (((dest ^ tr.key().pc) & page_mask) == 0) {
            c.goto_tb(n);
            c.movi(pc(), dest);
            c.exit_tb(tr.exit_value(n));
        } else {
            c.movi(pc(), dest);
            tr.lookup_and_goto_ptr();
        }
    }

    static void translate(void*, translation& tr) {
        context& c = tr.ctx();
        tr.tb_start();
        std::uint64_t at = tr.key().pc;
        for (;;) {
            if (tr.insns() >= tr.max_insns() || (tr.insns() && ((at ^ tr.key().pc) & page_mask))) {
                goto_tb(tr, 0, at);
                break;
            }
            std::uint64_t w;
            tr.fetch(at, &w, 8);
            const insn i{static_cast<std::uint8_t>(w), static_cast<std::uint8_t>(w >> 8), static_cast<std::uint8_t>(w >> 16),
                         static_cast<std::uint8_t>(w >> 24), static_cast<std::int32_t>(w >> 32)};
            tr.insn_start(at);
            if constexpr (hooked) gen_insn_hook<Hooks>(tr, at);
            const std::uint64_t next = at + 8;
            const temp rd = reg(i.rd), rs = reg(i.rs), rt = reg(i.rt);
            const auto imm = static_cast<std::uint64_t>(static_cast<std::int64_t>(i.imm));
            bool end = false;
            switch (i.opc) {
            case HALT:
                c.movi(pc(), next);
                c.call(h_halt, temp{}, std::span<const temp>(std::array{c.env()}));
                c.exit_tb(0);
                end = true;
                break;
            case LI: c.movi(rd, imm); break;
            case ADD: c.add(rd, rs, rt); break;
            case ADDI: c.addi(rd, rs, imm); break;
            case SUB: c.sub(rd, rs, rt); break;
            case MUL: c.binop(opc::mul, rd, rs, rt); break;
            case XOR: c.binop(opc::xor_, rd, rs, rt); break;
            case SHLI: c.binopi(opc::shl, rd, rs, imm); break;
            case SHRI: c.binopi(opc::shr, rd, rs, imm); break;
            case ANDI: c.binopi(opc::and_, rd, rs, imm); break;
            case LD:
            case LDB: {
                const temp a = c.new_temp(type::i64);
                c.addi(a, rs, imm);
                const std::uint32_t mop = i.opc == LD ? memop::uq : memop::ub;
                c.qemu_ld(rd, a, mop, 0);
                if constexpr (hooked) gen_mem_hook<Hooks>(c, a, rd, mop, false);
                break;
            }
            case ST:
            case STB: {
                const temp a = c.new_temp(type::i64);
                c.addi(a, rs, imm);
                const std::uint32_t mop = i.opc == ST ? memop::uq : memop::ub;
                c.qemu_st(rt, a, mop, 0);
                if constexpr (hooked) gen_mem_hook<Hooks>(c, a, rt, mop, true);
                break;
            }
            case BNE: {
                const label taken = c.new_label();
                c.brcond(cond::ne, rs, rt, taken);
                goto_tb(tr, 1, next);
                c.set_label(taken);
                goto_tb(tr, 0, next + imm);
                end = true;
                break;
            }
            case JMP:
                goto_tb(tr, 0, next + imm);
                end = true;
                break;
            case OUT: {
                const temp args[] = {c.env(), c.constant(type::i64, static_cast<std::uint32_t>(i.imm)), rs};
                c.call(h_out, temp{}, args);
                break;
            }
            case INT: {
                const temp args[] = {c.env(), c.constant(type::i64, static_cast<std::uint32_t>(i.imm))};
                c.call(h_int, temp{}, args);
                break;
            }
            case JR:
                c.mov(pc(), rs);
                tr.lookup_and_goto_ptr();
                end = true;
                break;
            default:
                c.movi(pc(), at);
                c.call(h_illegal, temp{}, std::span<const temp>(std::array{c.env()}));
                c.exit_tb(0);
                end = true;
                break;
            }
            at = next;
            if (end) break;
        }
        tr.tb_end();
    }

    host_memory ram_;
    address_space as_;
    softmmu_ops mmu_{&fill, &engine::code_write_cb, &engine::is_code_page_cb};
    state st_{};
    engine eng_;  // last: it refers to the state
};

using machine = basic_machine<>;

// Engine settings for tests: a backend and a small code buffer.
inline engine_options options(backend be) {
    engine_options o;
    o.be = be;
    o.tb_size_mib = 16;
    return o;
}

// r0 = 1 + 2 + ... + n, with a chained loop; then HALT.
inline std::vector<insn> sum_loop(std::int32_t n) {
    return {{LI, 0, 0, 0, 0}, {LI, 1, 0, 0, n}, {ADD, 0, 0, 1, 0}, {ADDI, 1, 1, 0, -1}, {BNE, 0, 1, 2, -24},
            {HALT, 0, 0, 0, 0}};
}

} // namespace qf::tcg::toy
