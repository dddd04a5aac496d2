// fw_cfg driven through its ports as SeaBIOS drives it, over a real address
// space; the pc table checked against what QEMU 7.2 gave a guest that read
// every entry (-m 128M, one CPU; and -m 5G -smp 6,sockets=2,cores=3
// -M hpet=off -uuid ... -boot reboot-timeout=1000).
#include "capture.hpp"
#include "qf/core/error.hpp"
#include "qf/devices/fw_cfg.hpp"
#include "qf/machine/reflect.hpp"
#include "qf/memory/address_space.hpp"
#include "targets/x86/boot/e820.hpp"
#include "targets/x86/boot/pc_fw_cfg.hpp"

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

using qf::dev::fw_cfg_io;
namespace dma = qf::dev::fw_cfg_dma;

constexpr std::size_t ram_size = 1 << 20;

struct rig {
    std::vector<std::byte> ram = std::vector<std::byte>(ram_size);
    qf::address_space as;
    qf::device_context ctx;
    rig() {
        as.add({"ram", {0}, ram.size(), qf::region_kind::ram, ram.data()});
        ctx.memory = &as;
    }
};

// Port I/O as an x86 CPU issues it: the register's bytes, little-endian.
void out(fw_cfg_io& fw, std::uint16_t port, std::uint32_t v, unsigned size) {
    std::byte b[4];
    for (unsigned i = 0; i < size; ++i) b[i] = std::byte(static_cast<std::uint8_t>(v >> (8 * i)));
    fw.pio_write(static_cast<std::uint16_t>(port - 0x510), {b, size});
}
std::uint32_t in(fw_cfg_io& fw, std::uint16_t port, unsigned size) {
    std::byte b[4]{};
    fw.pio_read(static_cast<std::uint16_t>(port - 0x510), {b, size});
    std::uint32_t v = 0;
    for (unsigned i = 0; i < size; ++i) v |= std::to_integer<std::uint32_t>(b[i]) << (8 * i);
    return v;
}
void select(fw_cfg_io& fw, std::uint16_t key) { out(fw, 0x510, key, 2); }
std::string read_bytes(fw_cfg_io& fw, std::size_t n) {
    std::string s;
    for (std::size_t i = 0; i < n; ++i) s += static_cast<char>(in(fw, 0x511, 1));
    return s;
}
std::string str(std::span<const std::byte> b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }
std::vector<std::byte> bytes(std::string_view s) {
    std::vector<std::byte> v(s.size());
    std::memcpy(v.data(), s.data(), s.size());
    return v;
}
std::vector<std::byte> unhex(std::string_view h) {
    std::vector<std::byte> v;
    for (std::size_t i = 0; i + 1 < h.size(); i += 2)
        v.push_back(std::byte(static_cast<std::uint8_t>(std::stoul(std::string(h.substr(i, 2)), nullptr, 16))));
    return v;
}
// QEMU 7.2's etc/e820 for -m 128M with qemu64 (AuthenticAMD, 40 bits).
constexpr std::string_view e820_128m = "00000000fd000000" "0000000003000000" "02000000"
                                       "0000000000000000" "0000000800000000" "01000000";

std::uint32_t bswap(std::uint32_t v) { return __builtin_bswap32(v); }

void put_be(std::vector<std::byte>& ram, std::uint64_t at, std::uint64_t v, unsigned n) {
    for (unsigned i = 0; i < n; ++i) ram[at + i] = std::byte(static_cast<std::uint8_t>(v >> (8 * (n - 1 - i))));
}
std::uint64_t get_be(const std::vector<std::byte>& ram, std::uint64_t at, unsigned n) {
    std::uint64_t v = 0;
    for (unsigned i = 0; i < n; ++i) v = v << 8 | std::to_integer<std::uint8_t>(ram[at + i]);
    return v;
}

