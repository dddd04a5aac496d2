#pragma once
// Device state reflection, generated from BOOST_HANA_DEFINE_STRUCT: an
// info-style dump and a byte-exact snapshot, never written per device.
#include <array>
#include <boost/hana/accessors.hpp>
#include <boost/hana/for_each.hpp>
#include <boost/hana/size.hpp>
#include <boost/hana/concept/struct.hpp>
#include <boost/hana/define_struct.hpp>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace qf {

namespace detail {
template <class T> struct is_std_array : std::false_type {};
template <class T, std::size_t N> struct is_std_array<std::array<T, N>> : std::true_type {};

template <class T>
void format_value(std::string& out, const T& v) {
    char buf[32];
    if constexpr (std::is_same_v<T, bool>) {
        out += v ? "true" : "false";
    } else if constexpr (std::is_integral_v<T>) {
        std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
        out += buf;
    } else if constexpr (boost::hana::Struct<T>::value) {
        // A nested state struct: its members in braces.
        out += "{";
        bool first = true;
        boost::hana::for_each(boost::hana::accessors<T>(), [&](auto pair) {
            if (!first) out += " ";
            first = false;
            out += boost::hana::to<char const*>(boost::hana::first(pair));
            out += "=";
            format_value(out, boost::hana::second(pair)(v));
        });
        out += "}";
    } else if constexpr (is_std_array<T>::value) {
        out += "[";
        for (std::size_t i = 0; i < v.size(); ++i) {
            if (i) out += " ";
            format_value(out, v[i]);
        }
        out += "]";
    } else {
        static_assert(std::is_trivially_copyable_v<T>, "state fields must be plain data");
        out += "<" + std::to_string(sizeof(T)) + " bytes>";
    }
}
} // namespace detail

// "prefix.field = value" lines, one per member.
template <class State>
std::string dump_state(std::string_view prefix, const State& s) {
    std::string out;
    boost::hana::for_each(boost::hana::accessors<State>(), [&](auto pair) {
        out += std::string(prefix) + "." + boost::hana::to<char const*>(boost::hana::first(pair)) + " = ";
        detail::format_value(out, boost::hana::second(pair)(s));
        out += "\n";
    });
    return out;
}

// Appends each member's bytes, in declaration order.
template <class State>
void save_state(std::vector<std::byte>& out, const State& s) {
    boost::hana::for_each(boost::hana::accessors<State>(), [&](auto pair) {
        const auto& field = boost::hana::second(pair)(s);
        static_assert(std::is_trivially_copyable_v<std::decay_t<decltype(field)>>);
        auto* p = reinterpret_cast<const std::byte*>(&field);
        out.insert(out.end(), p, p + sizeof field);
    });
}

// Reads back what save_state wrote; returns the bytes consumed. Throws
// std::runtime_error on a truncated snapshot.
template <class State>
std::size_t load_state(std::span<const std::byte> in, State& s) {
    std::size_t pos = 0;
    boost::hana::for_each(boost::hana::accessors<State>(), [&](auto pair) {
        auto& field = boost::hana::second(pair)(s);
        if (pos + sizeof field > in.size()) throw std::runtime_error("snapshot truncated");
        std::memcpy(&field, in.data() + pos, sizeof field);
        pos += sizeof field;
    });
    return pos;
}

} // namespace qf
