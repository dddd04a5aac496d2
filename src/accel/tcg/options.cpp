#include "qf/accel/tcg/options.hpp"

#include "qf/core/error.hpp"

#include <charconv>

namespace qf::tcg {

namespace {

bool on_off(const std::string& k, const std::string& v) {
    if (v == "on" || v == "yes" || v == "true") return true;
    if (v == "off" || v == "no" || v == "false") return false;
    throw error("-accel tcg," + k + "=" + v + ": '" + v + "' is not on or off");
}

} // namespace

engine_options parse_engine_options(const std::vector<std::pair<std::string, std::string>>& props) {
    engine_options o;
    for (const auto& [k, v] : props) {
        if (k == "tb-size") {
            std::size_t mib = 0;
            auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), mib);
            if (ec != std::errc() || end != v.data() + v.size())
                throw error("-accel tcg,tb-size=" + v + ": not a size in MiB");
            if (mib > 2048) throw error("-accel tcg,tb-size=" + v + ": at most 2048 MiB (jumps within the buffer are 32-bit)");
            o.tb_size_mib = mib ? mib : 1024;
        } else if (k == "one-insn-per-tb") {
            o.one_insn_per_tb = on_off(k, v);
        } else if (k == "split-wx") {
            o.split_wx = on_off(k, v);
        } else if (k == "interpreter") {
            o.be = on_off(k, v) ? backend::interpreter : backend::jit;
        } else if (k == "thread") {
            if (v == "multi") throw error("-accel tcg,thread=multi: multi-threaded TCG is not implemented yet");
            if (v != "single") throw error("-accel tcg,thread=" + v + ": must be single or multi");
        } else {
            throw error("-accel tcg: invalid parameter '" + k + "'");
        }
    }
    return o;
}

} // namespace qf::tcg
