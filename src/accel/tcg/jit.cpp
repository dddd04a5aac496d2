#include "qf/accel/tcg/jit.hpp"

#include <xbyak/xbyak.h>
#include <xbyak/xbyak_util.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <deque>

namespace qf::tcg {

namespace {

using namespace Xbyak;
using RC = Operand::Code;

constexpr int env_reg = RC::R14;
constexpr int alloc_order[] = {RC::RBX, RC::RBP, RC::R12, RC::R13, RC::R15, RC::RSI,
                               RC::RDI, RC::R8,  RC::R9,  RC::R10, RC::R11};
constexpr int caller_saved_alloc[] = {RC::RSI, RC::RDI, RC::R8, RC::R9, RC::R10, RC::R11};
constexpr int arg_regs[] = {RC::RDI, RC::RSI, RC::RDX, RC::RCX, RC::R8, RC::R9};
constexpr std::uint32_t frame_bytes = jit::frame_slots * 8 + 8;  // keeps rsp 16-aligned
constexpr int no_owner = -1, scratch_owner = -2;

Reg64 r64(int r) { return Reg64(r); }
Reg32 r32(int r) { return Reg32(r); }
Reg reg_of(int r, type t) { return t == type::i64 ? Reg(Reg64(r)) : Reg(Reg32(r)); }
Reg sized(int r, unsigned size_log2) {
    switch (size_log2) {
    case 0: return Reg64(r).cvt8();
    case 1: return Reg64(r).cvt16();
    case 2: return Reg32(r);
    default: return Reg64(r);
    }
}
bool fits_i32(std::uint64_t v) { return static_cast<std::int64_t>(v) == static_cast<std::int32_t>(v); }
bool fits_imm(type t, std::uint64_t v) { return t == type::i32 || fits_i32(v); }

// A memory operand, [base + index * 2^scale + disp], for the emitter's
// direct encoders: building Xbyak's RegExp and Address for each access cost
// more than encoding the instruction.
struct mref {
    int base;
    int index = -1;  // none (never rsp)
    unsigned scale = 0;
    std::int32_t disp = 0;
};
mref at(int base, std::int32_t disp = 0) { return {base, -1, 0, disp}; }

// Xbyak's generic operand checks cost a few hundred host instructions an
// instruction, most of a TB's code generation. The forms the register
// allocator emits most - mov and the ALU group between 32/64-bit registers
// and [base + index*scale + disp] memory, and ALU with an immediate - are
// encoded here directly; anything else goes to Xbyak. The encoders stay out
// of line: inlined at every call site they cost the small binaries 10 KB.
class emitter : public CodeGenerator {
public:
    emitter(std::size_t size, void* rw) : CodeGenerator(size, rw) { setDefaultJmpNEAR(true); }

    using CodeGenerator::add;
    using CodeGenerator::and_;
    using CodeGenerator::cmp;
    using CodeGenerator::mov;
    using CodeGenerator::or_;
    using CodeGenerator::sub;
    using CodeGenerator::xor_;
    void mov(const Operand& d, const Operand& s) {
        if (!rm_form(0x88, d, s)) CodeGenerator::mov(d, s);
    }
    void add(const Operand& d, const Operand& s) {
        if (!rm_form(0x00, d, s)) CodeGenerator::add(d, s);
    }
    void or_(const Operand& d, const Operand& s) {
        if (!rm_form(0x08, d, s)) CodeGenerator::or_(d, s);
    }
    void and_(const Operand& d, const Operand& s) {
        if (!rm_form(0x20, d, s)) CodeGenerator::and_(d, s);
    }
    void sub(const Operand& d, const Operand& s) {
        if (!rm_form(0x28, d, s)) CodeGenerator::sub(d, s);
    }
    void xor_(const Operand& d, const Operand& s) {
        if (!rm_form(0x30, d, s)) CodeGenerator::xor_(d, s);
    }
    void cmp(const Operand& d, const Operand& s) {
        if (!rm_form(0x38, d, s)) CodeGenerator::cmp(d, s);
    }
    void add(const Operand& d, std::uint32_t imm) {
        if (!alu_imm(0, d, imm)) CodeGenerator::add(d, imm);
    }
    void or_(const Operand& d, std::uint32_t imm) {
        if (!alu_imm(1, d, imm)) CodeGenerator::or_(d, imm);
    }
    void and_(const Operand& d, std::uint32_t imm) {
        if (!alu_imm(4, d, imm)) CodeGenerator::and_(d, imm);
    }
    void sub(const Operand& d, std::uint32_t imm) {
        if (!alu_imm(5, d, imm)) CodeGenerator::sub(d, imm);
    }
    void xor_(const Operand& d, std::uint32_t imm) {
        if (!alu_imm(6, d, imm)) CodeGenerator::xor_(d, imm);
    }
    void cmp(const Operand& d, std::uint32_t imm) {
        if (!alu_imm(7, d, imm)) CodeGenerator::cmp(d, imm);
    }
    // The shortest of mov r32, imm32 (zero-extends), mov r64, simm32 and
    // mov r64, imm64, as Xbyak picks.
    [[gnu::noinline]] void mov(const Operand& d, std::uint64_t imm) {
        if (!room() || !gpr(d)) return CodeGenerator::mov(d, imm);
        const unsigned r = d.getIdx();
        const bool wide = d.getBit() == 64;
        if (!wide || imm <= 0xffff'ffffu) {
            rex(false, 0, 0, r);
            put(static_cast<std::uint8_t>(0xb8 | (r & 7)));
            put32(static_cast<std::uint32_t>(imm));
        } else if (static_cast<std::int64_t>(imm) == static_cast<std::int32_t>(imm)) {
            rex(true, 0, 0, r);
            put(0xc7);
            put(static_cast<std::uint8_t>(0xc0 | (r & 7)));
            put32(static_cast<std::uint32_t>(imm));
        } else {
            rex(true, 0, 0, r);
            put(static_cast<std::uint8_t>(0xb8 | (r & 7)));
            put32(static_cast<std::uint32_t>(imm));
            put32(static_cast<std::uint32_t>(imm >> 32));
        }
    }
    using CodeGenerator::rol;
    using CodeGenerator::ror;
    using CodeGenerator::sar;
    using CodeGenerator::shl;
    using CodeGenerator::shr;
    void rol(const Operand& d, int n) { shift(0, d, n); }
    void ror(const Operand& d, int n) { shift(1, d, n); }
    void shl(const Operand& d, int n) { shift(4, d, n); }
    void shr(const Operand& d, int n) { shift(5, d, n); }
    void sar(const Operand& d, int n) { shift(7, d, n); }
    void db(std::uint8_t b) {
        if (!room()) return CodeGenerator::db(b);
        put(b);
    }
    void dd(std::uint32_t v) {
        if (!room()) {
            for (int i = 0; i < 4; ++i) CodeGenerator::db(static_cast<int>((v >> (8 * i)) & 0xff));
            return;
        }
        put32(v);
    }

