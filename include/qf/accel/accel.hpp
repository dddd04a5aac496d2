#pragma once
// Accelerators as types. A machine type names one; the stock binary lists
// machine x accelerator pairs and -accel picks among them.
#include "qf/accel/tcg/hooks.hpp"
#include "qf/accel/tcg/options.hpp"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace qf::accel {

using tcg_engine_options = qf::tcg::engine_options;

// The TCG engine (issue #3). Its hook policy parameters come with it.
template <class... Hooks>
struct tcg {
    static constexpr std::string_view name = "tcg";
    using hooks = qf::tcg::hook_policy<Hooks...>;
    // -accel tcg,... properties, checked before anything starts.
    static tcg_engine_options props(const std::vector<std::pair<std::string, std::string>>& p) {
        return qf::tcg::parse_engine_options(p);
    }
};

} // namespace qf::accel
