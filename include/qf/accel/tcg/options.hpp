#pragma once
// The engine's settings and QEMU's -accel tcg properties that set them.
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace qf::tcg {

enum class backend : unsigned char { jit, interpreter };

struct engine_options {
    backend be = backend::jit;
    std::size_t tb_size_mib = 1024;  // -accel tcg,tb-size=N (QEMU's default)
    unsigned max_insns = 512;
    bool nochain = false;            // -d nochain
    bool one_insn_per_tb = false;    // -accel tcg,one-insn-per-tb=on
    bool split_wx = true;            // -accel tcg,split-wx=off: one RWX mapping
};

// tb-size=MiB, one-insn-per-tb=on|off, split-wx=on|off, thread=single,
// interpreter=on|off (ours: the portable backend). Throws qf::error naming
// the bad property or value.
engine_options parse_engine_options(const std::vector<std::pair<std::string, std::string>>& props);

} // namespace qf::tcg