    // Loads and stores through an mref. bits is the access's width; a
    // load of 8 or 16 bits zero- or sign-extends (movzx into 32 bits, movsx
    // into 32 or 64).
    void load(int r, unsigned bits, const mref& m) {
        if (!room()) return CodeGenerator::mov(bits == 64 ? Reg(Reg64(r)) : Reg(Reg32(r)), xaddr(m, bits));
        mem_insn(false, bits == 64, 0x8b, static_cast<unsigned>(r), m);
    }
    void load_zx(int r, unsigned bits, const mref& m) {
        if (!room()) return CodeGenerator::movzx(Reg32(r), xaddr(m, bits));
        mem_insn(false, false, bits == 8 ? 0x0fb6 : 0x0fb7, static_cast<unsigned>(r), m);
    }
    void load_sx(int r, bool to64, unsigned bits, const mref& m) {
        const Reg d = to64 ? Reg(Reg64(r)) : Reg(Reg32(r));
        if (!room()) return bits == 32 ? CodeGenerator::movsxd(Reg64(r), xaddr(m, 32)) : CodeGenerator::movsx(d, xaddr(m, bits));
        mem_insn(false, to64, bits == 8 ? 0x0fbe : bits == 16 ? 0x0fbf : 0x63, static_cast<unsigned>(r), m);
    }
    void store(const mref& m, int r, unsigned bits) {
        if (!room()) return CodeGenerator::mov(xaddr(m, bits), sized(r, bits == 8 ? 0 : bits == 16 ? 1 : bits == 32 ? 2 : 3));
        mem_insn(bits == 16, bits == 64, bits == 8 ? 0x88 : 0x89, static_cast<unsigned>(r), m, bits == 8);
    }
    // mov [m], imm: 8, 16 or 32 bits, or 64 from a sign-extended imm32.
    void store_imm(const mref& m, unsigned bits, std::uint32_t imm) {
        if (!room()) {
            // Xbyak checks the immediate against the operand's width.
            const std::uint64_t v = bits == 8 ? imm & 0xff : bits == 16 ? imm & 0xffff : bits == 32 ? imm
                                  : std::uint64_t(std::int64_t(std::int32_t(imm)));
            return CodeGenerator::mov(xaddr(m, bits), v);
        }
        mem_insn(bits == 16, bits == 64, bits == 8 ? 0xc6 : 0xc7, 0, m);
        if (bits == 8) put(static_cast<std::uint8_t>(imm));
        else if (bits == 16) {
            put(static_cast<std::uint8_t>(imm));
            put(static_cast<std::uint8_t>(imm >> 8));
        } else {
            put32(imm);
        }
    }
    // op r, [m] of the ALU group (0x03 add, 0x23 and, 0x3b cmp, ...), and lea.
    void alu_load(std::uint8_t op, int r, bool w, const mref& m) {
        if (!room() || !mem_insn(false, w, op, static_cast<unsigned>(r), m))
            rm_fallback(op, r, w, m);
    }
    void lea(int r, bool w, const mref& m) {
        if (!room()) return CodeGenerator::lea(w ? Reg(Reg64(r)) : Reg(Reg32(r)), xaddr(m, 0));
        mem_insn(false, w, 0x8d, static_cast<unsigned>(r), m);
    }

private:
    // Xbyak's operand for an mref, where the direct encoders leave off
    // (near the buffer's end, where Xbyak reports the overflow).
    Address xaddr(const mref& m, unsigned bits) {
        RegExp e = Reg64(m.base) + m.disp;
        if (m.index >= 0) e = e + Reg64(m.index) * (1 << m.scale);
        switch (bits) {
        case 8: return byte[e];
        case 16: return word[e];
        case 32: return dword[e];
        case 64: return qword[e];
        default: return ptr[e];
        }
    }
    void rm_fallback(std::uint8_t op, int r, bool w, const mref& m) {
        const Reg d = w ? Reg(Reg64(r)) : Reg(Reg32(r));
        const Address a = xaddr(m, w ? 64 : 32);
        switch (op) {
        case 0x03: return CodeGenerator::add(d, a);
        case 0x0b: return CodeGenerator::or_(d, a);
        case 0x23: return CodeGenerator::and_(d, a);
        case 0x2b: return CodeGenerator::sub(d, a);
        case 0x33: return CodeGenerator::xor_(d, a);
        case 0x3b: return CodeGenerator::cmp(d, a);
        default: return CodeGenerator::mov(d, a);
        }
    }
    // [66] [REX] opcode (one byte, or 0x0fXX) ModRM [SIB] [disp] with reg
    // in ModRM.reg; byte_reg: an 8-bit register, where 4-7 need a REX to
    // mean spl..dil.
    bool mem_insn(bool p66, bool w, std::uint32_t opcode, unsigned reg, const mref& m, bool byte_reg = false) {
        const auto b = static_cast<unsigned>(m.base);
        const unsigned x = m.index >= 0 ? static_cast<unsigned>(m.index) : 4;
        if (p66) put(0x66);
        const unsigned v = (w ? 8 : 0) | (reg >> 3) << 2 | (m.index >= 0 ? (x >> 3) << 1 : 0) | (b >> 3);
        if (v || (byte_reg && reg >= 4)) put(static_cast<std::uint8_t>(0x40 | v));
        if (opcode > 0xff) put(static_cast<std::uint8_t>(opcode >> 8));
        put(static_cast<std::uint8_t>(opcode));
        const unsigned mod = m.disp == 0 && (b & 7) != 5 ? 0 : m.disp == static_cast<std::int8_t>(m.disp) ? 1 : 2;
        const bool sib = m.index >= 0 || (b & 7) == 4;
        put(static_cast<std::uint8_t>(mod << 6 | (reg & 7) << 3 | (sib ? 4 : (b & 7))));
        if (sib) put(static_cast<std::uint8_t>(m.scale << 6 | (x & 7) << 3 | (b & 7)));
        if (mod == 1) put(static_cast<std::uint8_t>(m.disp));
        else if (mod == 2) put32(static_cast<std::uint32_t>(m.disp));
        return true;
    }

    static bool gpr(const Operand& o) { return o.isREG(32 | 64); }
    bool room() const { return size_ + 16 <= maxSize_; }
    void put(std::uint8_t b) { top_[size_++] = b; }
    void put32(std::uint32_t v) {
        std::memcpy(top_ + size_, &v, 4);
        size_ += 4;
    }

    // op r/m, r (op | 1) or op r, r/m (op | 3) for 32/64-bit operands.
    [[gnu::noinline]] bool rm_form(std::uint8_t op, const Operand& d, const Operand& s) {
        if (!room()) return false;
        if (gpr(d) && gpr(s) && d.getBit() == s.getBit()) {
            rex(d.getBit() == 64, s.getIdx(), 0, d.getIdx());
            put(op | 1);
            put(static_cast<std::uint8_t>(0xc0 | (s.getIdx() & 7) << 3 | (d.getIdx() & 7)));
            return true;
        }
        if (gpr(d) && s.isMEM()) return mem_form(op | 3, d.getIdx(), d.getBit() == 64, static_cast<const Address&>(s));
        if (d.isMEM() && gpr(s)) return mem_form(op | 1, s.getIdx(), s.getBit() == 64, static_cast<const Address&>(d));
        return false;
    }
    // D1 /ext (by 1) or C1 /ext ib on a 32/64-bit register.
    [[gnu::noinline]] void shift(unsigned ext, const Operand& d, int n) {
        if (!room() || !gpr(d)) {
            switch (ext) {
            case 0: return CodeGenerator::rol(d, n);
            case 1: return CodeGenerator::ror(d, n);
            case 4: return CodeGenerator::shl(d, n);
            case 5: return CodeGenerator::shr(d, n);
            default: return CodeGenerator::sar(d, n);
            }
        }
        rex(d.getBit() == 64, 0, 0, d.getIdx());
        put(n == 1 ? 0xd1 : 0xc1);
        put(static_cast<std::uint8_t>(0xc0 | ext << 3 | (d.getIdx() & 7)));
        if (n != 1) put(static_cast<std::uint8_t>(n));
    }
    // 83 /ext ib or 81 /ext id on a 32/64-bit register.
    [[gnu::noinline]] bool alu_imm(unsigned ext, const Operand& d, std::uint32_t imm) {
        if (!room() || !gpr(d)) return false;
        const bool small = static_cast<std::int32_t>(imm) == static_cast<std::int8_t>(imm);
        rex(d.getBit() == 64, 0, 0, d.getIdx());
        put(small ? 0x83 : 0x81);
        put(static_cast<std::uint8_t>(0xc0 | ext << 3 | (d.getIdx() & 7)));
        if (small) put(static_cast<std::uint8_t>(imm));
        else put32(imm);
        return true;
    }
    void rex(bool w, unsigned r, unsigned x, unsigned b) {
        const unsigned v = (w ? 8 : 0) | (r >> 3) << 2 | (x >> 3) << 1 | (b >> 3);
        if (v) put(static_cast<std::uint8_t>(0x40 | v));
    }
    // opcode with ModRM (and SIB) for [base + index*scale + disp32].
    [[gnu::noinline]] bool mem_form(std::uint8_t opcode, unsigned reg, bool w, const Address& a) {
        if (a.getMode() != Address::M_ModRM) return false;
        const RegExp e = a.getRegExp(false);
        const Reg& base = e.getBase();
        const Reg& index = e.getIndex();
        if (!base.isREG(64) || (index.getBit() && (!index.isREG(64) || index.getIdx() == RC::RSP))) return false;
        const auto disp = static_cast<std::int64_t>(e.getDisp());
        if (disp != static_cast<std::int32_t>(disp)) return false;
        const unsigned b = base.getIdx(), x = index.getBit() ? index.getIdx() : 4;
        const unsigned scale = e.getScale() == 8 ? 3 : e.getScale() == 4 ? 2 : e.getScale() == 2 ? 1 : 0;
        rex(w, reg, index.getBit() ? x : 0, b);
        put(opcode);
        // rbp/r13 as a base always take a displacement.
        const unsigned mod = disp == 0 && (b & 7) != 5 ? 0 : disp == static_cast<std::int8_t>(disp) ? 1 : 2;
        const bool sib = index.getBit() || (b & 7) == 4;
        put(static_cast<std::uint8_t>(mod << 6 | (reg & 7) << 3 | (sib ? 4 : (b & 7))));
        if (sib) put(static_cast<std::uint8_t>(scale << 6 | (x & 7) << 3 | (b & 7)));
        if (mod == 1) put(static_cast<std::uint8_t>(disp));
        else if (mod == 2) put32(static_cast<std::uint32_t>(disp));
        return true;
    }
};

} // namespace

struct jit::impl {
    code_buffer buf;
    emitter gen;
    std::size_t code_start = 0;  // after the prologue and epilogues
    const std::uint8_t* epilogue = nullptr;       // rw address; rax holds the exit value
    const std::uint8_t* epilogue_zero = nullptr;  // returns 0
    const void* ld_thunk = nullptr;  // executable addresses of the softmmu slow paths' common part
    const void* st_thunk = nullptr;
    bool has_lzcnt, has_bmi1, has_popcnt;

