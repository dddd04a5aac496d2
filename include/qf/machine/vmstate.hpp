#pragma once
// The machine's state as one versioned stream (migration, and snapshots
// that leave the process): a header, then sections, each with a name, a
// version and its length, so that a build can read a stream of another
// build or refuse it with one line naming the section.
//
//   "QFVMSTAT" u32 format   header (little-endian throughout)
//   u16 name_len, name, u32 version, u64 length, payload   a section
//   u16 0                                                  the end
//
// Reflected state (a device's BOOST_HANA_DEFINE_STRUCT) goes in by field:
// u16 count, then each field's name, size and bytes. A field this build
// lacks is refused by name; one the stream lacks keeps the value it has
// (its reset value, for a machine just built).
#include "qf/core/error.hpp"
#include "qf/machine/reflect.hpp"

#include <boost/hana/accessors.hpp>
#include <boost/hana/for_each.hpp>
#include <boost/hana/length.hpp>

#include <cstdint>
#include <functional>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace qf::vmstate {

inline constexpr std::uint32_t format_version = 1;

class writer {
public:
    writer();
    void section(std::string_view name, std::uint32_t version, std::span<const std::byte> payload);
    // The stream, ended.
    std::vector<std::byte> finish();
    // What was written since the last take (the header, the first time),
    // for a stream sent as it is made (live migration); finish() then
    // gives the rest.
    std::vector<std::byte> take();

private:
    std::vector<std::byte> out_;
};

struct section {
    std::string name;
    std::uint32_t version = 0;
    std::span<const std::byte> payload;
};

// Checks the header and gives the sections in order. Throws qf::error
// ("vmstate: ...") for a stream that is not one or is cut short.
std::vector<section> read(std::span<const std::byte> stream);
// Takes section `name` out of `sections`; refuses one that is missing or
// newer than `version` (what this build reads), naming it.
section take(std::vector<section>& sections, std::string_view name, std::uint32_t version);

// RAM in "ram" sections: version 1 holds the pages that are not zero, each
// its offset in RAM and its bytes; version 2 (a live migration's passes,
// where a page sent before may since have been cleared) may also name a
// page of zeros: its offset with bit 0 set, and no bytes. A stream may
// hold several, applied in order.
inline constexpr std::uint32_t ram_version = 2;
struct ram_page {
    std::uint64_t offset;
    std::span<const std::byte> bytes;  // empty: zeros
};
// The payload for pages at offsets (page-aligned) of ram; with zero_pages
// false a page of zeros is left out (the destination's RAM starts zeroed).
std::vector<std::byte> ram_payload(std::span<const std::byte> ram, std::span<const std::uint64_t> offsets,
                                   bool zero_pages);
// Every "ram" section taken out of sections, its pages appended to out in
// order; a page outside ram_size, a newer version or no "ram" section at
// all is refused.
void take_ram(std::vector<section>& sections, std::uint64_t ram_size, std::vector<ram_page>& out);
// One "ram" section's pages, appended to out (refusing as take_ram).
void ram_pages(const section& s, std::uint64_t ram_size, std::vector<ram_page>& out);

// A stream cut into sections as its bytes arrive (a migration's far side,
// where RAM goes into place as it comes instead of the stream waiting
// whole): each whole section is offered to take, and one it takes (true)
// leaves no bytes behind. kept() is the rest of the stream - the header,
// the sections not taken, the end - for read(). Bytes that are not a
// stream are kept as they are, for read() to refuse.
class splitter {
public:
    using take_fn = std::function<bool(const section&)>;
    explicit splitter(take_fn take) : take_(std::move(take)) {}
    void feed(std::span<const std::byte> bytes);
    std::size_t buffered() const { return kept_.size() + pending_.size() - head_; }
    std::vector<std::byte>& kept() { return kept_; }

private:
    void keep(std::size_t n);
    take_fn take_;
    std::vector<std::byte> kept_, pending_;
    std::size_t head_ = 0;  // pending_'s bytes before it are done
    bool header_ = false, raw_ = false;
};

