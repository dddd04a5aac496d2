// PCI configuration space on the pc board, as a guest reaches it: the
// address register at 0xcf8 and the data window at 0xcfc-0xcff (accesses
// of 1, 2 and 4 bytes at any offset, misaligned ones too), PIIX's reset
// control at 0xcf9, against i440FX (PAM, SMRAM), PIIX3's ISA bridge and
// IDE, PIIX4 PM (its PM block through PMBA/PMIOSE) and one or two
// pci-testdevs (I/O and memory BARs, a 64-bit one); with port and MMIO
// accesses where the BARs point. After every operation:
//  - the identity registers (vendor, device, revision, class, header type,
//    subsystem, interrupt pin) read as at power-on, whatever was written;
//    command bits outside QEMU's write mask stay 0; a write never sets a
//    status bit; BARs keep their type bits and their address bits below
//    the size read 0; absent functions, other buses and a disabled address
//    read all ones; 0xcf8 reads back what was written;
//  - every BAR is mapped exactly where its register and the command
//    register say (I/O: the run-time port map; memory: the address space),
//    and nowhere when decoding is off: no stale mapping; PIIX4's PM block
//    likewise; the address space's flat view is sorted, disjoint, and each
//    piece lies in its region; PAM and SMRAM show the view their registers
//    choose, and SMRAM's D_LCK holds until reset;
// and, on request and at the end, with decoding turned off everywhere the
// port map is empty (no port marked as covered) and no BAR region is
// enabled; after a system reset the configuration space of every function
// and the memory map are as at power-on.
#include "byte_reader.hpp"
#include "entry.hpp"
#include "machines/pc/pc.hpp"
#include "qf/embed/harness.hpp"

#include <array>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace {

using namespace qf;
using fuzz::byte_reader;

// pc, with the run-time port map in reach of the checks.
class pc_board : public machines::pc<accel::tcg<>> {
public:
    using pc::pc;
    const io_map& ports() const { return *this->services().ports; }
};
using pc_rig = embed::harness<pc_board>;

std::string hex(std::uint64_t v) {
    char b[24];
    std::snprintf(b, sizeof b, "%#llx", static_cast<unsigned long long>(v));
    return b;
}

// A BAR as pci-testdev's and PIIX3 IDE's documentation give them.
struct bar_spec {
    unsigned index;
    bool io;
    std::uint64_t size;
    bool mem64 = false;
    // pci-testdev's membar: QEMU backs it with an empty container, so it
    // is sized but decodes nothing.
    bool decodes = true;
    std::optional<io_map::id> io_id;  // the port map's entry
    std::string region;               // the address space's region
};

struct function_spec {
    unsigned devfn;
    std::string name;
    std::vector<bar_spec> bars;
    std::array<std::uint8_t, 256> power_on{};
};

// Identity bytes (PCI 3.0, 6.2.1): read-only whatever is written.
constexpr unsigned identity[] = {0x00, 0x01, 0x02, 0x03, 0x08, 0x09, 0x0a, 0x0b, 0x0e, 0x2c, 0x2d, 0x2e, 0x2f, 0x3d};
constexpr std::uint16_t command_mask = 0x0507;  // I/O, memory, master, SERR, INTx disable (QEMU's wmask)
constexpr std::uint64_t membar_sizes[] = {16, 4096, 1 << 20, 2ull << 30, 1ull << 32, 64};

