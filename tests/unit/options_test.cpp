#include "qf/core/error.hpp"
#include "qf/core/log.hpp"
#include "qf/machine/options.hpp"
#include "qf/machine/size.hpp"

#include <catch2/catch.hpp>

using Catch::Matchers::Contains;

namespace {
qf::options parse(std::vector<const char*> args) {
    args.insert(args.begin(), "qforge");
    return qf::parse_command_line(int(args.size()), args.data());
}
std::string failure(std::vector<const char*> args) {
    try {
        parse(std::move(args));
    } catch (const qf::error& e) {
        return e.what();
    }
    return "(no error)";
}
} // namespace

TEST_CASE("option -m takes QEMU's size syntax") {
    CHECK(qf::parse_ram_size("128") == 128ull << 20);
    CHECK(qf::parse_ram_size("512M") == 512ull << 20);
    CHECK(qf::parse_ram_size("2G") == 2ull << 30);
    CHECK(qf::parse_ram_size("2g") == 2ull << 30);
    CHECK(qf::parse_ram_size("size=1G") == 1ull << 30);
    CHECK(qf::parse_ram_size("1.5G") == 3ull << 29);
    CHECK(qf::parse_ram_size("65536K") == 64ull << 20);
    CHECK(parse({}).ram_size == 128ull << 20);  // QEMU's default
}

TEST_CASE("option -m rejects zero and nonsense with one line naming the option") {
    CHECK_THAT(failure({"-m", "0"}), Contains("-m 0") && Contains("greater than 0"));
    CHECK_THAT(failure({"-m", "lots"}), Contains("-m lots: invalid RAM size"));
    CHECK_THAT(failure({"-m", "12Q"}), Contains("invalid RAM size"));
    CHECK_THAT(failure({"-m", "-5"}), Contains("invalid RAM size"));
    CHECK_THAT(failure({"-m", "99999999999999999999"}), Contains("invalid RAM size"));
    CHECK_THAT(failure({"-m", "1G,slots=2"}), Contains("not implemented yet"));
    CHECK_THAT(failure({"-m", "100B"}), Contains("multiple of 4 KiB"));
}

TEST_CASE("unknown options and missing values are one-line errors") {
    CHECK(failure({"-frobnicate"}) == "-frobnicate: invalid option");
    CHECK(failure({"-m"}) == "-m: requires an argument");
    CHECK(failure({"-bios"}) == "-bios: requires an argument");
    CHECK_THAT(failure({"disk.img"}), Contains("invalid option"));
    CHECK_THAT(failure({"-display", "gtk"}), Contains("no graphical display"));
    CHECK_THAT(failure({"-d", "in_asm,bogus"}), Contains("-d bogus: unknown log item"));
    CHECK_THAT(failure({"-smp", "cpus=x"}), Contains("expected a number"));
    CHECK_THAT(failure({"-accel", "tcg,bogus=1"}), Contains("invalid parameter 'bogus'"));
    CHECK_THAT(failure({"-nographic", "-daemonize"}), Contains("-nographic cannot be used with -daemonize"));
    for (auto* m : {"-m", "-smp", "-d", "-serial", "-chardev", "-device", "-accel"}) {
        auto msg = failure({m});
        CHECK(msg.find('\n') == std::string::npos);
    }
}

TEST_CASE("options parse into their values / QEMU's spellings included") {
    auto o = parse({"--machine", "testrig,accel=kvm:tcg", "-nographic", "-S", "-d", "int,guest_errors",
                    "-D", "/tmp/x.log", "-no-reboot", "-smp", "1", "-L", "/a", "-L", "/b", "-cpu", "qemu64",
                    "-display", "none", "-pidfile", "/tmp/p"});
    CHECK(o.machine == "testrig");
    REQUIRE(o.accels.size() == 2);
    CHECK(o.accels[0].name == "kvm");
    CHECK(o.accels[1].name == "tcg");
    CHECK(o.nographic);
    CHECK(o.start_stopped);
    CHECK(o.log_mask == (std::uint32_t(qf::log_item::int_) | std::uint32_t(qf::log_item::guest_errors)));
    CHECK(o.log_file == "/tmp/x.log");
    CHECK(o.no_reboot);
    CHECK(o.smp->cpus == 1);
    CHECK(o.datadirs == std::vector<std::string>{"/a", "/b"});
    CHECK(o.display_none);
    CHECK(o.pidfile == "/tmp/p");
    CHECK(parse({"-M", "help"}).machine_help);
    CHECK(parse({"-cpu", "help"}).cpu_help);
    CHECK(parse({"-d", "help"}).log_help);
    CHECK(parse({"-device", "help"}).device_help);
}

