// fw_cfg's guest interface on the pc board: the selector and data ports
// (0x510, 0x511), the DMA address register (0x514-0x51b) and DMA
// descriptors placed in guest RAM with random contents - control bits
// (select, read, skip, write, and junk), lengths, addresses in RAM, across
// its end, in ROM, in MMIO, unassigned, wrapping at 2^64 - against the
// board's real entries (and a writable file the target adds, as QEMU has
// for etc/smi). A reference model written from QEMU's docs/specs/fw_cfg.rst
// (with QEMU 7.2's answers where the spec says nothing: fw_cfg.hpp) runs
// beside it: every port read, every control word written back, the entries
// and all of RAM must be what the model says. DMA may write only RAM, only
// inside the transfer's window or the descriptor's control word (a memory
// listener sees each write); ROM never changes; no transfer takes more
// than 2 s (the guest's OUT holds the main loop meanwhile).
//
// An input: a configuration byte (RAM size, -fw_cfg strings), then
// operations (see run_op).
#include "byte_reader.hpp"
#include "entry.hpp"
#include "machines/pc/pc.hpp"
#include "qf/embed/harness.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace {

using namespace qf;
using pc_rig = embed::harness<machines::pc<accel::tcg<>>>;
using fuzz::byte_reader;

constexpr std::uint16_t port_first = 0x510, port_end = 0x51c;  // fw_cfg_io's range
constexpr std::uint32_t ctl_error = 1, ctl_read = 2, ctl_skip = 4, ctl_select = 8, ctl_write = 0x10;
constexpr const char* rw_file = "opt/qforge/fuzz-rw";
constexpr std::size_t rw_size = 300;
constexpr std::uint64_t bios_size = 64 << 10;

std::uint64_t be(const std::uint8_t* p, unsigned n) {
    std::uint64_t v = 0;
    for (unsigned i = 0; i < n; ++i) v = v << 8 | p[i];
    return v;
}

// Guest memory as the model sees it: what each address is (from the board's
// map when the input starts; nothing here changes it), RAM's bytes as they
// should be, ROM's as they were.
struct guest_memory {
    struct piece {
        std::uint64_t first, last;
        region_kind kind;
        std::vector<std::uint8_t> rom;  // a ROM piece's bytes
    };
    std::vector<piece> pieces;
    std::vector<std::uint8_t> ram;  // RAM at guest-physical 0 (below 4 GiB: the rigs here are small)

    const piece* at(std::uint64_t a) const {
        if (last_ && last_->first <= a && a <= last_->last) return last_;
        for (const auto& p : pieces)
            if (p.first <= a && a <= p.last) return last_ = &p;
        return nullptr;
    }
    mutable const piece* last_ = nullptr;
    bool is_ram(std::uint64_t a) const {
        const piece* p = at(a);
        return p && p->kind == region_kind::ram;
    }
    // Whether a bus master may read [a, a + n): all RAM or ROM, no wrap.
    bool readable(std::uint64_t a, std::uint64_t n) const {
        if (n && a + n - 1 < a) return false;
        for (std::uint64_t i = 0; i < n;) {
            const piece* p = at(a + i);
            if (!p || p->kind == region_kind::mmio) return false;
            if (p->last - (a + i) >= n - i - 1) break;
            i += p->last - (a + i) + 1;
        }
        return true;
    }
    std::uint8_t byte(std::uint64_t a) const {
        const piece* p = at(a);
        if (!p) return 0;
        if (p->kind == region_kind::ram) return ram.at(a);
        return p->kind == region_kind::rom ? p->rom.at(a - p->first) : 0;
    }
    // A bus master's write: the RAM bytes of it land, unless it wraps.
    bool dma_write(std::uint64_t a, std::span<const std::uint8_t> in) { return dma_store(a, in.size(), in.data()); }
    // The same with n zeros (from nullptr).
    bool dma_store(std::uint64_t a, std::uint64_t size, const std::uint8_t* in) {
        if (size && a + size - 1 < a) return false;
        bool ok = true;
        for (std::uint64_t i = 0; i < size;) {
            // A run of one kind at a time.
            const std::uint64_t x = a + i;
            const piece* p = at(x);
            std::uint64_t end = ~std::uint64_t{0};  // the run's last byte
            if (p) {
                end = p->last;
            } else {
                for (const auto& q : pieces)
                    if (q.first > x) end = std::min(end, q.first - 1);
            }
            const auto n = std::min<std::uint64_t>(size - i, end - x + 1);
            if (p && p->kind == region_kind::ram) {
                const auto to = ram.begin() + static_cast<std::ptrdiff_t>(x);
                if (in) std::copy_n(in + i, n, to);
                else std::fill_n(to, n, std::uint8_t{0});
            } else {
                ok = false;
            }
            i += n;
        }
        return ok;
    }
};

