#pragma once
// Backward liveness over a TB: marks where each argument dies (op::dead) and
// removes ops whose results are never read and that have no side effects.
// Globals must be in memory at every block end, helper call that may read
// them, and guest memory access (which may fault); TB temps may be read
// after any label; EBB temps die at labels.
#include "qf/accel/tcg/ir.hpp"

namespace qf::tcg {

// Returns the number of ops removed.
unsigned liveness_pass(context& ctx);

} // namespace qf::tcg
