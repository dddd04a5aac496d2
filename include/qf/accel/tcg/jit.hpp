#pragma once
// The x86-64 backend: register allocation over a TB and code generation with
// Xbyak into a dual-mapped code buffer.
//
// Host registers: r14 holds env; rax, rcx and rdx are scratch for the code
// generator (shift counts, mul/div, the TLB fast path); the other eleven are
// allocated to temps, callee-saved ones first so values survive helper calls.
// Globals stay in host registers within a block and are written back before
// block ends, helper calls that may see them, and guest memory accesses.
#include "qf/accel/tcg/code_buffer.hpp"
#include "qf/accel/tcg/ir.hpp"
#include "qf/accel/tcg/softmmu.hpp"
#include "qf/core/error.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace qf::tcg {

// A TB needs more stack slots for its temps than the frame has: translate
// fewer guest instructions.
struct overflow : error {
    using error::error;
};

inline constexpr std::uint32_t no_jump = ~0u;

struct host_code {
    const std::byte* code = nullptr;  // executable address
    std::uint32_t size = 0;
    // goto_tb n: offset of the patchable rel32 and of the code after it.
    std::uint32_t jmp_insn_offset[2] = {no_jump, no_jump};
    std::uint32_t jmp_reset_offset[2] = {no_jump, no_jump};
    // Host offset where each guest instruction's code starts, with its
    // insn_start data, for unwinding a fault to the guest pc.
    struct insn_boundary {
        std::uint32_t host_offset;
        std::uint64_t data[2];
    };
    std::vector<insn_boundary> insns;
};

// The guest instruction that host address `retaddr` inside `code` belongs to.
const host_code::insn_boundary* find_insn(const host_code& code, std::uintptr_t retaddr);

class jit {
public:
    static constexpr unsigned frame_slots = 256;

    explicit jit(std::size_t buffer_bytes, bool split_wx = true);
    ~jit();

    // Generates code for ctx, on which liveness_pass must have run. Returns
    // nullopt when the buffer is full: flush() and translate again. Throws
    // tcg::overflow when the TB needs more frame slots than there are.
    std::optional<host_code> translate(const context& ctx);

    // Runs generated code until an exit_tb; returns its value (0 when a
    // goto_ptr found no target).
    std::uintptr_t exec(env_base* env, const void* code) const { return enter_(env, code); }

    // Drops all generated code.
    void flush();
    std::size_t used() const;
    std::size_t capacity() const;

    // Chaining: make goto_tb `n` of `from` jump straight to `to` (or back to
    // its exit path when to is null).
    void patch_jump(const host_code& from, unsigned n, const void* to);

    const code_buffer& buffer() const;

    struct impl;  // defined with the code generator

private:
    std::unique_ptr<impl> p_;
    std::uintptr_t (*enter_)(env_base*, const void*) = nullptr;
};

} // namespace qf::tcg