// A FWCfgDmaAccess at desc, started as SeaBIOS does: the high half of its
// address, then the low half, each big-endian. Returns the control word
// the device wrote back.
std::uint32_t run_dma(rig& r, fw_cfg_io& fw, std::uint64_t desc, std::uint32_t control, std::uint32_t length,
                      std::uint64_t address) {
    put_be(r.ram, desc, control, 4);
    put_be(r.ram, desc + 4, length, 4);
    put_be(r.ram, desc + 8, address, 8);
    out(fw, 0x514, bswap(0), 4);
    out(fw, 0x518, bswap(static_cast<std::uint32_t>(desc)), 4);
    return static_cast<std::uint32_t>(get_be(r.ram, desc, 4));
}
std::uint32_t sel_ctl(std::uint16_t key, std::uint32_t op) { return std::uint32_t{key} << 16 | dma::select | op; }

using qft::stderr_capture;

} // namespace

TEST_CASE("fw_cfg: signature, ID and the register widths QEMU accepts") {
    rig r;
    fw_cfg_io fw(r.ctx);
    fw.reset();
    CHECK(read_bytes(fw, 6) == std::string("QEMU\0\0", 6));  // past the end: zeros
    select(fw, qf::dev::fw_cfg_key::id);
    CHECK(in(fw, 0x511, 1) == 3);  // traditional interface and DMA
    CHECK(read_bytes(fw, 3) == std::string(3, '\0'));

    // As QEMU 7.2 answers a guest: a byte read at either port returns
    // data; word and dword reads of the pair are rejected (0, and the
    // offset stays); only a word write at 510 selects.
    select(fw, 0);
    CHECK(in(fw, 0x510, 2) == 0);
    CHECK(in(fw, 0x510, 1) == 'Q');
    CHECK(in(fw, 0x511, 1) == 'E');
    CHECK(in(fw, 0x511, 2) == 0);
    CHECK(in(fw, 0x511, 1) == 'M');
    CHECK(in(fw, 0x510, 4) == 0);
    select(fw, 0);
    out(fw, 0x510, 1, 1);
    CHECK(in(fw, 0x511, 1) == 'Q');
    out(fw, 0x511, 1, 2);
    CHECK(in(fw, 0x511, 1) == 'E');
    out(fw, 0x510, 0x00010001, 4);
    CHECK(in(fw, 0x511, 1) == 'M');
    CHECK(in(fw, 0x512, 1) == 0xff);  // nothing at 512-513
    CHECK(in(fw, 0x512, 2) == 0xffff);

    // The DMA address register reads "QEMU CFG" at any aligned width.
    std::string sig;
    for (std::uint16_t p = 0x514; p < 0x51c; ++p) sig += static_cast<char>(in(fw, p, 1));
    CHECK(sig == "QEMU CFG");
    CHECK(in(fw, 0x514, 2) == 0x4551);
    CHECK(in(fw, 0x516, 2) == 0x554d);
    CHECK(in(fw, 0x515, 2) == 0);  // unaligned
    CHECK(in(fw, 0x514, 4) == 0x554d4551);
    CHECK(in(fw, 0x518, 4) == 0x47464320);
    CHECK(in(fw, 0x516, 4) == 0);
}

TEST_CASE("fw_cfg: without guest memory there is no DMA") {
    qf::device_context ctx;
    fw_cfg_io fw(ctx);
    CHECK_FALSE(fw.dma_enabled());
    select(fw, qf::dev::fw_cfg_key::id);
    CHECK(in(fw, 0x511, 1) == 1);
    CHECK(in(fw, 0x514, 4) == 0xffffffff);
    out(fw, 0x518, 0x1000, 4);  // dropped, nothing to read a descriptor from
    CHECK(fw.state().dma_addr == 0);
}