    impl(std::size_t bytes, bool split) : buf(bytes, split), gen(buf.size(), buf.rw()) {
        // Once a process: Xbyak's Cpu runs some thirty CPUIDs, each a trap
        // to the hypervisor when the host is a VM (about 0.1 ms in all).
        static const util::Cpu cpu;
        has_lzcnt = cpu.has(util::Cpu::tLZCNT);
        has_bmi1 = cpu.has(util::Cpu::tBMI1);
        has_popcnt = cpu.has(util::Cpu::tPOPCNT);
        emit_prologue();
    }

    void emit_prologue() {
        gen.reset();
        for (int r : {RC::RBP, RC::RBX, RC::R12, RC::R13, RC::R14, RC::R15}) gen.push(r64(r));
        gen.sub(gen.rsp, frame_bytes);
        gen.mov(r64(env_reg), gen.rdi);
        gen.jmp(gen.rsi);
        gen.align(16);
        epilogue_zero = gen.getCurr();
        gen.xor_(gen.eax, gen.eax);
        epilogue = gen.getCurr();
        gen.add(gen.rsp, frame_bytes);
        for (int r : {RC::R15, RC::R14, RC::R13, RC::R12, RC::RBX, RC::RBP}) gen.pop(r64(r));
        gen.ret();
        gen.align(16);
        emit_slow_thunks();
        code_start = gen.getSize();
    }

    // What every softmmu slow path shares, once: the allocatable
    // caller-saved registers kept around the C++ call, so that a TB's slow
    // path is a few instructions (it was two dozen, a third of a TB's code).
    // ld: rax the address, edx the oi, rcx the resume address (which
    // restore_state maps to the guest instruction); the value comes back in
    // rax. st: rax the address, rdx the value, rcx the resume address, the oi
    // pushed before the call (ret 8 drops it). Generated code runs with rsp
    // 16-aligned; the pads keep it so at the C++ call.
    void emit_slow_thunks() {
        ld_thunk = rx(gen.getCurr());
        for (int r : caller_saved_alloc) gen.push(r64(r));
        gen.sub(gen.rsp, 8);
        gen.mov(gen.rsi, gen.rax);
        gen.mov(gen.rdi, r64(env_reg));
        call(reinterpret_cast<const void*>(&ld_slow));
        gen.add(gen.rsp, 8);
        for (auto it = std::rbegin(caller_saved_alloc); it != std::rend(caller_saved_alloc); ++it) gen.pop(r64(*it));
        gen.ret();
        gen.align(16);
        st_thunk = rx(gen.getCurr());
        for (int r : caller_saved_alloc) gen.push(r64(r));
        gen.mov(gen.r8, gen.rcx);
        gen.mov(gen.ecx, gen.dword[gen.rsp + static_cast<int>(8 * std::size(caller_saved_alloc) + 8)]);
        gen.mov(gen.rsi, gen.rax);
        gen.mov(gen.rdi, r64(env_reg));
        call(reinterpret_cast<const void*>(&st_slow));
        for (auto it = std::rbegin(caller_saved_alloc); it != std::rend(caller_saved_alloc); ++it) gen.pop(r64(*it));
        gen.ret(8);
        gen.align(16);
    }

    const void* rx(const std::uint8_t* rw_ptr) const { return buf.rx_of(reinterpret_cast<const std::byte*>(rw_ptr)); }

    // A call from generated code: rel32 from the executable address when the
    // helper is in reach, else through rax.
    void call(const void* fn) {
        const auto next = reinterpret_cast<std::intptr_t>(rx(gen.getCurr())) + 5;
        const std::intptr_t disp = reinterpret_cast<std::intptr_t>(fn) - next;
        if (disp == static_cast<std::int32_t>(disp)) {
            gen.db(0xE8);
            gen.dd(static_cast<std::uint32_t>(disp));
        } else {
            gen.mov(gen.rax, reinterpret_cast<std::uintptr_t>(fn));
            gen.call(gen.rax);
        }
    }
};

namespace {

// Register allocation and code generation for one TB.
class tb_compiler {
public:
    tb_compiler(jit::impl& j, const context& ctx) : j_(j), g_(j.gen), ctx_(ctx), temps_(ctx.temps()) {
        ts_.clear();
        ts_.resize(temps_.size());
        for (std::size_t i = 0; i < temps_.size(); ++i) {
            switch (temps_[i].kind) {
            case temp_kind::global: ts_[i].w = where::mem; break;
            case temp_kind::constant: ts_[i].w = where::konst; break;
            case temp_kind::fixed: ts_[i].w = where::fixed; break;
            default: ts_[i].w = where::dead;
            }
        }
        std::fill(std::begin(owner_), std::end(owner_), no_owner);
        nb_labels_ = ctx.nb_labels();
        if (labels_.size() < nb_labels_) labels_.resize(nb_labels_);
        for (std::size_t i = 0; i < nb_labels_; ++i) labels_[i].reset();
        free_slots_.clear();
        ebb_with_slot_.clear();
    }

    host_code run() {
        const std::size_t start = g_.getSize();
        start_ = start;
        for (const op& o : ctx_.ops()) {
            try {
                emit(o);
            } catch (const overflow&) {
                throw;
            } catch (const error& e) {
                throw error(std::string(e.what()) + " at op:" + format_op(ctx_, o));
            } catch (const Xbyak::Error& e) {
                if (static_cast<int>(e) == ERR_CODE_IS_TOO_BIG) throw;
                throw error(std::string("tcg: code generation failed: ") + e.what() + " at op:" + format_op(ctx_, o));
            }
            end_op();
        }
        emit_slow_paths();
        if (unbound_jumps()) throw error("tcg: branch to a label that is never set");
        host_code hc = std::move(out_);
        hc.code = static_cast<const std::byte*>(j_.rx(g_.getCode() + start));
        hc.size = static_cast<std::uint32_t>(g_.getSize() - start);
        return hc;
    }

private:
    enum class where : std::uint8_t { dead, reg, mem, konst, fixed };
    struct tstate {
        where w = where::dead;
        std::int8_t reg = -1;
        bool coherent = true;  // memory copy is current (globals, spilled temps)
        std::int16_t slot = -1;
    };
    // A branch target in this TB's code: its offset once placed, and the
    // rel32 fields waiting for it. (Xbyak's labels keep hash maps whose
    // clearing, once per TB, cost more than the rest of the code generation.)
    struct jlabel {
        std::int64_t at = -1;
        std::vector<std::uint32_t> fixups;
        void reset() {
            at = -1;
            fixups.clear();
        }
    };
    void patch_rel32(std::size_t field, std::int64_t target) {
        const auto rel = static_cast<std::int32_t>(target - static_cast<std::int64_t>(field + 4));
        std::memcpy(g_.getCode<std::uint8_t*>() + field, &rel, 4);
    }
    void bind(jlabel& l) {
        l.at = static_cast<std::int64_t>(g_.getSize());
        for (std::uint32_t f : l.fixups) patch_rel32(f, l.at);
        l.fixups.clear();
    }
    // jmp rel32 (cc < 0) or jcc rel32 with x86 condition nibble cc.
    void jump(jlabel& l, int cc = -1) {
        if (cc < 0) {
            g_.db(0xe9);
        } else {
            g_.db(0x0f);
            g_.db(0x80 | cc);
        }
        const std::size_t field = g_.getSize();
        g_.dd(0);
        if (l.at >= 0) patch_rel32(field, l.at);
        else l.fixups.push_back(static_cast<std::uint32_t>(field));
    }
    // lea r64, [rip + label], for a label already placed.
    void lea_label(int r, const jlabel& l) {
        g_.db(static_cast<std::uint8_t>(0x48 | (r >= 8 ? 4 : 0)));
        g_.db(0x8d);
        g_.db(static_cast<std::uint8_t>(((r & 7) << 3) | 5));
        const std::size_t field = g_.getSize();
        g_.dd(0);
        patch_rel32(field, l.at);
    }
    bool unbound_jumps() const {
        for (std::size_t i = 0; i < nb_labels_; ++i)
            if (!labels_[i].fixups.empty()) return true;
        for (std::size_t i = 0; i < nb_slow_; ++i)
            if (!slow_[i].entry.fixups.empty() || !slow_[i].resume.fixups.empty()) return true;
        return false;
    }