class pci_run {
public:
    explicit pci_run(std::uint8_t config) : h_(opts(config)), membar_(config & 2 ? membar_sizes[(config >> 2) % 6] : 0) {
        h_.load_bios(std::vector<std::byte>(64 << 10), "(fuzz)");
        auto& host = this->host();
        // The functions, and what their BARs should be; each I/O BAR's
        // entry in the port map is found by mapping it once.
        for (unsigned devfn = 0; devfn < 256; ++devfn) {
            pci::pci_function* f = host.function(devfn);
            if (!f) continue;
            function_spec s{devfn, f->name(), {}, {}};
            if (f->name() == "PIIX3-IDE") s.bars.push_back({4, true, 16, false, true, io_id(*f, 0x20, 0x04), {}});
            if (f->name() == "pci-testdev") {
                const bool with_membar = membar_ && (f->config_read(0x18, 4) & 0xf) == 0xc;
                s.bars.push_back({0, false, 4096, false, true, std::nullopt, "pci-testdev.bar0"});
                s.bars.push_back({1, true, 256, false, true, io_id(*f, 0x14, 0x04), {}});
                if (with_membar) s.bars.push_back({2, false, membar_, true, false, std::nullopt, "pci-testdev.bar2"});
            }
            functions_.push_back(std::move(s));
        }
        pm_io_ = io_id(*host.function(0x0b), 0x40, 0x80);
        h_.machine().reset();
        for (auto& s : functions_) {
            pci::pci_function* f = host.function(s.devfn);
            for (unsigned o = 0; o < 256; ++o) s.power_on[o] = static_cast<std::uint8_t>(f->config_read(o, 1));
            // What query-pci says of the BARs is what the documentation says.
            const auto info = f->describe(s.devfn);
            std::size_t listed = 0;
            for (const auto& b : s.bars) {
                const pci_region_info* r = listed < info.regions.size() ? &info.regions[listed] : nullptr;
                if (!r || r->bar != b.index || r->io != b.io || r->size != b.size || r->mem64 != b.mem64 ||
                    r->prefetch != b.mem64)
                    fuzz::fail(s.name + ": query-pci does not describe BAR" + std::to_string(b.index) + " as documented");
                ++listed;
            }
            if (listed != info.regions.size()) fuzz::fail(s.name + ": query-pci lists BARs that are not documented");
        }
        flat_at_power_on_ = flat_view();
        if (!h_.machine().ports().empty()) fuzz::fail("the port map has entries mapped at power-on");
    }

    void run(byte_reader& in) {
        while (in.more()) {
            run_op(in);
            check();
        }
        check_unmapped_when_off();
        reset_and_check();
    }

private:
    static options opts(std::uint8_t config) {
        options o;
        o.ram_size = 4 << 20;
        o.devices.push_back(parse_opt_list("-device", config & 1 ? "pci-testdev,addr=5.0" : "pci-testdev"));
        if (config & 2)
            o.devices.push_back(parse_opt_list(
                "-device", "pci-testdev,membar=" + std::to_string(membar_sizes[(config >> 2) % 6])));
        return o;
    }
    pci::pci_host& host() { return h_.machine().template device<pci::pci_host>(); }

    // The port map's entry that a function's I/O range goes to: the one
    // that appears at 0x1000 when the range is put there and enabled
    // (register reg, enable bit 0 of register enable).
    io_map::id io_id(pci::pci_function& f, unsigned reg, unsigned enable) {
        f.config_write(reg, 0x1001, 4);
        f.config_write(enable, 1, 1);
        const io_map& ports = h_.machine().ports();
        std::optional<io_map::id> found;
        try {
            for (io_map::id i = 0;; ++i)
                if (ports.base_of(i) == 0x1000) found = i;
        } catch (const std::out_of_range&) {
        }
        f.config_write(enable, 0, 1);
        if (!found) fuzz::fail(f.name() + ": its I/O range at 0x1000 is not in the port map");
        return *found;
    }

    std::uint32_t in_port(std::uint16_t port, unsigned size) {
        std::uint32_t v = 0;
        h_.machine().pio_read({port}, std::as_writable_bytes(std::span(&v, 1)).first(size));
        return v;
    }
    void out_port(std::uint16_t port, std::uint32_t v, unsigned size) {
        h_.machine().pio_write({port}, std::as_bytes(std::span(&v, 1)).first(size));
        if (port == 0xcf8 && size == 4 && !shadowed(port)) address_ = v;
    }
    // A BAR or the PM block the guest put over the host bridge's ports
    // answers there instead, as in QEMU (a BAR's subregion has priority
    // 1): config space is then out of the guest's reach.
    bool shadowed(std::uint16_t port) { return h_.machine().ports().covers(port); }

