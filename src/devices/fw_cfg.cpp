#include "qf/devices/fw_cfg.hpp"

#include "qf/core/error.hpp"
#include "qf/core/log.hpp"
#include "qf/machine/options.hpp"

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <stdexcept>
#include <unistd.h>
#include <utility>

namespace qf::dev {

namespace {

constexpr std::uint16_t comb_offset = 0, comb_size = 2, dma_offset = 4, dma_size = 8;
constexpr std::uint32_t version_legacy = 0x01, version_dma = 0x02;
constexpr char dma_signature[dma_size] = {'Q', 'E', 'M', 'U', ' ', 'C', 'F', 'G'};
constexpr std::size_t dir_entry_size = 64;

template <class T>
std::vector<std::byte> le_bytes(T v) {
    std::vector<std::byte> out(sizeof(T));
    for (std::size_t i = 0; i < sizeof(T); ++i) out[i] = std::byte(static_cast<std::uint8_t>(v >> (8 * i)));
    return out;
}

void put_be(std::byte* p, std::uint64_t v, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) p[i] = std::byte(static_cast<std::uint8_t>(v >> (8 * (n - 1 - i))));
}

std::uint64_t get_be(std::span<const std::byte> p) {
    std::uint64_t v = 0;
    for (auto b : p) v = v << 8 | static_cast<std::uint8_t>(b);
    return v;
}

std::string hex(std::uint32_t v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%x", v);
    return buf;
}

} // namespace

fw_cfg_io::fw_cfg_io(device_context& ctx) : memory_(ctx.memory) {
    for (auto& e : entries_) e.resize(max_entry);
    add_bytes(fw_cfg_key::signature, {std::byte{'Q'}, std::byte{'E'}, std::byte{'M'}, std::byte{'U'}});
    add_i32(fw_cfg_key::id, version_legacy | (dma_enabled() ? version_dma : 0));
    s_.cur_entry = fw_cfg_key::signature;
}

// --- the table

fw_cfg_io::entry_slot& fw_cfg_io::slot(std::uint16_t key) {
    const unsigned index = key & fw_cfg_key::entry_mask;
    if (index >= max_entry) throw std::logic_error("fw_cfg: key " + hex(key) + " is out of range");
    return entries_[(key & fw_cfg_key::arch_local) ? 1 : 0][index];
}

void fw_cfg_io::add_bytes(std::uint16_t key, std::vector<std::byte> data) {
    auto& e = slot(key);
    if (e.present) throw std::logic_error("fw_cfg: key " + hex(key) + " added twice");
    if (data.size() >= UINT32_MAX) throw std::logic_error("fw_cfg: entry too large");
    e = entry_slot{std::move(data), true, false, {}, {}};
}

void fw_cfg_io::add_i16(std::uint16_t key, std::uint16_t v) { add_bytes(key, le_bytes(v)); }
void fw_cfg_io::add_i32(std::uint16_t key, std::uint32_t v) { add_bytes(key, le_bytes(v)); }
void fw_cfg_io::add_i64(std::uint16_t key, std::uint64_t v) { add_bytes(key, le_bytes(v)); }

void fw_cfg_io::add_string(std::uint16_t key, std::string_view s) {
    std::vector<std::byte> d(s.size() + 1);
    std::memcpy(d.data(), s.data(), s.size());
    add_bytes(key, std::move(d));
}

void fw_cfg_io::modify_bytes(std::uint16_t key, std::vector<std::byte> data) {
    if (data.size() >= UINT32_MAX) throw std::logic_error("fw_cfg: entry too large");
    slot(key) = entry_slot{std::move(data), true, false, {}, {}};
}

void fw_cfg_io::modify_i16(std::uint16_t key, std::uint16_t v) { modify_bytes(key, le_bytes(v)); }
void fw_cfg_io::modify_i32(std::uint16_t key, std::uint32_t v) { modify_bytes(key, le_bytes(v)); }
void fw_cfg_io::modify_i64(std::uint16_t key, std::uint64_t v) { modify_bytes(key, le_bytes(v)); }