TEST_CASE("fw_cfg: the file directory is sorted by name, with big-endian fields") {
    rig r;
    fw_cfg_io fw(r.ctx);
    CHECK_FALSE(fw.has_entry(qf::dev::fw_cfg_key::file_dir));  // until the first file
    fw.add_file("opt/zeta", bytes("zz"));
    fw.add_file("etc/e820", std::vector<std::byte>(300));
    fw.add_file("bootorder", {});
    fw.add_file("opt/alpha", bytes("a"));
    CHECK(fw.file_names() == std::vector<std::string>{"bootorder", "etc/e820", "opt/alpha", "opt/zeta"});
    CHECK(fw.file_key("opt/zeta") == 0x23);  // moved up by the later, smaller names
    CHECK(str(*fw.file("opt/zeta")) == "zz");
    CHECK_FALSE(fw.file("nope"));

    select(fw, qf::dev::fw_cfg_key::file_dir);
    const std::string dir = read_bytes(fw, 4 + 64 * 4 + 4);
    CHECK(dir.substr(0, 4) == std::string("\0\0\0\4", 4));
    const char* names[] = {"bootorder", "etc/e820", "opt/alpha", "opt/zeta"};
    const std::uint32_t sizes[] = {0, 300, 1, 2};
    for (unsigned i = 0; i < 4; ++i) {
        const std::string e = dir.substr(4 + 64 * i, 64);
        CHECK(e.substr(0, 4) == std::string{'\0', '\0', static_cast<char>(sizes[i] >> 8), static_cast<char>(sizes[i])});
        CHECK(e.substr(4, 4) == std::string{'\0', static_cast<char>(0x20 + i), '\0', '\0'});
        CHECK(e.substr(8) == std::string(names[i]) + std::string(56 - std::strlen(names[i]), '\0'));
    }
    CHECK(dir.substr(4 + 64 * 4) == std::string(4, '\0'));
    CHECK(fw.entry(qf::dev::fw_cfg_key::file_dir).size() == 4 + 64 * 32);  // every slot, as QEMU

    CHECK_THROWS_WITH(fw.add_file("opt/alpha", {}), "duplicate fw_cfg file name: opt/alpha");
    CHECK_THROWS_AS(fw.add_file(std::string(56, 'x'), {}), std::logic_error);
    fw.add_file(std::string(55, 'x'), {});
    for (int i = 5; i < 32; ++i) fw.add_file("opt/f" + std::to_string(i), {});
    CHECK_THROWS_AS(fw.add_file("opt/one-too-many", {}), qf::error);
    CHECK_THROWS_AS(fw.add_i16(qf::dev::fw_cfg_key::id, 1), std::logic_error);  // added twice
    CHECK_THROWS_AS(fw.add_i16(0x40, 1), std::logic_error);                    // beyond the slots
}

TEST_CASE("fw_cfg: a file read byte by byte, then by DMA, continuing one offset") {
    rig r;
    fw_cfg_io fw(r.ctx);
    std::string text;
    for (int i = 0; i < 300; ++i) text += static_cast<char>('a' + i % 26);
    fw.add_file("etc/text", bytes(text));
    const auto key = *fw.file_key("etc/text");

    select(fw, key);
    CHECK(read_bytes(fw, 10) == text.substr(0, 10));
    // A DMA read without SELECT goes on from the data port's offset.
    CHECK(run_dma(r, fw, 0x1000, dma::read, 100, 0x2000) == 0);
    CHECK(str(std::span(r.ram).subspan(0x2000, 100)) == text.substr(10, 100));
    CHECK(read_bytes(fw, 5) == text.substr(110, 5));
    // SELECT restarts at 0; the descriptor's length and address are left.
    CHECK(run_dma(r, fw, 0x1000, sel_ctl(key, dma::read), 300, 0x3000) == 0);
    CHECK(str(std::span(r.ram).subspan(0x3000, 300)) == text);
    CHECK(get_be(r.ram, 0x1004, 4) == 300);
    CHECK(get_be(r.ram, 0x1008, 8) == 0x3000);
    CHECK(fw.state().cur_offset == 300);
    CHECK(fw.state().dma_addr == 0);  // cleared for the next access
    CHECK(in(fw, 0x511, 1) == 0);     // past the end
}