    struct slow_path {
        bool load;
        bool guard = false;  // a guard op's helper call rather than a softmmu access
        const helper_info* helper = nullptr;
        type ty;
        int addr, val, out;
        bool val_imm;
        std::uint64_t imm;
        std::uint32_t oi;
        jlabel entry, resume;
    };

    jit::impl& j_;
    emitter& g_;
    const context& ctx_;
    const std::vector<temp_info>& temps_;
    // The containers keep their capacity from TB to TB on each thread (a
    // TB's allocations cost more than its register allocation).
    struct scratch {
        std::vector<tstate> ts;
        std::vector<jlabel> labels;
        std::deque<slow_path> slow;  // stable references while paths are added
        std::vector<std::int16_t> free_slots;
        std::vector<std::uint64_t> ebb_with_slot;
    };
    static scratch& scratch_space() {
        thread_local scratch s;
        return s;
    }
    scratch& scratch_ = scratch_space();
    std::vector<tstate>& ts_ = scratch_.ts;
    int owner_[16];
    std::uint16_t locked_ = 0;
    std::uint16_t scratch_regs_ = 0;  // given to constants in this op
    std::vector<jlabel>& labels_ = scratch_.labels;
    std::size_t nb_labels_ = 0;
    std::deque<slow_path>& slow_ = scratch_.slow;
    std::size_t nb_slow_ = 0;
    slow_path& new_slow_path() {
        if (nb_slow_ == slow_.size()) slow_.emplace_back();
        slow_path& sp = slow_[nb_slow_++];
        sp.guard = false;
        sp.helper = nullptr;
        sp.entry.reset();
        sp.resume.reset();
        return sp;
    }
    std::vector<std::int16_t>& free_slots_ = scratch_.free_slots;
    std::int16_t next_slot_ = 0;
    bool unreachable_ = false;
    std::size_t start_ = 0;
    host_code out_;

    // ---- temps and registers ------------------------------------------------

    bool is_const(std::uint64_t t) const { return temps_[t].kind == temp_kind::constant; }
    std::uint64_t value(std::uint64_t t) const { return temps_[t].value; }

    std::int16_t alloc_slot() {
        if (!free_slots_.empty()) {
            auto s = free_slots_.back();
            free_slots_.pop_back();
            return s;
        }
        if (next_slot_ >= static_cast<std::int16_t>(jit::frame_slots))
            throw overflow("tcg: TB needs more than " + std::to_string(jit::frame_slots) + " stack slots");
        return next_slot_++;
    }