void fw_cfg_io::add_file(std::string filename, std::vector<std::byte> data, file_options opts) {
    if (filename.size() >= fw_cfg_max_file_path || filename.find('\0') != std::string::npos)
        throw std::logic_error("fw_cfg: file name '" + filename + "' does not fit the directory");
    if (std::find(files_.begin(), files_.end(), filename) != files_.end())
        throw error("duplicate fw_cfg file name: " + filename);
    if (files_.size() >= file_slots)
        throw error("fw_cfg: no free file slot for " + filename + " (at most " + std::to_string(file_slots) +
                    " files)");
    if (data.size() >= UINT32_MAX) throw std::logic_error("fw_cfg: entry too large");
    // QEMU creates the directory with the first file.
    if (files_.empty()) add_bytes(fw_cfg_key::file_dir, {});

    // std::string's ordering is strcmp's: char_traits<char> compares as
    // unsigned char.
    const auto pos = std::upper_bound(files_.begin(), files_.end(), filename);
    const auto index = static_cast<std::size_t>(pos - files_.begin());
    files_.insert(pos, std::move(filename));
    auto& generic = entries_[0];
    const auto first = generic.begin() + fw_cfg_key::file_first;
    std::move_backward(first + static_cast<std::ptrdiff_t>(index),
                       first + static_cast<std::ptrdiff_t>(files_.size() - 1),
                       first + static_cast<std::ptrdiff_t>(files_.size()));
    first[static_cast<std::ptrdiff_t>(index)] =
        entry_slot{std::move(data), true, !opts.read_only, std::move(opts.on_select), std::move(opts.on_write)};
    rebuild_directory();
}

void fw_cfg_io::modify_file(std::string_view filename, std::vector<std::byte> data) {
    if (auto key = file_key(filename)) {
        modify_bytes(*key, std::move(data));
        rebuild_directory();
        return;
    }
    add_file(std::string(filename), std::move(data));
}

void fw_cfg_io::rebuild_directory() {
    // QEMU sizes the directory for every slot, used or not.
    std::vector<std::byte> dir(4 + dir_entry_size * file_slots);
    put_be(dir.data(), files_.size(), 4);
    for (std::size_t i = 0; i < files_.size(); ++i) {
        std::byte* p = dir.data() + 4 + dir_entry_size * i;
        const auto key = static_cast<std::uint16_t>(fw_cfg_key::file_first + i);
        put_be(p, entries_[0][key].data.size(), 4);
        put_be(p + 4, key, 2);
        std::memcpy(p + 8, files_[i].data(), files_[i].size());
    }
    entries_[0][fw_cfg_key::file_dir].data = std::move(dir);
}

std::span<const std::byte> fw_cfg_io::entry(std::uint16_t key) const {
    const unsigned index = key & fw_cfg_key::entry_mask;
    if (index >= max_entry) return {};
    return entries_[(key & fw_cfg_key::arch_local) ? 1 : 0][index].data;
}

bool fw_cfg_io::has_entry(std::uint16_t key) const {
    const unsigned index = key & fw_cfg_key::entry_mask;
    return index < max_entry && entries_[(key & fw_cfg_key::arch_local) ? 1 : 0][index].present;
}

std::optional<std::uint16_t> fw_cfg_io::file_key(std::string_view filename) const {
    auto it = std::find(files_.begin(), files_.end(), filename);
    if (it == files_.end()) return std::nullopt;
    return static_cast<std::uint16_t>(fw_cfg_key::file_first + (it - files_.begin()));
}

std::optional<std::span<const std::byte>> fw_cfg_io::file(std::string_view filename) const {
    if (auto key = file_key(filename)) return entry(*key);
    return std::nullopt;
}

// --- the guest's side

void fw_cfg_io::reset() {
    select(fw_cfg_key::signature);
    if (!files_.empty()) {
        modify_file("bootorder", boot_order_list ? boot_order_list() : std::vector<std::byte>{});
        modify_file("bios-geometry", bios_geometry_list ? bios_geometry_list() : std::vector<std::byte>{});
    }
}

const fw_cfg_io::entry_slot* fw_cfg_io::current() const {
    if (s_.cur_entry == fw_cfg_key::invalid) return nullptr;
    return &entries_[(s_.cur_entry & fw_cfg_key::arch_local) ? 1 : 0][s_.cur_entry & fw_cfg_key::entry_mask];
}

fw_cfg_io::entry_slot* fw_cfg_io::current() {
    return const_cast<entry_slot*>(std::as_const(*this).current());
}

void fw_cfg_io::select(std::uint16_t key) {
    s_.cur_offset = 0;
    if ((key & fw_cfg_key::entry_mask) >= max_entry) {
        s_.cur_entry = fw_cfg_key::invalid;
        logf(log_item::guest_errors, "fw_cfg: selector 0x%04x selects no entry\n", key);
        return;
    }
    s_.cur_entry = key;
    if (auto* e = current(); e->on_select) e->on_select();
}

std::uint8_t fw_cfg_io::data_read() {
    const entry_slot* e = current();
    if (!e || s_.cur_offset >= e->data.size()) return 0;
    return static_cast<std::uint8_t>(e->data[s_.cur_offset++]);
}

