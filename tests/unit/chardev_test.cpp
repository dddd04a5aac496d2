#include "qf/chardev/backends.hpp"
#include "qf/core/error.hpp"
#include "qf/core/main_loop.hpp"

#include <arpa/inet.h>
#include <catch2/catch.hpp>
#include <poll.h>
#include <fcntl.h>
#include <fstream>
#include <netinet/in.h>
#include <sstream>
#include <sys/socket.h>
#include <unistd.h>

namespace {
struct sink {
    std::string got;
    std::size_t room = 1 << 20;
    std::size_t can_receive() const { return room; }
    void receive(std::span<const std::byte> d) {
        got.append(reinterpret_cast<const char*>(d.data()), d.size());
        room -= d.size();
    }
};
qf::chardev_spec spec(std::string backend) {
    qf::chardev_spec s;
    s.backend = std::move(backend);
    s.id = "c";
    return s;
}
} // namespace

TEST_CASE("file backend writes (and appends when asked)") {
    std::string path = "/tmp/qf-chardev-file-" + std::to_string(getpid());
    auto s = spec("file");
    s.path = path;
    {
        qf::chardev c(s, {});
        c.write("one ");
    }
    s.append = true;
    {
        qf::chardev c(s, {});
        c.write("two");
    }
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    CHECK(ss.str() == "one two");
    unlink(path.c_str());
    s.path = "/nonexistent/dir/x";
    CHECK_THROWS_AS(qf::chardev(s, {}), qf::error);
}

TEST_CASE("ringbuf keeps the newest bytes") {
    auto s = spec("ringbuf");
    s.size = 8;
    qf::chardev c(s, {});
    c.write("0123456789");
    auto* r = c.as<qf::chardevs::ringbuf>();
    REQUIRE(r);
    CHECK(r->contents() == "23456789");
    CHECK(r->total_written() == 10);
    CHECK(r->take() == "23456789");
    CHECK(r->contents().empty());
    CHECK(c.as<qf::chardevs::null>() == nullptr);
}

TEST_CASE("ringbuf reads consume the oldest unread bytes") {
    auto s = spec("ringbuf");
    s.size = 8;
    qf::chardev c(s, {});
    auto* r = c.as<qf::chardevs::ringbuf>();
    REQUIRE(r);
    c.write("abc");
    CHECK(r->read(2) == "ab");
    CHECK(r->contents() == "c");
    c.write("0123456789");  // overwrites what was not read
    CHECK(r->read(3) == "234");
    CHECK(r->read(100) == "56789");
    CHECK(r->read(1).empty());
    CHECK(r->total_written() == 13);
}

TEST_CASE("null backend swallows output") {
    qf::chardev c(spec("null"), {});
    c.write("gone");
    CHECK(c.backend_name() == "null");
}

TEST_CASE("tcp server: one client at a time / input with flow control / output dropped with no client") {
    qf::clocks clk;
    qf::timer_lists timers(clk);
    qf::main_loop loop(timers);
    auto s = spec("socket");
    s.host = "127.0.0.1";
    s.port = 0;
    s.server = true;
    s.wait = false;
    qf::chardev c(s, {&loop, {}});
    auto* sock = c.as<qf::chardevs::socket>();
    REQUIRE(sock->bound_port() != 0);
    c.write("nobody hears this");
    sink fe;
    fe.room = 3;
    c.attach(qf::frontend_of(fe));

    auto dial = [&] {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(sock->bound_port());
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        return fd;
    };
    int fd = dial();
    for (int i = 0; i < 10 && !sock->connected(); ++i) loop.run_once(true);
    REQUIRE(sock->connected());
    REQUIRE(write(fd, "abcdef", 6) == 6);
    for (int i = 0; i < 5; ++i) loop.run_once(false);
    CHECK(fe.got == "abc");  // only what the frontend had room for
    fe.room = 100;
    c.accept_input();
    for (int i = 0; i < 10 && fe.got.size() < 6; ++i) loop.run_once(true);
    CHECK(fe.got == "abcdef");
    c.write("back");
    char buf[8];
    REQUIRE(read(fd, buf, 4) == 4);
    CHECK(std::string(buf, 4) == "back");

    // A second client waits in the backlog while the first is on (QEMU
    // queues it; it is not reset), and is taken when the first leaves.
    int fd2 = dial();
    for (int i = 0; i < 3; ++i) loop.run_once(false);
    pollfd p{fd2, POLLIN, 0};
    CHECK(poll(&p, 1, 100) == 0);  // neither data nor a close
    close(fd);
    for (int i = 0; i < 10 && sock->connected(); ++i) loop.run_once(true);  // the first is dropped...
    for (int i = 0; i < 10 && !sock->connected(); ++i) loop.run_once(true);  // ...and the second taken
    REQUIRE(sock->connected());
    c.write("next");
    REQUIRE(read(fd2, buf, 4) == 4);
    CHECK(std::string(buf, 4) == "next");
    close(fd2);
    for (int i = 0; i < 10 && sock->connected(); ++i) loop.run_once(true);
    CHECK_FALSE(sock->connected());
    int fd3 = dial();
    for (int i = 0; i < 10 && !sock->connected(); ++i) loop.run_once(true);
    CHECK(sock->connected());
    close(fd3);
}

TEST_CASE("pty backend: the slave side talks to the frontend") {
    qf::clocks clk;
    qf::timer_lists timers(clk);
    qf::main_loop loop(timers);
    qf::chardev c(spec("pty"), {&loop, {}});
    auto* p = c.as<qf::chardevs::pty>();
    REQUIRE(p->slave_path().rfind("/dev/pts/", 0) == 0);
    sink fe;
    c.attach(qf::frontend_of(fe));
    int s = open(p->slave_path().c_str(), O_RDWR | O_NOCTTY);
    REQUIRE(s >= 0);
    REQUIRE(write(s, "tty!", 4) == 4);
    for (int i = 0; i < 20 && fe.got.size() < 4; ++i) loop.run_once(true);
    CHECK(fe.got == "tty!");
    c.write("out");
    char buf[8];
    REQUIRE(read(s, buf, 3) == 3);
    CHECK(std::string(buf, 3) == "out");
    close(s);
}

TEST_CASE("only one stdio chardev may exist") {
    qf::chardev a(spec("stdio"), {});
    CHECK_THROWS_WITH(qf::chardev(spec("stdio"), {}),
                      Catch::Matchers::Contains("cannot use stdio by multiple character devices"));
}