// fw_cfg as the guest sees it.
struct fw_cfg_model {
    struct item {
        std::vector<std::uint8_t> data;
        bool writable = false;
    };
    std::map<std::uint16_t, item> items;  // by arch bit | index
    std::optional<std::uint16_t> selected = std::uint16_t{0};
    std::uint32_t offset = 0;
    std::uint64_t dma_addr = 0;
    guest_memory mem;
    // The current transfer's windows: a DMA write anywhere else is a finding.
    std::uint64_t win_addr = 0, win_len = 0, ctl_addr = 0;

    static constexpr std::uint16_t index_mask = 0x3fff, arch = 0x8000;

    void select(std::uint16_t key) {
        offset = 0;
        const std::uint16_t index = key & index_mask;
        selected = index < dev::fw_cfg_io::max_entry ? std::optional<std::uint16_t>((key & arch) | index) : std::nullopt;
    }
    item* current() {
        if (!selected) return nullptr;
        const auto it = items.find(*selected);
        return it == items.end() ? nullptr : &it->second;
    }
    std::uint8_t data_byte() {
        item* e = current();
        if (!e || offset >= e->data.size()) return 0;
        return e->data[offset++];
    }

    // An access wholly inside the device (offset from 0x510, 1, 2 or 4 bytes).
    void device_read(unsigned off, std::span<std::uint8_t> out) {
        const auto n = out.size();
        std::fill(out.begin(), out.end(), std::uint8_t{0});
        if (off < 2) {
            if (n == 1) out[0] = data_byte();
        } else if (off < 4) {
            std::fill(out.begin(), out.end(), std::uint8_t{0xff});
        } else if ((off - 4) % n == 0 && off - 4 + n <= 8) {
            std::memcpy(out.data(), &"QEMU CFG"[off - 4], n);
        }
    }
    void device_write(unsigned off, std::span<const std::uint8_t> in) {
        const auto n = in.size();
        if (off == 0 && n == 2) select(static_cast<std::uint16_t>(in[0] | in[1] << 8));
        if (off == 4 && n == 4) dma_addr = be(in.data(), 4) << 32;
        if (off == 8 && n == 4) {
            dma_addr |= be(in.data(), 4);
            transfer();
        }
    }

    // The ISA bus: an access that leaves the device's range goes a byte at
    // a time, and nothing answers outside it.
    void port_read(std::uint16_t port, std::span<std::uint8_t> out) {
        if (port >= port_first && port + out.size() <= port_end) return device_read(port - port_first, out);
        for (std::size_t i = 0; i < out.size(); ++i) {
            const auto p = static_cast<std::uint16_t>(port + i);
            if (p >= port_first && p < port_end) device_read(p - port_first, out.subspan(i, 1));
            else out[i] = 0xff;
        }
    }
    void port_write(std::uint16_t port, std::span<const std::uint8_t> in) {
        if (port >= port_first && port + in.size() <= port_end) return device_write(port - port_first, in);
        for (std::size_t i = 0; i < in.size(); ++i) {
            const auto p = static_cast<std::uint16_t>(port + i);
            if (p >= port_first && p < port_end) device_write(p - port_first, in.subspan(i, 1));
        }
    }