// Each access is handled by the QEMU region its first byte falls in, with
// that region's validity rules; a rejected access reads 0 and writes
// nothing, as QEMU 7.2's memory core does.
void fw_cfg_io::pio_read(std::uint16_t offset, std::span<std::byte> data) {
    const auto size = data.size();
    std::fill(data.begin(), data.end(), std::byte{0});
    if (offset < comb_offset + comb_size) {
        // Reads are byte-wide; either port of the pair returns data.
        if (size == 1) {
            data[0] = std::byte{data_read()};
            return;
        }
    } else if (offset < dma_offset || !dma_enabled()) {
        std::fill(data.begin(), data.end(), std::byte{0xff});  // nothing there: the bus floats high
        return;
    } else {
        const unsigned addr = offset - dma_offset;
        // Reads of any aligned size return the signature "QEMU CFG".
        if ((addr & (size - 1)) == 0 && addr + size <= dma_size) {
            std::memcpy(data.data(), dma_signature + addr, size);
            return;
        }
    }
    logf(log_item::guest_errors, "fw_cfg: invalid read of %zu bytes at port 0x%x\n", size,
         unsigned(ports[0].base + offset));
}

void fw_cfg_io::pio_write(std::uint16_t offset, std::span<const std::byte> data) {
    const auto size = data.size();
    if (offset < comb_offset + comb_size) {
        if (size == 1) return;  // data writes were dropped in QEMU 2.4; DMA is the way in
        if (size == 2 && offset == comb_offset) {
            select(static_cast<std::uint16_t>(std::to_integer<unsigned>(data[0]) |
                                              std::to_integer<unsigned>(data[1]) << 8));
            return;
        }
    } else if (offset < dma_offset || !dma_enabled()) {
        return;
    } else {
        // The address register is big-endian: SeaBIOS writes
        // cpu_to_be32(high) to 514, then cpu_to_be32(low) to 518, which
        // starts the transfer. Other sizes and offsets are rejected.
        const unsigned addr = offset - dma_offset;
        const std::uint64_t v = get_be(data);
        if (size == 4 && addr == 0) {
            s_.dma_addr = v << 32;
            return;
        }
        if (size == 4 && addr == 4) {
            s_.dma_addr |= v;
            dma_transfer();
            return;
        }
        if (size == 8 && addr == 0) {
            s_.dma_addr = v;
            dma_transfer();
            return;
        }
    }
    logf(log_item::guest_errors, "fw_cfg: invalid write of %zu bytes at port 0x%x\n", size,
         unsigned(ports[0].base + offset));
}

// QEMU's fw_cfg_dma_transfer, step for step: the offset advances even when
// the copy fails, and the control word is written back (0 on success).
void fw_cfg_io::dma_transfer() {
    const std::uint64_t desc = s_.dma_addr;
    s_.dma_addr = 0;

    auto write_control = [&](std::uint32_t control) {
        std::array<std::byte, 4> be;
        put_be(be.data(), control, 4);
        memory_->dma_write(gpa{desc}, be);
    };

    std::array<std::byte, 16> raw;
    if (!memory_->dma_read(gpa{desc}, raw)) {
        logf(log_item::guest_errors, "fw_cfg: DMA descriptor at 0x%" PRIx64 " is outside memory\n", desc);
        write_control(fw_cfg_dma::error);
        return;
    }
    std::uint32_t control = static_cast<std::uint32_t>(get_be(std::span(raw).first(4)));
    std::uint32_t length = static_cast<std::uint32_t>(get_be(std::span(raw).subspan(4, 4)));
    std::uint64_t address = get_be(std::span(raw).subspan(8, 8));

    if (control & fw_cfg_dma::select) select(static_cast<std::uint16_t>(control >> 16));

    bool read = false, write = false;
    if (control & fw_cfg_dma::read) read = true;
    else if (control & fw_cfg_dma::write) write = true;
    else if (!(control & fw_cfg_dma::skip)) length = 0;

    control = 0;
    entry_slot* e = current();
    while (length > 0 && !(control & fw_cfg_dma::error)) {
        std::uint32_t len;
        if (!e || s_.cur_offset >= e->data.size()) {
            // Past the end, or no entry: reads give zeros, writes fail.
            len = length;
            if (read && !memory_->dma_fill(gpa{address}, len, std::byte{0})) control |= fw_cfg_dma::error;
            if (write) {
                logf(log_item::guest_errors, "fw_cfg: DMA write past the end of entry 0x%04x\n", s_.cur_entry);
                control |= fw_cfg_dma::error;
            }
        } else {
            len = std::min<std::uint32_t>(length, static_cast<std::uint32_t>(e->data.size() - s_.cur_offset));
            const auto part = std::span(e->data).subspan(s_.cur_offset, len);
            if (read && !memory_->dma_write(gpa{address}, part)) control |= fw_cfg_dma::error;
            if (write) {
                // A failed read leaves the entry's bytes zeroed, as QEMU's
                // leaves them with what unassigned memory read as.
                if (!e->allow_write || len != length || !memory_->dma_read(gpa{address}, part)) {
                    logf(log_item::guest_errors, "fw_cfg: DMA write to entry 0x%04x refused\n", s_.cur_entry);
                    control |= fw_cfg_dma::error;
                } else if (e->on_write) {
                    e->on_write(s_.cur_offset, len);
                }
            }
            s_.cur_offset += len;
        }
        address += len;
        length -= len;
    }
    write_control(control);
}