TEST_CASE("fw_cfg: DMA skip, select, reads past the end and no-op control words") {
    rig r;
    fw_cfg_io fw(r.ctx);
    CHECK(run_dma(r, fw, 0x1000, sel_ctl(0, dma::skip), 2, 0x2000) == 0);
    std::memset(r.ram.data() + 0x2000, 0xff, 16);
    CHECK(run_dma(r, fw, 0x1000, dma::read, 6, 0x2000) == 0);
    CHECK(str(std::span(r.ram).subspan(0x2000, 8)) == std::string("MU\0\0\0\0\xff\xff", 8));

    // No READ, WRITE or SKIP: nothing moves, the control word becomes 0.
    select(fw, 0);
    CHECK(run_dma(r, fw, 0x1000, 0x00400000, 6, 0x2000) == 0);
    CHECK(in(fw, 0x511, 1) == 'Q');

    // An invalid selector reads zeros; READ wins over WRITE and SKIP.
    std::memset(r.ram.data() + 0x2000, 0xff, 16);
    CHECK(run_dma(r, fw, 0x1000, sel_ctl(0x40, dma::read | dma::write | dma::skip), 4, 0x2000) == 0);
    CHECK(str(std::span(r.ram).subspan(0x2000, 6)) == std::string("\0\0\0\0\xff\xff", 6));
    CHECK(fw.state().cur_entry == qf::dev::fw_cfg_key::invalid);
}