    void put_control(std::uint64_t d, std::uint32_t control) {
        const std::uint8_t b[4] = {std::uint8_t(control >> 24), std::uint8_t(control >> 16), std::uint8_t(control >> 8),
                                   std::uint8_t(control)};
        mem.dma_write(d, b);
    }

    // docs/specs/fw_cfg.rst, "Guest-side DMA Interface".
    void transfer() {
        const std::uint64_t d = dma_addr;
        dma_addr = 0;  // "0 at startup and after an operation"
        ctl_addr = d;
        win_len = 0;
        if (!mem.readable(d, 16)) return put_control(d, ctl_error);
        std::uint8_t desc[16];
        for (unsigned i = 0; i < 16; ++i) desc[i] = mem.byte(d + i);
        const auto control = static_cast<std::uint32_t>(be(desc, 4));
        std::uint32_t length = static_cast<std::uint32_t>(be(desc + 4, 4));
        std::uint64_t address = be(desc + 8, 8);
        win_addr = address;
        win_len = length;
        if (control & ctl_select) select(static_cast<std::uint16_t>(control >> 16));
        const bool read = control & ctl_read, write = !read && (control & ctl_write);
        if (!read && !write && !(control & ctl_skip)) length = 0;
        bool error = false;
        while (length && !error) {
            item* e = current();
            std::uint32_t len = length;
            if (!e || offset >= e->data.size()) {
                // Past the end: a read gives zeros (QEMU's dma_memory_set,
                // which may be told to fill 4 GiB), a write fails, a skip
                // does nothing.
                if (read) error |= !mem.dma_store(address, len, nullptr);
                error |= write;
            } else {
                len = std::min<std::uint32_t>(length, static_cast<std::uint32_t>(e->data.size() - offset));
                const auto part = std::span(e->data).subspan(offset, len);
                if (read) error |= !mem.dma_write(address, part);
                if (write) {
                    // Read-only items, writes past the end or cut short fail
                    // whole; a source that is not memory leaves zeros.
                    if (!e->writable || len != length) {
                        error = true;
                    } else if (!mem.readable(address, len)) {
                        std::fill(part.begin(), part.end(), std::uint8_t{0});
                        error = true;
                    } else {
                        for (std::uint32_t i = 0; i < len; ++i) part[i] = mem.byte(address + i);
                    }
                }
                offset += len;
            }
            address += len;
            length -= len;
        }
        put_control(d, error ? ctl_error : 0);
    }

    // Whether [a, a + n) lies in the control word or the transfer's window.
    bool may_write(std::uint64_t a, std::uint64_t n) const {
        auto inside = [&](std::uint64_t base, std::uint64_t len) { return n <= len && a - base <= len - n; };
        return inside(ctl_addr, 4) || inside(win_addr, win_len);
    }
};

struct ram_watch final : memory_listener {
    std::vector<std::pair<std::uint64_t, std::uint64_t>> writes;
    void map_changed(std::uint64_t, std::uint64_t) override {}
    void ram_written(std::uint64_t a, std::uint64_t n) override { writes.emplace_back(a, n); }
};

std::string hex(std::uint64_t v) {
    char b[24];
    std::snprintf(b, sizeof b, "%#llx", static_cast<unsigned long long>(v));
    return b;
}