// --- machine options

void add_common_entries(fw_cfg_io& fw, const fw_cfg_common_config& c) {
    std::vector<std::byte> uuid(16);
    std::memcpy(uuid.data(), c.uuid.data(), 16);
    fw.add_bytes(fw_cfg_key::uuid, std::move(uuid));
    fw.add_i16(fw_cfg_key::nographic, c.nographic);
    fw.add_i16(fw_cfg_key::boot_menu, c.boot_menu);
    if (c.splash_time) {
        if (*c.splash_time < 0 || *c.splash_time > 0xffff)
            throw error("splash-time is invalid,it should be a value between 0 and 65535");
        const auto v = static_cast<std::uint16_t>(*c.splash_time);
        fw.add_file("etc/boot-menu-wait", {std::byte(v & 0xff), std::byte(v >> 8)});
    }
    // Unsigned, as QEMU compares it: -1 is the only negative value allowed.
    const auto rt = static_cast<std::uint64_t>(c.reboot_timeout.value_or(-1));
    if (rt > 0xffff && rt != ~std::uint64_t{0})
        throw error("reboot timeout is invalid,it should be a value between -1 and 65535");
    const auto rt32 = static_cast<std::uint32_t>(rt);
    fw.add_file("etc/boot-fail-wait", {std::byte(rt32 & 0xff), std::byte(rt32 >> 8 & 0xff),
                                       std::byte(rt32 >> 16 & 0xff), std::byte(rt32 >> 24)});
}

namespace {

// g_file_get_contents, with GLib's wording of its failures.
std::vector<std::byte> read_whole_file(const std::string& path, std::string& why) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        why = "Failed to open file \u201c" + path + "\u201d: " + std::strerror(errno);
        return {};
    }
    std::vector<std::byte> out;
    std::byte buf[65536];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n == 0) break;
        if (n < 0) {
            if (errno == EINTR) continue;
            why = "Error reading file \u201c" + path + "\u201d: " + std::strerror(errno);
            ::close(fd);
            return {};
        }
        out.insert(out.end(), buf, buf + n);
    }
    ::close(fd);
    return out;
}

} // namespace

// QEMU 7.2's parse_fw_cfg (softmmu/vl.c): the checks in its order, its
// messages. gen_id= names a -object, and there are no objects here, so it
// always fails as QEMU does for an unknown id.
fw_cfg_user_entry parse_fw_cfg_option(std::string_view arg) {
    const std::string where = "-fw_cfg " + std::string(arg) + ": ";
    const opt_list o = parse_opt_list("-fw_cfg", arg, "name");
    for (auto& [k, v] : o.props)
        if (k != "name" && k != "file" && k != "string" && k != "gen_id")
            throw error(where + "Invalid parameter '" + k + "'");
    const auto name = o.get("name"), file = o.get("file"), str = o.get("string"), gen_id = o.get("gen_id");
    auto nonempty = [](const std::optional<std::string>& s) { return s && !s->empty(); };
    if (!nonempty(name) || nonempty(file) + nonempty(str) + nonempty(gen_id) != 1)
        throw error(where + "name, plus exactly one of file, string and gen_id, are needed");
    if (name->size() > fw_cfg_max_file_path - 1)
        throw error(where + "name too long (max. " + std::to_string(fw_cfg_max_file_path - 1) + " char)");
    if (nonempty(gen_id)) throw error(where + "Cannot find object ID '" + *gen_id + "'");
    if (name->compare(0, 4, "opt/") != 0)
        report_error(where + "warning: externally provided fw_cfg item names should be prefixed with \"opt/\"");

    fw_cfg_user_entry e{std::string(arg), *name, {}};
    if (nonempty(str)) {
        e.data.resize(str->size());  // without the NUL
        std::memcpy(e.data.data(), str->data(), str->size());
    } else {
        std::string why;
        e.data = read_whole_file(*file, why);
        if (!why.empty()) throw error(where + "can't load " + *file + ": " + why);
    }
    return e;
}

void add_user_entry(fw_cfg_io& fw, const fw_cfg_user_entry& e) {
    try {
        fw.add_file(e.name, e.data);
    } catch (const error& x) {
        throw error("-fw_cfg " + e.option + ": " + x.what());
    }
}

} // namespace qf::dev
