#include "qf/machine/vmstate.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

namespace qf::vmstate {

namespace {
constexpr char magic[8] = {'Q', 'F', 'V', 'M', 'S', 'T', 'A', 'T'};
}

writer::writer() {
    bytes_out o;
    o.put_bytes(std::as_bytes(std::span(magic)));
    o.put(format_version);
    out_ = std::move(o.buf);
}

void writer::section(std::string_view name, std::uint32_t version, std::span<const std::byte> payload) {
    if (name.empty() || name.size() > 0xffff) throw error("vmstate: a section's name must be 1 to 65535 bytes");
    bytes_out o;
    o.buf = std::move(out_);
    o.put_string(name);
    o.put(version);
    o.put(static_cast<std::uint64_t>(payload.size()));
    o.put_bytes(payload);
    out_ = std::move(o.buf);
}

std::vector<std::byte> writer::take() { return std::exchange(out_, {}); }

std::vector<std::byte> writer::finish() {
    bytes_out o;
    o.buf = std::move(out_);
    o.put(std::uint16_t{0});
    return std::move(o.buf);
}

std::span<const std::byte> bytes_in::take(std::size_t n) {
    if (n > in_.size()) fail("cut short");
    auto s = in_.first(n);
    in_ = in_.subspan(n);
    return s;
}

std::string bytes_in::get_string() {
    const auto n = get<std::uint16_t>();
    const auto b = take(n);
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}

void bytes_in::fail(const std::string& why) const {
    throw error("vmstate: " + (where_.empty() ? std::string() : "section '" + where_ + "': ") + why);
}

std::vector<section> read(std::span<const std::byte> stream) {
    bytes_in in("", stream);
    if (stream.size() < sizeof magic + 4 || std::memcmp(stream.data(), magic, sizeof magic) != 0)
        in.fail("not a qforge state stream (no QFVMSTAT header)");
    in.take(sizeof magic);
    const auto v = in.get<std::uint32_t>();
    if (v != format_version)
        in.fail("stream format " + std::to_string(v) + ", this build reads format " + std::to_string(format_version));
    std::vector<section> out;
    for (;;) {
        const std::string name = in.get_string();
        if (name.empty()) break;
        bytes_in sec(name, {});
        section s;
        s.name = name;
        s.version = in.get<std::uint32_t>();
        const auto len = in.get<std::uint64_t>();
        if (len > stream.size()) sec.fail("cut short");
        s.payload = in.take(static_cast<std::size_t>(len));
        out.push_back(std::move(s));
    }
    if (!in.empty()) in.fail("bytes after the end section");
    return out;
}

section take(std::vector<section>& sections, std::string_view name, std::uint32_t version) {
    for (auto it = sections.begin(); it != sections.end(); ++it)
        if (it->name == name) {
            if (it->version > version)
                throw error("vmstate: section '" + it->name + "' is version " + std::to_string(it->version) +
                            ", this build reads up to " + std::to_string(version));
            section s = std::move(*it);
            sections.erase(it);
            return s;
        }
    throw error("vmstate: the stream has no section '" + std::string(name) + "' (a stream of another machine?)");
}

std::vector<std::byte> ram_payload(std::span<const std::byte> ram, std::span<const std::uint64_t> offsets,
                                   bool zero_pages) {
    constexpr std::uint64_t page = 4096;
    static const std::array<std::byte, page> zero{};
    bytes_out r;
    for (const std::uint64_t off : offsets) {
        const std::uint64_t n = std::min(page, ram.size() - off);
        if (std::memcmp(ram.data() + off, zero.data(), n) == 0) {
            if (zero_pages) r.put(off | 1);
            continue;
        }
        r.put(off);
        r.put_bytes(ram.subspan(off, n));
    }
    return std::move(r.buf);
}

void ram_pages(const section& s, std::uint64_t ram_size, std::vector<ram_page>& out) {
    if (s.version > ram_version)
        throw error("vmstate: section 'ram' is version " + std::to_string(s.version) + ", this build reads up to " +
                    std::to_string(ram_version));
    bytes_in r("ram", s.payload);
    while (!r.empty()) {
        const auto v = r.get<std::uint64_t>();
        const bool zero = s.version >= 2 && (v & 1);
        const std::uint64_t off = zero ? v - 1 : v;
        if (off % 4096 || off >= ram_size) r.fail("a page outside RAM");
        out.push_back({off, zero ? std::span<const std::byte>{} : r.take(std::min<std::uint64_t>(4096, ram_size - off))});
    }
}

void take_ram(std::vector<section>& sections, std::uint64_t ram_size, std::vector<ram_page>& out) {
    for (bool first = true;; first = false) {
        const auto it = std::find_if(sections.begin(), sections.end(), [](const section& s) { return s.name == "ram"; });
        if (it == sections.end() && !first) return;
        ram_pages(take(sections, "ram", ram_version), ram_size, out);  // take refuses the first one missing
    }
}

void splitter::keep(std::size_t n) {
    kept_.insert(kept_.end(), pending_.begin() + static_cast<std::ptrdiff_t>(head_),
                 pending_.begin() + static_cast<std::ptrdiff_t>(head_ + n));
    head_ += n;
}

void splitter::feed(std::span<const std::byte> bytes) {
    pending_.insert(pending_.end(), bytes.begin(), bytes.end());
    for (;;) {
        const std::size_t have = pending_.size() - head_;
        const std::byte* p = pending_.data() + head_;
        if (raw_) {
            keep(have);
            break;
        }
        if (!header_) {
            if (have < sizeof magic + 4) break;
            if (std::memcmp(p, magic, sizeof magic) != 0) {
                raw_ = true;  // read() says what it is not
                continue;
            }
            keep(sizeof magic + 4);
            header_ = true;
            continue;
        }
        std::uint16_t name_len;
        if (have < sizeof name_len) break;
        std::memcpy(&name_len, p, sizeof name_len);
        if (name_len == 0) {  // the end: it and anything after are read()'s
            raw_ = true;
            continue;
        }
        const std::size_t head = sizeof name_len + name_len + 4 + 8;
        if (have < head) break;
        std::uint64_t len;
        std::memcpy(&len, p + head - 8, sizeof len);
        if (len > have - head) break;
        section s;
        s.name.assign(reinterpret_cast<const char*>(p + sizeof name_len), name_len);
        std::memcpy(&s.version, p + sizeof name_len + name_len, sizeof s.version);
        s.payload = {p + head, static_cast<std::size_t>(len)};
        if (take_(s)) head_ += head + static_cast<std::size_t>(len);
        else keep(head + static_cast<std::size_t>(len));
    }
    if (head_ > (1u << 20) && head_ * 2 > pending_.size()) {  // compact what is done
        pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(head_));
        head_ = 0;
    }
}

} // namespace qf::vmstate