    unsigned devfn(byte_reader& in) {
        const std::uint8_t k = in.u8();
        return k < 0xe0 ? functions_[k % functions_.size()].devfn : in.u8();
    }
    std::uint32_t value(byte_reader& in) {
        switch (in.u8() % 7) {
        case 0: return 0xffff'ffff;
        case 1: return 0;
        case 2: return (in.u16() & 0xfffc) | 1;          // an I/O BAR's address
        case 3: return in.u32() & 0xffff'f000;           // a memory BAR's
        case 4: return in.u8();
        case 5: return in.u16();
        default: return in.u32();
        }
    }
    void select(unsigned fn, unsigned reg, std::uint8_t how) {
        std::uint32_t a = 0x8000'0000u | fn << 8 | (reg & 0xfc);
        if (how == 1) a &= 0x7fff'ffff;           // disabled
        else if (how == 2) a |= 1u << 16;         // bus 1: nothing behind the bridge
        else if (how == 3) a |= reg & 3;          // the low bits QEMU ORs in
        out_port(0xcf8, a, 4);
    }

    void run_op(byte_reader& in) {
        const std::uint8_t op = in.u8();
        switch (op % 12) {
        case 0:
        case 1:
        case 2: {  // a config write
            const unsigned fn = devfn(in), reg = in.u8();
            const unsigned size = 1u << (in.u8() % 3);
            const std::uint8_t how = in.u8();
            const std::uint32_t v = value(in);
            select(fn, reg, how < 0xf0 ? 0 : how & 3);
            write_config(static_cast<std::uint16_t>(0xcfc + (how & 0x80 ? reg & 3 : reg & 3 & ~(size - 1))), v, size);
            break;
        }
        case 3:
        case 4: {  // a config read, checked
            const unsigned fn = devfn(in), reg = in.u8();
            const unsigned size = 1u << (in.u8() % 3);
            const std::uint8_t how = in.u8();
            select(fn, reg, how < 0xf0 ? 0 : how & 3);
            read_config(static_cast<std::uint16_t>(0xcfc + (how & 0x80 ? reg & 3 : reg & 3 & ~(size - 1))), size);
            break;
        }
        case 5: {  // size a BAR, then place it and turn decoding on
            const function_spec& f = functions_[in.u8() % functions_.size()];
            const unsigned bar = in.u8() % 6;
            select(f.devfn, 0x10 + 4 * bar, 0);
            write_config(0xcfc, 0xffff'ffff, 4);
            read_config(0xcfc, 4);
            write_config(0xcfc, value(in), 4);
            select(f.devfn, 0x04, 0);
            write_config(0xcfc, in.u8() & 7, 2);
            fuzz::count("BARs programmed");
            break;
        }
        case 6: {  // the 0xcf8/0xcf9 register at other sizes
            const auto port = static_cast<std::uint16_t>(0xcf8 + in.u8() % 4);
            const unsigned size = 1u << (in.u8() % 3);
            if (in.u8() & 1) {
                std::uint32_t v = in.u32();
                if (port == 0xcf9) v &= ~4u;  // no reset request: it would wait for a CPU that never runs
                out_port(port, v, size);
            } else {
                const std::uint32_t got = in_port(port, size);
                if (port == 0xcf8 && size == 4 && !shadowed(port) && got != address_)
                    fuzz::fail("0xcf8 reads " + hex(got) + ", " + hex(address_) + " was written");
            }
            break;
        }
        case 7: {  // ports where a BAR or the PM block may be
            std::uint16_t port = in.u16();
            if (const auto* b = some_bar(in, true)) port = static_cast<std::uint16_t>(io_base(*b) + in.u8());
            const unsigned size = 1u << (in.u8() % 3);
            if (in.u8() & 1) out_port(port, in.u32(), size);
            else (void)in_port(port, size);
            fuzz::count("port accesses");
            break;
        }
        case 8: {  // memory where a BAR may be
            std::uint64_t a = in.u32();
            if (const auto* b = some_bar(in, false)) a = mem_base(*b) + in.u16();
            std::uint8_t buf[8] = {};
            const unsigned size = 1u << (in.u8() % 4);
            if (in.u8() & 1) {
                std::memcpy(buf, &a, 8);
                h_.machine().memory().write(gpa{a}, std::as_bytes(std::span(buf, size)));
            } else {
                h_.machine().memory().read(gpa{a}, std::as_writable_bytes(std::span(buf, size)));
            }
            fuzz::count("memory accesses");
            break;
        }
        case 9: check_unmapped_when_off(); break;
        case 10: reset_and_check(); break;
        default: {  // PAM and SMRAM
            const unsigned reg = 0x59 + in.u8() % 7;
            select(0, in.u8() & 1 ? 0x72 : reg, 0);
            write_config(static_cast<std::uint16_t>(0xcfc + (reg & 3)), in.u8(), 1);
            fuzz::count("PAM/SMRAM writes");
            break;
        }
        }
    }

    // The function and register 0xcf8 selects, as the guest set it.
    pci::pci_function* selected(unsigned& reg) {
        if (!(address_ & 0x8000'0000u) || ((address_ >> 16) & 0xff)) return nullptr;
        reg = address_ & 0xff;
        return host().function((address_ >> 8) & 0xff);
    }
    void write_config(std::uint16_t port, std::uint32_t v, unsigned size) {
        unsigned reg = 0;
        pci::pci_function* f = selected(reg);
        const std::uint16_t status = f ? static_cast<std::uint16_t>(f->config_read(0x06, 2)) : 0;
        out_port(port, v, size);
        if (f && (f->config_read(0x06, 2) & ~status))
            fuzz::fail(f->name() + ": a config write set status bits " + hex(f->config_read(0x06, 2) & ~status));
        fuzz::count(f ? "config writes" : "config writes to nothing");
    }
    void read_config(std::uint16_t port, unsigned size) {
        const std::uint32_t got = in_port(port, size);
        const std::uint32_t ones = size == 4 ? 0xffff'ffffu : (1u << (8 * size)) - 1;
        const unsigned offset = port - 0xcfc;
        if (shadowed(port) || shadowed(0xcf8)) {
            fuzz::count("config ports under a BAR");
            return;
        }
        if (offset + size > 4) {  // past 0xcff: the bus goes a byte at a time, the rest floats
            fuzz::count("config reads past 0xcff");
            return;
        }
        if (offset & (size - 1)) {
            if (got != 0) fuzz::fail("a misaligned " + std::to_string(size) + "-byte read of " + hex(port) + " gave " + hex(got));
            return;
        }
        unsigned reg = 0;
        pci::pci_function* f = selected(reg);
        if (!f) {
            if (got != ones) fuzz::fail("a read where no function is selected gave " + hex(got) + " (address " + hex(address_) + ")");
            return;
        }
        const unsigned at = (reg | offset) & 0xff;
        if (got != f->config_read(at, size))
            fuzz::fail(f->name() + ": the data window reads " + hex(got) + " at " + hex(at) + ", the function holds " +
                       hex(f->config_read(at, size)));
        fuzz::count("config reads");
    }

    // A BAR of the kind asked for, if the input picks one.
    const bar_spec* some_bar(byte_reader& in, bool io) {
        const std::uint8_t k = in.u8();
        if (k & 0x80) return nullptr;
        std::vector<const bar_spec*> all;
        for (const auto& f : functions_)
            for (const auto& b : f.bars)
                if (b.io == io) all.push_back(&b);
        return all.empty() ? nullptr : all[k % all.size()];
    }
    const function_spec& owner(const bar_spec& b) const {
        for (const auto& f : functions_)
            for (const auto& x : f.bars)
                if (&x == &b) return f;
        fuzz::fail("a BAR without a function");
    }
    // An I/O BAR's address: all 32 bits (an address past 0xffff decodes nothing).
    std::uint32_t io_base(const bar_spec& b) {
        return host().function(owner(b).devfn)->config_read(0x10 + 4 * b.index, 4) & 0xffff'fffc;
    }
    std::uint64_t mem_base(const bar_spec& b) {
        pci::pci_function* f = host().function(owner(b).devfn);
        std::uint64_t v = f->config_read(0x10 + 4 * b.index, 4) & 0xffff'fff0u;
        if (b.mem64) v |= std::uint64_t{f->config_read(0x14 + 4 * b.index, 4)} << 32;
        return v;
    }

    // Where a BAR should decode now: PCI 3.0, 6.2.5, with QEMU's rules
    // for what is no address (zero, the sizing value, past the port space).
    std::optional<std::uint64_t> expected_base(const function_spec& s, const bar_spec& b) {
        pci::pci_function* f = host().function(s.devfn);
        const std::uint16_t command = static_cast<std::uint16_t>(f->config_read(0x04, 2));
        if (b.io) {
            const std::uint64_t base = io_base(b);
            if ((command & 1) && base && base + b.size <= 0x10000) return base;
            return std::nullopt;
        }
        const std::uint64_t base = mem_base(b);
        if (!(command & 2) || !base || base == (~(b.size - 1) & (b.mem64 ? ~0ull : 0xffff'ffffull))) return std::nullopt;
        return base;
    }

    // A BAR's regions, enabled or not, as the address space holds them:
    // by name and by the device their accesses go to (two pci-testdevs
    // name theirs alike).
    std::vector<const region*> regions(const function_spec& s, const bar_spec& b) {
        std::vector<const region*> out;
        const auto& as = h_.machine().memory();
        const void* dev = dynamic_cast<pci::pci_testdev*>(host().function(s.devfn));
        try {
            for (region_id id = 0;; ++id)
                if (as.get(id).name == b.region && as.get(id).ops.dev == dev) out.push_back(&as.get(id));
        } catch (const std::out_of_range&) {
        }
        return out;
    }

    void check() {
        for (const auto& s : functions_) {
            pci::pci_function* f = host().function(s.devfn);
            for (unsigned o : identity)
                if (f->config_read(o, 1) != s.power_on[o])
                    fuzz::fail(s.name + ": read-only register byte " + hex(o) + " is " + hex(f->config_read(o, 1)) +
                               ", was " + hex(s.power_on[o]));
            if (f->config_read(0x04, 2) & ~command_mask)
                fuzz::fail(s.name + ": command register " + hex(f->config_read(0x04, 2)) + " has bits outside " + hex(command_mask));
            for (unsigned n = 0; n < 6; ++n) {
                const bar_spec* b = nullptr;
                for (const auto& x : s.bars)
                    if (x.index == n || (x.mem64 && x.index + 1 == n)) b = &x;
                const std::uint32_t v = f->config_read(0x10 + 4 * n, 4);
                if (!b) {
                    if (v) fuzz::fail(s.name + ": BAR" + std::to_string(n) + " is not implemented but reads " + hex(v));
                    continue;
                }
                if (b->mem64 && n == b->index + 1) continue;  // the upper half: any address
                const std::uint32_t low = b->io ? 0x1 : b->mem64 ? 0xc : 0x0;
                const std::uint32_t fixed = b->io ? 0x3 : 0xf;
                if ((v & fixed) != low) fuzz::fail(s.name + ": BAR" + std::to_string(n) + " lost its type bits: " + hex(v));
                if (b->size <= 0xffff'ffffull && (v & ~fixed & static_cast<std::uint32_t>(b->size - 1)))
                    fuzz::fail(s.name + ": BAR" + std::to_string(n) + " has address bits below its size set: " + hex(v));
                check_mapping(s, *b);
            }
        }
        auto& pm = *host().function(0x0b);
        const std::uint32_t pmba = pm.config_read(0x40, 4);
        if (!(pmba & 1)) fuzz::fail("PIIX4 PM: PMBA lost its I/O space indicator: " + hex(pmba));
        // As a number, -1 for nowhere (GCC cannot follow an optional here).
        const std::int64_t pm_want = (pm.config_read(0x80, 1) & 1) && (pmba & 0xffc0) ? std::int64_t(pmba & 0xffc0) : -1;
        const auto pm_at = h_.machine().ports().base_of(pm_io_);
        const std::int64_t pm_got = pm_at ? std::int64_t{*pm_at} : -1;
        if (pm_got != pm_want)
            fuzz::fail("PIIX4 PM: the PM block is mapped at " + hex(static_cast<std::uint64_t>(pm_got)) +
                       ", PMBA/PMIOSE say " + hex(static_cast<std::uint64_t>(pm_want)) + " (-1: nowhere)");
        check_flat_view();
        check_pam_smram();
    }

    static std::string where(std::optional<std::uint64_t> a) { return a ? hex(*a) : "nowhere"; }

    void check_mapping(const function_spec& s, const bar_spec& b) {
        // query-pci gives the address the registers hold, whether or not
        // anything decodes there.
        const auto listed = expected_base(s, b);
        for (const auto& r : host().function(s.devfn)->describe(s.devfn).regions)
            if (r.bar == b.index && r.address != listed)
                fuzz::fail(s.name + ": query-pci gives BAR" + std::to_string(b.index) + "'s address as " +
                           where(r.address) + ", its registers say " + where(listed));
        const auto want = b.decodes ? listed : std::nullopt;
        if (b.io) {
            const auto got = h_.machine().ports().base_of(*b.io_id);
            if (got != want)
                fuzz::fail(s.name + ": I/O BAR" + std::to_string(b.index) + " is mapped at " + where(got) +
                           ", its registers say " + where(want));
            return;
        }
        const auto rs = regions(s, b);
        if (rs.size() > 1) fuzz::fail(s.name + ": " + std::to_string(rs.size()) + " regions named " + b.region);
        std::optional<std::uint64_t> got;
        if (!rs.empty() && rs[0]->enabled) got = rs[0]->base.value;
        if (!rs.empty() && rs[0]->size != b.size) fuzz::fail(b.region + " has size " + hex(rs[0]->size));
        if (got != want)
            fuzz::fail(s.name + ": memory BAR" + std::to_string(b.index) + " is mapped at " + where(got) +
                       ", its registers say " + where(want));
    }

    void check_flat_view() {
        const auto& v = h_.machine().memory().flat_view();
        for (std::size_t i = 0; i < v.size(); ++i) {
            const auto& s = v[i];
            if (s.first > s.last || (i && v[i - 1].last >= s.first))
                fuzz::fail("the flat view is not sorted and disjoint at " + hex(s.first));
            if (!s.r->enabled || s.first < s.r->base.value || s.last - s.r->base.value >= s.r->size)
                fuzz::fail("the flat view's piece " + hex(s.first) + "-" + hex(s.last) + " is not inside its enabled region " +
                           s.r->name);
        }
    }

    // i440FX: each PAM segment shows the view its two bits choose (PCI,
    // RAM read-only, RAM; QEMU 7.2 reads RAM in write-only mode too);
    // SMRAM's D_OPEN opens RAM at 0xa0000; D_LCK stays until reset and
    // closes D_OPEN.
    void check_pam_smram() {
        auto& f = *host().function(0);
        const auto& as = h_.machine().memory();
        for (unsigned i = 0; i < 13; ++i) {
            const std::uint8_t r = static_cast<std::uint8_t>(f.config_read(0x59 + (i + 1) / 2, 1));
            const unsigned mode = (i & 1 ? r : r >> 4) & 3;
            const std::uint64_t base = i == 0 ? 0xf0000 : 0xc0000 + (i - 1) * 0x4000ull;
            const auto* seg = as.find(gpa{base});
            const char* want = mode == 0 ? "pam-pci" : mode == 1 ? "pam-rom" : "pam-ram";
            if (!seg || seg->r->name != want)
                fuzz::fail("PAM segment at " + hex(base) + " in mode " + std::to_string(mode) + " shows " +
                           (seg ? seg->r->name : std::string("nothing")) + ", not " + want);
        }
        const std::uint8_t smram = static_cast<std::uint8_t>(f.config_read(0x72, 1));
        const auto* low = as.find(gpa{0xa0000});
        const bool open = low && low->r->name != "smram-region";
        if (open != static_cast<bool>(smram & 0x40))
            fuzz::fail("SMRAM " + hex(smram) + ": 0xa0000 shows " + (low ? low->r->name : std::string("nothing")));
        if (locked_ && (!(smram & 0x10) || (smram & 0x40))) fuzz::fail("SMRAM's D_LCK did not hold: " + hex(smram));
        locked_ |= (smram & 0x10) != 0;
    }

    // Decoding off everywhere: nothing of PCI's is left in the port map or
    // the address space.
    // (Straight to the functions: a BAR may hide 0xcf8-0xcff.)
    void check_unmapped_when_off() {
        for (const auto& s : functions_) host().function(s.devfn)->config_write(0x04, 0, 2);
        host().function(0x0b)->config_write(0x80, 0, 1);
        const io_map& ports = h_.machine().ports();
        if (!ports.empty()) {
            std::string mapped;
            try {
                for (io_map::id i = 0;; ++i)
                    if (ports.base_of(i)) mapped += " " + std::to_string(i) + "@" + hex(*ports.base_of(i));
            } catch (const std::out_of_range&) {
            }
            fuzz::fail("with decoding off everywhere the port map still has entries mapped:" + mapped);
        }
        for (unsigned p = 0; p < 0x10000; ++p)
            if (ports.covers(static_cast<std::uint16_t>(p))) fuzz::fail("with nothing mapped, port " + hex(p) + " is marked covered");
        for (const auto& s : functions_)
            for (const auto& b : s.bars)
                if (!b.io)
                    for (const region* r : regions(s, b))
                        if (r->enabled) fuzz::fail(b.region + " is still enabled with decoding off, at " + hex(r->base.value));
        check();
        fuzz::count("all decoding off: nothing left mapped");
    }

    std::vector<std::string> flat_view() {
        std::vector<std::string> out;
        for (const auto& s : h_.machine().memory().flat_view()) out.push_back(hex(s.first) + "-" + hex(s.last) + " " + s.r->name);
        return out;
    }

    void reset_and_check() {
        h_.machine().reset();
        address_ = 0;
        locked_ = false;
        for (const auto& s : functions_) {
            pci::pci_function* f = host().function(s.devfn);
            for (unsigned o = 0; o < 256; ++o)
                if (f->config_read(o, 1) != s.power_on[o])
                    fuzz::fail(s.name + ": after a system reset, config byte " + hex(o) + " is " + hex(f->config_read(o, 1)) +
                               ", at power-on " + hex(s.power_on[o]));
        }
        if (!h_.machine().ports().empty()) fuzz::fail("after a system reset the port map has entries mapped");
        if (flat_view() != flat_at_power_on_) fuzz::fail("after a system reset the memory map is not the power-on one");
        check();
        fuzz::count("system resets");
    }

    pc_rig h_;
    std::vector<function_spec> functions_;
    std::vector<std::string> flat_at_power_on_;
    std::uint32_t address_ = 0;
    std::uint64_t membar_ = 0;
    io_map::id pm_io_ = 0;
    bool locked_ = false;
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::quiet_log();
    if (size < 1) return 0;
    byte_reader in(std::span(data, size));
    fuzz::run_checked("the board", [&] {
        pci_run r(in.u8());
        r.run(in);
    });
    return 0;
}

// A guest's enumeration: size each BAR, place it, turn decoding on, touch
// it, move it, turn decoding off; PAM and SMRAM as a BIOS sets them; junk
// in between.
extern "C" std::size_t qf_fuzz_generate(std::uint8_t* out, std::size_t max, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    fuzz::byte_writer w(out, max);
    w.u8(rng());
    const unsigned n = 1 + static_cast<unsigned>(rng() % 32);
    static constexpr unsigned value_size[7] = {0, 0, 2, 4, 1, 2, 4};
    auto value = [&] {
        const unsigned k = static_cast<unsigned>(rng() % 7);
        w.u8(k);
        for (unsigned i = 0; i < value_size[k]; ++i) w.u8(rng());
    };
    auto read_or_write = [&] {  // a direction byte, and a value for a write
        if (rng() % 2) {
            w.u8(1);
            w.u32(rng());
        } else {
            w.u8(0);
        }
    };
    auto near_a_bar = [&](bool memory) {  // mostly a BAR, and an offset into it
        if (rng() % 4 == 0) return w.u8(0x80);
        w.u8(rng() % 0x80);
        if (memory) w.u16(rng() % 0x1000);
        else w.u8(rng());
    };
    for (unsigned i = 0; i < n && !w.full(); ++i) {
        const unsigned op = static_cast<unsigned>(rng() % 12);
        w.u8(op);
        switch (op) {
        case 0: case 1: case 2: case 3: case 4:
            w.u8(rng() % 0xe0);
            w.u8(rng() % 3 ? 0x04 + 4 * (rng() % 10) : rng());
            w.u8(rng() % 3);
            w.u8(rng() % 8 ? rng() % 0x80 : rng());
            if (op < 3) value();
            break;
        case 5:
            w.u8(rng());
            w.u8(rng());
            value();
            w.u8(rng() % 4 ? 3 : rng());
            break;
        case 6:
            w.u8(rng());
            w.u8(rng());
            read_or_write();
            break;
        case 7:
            w.u16(rng());
            near_a_bar(false);
            w.u8(rng());
            read_or_write();
            break;
        case 8:
            w.u32(rng());
            near_a_bar(true);
            w.u8(rng());
            w.u8(rng());
            break;
        case 11:
            w.u8(rng());
            w.u8(rng());
            w.u8(rng() % 2 ? 0x33 : rng());
            break;
        default: break;
        }
    }
    return w.size();
}
