#pragma once
// Accelerators as types. A machine type names one; the stock binary lists
// machine x accelerator pairs and -accel picks among them.
#include <string_view>

namespace qf::accel {

// The TCG engine (issue #3). Its hook policy parameters come with it.
template <class... Hooks>
struct tcg {
    static constexpr std::string_view name = "tcg";
    // Whether this build can run guest code with it yet.
    static constexpr bool can_run = false;
    static constexpr std::string_view missing =
        "running guest code is not implemented yet: the TCG engine and the x86 front end are "
        "issues #3-#5";
};

} // namespace qf::accel