TEST_CASE("fw_cfg: DMA outside RAM sets the error bit and writes only what is RAM") {
    rig r;
    fw_cfg_io fw(r.ctx);
    // The destination beyond RAM.
    CHECK(run_dma(r, fw, 0x1000, sel_ctl(0, dma::read), 4, 0x8000'0000) == dma::error);
    CHECK(in(fw, 0x511, 1) == 0);  // the offset advanced all the same, as QEMU's
    // Straddling the end of RAM: the part in RAM is written, as QEMU's
    // address_space_write does ("QE" of the signature).
    std::memset(r.ram.data() + ram_size - 2, 0xee, 2);
    CHECK(run_dma(r, fw, 0x1000, sel_ctl(0, dma::read), 4, ram_size - 2) == dma::error);
    CHECK(r.ram[ram_size - 2] == std::byte{'Q'});
    CHECK(r.ram[ram_size - 1] == std::byte{'E'});
    // Zeros for a read past the end fail the same way.
    CHECK(run_dma(r, fw, 0x1000, sel_ctl(0x40, dma::read), 0x10000, ram_size - 0x100) == dma::error);

    // A descriptor outside RAM: no transfer, nothing selected, the address
    // register cleared.
    select(fw, qf::dev::fw_cfg_key::id);
    out(fw, 0x514, bswap(1), 4);  // 1_0000_1000
    CHECK(fw.state().dma_addr == 0x1'0000'0000);
    out(fw, 0x518, bswap(0x1000), 4);
    CHECK(fw.state().dma_addr == 0);
    CHECK(in(fw, 0x511, 1) == 3);

    // Writes of the wrong width or place start nothing.
    put_be(r.ram, 0x1000, sel_ctl(0, dma::read), 4);
    put_be(r.ram, 0x1004, 4, 4);
    put_be(r.ram, 0x1008, 0x2000, 8);
    out(fw, 0x518, 0, 1);
    out(fw, 0x518, bswap(0x1000) & 0xffff, 2);
    out(fw, 0x516, bswap(0x1000), 4);
    CHECK(get_be(r.ram, 0x1000, 4) == sel_ctl(0, dma::read));
}

TEST_CASE("fw_cfg: DMA writes reach only writable files, and whole") {
    rig r;
    fw_cfg_io fw(r.ctx);
    fw.add_file("etc/ro", bytes("abcd"));
    std::vector<std::pair<std::uint32_t, std::uint32_t>> writes;
    fw.add_file("etc/rw", bytes("abcd"),
                {false, {}, [&](std::uint32_t off, std::uint32_t len) { writes.emplace_back(off, len); }});
    std::memcpy(r.ram.data() + 0x2000, "WXYZ", 4);

    CHECK(run_dma(r, fw, 0x1000, sel_ctl(*fw.file_key("etc/ro"), dma::write), 4, 0x2000) == dma::error);
    CHECK(str(*fw.file("etc/ro")) == "abcd");
    CHECK(in(fw, 0x511, 1) == 0);  // the offset moved on regardless

    CHECK(run_dma(r, fw, 0x1000, sel_ctl(*fw.file_key("etc/rw"), dma::skip), 1, 0) == 0);
    CHECK(run_dma(r, fw, 0x1000, dma::write, 2, 0x2000) == 0);
    CHECK(str(*fw.file("etc/rw")) == "aWXd");
    CHECK(writes == std::vector<std::pair<std::uint32_t, std::uint32_t>>{{1, 2}});
    // More than is left of the entry: refused, nothing stored.
    CHECK(run_dma(r, fw, 0x1000, sel_ctl(*fw.file_key("etc/rw"), dma::write), 5, 0x2000) == dma::error);
    CHECK(str(*fw.file("etc/rw")) == "aWXd");
    CHECK(writes.size() == 1);
    // modify_file makes it read-only again.
    fw.modify_file("etc/rw", bytes("new!"));
    CHECK(run_dma(r, fw, 0x1000, sel_ctl(*fw.file_key("etc/rw"), dma::write), 4, 0x2000) == dma::error);
    CHECK(str(*fw.file("etc/rw")) == "new!");
}

TEST_CASE("fw_cfg: selectors: masks, arch-local entries, out of range, callbacks") {
    rig r;
    fw_cfg_io fw(r.ctx);
    fw.add_i32(0x8002, 1);
    int selected = 0;
    fw.add_file("etc/cb", bytes("x"), {true, [&] { ++selected; }, {}});
    select(fw, 0x4000);  // the write-channel bit is ignored
    CHECK(read_bytes(fw, 4) == "QEMU");
    select(fw, 0x8002);
    CHECK(read_bytes(fw, 5) == std::string("\1\0\0\0\0", 5));
    select(fw, 0x8003);  // in range, never added
    CHECK(in(fw, 0x511, 1) == 0);
    select(fw, 0x40);
    CHECK(fw.state().cur_entry == qf::dev::fw_cfg_key::invalid);
    CHECK(in(fw, 0x511, 1) == 0);
    select(fw, 0xffff);
    CHECK(in(fw, 0x511, 1) == 0);
    select(fw, *fw.file_key("etc/cb"));
    CHECK(run_dma(r, fw, 0x1000, sel_ctl(*fw.file_key("etc/cb"), dma::read), 1, 0x2000) == 0);
    CHECK(selected == 2);
    CHECK(fw.entry(0x8002).size() == 4);
    CHECK(fw.entry(0x7fff).empty());
}

TEST_CASE("fw_cfg: reset selects the signature and rewrites the boot files") {
    rig r;
    fw_cfg_io fw(r.ctx);
    fw.reset();
    CHECK_FALSE(fw.file_key("bootorder"));  // no directory yet: nothing added
    fw.add_file("bootorder", bytes("user's"));
    select(fw, qf::dev::fw_cfg_key::id);
    (void)in(fw, 0x511, 1);
    fw.reset();
    CHECK(read_bytes(fw, 4) == "QEMU");
    CHECK(fw.file("bootorder")->empty());  // replaced, as QEMU does at reset
    CHECK(fw.file("bios-geometry")->empty());
    fw.boot_order_list = [] { return bytes("/pci@i0cf8/ide@1,1/drive@0/disk@0"); };
    fw.reset();
    CHECK(str(*fw.file("bootorder")) == "/pci@i0cf8/ide@1,1/drive@0/disk@0");
    select(fw, qf::dev::fw_cfg_key::file_dir);
    CHECK(read_bytes(fw, 8) == std::string("\0\0\0\2\0\0\0\0", 8));  // bios-geometry, size 0
}

TEST_CASE("fw_cfg: the state is what a snapshot needs to resume a read") {
    rig r;
    fw_cfg_io a(r.ctx), b(r.ctx);
    a.add_file("etc/x", bytes("0123456789"));
    b.add_file("etc/x", bytes("0123456789"));
    select(a, 0x20);
    (void)read_bytes(a, 3);
    out(a, 0x514, bswap(0x12), 4);
    std::vector<std::byte> snap;
    qf::save_state(snap, a.state());
    CHECK(qf::load_state(snap, b.state()) == snap.size());
    CHECK(b.state() == a.state());
    CHECK(read_bytes(b, 2) == "34");
    CHECK(qf::dump_state("fw_cfg", b.state()).find("fw_cfg.dma_addr = 0x1200000000") != std::string::npos);
}

TEST_CASE("fw_cfg: -fw_cfg as QEMU 7.2 parses it") {
    using qf::dev::parse_fw_cfg_option;
    auto e = parse_fw_cfg_option("name=opt/a,string=a,,b");
    CHECK(e.name == "opt/a");
    CHECK(str(e.data) == "a,b");  // no NUL
    CHECK(parse_fw_cfg_option("opt/b,string=x,string=yz").data.size() == 2);  // the last one wins

    char path[] = "/tmp/fw_cfg_test_file.XXXXXX";
    const int fd = ::mkstemp(path);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, "\0\1\2", 3) == 3);
    ::close(fd);
    e = parse_fw_cfg_option(std::string("name=opt/f,file=") + path);
    CHECK(e.data == std::vector<std::byte>{std::byte{0}, std::byte{1}, std::byte{2}});
    ::unlink(path);
    CHECK_THROWS_WITH(parse_fw_cfg_option(std::string("name=opt/f,file=") + path),
                      std::string("-fw_cfg name=opt/f,file=") + path + ": can't load " + path +
                          ": Failed to open file \u201c" + path + "\u201d: No such file or directory");
    CHECK_THROWS_WITH(parse_fw_cfg_option("name=opt/f,file=/tmp"),
                      "-fw_cfg name=opt/f,file=/tmp: can't load /tmp: Error reading file \u201c/tmp\u201d: Is a "
                      "directory");

    const char* needed = ": name, plus exactly one of file, string and gen_id, are needed";
    for (const char* bad : {"string=x", "name=opt/a", "name=opt/a,string=x,file=/etc/hostname", "name=opt/a,string=",
                            "name=,string=x", ",string=x"})
        CHECK_THROWS_WITH(parse_fw_cfg_option(bad), std::string("-fw_cfg ") + bad + needed);
    CHECK_NOTHROW(parse_fw_cfg_option("name=opt/a,file=,string=x"));  // empty counts as absent
    const std::string n55 = "opt/" + std::string(51, 'a');
    CHECK_NOTHROW(parse_fw_cfg_option(n55 + ",string=x"));
    CHECK_THROWS_WITH(parse_fw_cfg_option(n55 + "a,string=x"),
                      "-fw_cfg " + n55 + "a,string=x: name too long (max. 55 char)");
    CHECK_THROWS_WITH(parse_fw_cfg_option("name=opt/a,bogus=1"), "-fw_cfg name=opt/a,bogus=1: Invalid parameter 'bogus'");
    CHECK_THROWS_WITH(parse_fw_cfg_option("name=ab,gen_id=g"), "-fw_cfg name=ab,gen_id=g: Cannot find object ID 'g'");

    {
        stderr_capture cap;
        e = parse_fw_cfg_option("name=foo,string=x");
        CHECK(cap.text() == std::string(qf::program_name()) +
                                ": -fw_cfg name=foo,string=x: warning: externally provided fw_cfg item names "
                                "should be prefixed with \"opt/\"\n");
    }
    {
        stderr_capture cap;
        (void)parse_fw_cfg_option("name=opt/quiet,string=x");
        CHECK(cap.text().empty());
    }

    rig r;
    fw_cfg_io fw(r.ctx);
    qf::dev::add_user_entry(fw, parse_fw_cfg_option("name=opt/a,string=1"));
    CHECK_THROWS_WITH(qf::dev::add_user_entry(fw, parse_fw_cfg_option("name=opt/a,string=2")),
                      "-fw_cfg name=opt/a,string=2: duplicate fw_cfg file name: opt/a");
}