// Plain bytes in and out, for payloads built by hand.
class bytes_out {
public:
    template <class T>
    void put(const T& v) {
        static_assert(std::is_trivially_copyable_v<T>);
        const auto* p = reinterpret_cast<const std::byte*>(&v);
        buf.insert(buf.end(), p, p + sizeof v);
    }
    void put_bytes(std::span<const std::byte> b) { buf.insert(buf.end(), b.begin(), b.end()); }
    void put_string(std::string_view s) {
        put(static_cast<std::uint16_t>(s.size()));
        put_bytes(std::as_bytes(std::span(s.data(), s.size())));
    }
    std::vector<std::byte> buf;
};

class bytes_in {
public:
    bytes_in(std::string_view where, std::span<const std::byte> in) : where_(where), in_(in) {}
    template <class T>
    T get() {
        T v;
        std::memcpy(&v, take(sizeof v).data(), sizeof v);
        return v;
    }
    std::span<const std::byte> take(std::size_t n);
    std::string get_string();
    bool empty() const { return in_.empty(); }
    [[noreturn]] void fail(const std::string& why) const;

private:
    std::string where_;
    std::span<const std::byte> in_;
};

namespace detail {
// Whether bytes can be a T: every bool in it (in arrays and nested states
// too) 0 or 1 - any other byte is no bool at all.
template <class T>
bool plausible(const std::byte* p) {
    if constexpr (std::is_same_v<T, bool>) {
        return std::to_integer<unsigned>(*p) <= 1;
    } else if constexpr (qf::detail::is_std_array<T>::value) {
        using U = typename T::value_type;
        for (std::size_t i = 0; i < std::tuple_size_v<T>; ++i)
            if (!plausible<U>(p + i * sizeof(U))) return false;
        return true;
    } else if constexpr (boost::hana::Struct<T>::value) {
        bool ok = true;
        const T probe{};
        boost::hana::for_each(boost::hana::accessors<T>(), [&](auto pair) {
            const auto& m = boost::hana::second(pair)(probe);
            const auto off = reinterpret_cast<const std::byte*>(&m) - reinterpret_cast<const std::byte*>(&probe);
            ok = ok && plausible<std::decay_t<decltype(m)>>(p + off);
        });
        return ok;
    } else {
        return true;
    }
}
} // namespace detail

// A reflected state's fields, by name.
template <class State>
std::vector<std::byte> save_fields(const State& s) {
    bytes_out o;
    o.put(static_cast<std::uint16_t>(boost::hana::length(boost::hana::accessors<State>())));
    boost::hana::for_each(boost::hana::accessors<State>(), [&](auto pair) {
        const auto& field = boost::hana::second(pair)(s);
        static_assert(std::is_trivially_copyable_v<std::decay_t<decltype(field)>>);
        o.put_string(boost::hana::to<char const*>(boost::hana::first(pair)));
        o.put(static_cast<std::uint32_t>(sizeof field));
        o.put_bytes(std::as_bytes(std::span(&field, 1)));
    });
    return std::move(o.buf);
}

template <class State>
void load_fields(std::string_view section_name, std::span<const std::byte> payload, State& s) {
    bytes_in in(section_name, payload);
    const auto count = in.get<std::uint16_t>();
    for (unsigned i = 0; i < count; ++i) {
        const std::string name = in.get_string();
        const auto size = in.get<std::uint32_t>();
        const auto bytes = in.take(size);
        bool found = false;
        boost::hana::for_each(boost::hana::accessors<State>(), [&](auto pair) {
            if (found || name != boost::hana::to<char const*>(boost::hana::first(pair))) return;
            auto& field = boost::hana::second(pair)(s);
            if (size != sizeof field)
                in.fail("field '" + name + "' is " + std::to_string(size) + " bytes, this build's " +
                        std::to_string(sizeof field));
            if (!detail::plausible<std::decay_t<decltype(field)>>(bytes.data()))
                in.fail("field '" + name + "' holds a truth value that is neither 0 nor 1");
            std::memcpy(&field, bytes.data(), size);
            found = true;
        });
        if (!found) in.fail("field '" + name + "' is not one this build has");
    }
    if (!in.empty()) in.fail("trailing bytes");
}

} // namespace qf::vmstate