TEST_CASE("option -serial and -chardev take QEMU's syntax") {
    auto o = parse({"-chardev", "socket,id=mon,host=127.0.0.1,port=4444,server=on,wait=off", "-serial",
                    "tcp:127.0.0.1:5555,server,nowait", "-serial", "unix:/tmp/s,server=on,wait=off",
                    "-serial", "file:/tmp/out", "-serial", "none"});
    REQUIRE(o.chardevs.size() == 1);
    CHECK(o.chardevs[0].backend == "socket");
    CHECK(o.chardevs[0].port == 4444);
    CHECK(o.chardevs[0].server);
    CHECK_FALSE(o.chardevs[0].wait);
    REQUIRE(o.serials.size() == 4);
    CHECK(o.serials[0]->host == "127.0.0.1");
    CHECK(o.serials[0]->port == 5555);
    CHECK_FALSE(o.serials[0]->wait);
    CHECK(o.serials[1]->path == "/tmp/s");
    CHECK(o.serials[2]->backend == "file");
    CHECK_FALSE(o.serials[3].has_value());
    CHECK_THAT(failure({"-chardev", "socket,id=x"}), Contains("requires path= or host=,port="));
    CHECK_THAT(failure({"-chardev", "null"}), Contains("-chardev null: chardev: no id specified"));
    CHECK_THAT(failure({"-chardev", "null,id="}), Contains("Parameter 'id' expects an identifier"));
    CHECK_THAT(failure({"-chardev", "null,id=1st"}), Contains("Parameter 'id' expects an identifier"));
    CHECK_THAT(failure({"-chardev", "null,id=a b"}), Contains("Parameter 'id' expects an identifier"));
    // QEMU's legacy -serial syntax: a backend named alone takes no options
    // (issue #17: "-serial null,id=" was taken), file: keeps its commas.
    CHECK_THAT(failure({"-serial", "null,id="}), Contains("-serial null,id=: 'null,id=' is not a valid char driver"));
    CHECK_THAT(failure({"-serial", "stdio,signal=off"}), Contains("is not a valid char driver"));
    CHECK_THAT(failure({"-serial", "mon:stdio,x=y"}), Contains("is not a valid char driver"));
    CHECK(qf::parse_serial("file:/tmp/a,append=on", "s")->path == "/tmp/a,append=on");
    CHECK(qf::parse_serial("unix:/tmp/a,,b,server=on,wait=off", "s")->path == "/tmp/a,b");
    CHECK_THAT(failure({"-chardev", "ringbuf,id=r,size=1000"}), Contains("power of two"));
    CHECK_THAT(failure({"-chardev", "tty,id=t"}), Contains("unknown chardev backend"));
    CHECK_THAT(failure({"-serial", "vc"}), Contains("unknown serial backend"));
    CHECK_THAT(failure({"-chardev", "null,id=a", "-chardev", "null,id=a"}), Contains("duplicate"));
    CHECK_THAT(failure({"-chardev", "stdio,id=a,signal=maybe"}), Contains("expects 'on' or 'off'"));
}

TEST_CASE("option -d help lists every log item") {
    auto h = qf::log_items_help();
    for (auto* item : {"in_asm", "op", "op_opt", "out_asm", "int", "exec", "cpu", "guest_errors", "unimp", "nochain"})
        CHECK_THAT(h, Contains(std::string("\n") + item + " "));
    CHECK(qf::parse_log_items("all") != 0);
}