TEST_CASE("fw_cfg: e820 tables serialize as QEMU's etc/e820") {
    const qf::x86::e820_entry t[] = {{0xfd'0000'0000, 0x3'0000'0000, qf::x86::e820_reserved},
                                     {0, 0x0800'0000, qf::x86::e820_ram}};
    CHECK(qf::x86::serialize_e820(t) ==
          unhex(e820_128m));
    CHECK(qf::x86::serialize_e820({}).empty());
}

TEST_CASE("fw_cfg: add_pc_entries gives what QEMU 7.2's pc gave, -m 128M, one CPU") {
    rig r;
    fw_cfg_io fw(r.ctx);
    qf::x86::pc_fw_cfg_config c;
    c.common.nographic = true;
    c.option_roms.push_back({"kvmvapic.bin", bytes("\x55\xaa rom")});
    qf::x86::add_pc_entries(fw, c);
    fw.reset();

    CHECK(fw.entry(qf::dev::fw_cfg_key::ram_size).size() == 8);
    select(fw, qf::dev::fw_cfg_key::ram_size);
    CHECK(read_bytes(fw, 8) == std::string("\0\0\0\x08\0\0\0\0", 8));
    CHECK(str(fw.entry(qf::dev::fw_cfg_key::nb_cpus)) == std::string("\1\0", 2));
    CHECK(str(fw.entry(qf::dev::fw_cfg_key::max_cpus)) == std::string("\1\0", 2));
    CHECK(str(fw.entry(qf::dev::fw_cfg_key::nographic)) == std::string("\1\0", 2));
    CHECK(str(fw.entry(qf::dev::fw_cfg_key::boot_menu)) == std::string("\0\0", 2));
    CHECK(str(fw.entry(qf::dev::fw_cfg_key::uuid)) == std::string(16, '\0'));
    CHECK(str(fw.entry(qf::dev::fw_cfg_key::numa)) == std::string(16, '\0'));
    CHECK(fw.has_entry(qf::x86::fw_cfg_arch_key::acpi_tables));
    CHECK(fw.entry(qf::x86::fw_cfg_arch_key::acpi_tables).empty());
    CHECK(str(fw.entry(qf::x86::fw_cfg_arch_key::irq0_override)) == std::string("\1\0\0\0", 4));
    CHECK_FALSE(fw.has_entry(qf::x86::fw_cfg_arch_key::e820_table));  // gone by 7.2
    auto hpet = unhex("0101a286800000d0fe");
    hpet.resize(121);
    CHECK(std::vector<std::byte>(fw.entry(qf::x86::fw_cfg_arch_key::hpet).begin(),
                                 fw.entry(qf::x86::fw_cfg_arch_key::hpet).end()) == hpet);
    CHECK(fw.file_names() == std::vector<std::string>{"bios-geometry", "bootorder", "etc/boot-fail-wait", "etc/e820",
                                                      "etc/system-states", "genroms/kvmvapic.bin"});
    CHECK(str(*fw.file("etc/boot-fail-wait")) == "\xff\xff\xff\xff");
    CHECK(str(*fw.file("etc/system-states")) == std::string("\x80\0\0\x81\x82\x80", 6));
    CHECK(str(*fw.file("genroms/kvmvapic.bin")) == "\x55\xaa rom");

    // What SeaBIOS does for its map: DMA the file into memory.
    const auto e820 = *fw.file_key("etc/e820");
    CHECK(run_dma(r, fw, 0x1000, sel_ctl(e820, dma::read), 40, 0x2000) == 0);
    CHECK(std::vector<std::byte>(r.ram.begin() + 0x2000, r.ram.begin() + 0x2000 + 40) ==
          unhex(e820_128m));
}

TEST_CASE("fw_cfg: add_pc_entries with RAM above 4 GiB, several sockets, no HPET") {
    rig r;
    fw_cfg_io fw(r.ctx);
    qf::x86::pc_fw_cfg_config c;
    // -m 5G -smp 6,sockets=2,cores=3 -M hpet=off -uuid 12345678-9abc-...
    // -boot reboot-timeout=1000
    c.below_4g_mem_size = 3ull << 30;
    c.above_4g_mem_size = 2ull << 30;
    c.boot_cpus = c.max_cpus = 6;
    c.topology.cores = 3;
    c.hpet = false;
    c.common.uuid = {0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};
    c.common.reboot_timeout = 1000;
    qf::x86::add_pc_entries(fw, c);

    CHECK(str(fw.entry(qf::dev::fw_cfg_key::ram_size)) == std::string("\0\0\0\x40\1\0\0\0", 8));
    CHECK(str(fw.entry(qf::dev::fw_cfg_key::nb_cpus)) == std::string("\6\0", 2));
    CHECK(str(fw.entry(qf::dev::fw_cfg_key::max_cpus)) == std::string("\7\0", 2));  // APIC IDs 0-2, 4-6
    CHECK(fw.entry(qf::dev::fw_cfg_key::numa).size() == 64);
    CHECK(str(fw.entry(qf::dev::fw_cfg_key::uuid)) == "\x12\x34\x56\x78\x9a\xbc\xde\xf0\x11\x22\x33\x44\x55\x66\x77\x88");
    CHECK(str(*fw.file("etc/boot-fail-wait")) == std::string("\xe8\x03\0\0", 4));
    auto hpet = unhex("ff");
    hpet.resize(121);
    CHECK(std::vector<std::byte>(fw.entry(0x8004).begin(), fw.entry(0x8004).end()) == hpet);
    CHECK(std::vector<std::byte>(fw.file("etc/e820")->begin(), fw.file("etc/e820")->end()) ==
          unhex("00000000fd000000" "0000000003000000" "02000000"    // the AMD window, reserved
                "0000000000000000" "000000c000000000" "01000000"    // 3 GiB below 4 GiB
                "0000000001000000" "0000008000000000" "01000000"));  // 2 GiB above

    // An Intel model has no HyperTransport window; -smp 3,maxcpus=8,
    // cores=2,threads=2 puts APIC IDs up to 7.
    qf::x86::pc_fw_cfg_config i;
    i.cpu.vendor = "GenuineIntel";
    i.boot_cpus = 3;
    i.max_cpus = 8;
    i.topology = {1, 2, 2};
    CHECK(qf::x86::pc_e820_table(i) == std::vector<qf::x86::e820_entry>{{0, 128ull << 20, qf::x86::e820_ram}});
    fw_cfg_io fw2(r.ctx);
    qf::x86::add_pc_entries(fw2, i);
    CHECK(str(fw2.entry(qf::dev::fw_cfg_key::max_cpus)) == std::string("\x08\0", 2));
    CHECK(fw2.entry(qf::dev::fw_cfg_key::numa).size() == 72);
    CHECK(qf::x86::apic_id_from_index({1, 3, 1}, 5) == 6);
    CHECK(qf::x86::apic_id_from_index({2, 3, 2}, 11) == 0b1'10'1);     // die 1, core 2, thread 1
    CHECK(qf::x86::apic_id_from_index({2, 3, 2}, 13) == 0b1'0'00'1);  // package 1

    // MSR_IA32_FEATURE_CONTROL only for VMX (or SGX): not qemu64.
    CHECK(qf::x86::pc_feature_control(qf::x86::cpu::qemu64::def) == 0);
    auto vmx = qf::x86::cpu::qemu64::def;
    vmx.features.set({qf::x86::feature_word::l1_ecx, 5}, true);
    CHECK(qf::x86::pc_feature_control(vmx) == 5);
    fw_cfg_io fw3(r.ctx);
    i.cpu = vmx;
    qf::x86::add_pc_entries(fw3, i);
    CHECK(str(*fw3.file("etc/msr_feature_control")) == std::string("\5\0\0\0\0\0\0\0", 8));

    qf::x86::pc_fw_cfg_config bad;
    bad.common.reboot_timeout = 65536;
    fw_cfg_io fw4(r.ctx);
    CHECK_THROWS_WITH(qf::x86::add_pc_entries(fw4, bad),
                      "reboot timeout is invalid,it should be a value between -1 and 65535");
}