    // Where t lives in memory: its env field (a global) or its stack slot.
    mref mem_of(std::uint64_t t) {
        const temp_info& ti = temps_[t];
        if (ti.kind == temp_kind::global) return at(env_reg, ti.offset);
        if (ts_[t].slot < 0) {
            ts_[t].slot = alloc_slot();
            if (ti.kind == temp_kind::ebb) ebb_with_slot_.push_back(t);
        }
        return at(RC::RSP, ts_[t].slot * 8);
    }
    unsigned mem_bits(std::uint64_t t) const {
        return temps_[t].kind == temp_kind::global && temps_[t].ty == type::i32 ? 32 : 64;
    }
    void store(std::uint64_t t, int r) { g_.store(mem_of(t), r, mem_bits(t)); }
    void load_mem(int r, std::uint64_t t) { g_.load(r, mem_bits(t), mem_of(t)); }
    void movi(int r, type t, std::uint64_t v) {
        if (v == 0) g_.xor_(r32(r), r32(r));
        else if (t == type::i32 || v <= 0xffff'ffffu) g_.mov(r32(r), static_cast<std::uint32_t>(v));
        else g_.mov(r64(r), v);
    }

    void lock(int r) { locked_ |= static_cast<std::uint16_t>(1u << r); }

    void spill_reg(int r) {
        const int t = owner_[r];
        if (t >= 0) {
            tstate& s = ts_[t];
            if (!s.coherent) store(static_cast<std::uint64_t>(t), r);
            s.coherent = true;
            s.w = where::mem;
            s.reg = -1;
        }
        owner_[r] = no_owner;
    }

    int alloc(std::uint16_t avoid = 0) {
        const std::uint16_t busy = avoid | locked_;
        for (int r : alloc_order)
            if (owner_[r] == no_owner && !(busy & (1u << r))) {
                lock(r);
                return r;
            }
        // A register whose value is also in memory (a global already
        // synced, a temp reloaded) costs nothing to give up; only then one
        // that must be stored first (the first in order was often the temp
        // just loaded, stored at once to the stack and loaded back).
        int victim = -1;
        for (int r : alloc_order)
            if (owner_[r] >= 0 && !(busy & (1u << r))) {
                if (ts_[static_cast<std::size_t>(owner_[r])].coherent) {
                    victim = r;
                    break;
                }
                if (victim < 0) victim = r;
            }
        if (victim < 0) throw error("tcg: out of host registers");
        spill_reg(victim);
        lock(victim);
        return victim;
    }

    // The temp in a host register (locked for this op). Constants get a
    // scratch register of their own.
    int reg(std::uint64_t t) {
        tstate& s = ts_[t];
        switch (s.w) {
        case where::fixed: return env_reg;
        case where::reg: lock(s.reg); return s.reg;
        case where::konst: {
            const int r = alloc();
            owner_[r] = scratch_owner;
            scratch_regs_ |= static_cast<std::uint16_t>(1u << r);
            movi(r, temps_[t].ty, value(t));
            return r;
        }
        case where::dead:
            if (temps_[t].kind != temp_kind::tb) throw error("tcg: read of a temp that holds no value");
            [[fallthrough]];  // a TB temp reached through a backward branch: its slot holds it
        case where::mem: {
            const int r = alloc();
            load_mem(r, t);
            s.w = where::reg;
            s.reg = static_cast<std::int8_t>(r);
            s.coherent = true;
            owner_[r] = static_cast<int>(t);
            return r;
        }
        }
        return -1;
    }

    void release(std::uint64_t t) {
        tstate& s = ts_[t];
        if (s.w == where::reg) {
            owner_[s.reg] = no_owner;
            s.reg = -1;
        }
        switch (temps_[t].kind) {
        case temp_kind::global: s.w = where::mem; s.coherent = true; break;
        case temp_kind::ebb:
            if (s.slot >= 0) free_slots_.push_back(s.slot);
            s.slot = -1;
            s.w = where::dead;
            break;
        case temp_kind::tb: s.w = where::dead; break;
        default: break;
        }
    }

    void sync(std::uint64_t t) {
        tstate& s = ts_[t];
        if (s.w == where::reg && !s.coherent) {
            store(t, s.reg);
            s.coherent = true;
        }
    }
    // Only a global in a register can differ from its memory copy: look at
    // the 16 owners, not at every global.
    bool is_global(int owner) const { return owner > 0 && static_cast<std::uint32_t>(owner) < ctx_.nb_globals(); }
    void sync_globals() {
        for (int r = 0; r < 16; ++r)
            if (is_global(owner_[r])) sync(static_cast<std::uint64_t>(owner_[r]));
    }
    void sync_all() {
        for (int r = 0; r < 16; ++r)
            if (owner_[r] >= 0) {
                const auto t = static_cast<std::uint64_t>(owner_[r]);
                if (temps_[t].kind != temp_kind::ebb) sync(t);
            }
    }
    // The state every path into a label agrees on: globals and TB temps in
    // memory, EBB temps gone.
    // Only temps in registers and EBB temps with a stack slot differ from
    // that state (a TB has hundreds of temps and a label every few ops, so
    // this does not walk them all).
    void canonicalize() {
        auto settle = [&](std::uint64_t t) {
            tstate& s = ts_[t];
            switch (temps_[t].kind) {
            case temp_kind::global: s = {where::mem, -1, true, -1}; break;
            case temp_kind::tb: s.w = s.slot >= 0 ? where::mem : where::dead; s.reg = -1; s.coherent = true; break;
            case temp_kind::ebb:
                if (s.slot >= 0) free_slots_.push_back(s.slot);
                s = {};
                break;
            default: break;
            }
        };
        for (int r = 0; r < 16; ++r)
            if (owner_[r] >= 0) {
                settle(static_cast<std::uint64_t>(owner_[r]));
                owner_[r] = no_owner;
            }
        for (std::uint64_t t : ebb_with_slot_)
            if (ts_[t].slot >= 0) settle(t);
        ebb_with_slot_.clear();
    }
    std::vector<std::uint64_t>& ebb_with_slot_ = scratch_.ebb_with_slot;  // EBB temps given a slot since the last label (some since released)

    // Takes over the register of input argument `arg` if it dies here.
    int take_dead(const op& o, unsigned arg) {
        const std::uint64_t t = o.args[arg];
        if (!o.arg_dead(arg) || ts_[t].w != where::reg) return -1;
        const int r = ts_[t].reg;
        release(t);
        lock(r);
        return r;
    }
    // A destination register holding a copy of input `arg` (taken over when it dies).
    int dest_from(const op& o, unsigned arg, int src, type t, std::uint16_t avoid = 0) {
        int d = take_dead(o, arg);
        if (d >= 0) return d;
        d = alloc(avoid);
        g_.mov(reg_of(d, t), reg_of(src, t));
        return d;
    }

    void set_output(const op& o, unsigned i, int r) {
        const std::uint64_t t = o.args[i];
        tstate& s = ts_[t];
        if (s.w == where::reg && s.reg != r) owner_[s.reg] = no_owner;
        owner_[r] = static_cast<int>(t);
        s.w = where::reg;
        s.reg = static_cast<std::int8_t>(r);
        s.coherent = false;
        pending_dead_outputs_ |= o.arg_dead(i) ? (1u << i) : 0;
        pending_op_ = &o;
    }
    unsigned pending_dead_outputs_ = 0;
    const op* pending_op_ = nullptr;
    const op* cur_ = nullptr;

    void end_op() {
        if (cur_) {
            const op& o = *cur_;
            for (unsigned i = o.nb_o; i < unsigned(o.nb_o) + o.nb_i; ++i) {
                const std::uint64_t t = o.args[i];
                if (!o.arg_dead(i) || is_const(t) || temps_[t].kind == temp_kind::fixed) continue;
                bool also_output = false;
                for (unsigned k = 0; k < o.nb_o; ++k) also_output |= o.args[k] == t;
                if (!also_output) release(t);
            }
            for (unsigned i = 0; i < o.nb_o; ++i)
                if (pending_dead_outputs_ & (1u << i)) release(o.args[i]);
        }
        pending_dead_outputs_ = 0;
        for (; scratch_regs_; scratch_regs_ &= static_cast<std::uint16_t>(scratch_regs_ - 1)) {
            const int r = std::countr_zero(scratch_regs_);
            if (owner_[r] == scratch_owner) owner_[r] = no_owner;
        }
        locked_ = 0;
        cur_ = nullptr;
    }

    // ---- conditions ----------------------------------------------------------

    void jcc(cond c, jlabel& l) {
        switch (c) {
        case cond::never: break;
        case cond::always: jump(l); break;
        case cond::eq: jump(l, 0x4); break;
        case cond::ne: jump(l, 0x5); break;
        case cond::lt: jump(l, 0xc); break;
        case cond::ge: jump(l, 0xd); break;
        case cond::le: jump(l, 0xe); break;
        case cond::gt: jump(l, 0xf); break;
        case cond::ltu: jump(l, 0x2); break;
        case cond::geu: jump(l, 0x3); break;
        case cond::leu: jump(l, 0x6); break;
        case cond::gtu: jump(l, 0x7); break;
        }
    }
    void setcc(cond c, const Reg8& r) {
        switch (c) {
        case cond::never: g_.mov(r, 0); break;
        case cond::always: g_.mov(r, 1); break;
        case cond::eq: g_.sete(r); break;
        case cond::ne: g_.setne(r); break;
        case cond::lt: g_.setl(r); break;
        case cond::ge: g_.setge(r); break;
        case cond::le: g_.setle(r); break;
        case cond::gt: g_.setg(r); break;
        case cond::ltu: g_.setb(r); break;
        case cond::geu: g_.setae(r); break;
        case cond::leu: g_.setbe(r); break;
        case cond::gtu: g_.seta(r); break;
        }
    }
    void cmovcc(cond c, const Reg& d, const Reg& s) {
        switch (c) {
        case cond::never: break;
        case cond::always: g_.mov(d, s); break;
        case cond::eq: g_.cmove(d, s); break;
        case cond::ne: g_.cmovne(d, s); break;
        case cond::lt: g_.cmovl(d, s); break;
        case cond::ge: g_.cmovge(d, s); break;
        case cond::le: g_.cmovle(d, s); break;
        case cond::gt: g_.cmovg(d, s); break;
        case cond::ltu: g_.cmovb(d, s); break;
        case cond::geu: g_.cmovae(d, s); break;
        case cond::leu: g_.cmovbe(d, s); break;
        case cond::gtu: g_.cmova(d, s); break;
        }
    }
    // cmp a, b with b as an immediate where it fits.
    void compare(type t, int ra, std::uint64_t tb) {
        if (is_const(tb) && fits_imm(t, value(tb))) {
            const auto v = value(tb);
            if (v == 0) g_.test(reg_of(ra, t), reg_of(ra, t));
            else g_.cmp(reg_of(ra, t), static_cast<std::uint32_t>(v));
        } else {
            g_.cmp(reg_of(ra, t), reg_of(reg(tb), t));
        }
    }

    // ---- ops -------------------------------------------------------------------

    void emit(const op& o) {
        // Code after br or an exit and before the next label never runs.
        if (unreachable_ && o.code != opc::set_label) return;
        cur_ = &o;
        const type t = o.ty;
        switch (o.code) {
        case opc::discard: release(o.args[0]); break;
        case opc::insn_start:
            out_.insns.push_back({static_cast<std::uint32_t>(g_.getSize() - start_), {o.args[0], o.args[1]}});
            break;
        case opc::set_label:
            if (!unreachable_) sync_all();
            canonicalize();
            bind(labels_[o.carg(0)]);
            unreachable_ = false;
            break;
        case opc::br:
            sync_all();
            jump(labels_[o.carg(0)]);
            unreachable_ = true;
            break;
        case opc::brcond: {
            const auto c = static_cast<cond>(o.carg(0));
            const int ra = reg(o.args[0]);
            if (!(is_const(o.args[1]) && fits_imm(t, value(o.args[1])))) reg(o.args[1]);
            sync_all();
            compare(t, ra, o.args[1]);
            jcc(c, labels_[o.carg(1)]);
            break;
        }
        case opc::goto_tb: {
            sync_globals();
            const unsigned n = static_cast<unsigned>(o.carg(0));
            // The rel32 must be 4-aligned so that patching it is one atomic store.
            while ((g_.getSize() + 1) % 4) g_.nop();
            g_.db(0xE9);
            out_.jmp_insn_offset[n] = static_cast<std::uint32_t>(g_.getSize() - start_);
            g_.dd(0);
            out_.jmp_reset_offset[n] = static_cast<std::uint32_t>(g_.getSize() - start_);
            break;
        }
        case opc::exit_tb:
            sync_globals();
            movi(RC::RAX, type::i64, o.carg(0));
            g_.jmp(j_.epilogue);
            unreachable_ = true;
            break;
        case opc::goto_ptr: {
            const int r = reg(o.args[0]);
            sync_globals();
            g_.test(r64(r), r64(r));
            g_.jz(j_.epilogue_zero);
            g_.jmp(r64(r));
            unreachable_ = true;
            break;
        }
        case opc::call: emit_call(o); break;
        case opc::mov: emit_mov(o); break;
        case opc::movi: {
            const int d = alloc();
            movi(d, t, o.args[1]);
            set_output(o, 0, d);
            break;
        }
        case opc::setcond: {
            const int ra = reg(o.args[1]);
            if (!(is_const(o.args[2]) && fits_imm(t, value(o.args[2])))) reg(o.args[2]);
            compare(t, ra, o.args[2]);
            setcc(static_cast<cond>(o.carg(0)), g_.al);
            int d = take_dead(o, 1);
            if (d < 0) d = alloc();
            g_.movzx(r32(d), g_.al);
            set_output(o, 0, d);
            break;
        }
        case opc::movcond: {
            const auto c = static_cast<cond>(o.carg(0));
            const int c1 = reg(o.args[1]);
            if (!(is_const(o.args[2]) && fits_imm(t, value(o.args[2])))) reg(o.args[2]);
            int v1;
            if (is_const(o.args[3])) {
                movi(RC::RCX, t, value(o.args[3]));
                v1 = RC::RCX;
            } else {
                v1 = reg(o.args[3]);
            }
            if (is_const(o.args[4])) movi(RC::RAX, t, value(o.args[4]));
            else g_.mov(reg_of(RC::RAX, t), reg_of(reg(o.args[4]), t));
            compare(t, c1, o.args[2]);
            cmovcc(c, reg_of(RC::RAX, t), reg_of(v1, t));
            const int d = alloc();
            g_.mov(reg_of(d, t), reg_of(RC::RAX, t));
            set_output(o, 0, d);
            break;
        }
        case opc::ld: {
            const int base = reg(o.args[1]);
            const int d = alloc();
            load_ext(d, t, static_cast<std::uint32_t>(o.carg(0)), at(base, static_cast<std::int32_t>(o.carg(1))));
            set_output(o, 0, d);
            break;
        }
        case opc::st: {
            const int base = reg(o.args[1]);
            const auto mop = static_cast<std::uint32_t>(o.carg(0));
            store_sized(mop, at(base, static_cast<std::int32_t>(o.carg(1))), o.args[0]);
            break;
        }
        case opc::qemu_ld:
        case opc::qemu_st: emit_guest_mem(o); break;
        case opc::guard: emit_guard(o); break;
        case opc::add:
        case opc::sub:
        case opc::and_:
        case opc::or_:
        case opc::xor_: emit_alu(o); break;
        case opc::mul: emit_mul(o); break;
        case opc::andc:
        case opc::orc: emit_andc_orc(o); break;
        case opc::neg:
        case opc::not_: {
            const int ra = reg(o.args[1]);
            const int d = dest_from(o, 1, ra, t);
            if (o.code == opc::neg) g_.neg(reg_of(d, t));
            else g_.not_(reg_of(d, t));
            set_output(o, 0, d);
            break;
        }
        case opc::shl:
        case opc::shr:
        case opc::sar:
        case opc::rotl:
        case opc::rotr: emit_shift(o); break;
        case opc::muluh:
        case opc::mulsh:
        case opc::mulu2:
        case opc::muls2:
        case opc::divs:
        case opc::divu:
        case opc::rems:
        case opc::remu: emit_rax_rdx(o); break;
        case opc::ext8s:
        case opc::ext8u:
        case opc::ext16s:
        case opc::ext16u:
        case opc::ext32s:
        case opc::ext32u:
        case opc::bswap16:
        case opc::bswap32:
        case opc::bswap64: emit_ext(o); break;
        case opc::extract:
        case opc::sextract: emit_extract(o); break;
        case opc::deposit: emit_deposit(o); break;
        case opc::clz:
        case opc::ctz:
        case opc::ctpop: emit_count(o); break;
        }
    }

    void emit_mov(const op& o) {
        const type t = o.ty;
        const std::uint64_t src = o.args[1];
        if (is_const(src)) {
            const int d = alloc();
            movi(d, t, value(src));
            set_output(o, 0, d);
            return;
        }
        if (o.args[0] == src) return;
        int d = take_dead(o, 1);
        if (d < 0) {
            const int s = reg(src);
            d = alloc();
            g_.mov(reg_of(d, t), reg_of(s, t));
        }
        set_output(o, 0, d);
    }

    void emit_alu(const op& o) {
        const type t = o.ty;
        const std::uint64_t tb = o.args[2];
        int ra = reg(o.args[1]);
        const bool imm = is_const(tb) && fits_imm(t, value(tb));
        int rb = imm ? -1 : reg(tb);
        int d = take_dead(o, 1);
        if (d < 0 && rb >= 0 && (def_of(o.code).flags & op_flag::commutative) && (d = take_dead(o, 2)) >= 0) {
            rb = ra;
        } else if (d < 0) {
            d = alloc();
            g_.mov(reg_of(d, t), reg_of(ra, t));
        }
        const Reg dr = reg_of(d, t);
        if (imm) {
            const auto v = static_cast<std::uint32_t>(value(tb));
            switch (o.code) {
            case opc::add: g_.add(dr, v); break;
            case opc::sub: g_.sub(dr, v); break;
            case opc::and_: g_.and_(dr, v); break;
            case opc::or_: g_.or_(dr, v); break;
            default: g_.xor_(dr, v); break;
            }
        } else {
            const Reg br = reg_of(rb, t);
            switch (o.code) {
            case opc::add: g_.add(dr, br); break;
            case opc::sub: g_.sub(dr, br); break;
            case opc::and_: g_.and_(dr, br); break;
            case opc::or_: g_.or_(dr, br); break;
            default: g_.xor_(dr, br); break;
            }
        }
        set_output(o, 0, d);
    }

    void emit_mul(const op& o) {
        const type t = o.ty;
        const std::uint64_t tb = o.args[2];
        const int ra = reg(o.args[1]);
        if (is_const(tb) && fits_i32(value(tb))) {
            int d = take_dead(o, 1);
            if (d < 0) d = alloc();
            g_.imul(reg_of(d, t), reg_of(ra, t), static_cast<int>(static_cast<std::int32_t>(value(tb))));
            set_output(o, 0, d);
            return;
        }
        int rb = reg(tb);
        int d = take_dead(o, 1);
        if (d < 0 && (d = take_dead(o, 2)) >= 0) {
            rb = ra;
        } else if (d < 0) {
            d = alloc();
            g_.mov(reg_of(d, t), reg_of(ra, t));
        }
        g_.imul(reg_of(d, t), reg_of(rb, t));
        set_output(o, 0, d);
    }

    void emit_andc_orc(const op& o) {
        const type t = o.ty;
        const int ra = reg(o.args[1]);
        if (is_const(o.args[2])) movi(RC::RAX, type::i64, ~value(o.args[2]) & mask_of(t));
        else {
            g_.mov(reg_of(RC::RAX, t), reg_of(reg(o.args[2]), t));
            g_.not_(reg_of(RC::RAX, t));
        }
        const int d = dest_from(o, 1, ra, t);
        if (o.code == opc::andc) g_.and_(reg_of(d, t), reg_of(RC::RAX, t));
        else g_.or_(reg_of(d, t), reg_of(RC::RAX, t));
        set_output(o, 0, d);
    }

    void emit_shift(const op& o) {
        const type t = o.ty;
        const unsigned w = bits_of(t);
        const int ra = reg(o.args[1]);
        const bool imm = is_const(o.args[2]);
        if (!imm) g_.mov(g_.ecx, r32(reg(o.args[2])));
        const int d = dest_from(o, 1, ra, t);
        const Reg dr = reg_of(d, t);
        if (imm) {
            const int n = static_cast<int>(value(o.args[2]) & (w - 1));
            if (n) {
                switch (o.code) {
                case opc::shl: g_.shl(dr, n); break;
                case opc::shr: g_.shr(dr, n); break;
                case opc::sar: g_.sar(dr, n); break;
                case opc::rotl: g_.rol(dr, n); break;
                default: g_.ror(dr, n); break;
                }
            }
        } else {
            switch (o.code) {
            case opc::shl: g_.shl(dr, g_.cl); break;
            case opc::shr: g_.shr(dr, g_.cl); break;
            case opc::sar: g_.sar(dr, g_.cl); break;
            case opc::rotl: g_.rol(dr, g_.cl); break;
            default: g_.ror(dr, g_.cl); break;
            }
        }
        set_output(o, 0, d);
    }

    // mul/div through rdx:rax.
    void emit_rax_rdx(const op& o) {
        const type t = o.ty;
        const unsigned ins = o.nb_o;  // first input index
        const int ra = reg(o.args[ins]);
        int rb;
        if (is_const(o.args[ins + 1])) {
            movi(RC::RCX, t, value(o.args[ins + 1]));
            rb = RC::RCX;
        } else {
            rb = reg(o.args[ins + 1]);
        }
        const Reg a = reg_of(RC::RAX, t), b = reg_of(rb, t);
        g_.mov(a, reg_of(ra, t));
        switch (o.code) {
        case opc::muluh:
        case opc::mulu2: g_.mul(b); break;
        case opc::mulsh:
        case opc::muls2: g_.imul(b); break;
        case opc::divu:
        case opc::remu:
            g_.xor_(g_.edx, g_.edx);
            g_.div(b);
            break;
        default:
            if (t == type::i64) g_.cqo();
            else g_.cdq();
            g_.idiv(b);
            break;
        }
        auto put = [&](unsigned out, int from) {
            const int d = alloc();
            g_.mov(reg_of(d, t), reg_of(from, t));
            set_output(o, out, d);
        };
        switch (o.code) {
        case opc::mulu2:
        case opc::muls2:
            put(0, RC::RAX);
            put(1, RC::RDX);
            break;
        case opc::muluh:
        case opc::mulsh:
        case opc::rems:
        case opc::remu: put(0, RC::RDX); break;
        default: put(0, RC::RAX); break;
        }
    }

    void emit_ext(const op& o) {
        const type t = o.ty;
        const int ra = reg(o.args[1]);
        int d = take_dead(o, 1);
        if (d < 0) d = alloc();
        switch (o.code) {
        case opc::ext8s: g_.movsx(reg_of(d, t), r64(ra).cvt8()); break;
        case opc::ext8u: g_.movzx(r32(d), r64(ra).cvt8()); break;
        case opc::ext16s: g_.movsx(reg_of(d, t), r64(ra).cvt16()); break;
        case opc::ext16u: g_.movzx(r32(d), r64(ra).cvt16()); break;
        case opc::ext32s:
            if (t == type::i64) g_.movsxd(r64(d), r32(ra));
            else g_.mov(r32(d), r32(ra));
            break;
        case opc::ext32u: g_.mov(r32(d), r32(ra)); break;
        case opc::bswap16:
            g_.movzx(r32(d), r64(ra).cvt16());
            g_.rol(r64(d).cvt16(), 8);
            break;
        case opc::bswap32:
            g_.mov(r32(d), r32(ra));
            g_.bswap(r32(d));
            break;
        default:
            if (d != ra) g_.mov(r64(d), r64(ra));
            g_.bswap(r64(d));
            break;
        }
        set_output(o, 0, d);
    }

    void and_mask(const Reg& dr, std::uint64_t m) {
        if (fits_i32(m)) g_.and_(dr, static_cast<std::uint32_t>(m));
        else {
            g_.mov(g_.rcx, m);
            g_.and_(dr, dr.getBit() == 64 ? Reg(g_.rcx) : Reg(g_.ecx));
        }
    }

    void emit_extract(const op& o) {
        const type t = o.ty;
        const unsigned w = bits_of(t);
        const auto pos = static_cast<unsigned>(o.carg(0)), len = static_cast<unsigned>(o.carg(1));
        const int ra = reg(o.args[1]);
        const int d = dest_from(o, 1, ra, t);
        const Reg dr = reg_of(d, t);
        if (o.code == opc::sextract) {
            if (w - pos - len) g_.shl(dr, static_cast<int>(w - pos - len));
            if (w - len) g_.sar(dr, static_cast<int>(w - len));
        } else {
            if (pos) g_.shr(dr, static_cast<int>(pos));
            if (pos + len < w) {
                if (len == 8) g_.movzx(r32(d), r64(d).cvt8());
                else if (len == 16) g_.movzx(r32(d), r64(d).cvt16());
                else if (len == 32) g_.mov(r32(d), r32(d));
                else and_mask(dr, field_mask_of(len));
            }
        }
        set_output(o, 0, d);
    }
    static std::uint64_t field_mask_of(unsigned len) { return len >= 64 ? ~0ull : (1ull << len) - 1; }

    void emit_deposit(const op& o) {
        const type t = o.ty;
        const auto pos = static_cast<unsigned>(o.carg(0)), len = static_cast<unsigned>(o.carg(1));
        const std::uint64_t fm = (field_mask_of(len) << pos) & mask_of(t);
        const int ra = reg(o.args[1]);
        const Reg rax = reg_of(RC::RAX, t);
        if (is_const(o.args[2])) {
            movi(RC::RAX, t, (value(o.args[2]) << pos) & fm);
        } else {
            g_.mov(rax, reg_of(reg(o.args[2]), t));
            if (pos) g_.shl(rax, static_cast<int>(pos));
            and_mask(rax, fm);
        }
        const int d = dest_from(o, 1, ra, t);
        and_mask(reg_of(d, t), ~fm & mask_of(t));
        g_.or_(reg_of(d, t), rax);
        set_output(o, 0, d);
    }

    void emit_count(const op& o) {
        const type t = o.ty;
        const unsigned w = bits_of(t);
        const int ra = reg(o.args[1]);
        const Reg rax = reg_of(RC::RAX, t);
        if (o.code == opc::ctpop) {
            if (j_.has_popcnt) {
                g_.popcnt(rax, reg_of(ra, t));
            } else {  // SWAR on a zero-extended value
                g_.mov(g_.rax, r64(ra));
                g_.mov(g_.rcx, g_.rax);
                g_.shr(g_.rcx, 1);
                g_.mov(g_.rdx, 0x5555555555555555ull);
                g_.and_(g_.rcx, g_.rdx);
                g_.sub(g_.rax, g_.rcx);
                g_.mov(g_.rdx, 0x3333333333333333ull);
                g_.mov(g_.rcx, g_.rax);
                g_.and_(g_.rax, g_.rdx);
                g_.shr(g_.rcx, 2);
                g_.and_(g_.rcx, g_.rdx);
                g_.add(g_.rax, g_.rcx);
                g_.mov(g_.rcx, g_.rax);
                g_.shr(g_.rcx, 4);
                g_.add(g_.rax, g_.rcx);
                g_.mov(g_.rdx, 0x0f0f0f0f0f0f0f0full);
                g_.and_(g_.rax, g_.rdx);
                g_.mov(g_.rdx, 0x0101010101010101ull);
                g_.imul(g_.rax, g_.rdx);
                g_.shr(g_.rax, 56);
            }
        } else {
            const bool clz = o.code == opc::clz;
            // The value for a zero input, in rcx.
            if (is_const(o.args[2])) movi(RC::RCX, t, value(o.args[2]));
            else g_.mov(reg_of(RC::RCX, t), reg_of(reg(o.args[2]), t));
            if (clz ? j_.has_lzcnt : j_.has_bmi1) {
                if (clz) g_.lzcnt(rax, reg_of(ra, t));
                else g_.tzcnt(rax, reg_of(ra, t));
                g_.cmovc(rax, reg_of(RC::RCX, t));  // CF: the input was zero
            } else {
                jlabel zero, done;
                if (clz) g_.bsr(rax, reg_of(ra, t));
                else g_.bsf(rax, reg_of(ra, t));
                jump(zero, 0x4);  // jz
                if (clz) g_.xor_(rax, static_cast<std::uint32_t>(w - 1));
                jump(done);
                bind(zero);
                g_.mov(rax, reg_of(RC::RCX, t));
                bind(done);
            }
        }
        int d = take_dead(o, 1);
        if (d < 0) d = alloc();
        g_.mov(reg_of(d, t), rax);
        set_output(o, 0, d);
    }

    void load_ext(int d, type t, std::uint32_t mop, const mref& m) {
        switch (mop & 7) {
        case memop::ub: g_.load_zx(d, 8, m); break;
        case memop::uw: g_.load_zx(d, 16, m); break;
        case memop::ul: g_.load(d, 32, m); break;
        case memop::sb: g_.load_sx(d, t == type::i64, 8, m); break;
        case memop::sw: g_.load_sx(d, t == type::i64, 16, m); break;
        case memop::sl:
            if (t == type::i64) g_.load_sx(d, true, 32, m);
            else g_.load(d, 32, m);
            break;
        default: g_.load(d, 64, m); break;
        }
    }
    void store_sized(std::uint32_t mop, const mref& m, std::uint64_t val, int loaded = -1) {
        const unsigned bits = 8u << memop::size_log2(mop);
        if (loaded < 0 && is_const(val) && (bits < 64 || fits_i32(value(val)))) {
            g_.store_imm(m, bits, static_cast<std::uint32_t>(value(val)));  // 64 bits: sign-extended imm32
            return;
        }
        g_.store(m, loaded >= 0 ? loaded : reg(val), bits);
    }

    void emit_guest_mem(const op& o) {
        const bool load = o.code == opc::qemu_ld;
        const type t = o.ty;
        const auto oi = static_cast<std::uint32_t>(o.carg(0));
        const std::uint32_t mop = memop::op_of(oi);
        const unsigned size = memop::size(mop);
        const unsigned mmu = memop::mmu_of(oi);
        // A fault unwinds to the cpu loop, which reads the globals from env.
        sync_globals();
        const int ra = reg(o.args[1]);  // the address: qemu_ld's input, qemu_st's second
        slow_path& sp = new_slow_path();
        sp.load = load;
        sp.ty = t;
        sp.addr = ra;
        sp.oi = oi;
        sp.val = -1;
        sp.val_imm = false;
        sp.imm = 0;
        sp.out = -1;
        int rv = -1;
        if (!load) {
            const std::uint64_t val = o.args[0];
            if (is_const(val) && (memop::size_log2(mop) < 3 || fits_i32(value(val)))) {
                sp.val_imm = true;
                sp.imm = value(val);
            } else {
                rv = reg(val);
                sp.val = rv;
            }
        }
        int d = -1;
        if (load) {
            d = alloc();
            sp.out = d;
        }
        // Fast path: tag compare against the TLB entry, then add the addend.
        // Nothing below may allocate: a spill here would not happen on the
        // slow path, and the allocator's view would be wrong after resume.
        // The entry: (fold(page number) << 5 & mask) + table, both from env
        // (the table's size follows the guest's load).
        const std::int32_t fast = tlb_fast_offset(mmu);
        const std::int32_t cmp_off = load ? static_cast<std::int32_t>(offsetof(tlb_entry, addr_read))
                                          : static_cast<std::int32_t>(offsetof(tlb_entry, addr_write));
        g_.mov(g_.rax, r64(ra));
        g_.shr(g_.rax, static_cast<int>(page_bits));
        g_.mov(g_.rcx, g_.rax);
        g_.shr(g_.rcx, static_cast<int>(tlb_fold_shift));
        g_.add(g_.eax, g_.ecx);
        g_.shl(g_.eax, static_cast<int>(tlb_entry_bits));
        g_.alu_load(0x23, RC::RAX, true, at(env_reg, fast + static_cast<std::int32_t>(offsetof(tlb_fast, mask))));
        g_.alu_load(0x03, RC::RAX, true, at(env_reg, fast + static_cast<std::int32_t>(offsetof(tlb_fast, table))));
        if (size == 1) g_.mov(g_.rcx, r64(ra));
        else g_.lea(RC::RCX, true, at(ra, static_cast<std::int32_t>(size - 1)));
        g_.and_(g_.rcx, static_cast<std::uint32_t>(page_mask));
        g_.alu_load(0x3b, RC::RCX, true, at(RC::RAX, cmp_off));
        jump(sp.entry, 0x5);  // jne
        g_.load(RC::RAX, 64, at(RC::RAX, static_cast<std::int32_t>(offsetof(tlb_entry, addend))));
        const mref host{ra, RC::RAX, 0, 0};
        if (load) load_ext(d, t, mop, host);
        else store_sized(mop, host, o.args[0], rv);
        bind(sp.resume);
        if (load) set_output(o, 0, d);
    }

    void emit_guard(const op& o) {
        const int ra = reg(o.args[0]);
        if (!(is_const(o.args[1]) && fits_imm(o.ty, value(o.args[1])))) reg(o.args[1]);
        sync_globals();  // the helper may raise
        compare(o.ty, ra, o.args[1]);
        slow_path& sp = new_slow_path();
        sp.guard = true;
        sp.load = false;
        sp.addr = ra;
        sp.helper = &o.helper();
        sp.imm = o.carg(1);
        jump(sp.entry, 0x7);  // ja
        bind(sp.resume);
    }

    void emit_slow_paths() {
        for (std::size_t i = 0; i < nb_slow_; ++i) {
            slow_path& sp = slow_[i];
            bind(sp.entry);
            if (sp.guard) {
                for (int r : caller_saved_alloc) g_.push(r64(r));
                g_.mov(g_.rsi, r64(sp.addr));
                g_.mov(g_.rdi, r64(env_reg));
                g_.mov(g_.rdx, sp.imm);
                lea_label(RC::RCX, sp.resume);
                j_.call(sp.helper->fn());
                for (auto it = std::rbegin(caller_saved_alloc); it != std::rend(caller_saved_alloc); ++it)
                    g_.pop(r64(*it));
            } else if (sp.load) {
                // The thunks' registers are scratch, never allocated.
                g_.mov(g_.rax, r64(sp.addr));
                g_.mov(g_.edx, sp.oi);
                lea_label(RC::RCX, sp.resume);
                j_.call(j_.ld_thunk);
                g_.mov(reg_of(sp.out, sp.ty), reg_of(RC::RAX, sp.ty));
            } else {
                g_.mov(g_.rax, r64(sp.addr));
                if (sp.val_imm) g_.mov(g_.rdx, sp.imm);
                else g_.mov(g_.rdx, r64(sp.val));
                lea_label(RC::RCX, sp.resume);
                g_.db(0x68);  // push imm32
                g_.dd(sp.oi);
                j_.call(j_.st_thunk);
            }
            jump(sp.resume);
        }
    }

    void emit_call(const op& o) {
        const helper_info& h = o.helper();
        const bool reads = !(h.flags & helper_flag::no_read_globals);
        const bool writes = !(h.flags & helper_flag::no_write_globals);
        if (reads || writes) sync_globals();
        for (int r : caller_saved_alloc)
            if (owner_[r] >= 0) spill_reg(r);
        for (unsigned i = 0; i < o.nb_i; ++i) {
            const std::uint64_t t = o.args[o.nb_o + i];
            const int dst = arg_regs[i];
            const tstate& s = ts_[t];
            switch (s.w) {
            case where::fixed: g_.mov(r64(dst), r64(env_reg)); break;
            case where::konst: movi(dst, temps_[t].ty, value(t)); break;
            case where::reg: g_.mov(r64(dst), r64(s.reg)); break;
            case where::dead:
                if (temps_[t].kind != temp_kind::tb) throw error("tcg: helper argument holds no value");
                [[fallthrough]];
            case where::mem: load_mem(dst, t); break;
            }
        }
        j_.call(h.fn());
        if (writes)
            for (int r = 0; r < 16; ++r)
                if (is_global(owner_[r])) {
                    ts_[static_cast<std::uint64_t>(owner_[r])] = {where::mem, -1, true, -1};
                    owner_[r] = no_owner;
                }
        if (o.nb_o) {
            const int d = alloc();
            g_.mov(reg_of(d, o.ty), reg_of(RC::RAX, o.ty));
            set_output(o, 0, d);
        }
    }
};

} // namespace

const host_code::insn_boundary* find_insn(const host_code& code, std::uintptr_t retaddr) {
    const auto base = reinterpret_cast<std::uintptr_t>(code.code);
    if (retaddr <= base || retaddr > base + code.size || code.insns.empty()) return nullptr;
    const auto off = static_cast<std::uint32_t>(retaddr - base - 1);
    auto it = std::upper_bound(code.insns.begin(), code.insns.end(), off,
                               [](std::uint32_t v, const host_code::insn_boundary& b) { return v < b.host_offset; });
    if (it == code.insns.begin()) return nullptr;
    return &*std::prev(it);
}

jit::jit(std::size_t buffer_bytes, bool split_wx) : p_(std::make_unique<impl>(buffer_bytes, split_wx)) {
    enter_ = reinterpret_cast<std::uintptr_t (*)(env_base*, const void*)>(
        const_cast<void*>(p_->rx(p_->gen.getCode())));
}

jit::~jit() = default;

std::optional<host_code> jit::translate(const context& ctx) {
    emitter& g = p_->gen;
    std::size_t start = (g.getSize() + 15) & ~std::size_t{15};
    if (start + 64 >= p_->buf.size()) return std::nullopt;
    std::memset(g.getCode<std::uint8_t*>() + g.getSize(), 0xcc, start - g.getSize());
    g.setSize(start);  // no Xbyak labels are used: reset()'s label maps would be cleared for nothing
    try {
        host_code hc;
        {
            tb_compiler c(*p_, ctx);
            hc = c.run();
        }
        return hc;
    } catch (const Xbyak::Error& e) {
        g.setSize(start);
        if (static_cast<int>(e) == ERR_CODE_IS_TOO_BIG) return std::nullopt;
        throw error(std::string("tcg: code generation failed: ") + e.what());
    } catch (...) {
        g.setSize(start);
        throw;
    }
}

void jit::flush() {
    p_->gen.reset();
    p_->gen.setSize(p_->code_start);
}

std::size_t jit::used() const { return p_->gen.getSize(); }
std::size_t jit::capacity() const { return p_->buf.size(); }
const code_buffer& jit::buffer() const { return p_->buf; }

void jit::patch_jump(const host_code& from, unsigned n, const void* to) {
    const std::byte* field = from.code + from.jmp_insn_offset[n];
    const auto* target = to ? static_cast<const std::byte*>(to) : from.code + from.jmp_reset_offset[n];
    const auto disp = static_cast<std::int32_t>(target - (field + 4));
    __atomic_store_n(reinterpret_cast<std::int32_t*>(p_->buf.rw_of(field)), disp, __ATOMIC_RELEASE);
}

} // namespace qf::tcg
