#pragma once
// The forward optimizer over a TB: constant folding and propagation, copy
// propagation, algebraic identities, branch folding and removal of code no
// branch reaches. What it knows about temps is dropped at every label (and,
// for globals, at helper calls that may write them). Dead code goes in the
// liveness pass that follows it. Folding uses op_eval.hpp, the
// interpreter's own semantics, so the result can never change.
#include "qf/accel/tcg/ir.hpp"

namespace qf::tcg {

struct optimize_stats {
    unsigned folded = 0;       // ops replaced by a constant
    unsigned simplified = 0;   // ops replaced by a move or removed by an identity
    unsigned branches = 0;     // conditional branches decided
    unsigned unreachable = 0;  // ops removed after an unconditional exit
};

optimize_stats optimize(context& ctx);

} // namespace qf::tcg
