#pragma once
// The portable backend and the reference every other backend is compared
// with: it executes a TB's ops directly.
#include "qf/accel/tcg/ir.hpp"
#include "qf/accel/tcg/softmmu.hpp"

#include <cstdint>
#include <vector>

namespace qf::tcg {

// A translated block, as the interpreter keeps it.
struct interp_program {
    std::vector<op> ops;
    std::vector<temp_info> temps;
    std::vector<std::uint32_t> label_pos;  // label id → op index

    explicit interp_program(const context& ctx);
};

struct interp_exit {
    std::uintptr_t value;     // the exit_tb argument
    std::uintptr_t goto_ptr;  // non-zero: goto_ptr was taken to this target
};

interp_exit interpret(const interp_program& p, env_base* env);

} // namespace qf::tcg