class fw_cfg_run {
public:
    fw_cfg_run(std::uint8_t config, std::uint64_t ram_size) : ram_size_(ram_size), h_(opts(config, ram_size)) {
        std::vector<std::byte> bios(bios_size);
        for (std::size_t i = 0; i < bios.size(); ++i) bios[i] = std::byte(((i + config) * 0x9e37'79b9'7f4a'7c15ull) >> 56);
        h_.load_bios(bios, "(fuzz)");
        auto& fw = fw_cfg();
        std::vector<std::byte> rw(rw_size);
        for (std::size_t i = 0; i < rw.size(); ++i) rw[i] = std::byte(i);
        fw.add_file(rw_file, rw,
                    {false, nullptr, [this](std::uint32_t off, std::uint32_t len) { on_write(off, len); }});
        // The model starts from what the board built.
        for (std::uint16_t a : {std::uint16_t{0}, fw_cfg_model::arch})
            for (std::uint16_t i = 0; i < dev::fw_cfg_io::max_entry; ++i)
                if (fw.has_entry(a | i)) {
                    auto e = fw.entry(a | i);
                    model_.items[a | i].data.assign(reinterpret_cast<const std::uint8_t*>(e.data()),
                                                    reinterpret_cast<const std::uint8_t*>(e.data()) + e.size());
                }
        rw_key_ = *fw.file_key(rw_file);
        model_.items[rw_key_].writable = true;
        const auto& mem = h_.machine().memory();
        for (const auto& s : mem.flat_view()) {
            guest_memory::piece p{s.first, s.last, s.r->kind, {}};
            if (s.r->kind == region_kind::rom) {
                p.rom.resize(s.last - s.first + 1);
                mem.read(gpa{s.first}, std::as_writable_bytes(std::span(p.rom)));
            }
            model_.mem.pieces.push_back(std::move(p));
        }
        model_.mem.ram.assign(reinterpret_cast<const std::uint8_t*>(h_.machine().ram()),
                              reinterpret_cast<const std::uint8_t*>(h_.machine().ram()) + ram_size);
        mem.add_listener(&watch_);
    }
    ~fw_cfg_run() { h_.machine().memory().remove_listener(&watch_); }

    void run(byte_reader& in) {
        while (in.more()) run_op(in);
        finish();
    }

private:
    static options opts(std::uint8_t config, std::uint64_t ram_size) {
        options o;
        o.ram_size = ram_size;
        // -fw_cfg strings: more files in the directory, their keys shifted.
        static const char* const user[] = {"name=opt/a,string=x", "name=opt/zz,string=hello world",
                                           "name=opt/0123456789abcdef0123456789abcdef0123456789,string=."};
        for (unsigned i = 0; i < 3; ++i)
            if (config & (2u << i)) o.fw_cfg.emplace_back(user[i]);
        return o;
    }
    dev::fw_cfg_io& fw_cfg() { return h_.machine().template device<dev::fw_cfg_io>(); }

    void on_write(std::uint32_t off, std::uint32_t len) {
        if (std::uint64_t{off} + len > rw_size)
            fuzz::fail("fw_cfg told of a write of " + std::to_string(len) + " bytes at " + std::to_string(off) +
                       " into a " + std::to_string(rw_size) + "-byte file");
        fuzz::count("dma: write into the writable file");
    }

    // An address for a descriptor or a transfer, from a kind byte.
    std::uint64_t address(byte_reader& in) {
        const std::uint8_t kind = in.u8();
        switch (kind % 10) {
        case 0: return 0x1000 + (in.u16() & ~7u);                // low RAM
        case 1: return 0x100000 + (in.u32() % (ram_size_ - 0x100000));  // RAM above 1 MiB
        case 2: return ram_size_ - in.u8();                     // RAM's end
        case 3: return 0xa0000 - in.u8();                        // into SMRAM's (MMIO) window
        case 4: return 0xffffffffull - in.u16();                 // the BIOS at the top of 4 GiB
        case 5: return 0xfec00000ull + in.u16();                 // the IOAPIC, the HPET
        case 6: return 0 - std::uint64_t{in.u8()};               // wraps at 2^64
        case 7: return in.u32();
        case 8: return in.u64();
        default: return 0xf0000 + in.u16();                       // the BIOS's low alias, PAM
        }
    }
    // A length, from a kind byte: around the selected item's size too.
    std::uint32_t length(byte_reader& in, std::uint16_t key) {
        const auto it = model_.items.find(static_cast<std::uint16_t>((key & fw_cfg_model::arch) | (key & fw_cfg_model::index_mask)));
        const auto size = static_cast<std::uint32_t>(it == model_.items.end() ? 0 : it->second.data.size());
        switch (in.u8() % 6) {
        case 0: return in.u8();
        case 1: return size;
        case 2: return size + in.u8() % 3 - 1;
        case 3: return in.u16();
        case 4: return 0;
        default: return in.u32();
        }
    }
    // An item's key: one that is there (0-0x9f; with the write-channel
    // bit, QEMU's ignored write bit, from 0x80), the writable file
    // (0xa0-0xbf), or any.
    std::uint16_t key(byte_reader& in) {
        const std::uint8_t k = in.u8();
        if (k >= 0xc0) return in.u16();
        if (k >= 0xa0) return rw_key_;
        auto it = model_.items.begin();
        std::advance(it, k % model_.items.size());
        return it->first | (k & 0x80 ? 0x4000 : 0);
    }

    void guest_write(std::uint64_t a, std::span<const std::uint8_t> b) {
        h_.write(a, std::as_bytes(b));
        for (std::size_t i = 0; i < b.size() && a + i >= a; ++i)  // what passes 2^64 is dropped
            if (model_.mem.is_ram(a + i)) model_.mem.ram.at(a + i) = b[i];
    }

    void port_read(std::uint16_t port, unsigned size) {
        std::uint8_t got[4] = {}, want[4] = {};
        h_.machine().pio_read({port}, std::as_writable_bytes(std::span(got, size)));
        model_.port_read(port, std::span(want, size));
        if (std::memcmp(got, want, size) != 0)
            fuzz::fail("a " + std::to_string(size) + "-byte read of port " + hex(port) + " gave " +
                       hex(be(got, size)) + " (bytes in order), the model says " + hex(be(want, size)));
    }
    void port_write(std::uint16_t port, std::uint32_t value, unsigned size) {
        std::uint8_t b[4];
        std::memcpy(b, &value, 4);
        watch_.writes.clear();
        const auto t0 = std::chrono::steady_clock::now();
        h_.machine().pio_write({port}, std::as_bytes(std::span(b, size)));
        // One OUT holds the main loop: a DMA transfer must not take long.
        const auto took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (took > 2) fuzz::fail("a port write (a DMA transfer) took " + std::to_string(took) + " s");
        model_.port_write(port, std::span<const std::uint8_t>(b, size));
        for (auto [a, n] : watch_.writes) {
            if (!model_.may_write(a, n))
                fuzz::fail("DMA wrote " + std::to_string(n) + " bytes at " + hex(a) + ", outside the control word at " +
                           hex(model_.ctl_addr) + " and the transfer's window " + hex(model_.win_addr) + "+" +
                           hex(model_.win_len));
            for (std::uint64_t i = 0; i < n; ++i)
                if (!model_.mem.is_ram(a + i)) fuzz::fail("DMA wrote at " + hex(a + i) + ", which is not RAM");
        }
    }

    void dma(byte_reader& in) {
        const std::uint64_t d = address(in);
        const std::uint8_t how = in.u8();
        std::uint32_t control;
        std::uint16_t k = model_.selected.value_or(0);
        if (how & 0x80) {
            control = in.u32();
        } else {
            static constexpr std::uint32_t ops[] = {ctl_read, ctl_skip, ctl_write, ctl_read | ctl_write, 0, ctl_error};
            control = ops[(how & 0x0f) % 6];
            if (how & 0x40) {
                k = key(in);
                control |= ctl_select | std::uint32_t{k} << 16;
            }
        }
        const std::uint32_t len = length(in, k);
        const std::uint64_t target = address(in);
        std::uint8_t desc[16];
        for (unsigned i = 0; i < 4; ++i) desc[i] = static_cast<std::uint8_t>(control >> (24 - 8 * i));
        for (unsigned i = 0; i < 4; ++i) desc[4 + i] = static_cast<std::uint8_t>(len >> (24 - 8 * i));
        for (unsigned i = 0; i < 8; ++i) desc[8 + i] = static_cast<std::uint8_t>(target >> (56 - 8 * i));
        if (!(how & 0x20)) guest_write(d, desc);  // else what is there already
        // SeaBIOS's order: the high half (when there is one), then the low,
        // which starts it. Byte-swapped: the register is big-endian. An
        // earlier write of the high half alone stays in the register.
        if ((d >> 32) || (how & 0x10)) port_write(0x514, __builtin_bswap32(static_cast<std::uint32_t>(d >> 32)), 4);
        const std::uint64_t at = model_.dma_addr | (d & 0xffff'ffffu);
        port_write(0x518, __builtin_bswap32(static_cast<std::uint32_t>(d)), 4);
        if (model_.mem.is_ram(at) && model_.mem.is_ram(at + 3) && at + 3 > at) {
            std::uint8_t got[4];
            h_.read(at, std::as_writable_bytes(std::span(got)));
            const auto c = static_cast<std::uint32_t>(be(got, 4));
            if (c != 0 && c != ctl_error) fuzz::fail("DMA left the control word at " + hex(c) + ": 0 or the error bit");
            fuzz::count(c ? "dma: error" : "dma: done");
        } else {
            fuzz::count("dma: descriptor not in RAM");
        }
        check_state("after a DMA transfer");
    }

    // One operation; its first byte says which.
    void run_op(byte_reader& in) {
        switch (in.u8() % 8) {
        case 0: {
            const std::uint16_t k = key(in);
            port_write(0x510, k, 2);
            break;
        }
        case 1: {
            const unsigned n = 1 + in.u8() % 64;
            const std::uint16_t port = in.u8() & 1 ? 0x511 : 0x510;
            for (unsigned i = 0; i < n; ++i) port_read(port, 1);
            fuzz::count("data port reads");
            break;
        }
        case 2: {
            const auto port = static_cast<std::uint16_t>(0x50e + in.u8() % 16);
            const unsigned size = 1u << (in.u8() % 3);
            if (in.u8() & 1) port_write(port, in.u32(), size);
            else port_read(port, size);
            break;
        }
        case 3:
        case 4:
        case 5: dma(in); break;
        case 6: {
            const std::uint64_t a = address(in);
            const auto b = in.bytes(1 + in.u8() % 32);
            guest_write(a, b);
            break;
        }
        default:
            h_.machine().reset();
            model_.select(0);
            fuzz::count("system reset");
            break;
        }
    }

    void check_state(const char* when) {
        const auto& s = fw_cfg().state();
        if (s.dma_addr != model_.dma_addr)
            fuzz::fail(std::string("the DMA address register is ") + hex(s.dma_addr) + ", the model's " +
                       hex(model_.dma_addr) + " " + when);
        if (model_.selected && s.cur_offset != model_.offset)
            fuzz::fail(std::string("the item's offset is ") + std::to_string(s.cur_offset) + ", the model's " +
                       std::to_string(model_.offset) + " " + when);
    }

    void finish() {
        check_state("at the end");
        const auto* ram = reinterpret_cast<const std::uint8_t*>(h_.machine().ram());
        if (std::memcmp(ram, model_.mem.ram.data(), ram_size_) != 0)
            for (std::uint64_t a = 0; a < ram_size_; ++a)
            if (ram[a] != model_.mem.ram[a])
                    fuzz::fail("RAM at " + hex(a) + " is " + hex(ram[a]) + ", the model says " + hex(model_.mem.ram[a]));
        for (const auto& p : model_.mem.pieces) {
            if (p.kind != region_kind::rom) continue;
            std::vector<std::uint8_t> now(p.rom.size());
            h_.read(p.first, std::as_writable_bytes(std::span(now)));
            if (now != p.rom) fuzz::fail("ROM at " + hex(p.first) + "-" + hex(p.last) + " changed");
        }
        auto& fw = fw_cfg();
        for (const auto& [k, it] : model_.items) {
            const auto e = fw.entry(k);
            if (!std::equal(e.begin(), e.end(), it.data.begin(), it.data.end(),
                            [](std::byte x, std::uint8_t y) { return std::to_integer<std::uint8_t>(x) == y; }))
                fuzz::fail("item " + hex(k) + " holds other bytes than the model's");
        }
    }

    std::uint64_t ram_size_;
    ram_watch watch_;  // before the machine, which it outlives
    pc_rig h_;
    fw_cfg_model model_;
    std::uint16_t rw_key_ = 0;
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::quiet_log();
    if (size < 1) return 0;
    byte_reader in(std::span(data, size));
    const std::uint8_t config = in.u8();
    fuzz::run_checked("the board", [&] {
        fw_cfg_run r(config, (config & 1 ? 4ull : 2ull) << 20);
        r.run(in);
    });
    return 0;
}

// Firmware-like sequences: the signature and ID through the data port,
// the directory and files by DMA (select + read), skips, writes into the
// writable file and into read-only ones, descriptors at the edges. Each
// operation is laid out as run_op reads it.
namespace {

void gen_address(fuzz::byte_writer& w, std::mt19937_64& rng, bool ram) {
    static constexpr unsigned value_size[10] = {2, 4, 1, 1, 2, 2, 1, 4, 8, 2};
    const unsigned kind = static_cast<unsigned>(ram ? rng() % 3 : rng() % 10);
    w.u8(kind);
    for (unsigned i = 0; i < value_size[kind]; ++i) w.u8(rng());
}

} // namespace

extern "C" std::size_t qf_fuzz_generate(std::uint8_t* out, std::size_t max, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    fuzz::byte_writer w(out, max);
    w.u8(rng());
    const unsigned n = 1 + static_cast<unsigned>(rng() % 24);
    for (unsigned i = 0; i < n && !w.full(); ++i) {
        switch (rng() % 10) {
        case 0:  // select, then the data port
            w.u8(0);
            w.u8(rng() % 0xc0);
            w.u8(1);
            w.u8(rng());
            w.u8(rng());
            break;
        case 1:  // any port, any size
            w.u8(2);
            w.u8(rng());
            w.u8(rng());
            if (rng() % 2) {
                w.u8(1);
                w.u32(rng());
            } else {
                w.u8(0);
            }
            break;
        case 2:  // guest bytes somewhere
            w.u8(6);
            gen_address(w, rng, rng() % 2);
            w.u8(31);
            for (int k = 0; k < 32; ++k) w.u8(rng());
            break;
        case 3: w.u8(7); break;
        default: {  // DMA: mostly a descriptor in RAM selecting an item and reading it whole
            w.u8(3);
            gen_address(w, rng, rng() % 8 != 0);
            if (rng() % 8 == 0) {
                w.u8(0x80 | rng());
                w.u32(rng() % 2 ? rng() : (rng() & 0x3f001f) | 8);
            } else {
                const unsigned op = static_cast<unsigned>(rng() % 4 == 0 ? rng() % 6 : rng() % 3);
                w.u8(0x40 | op | (rng() % 8 == 0 ? 0x30 : 0));
                w.u8(op == 2 && rng() % 2 ? 0xa0 : rng() % 0xa0);  // writes: often the writable file
            }
            const unsigned len = static_cast<unsigned>(rng() % 3 ? 1 : rng() % 6);
            w.u8(len);
            static constexpr unsigned len_size[6] = {1, 0, 1, 2, 0, 4};
            for (unsigned k = 0; k < len_size[len]; ++k) w.u8(rng());
            gen_address(w, rng, rng() % 6 != 0);
            break;
        }
        }
    }
    return w.size();
}
