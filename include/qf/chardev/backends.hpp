#pragma once
// The chardev backends (QEMU's backend_table[]), one class each. Included by
// code that needs a backend's own interface (tests reading a ringbuf, the
// socket's bound address); everything else sees only qf::chardev.
#include "qf/chardev/chardev.hpp"
#include "qf/core/timer.hpp"

#include <memory>

#include <cstdint>
#include <string>
#include <termios.h>
#include <vector>

namespace qf::chardevs {

// Input read from a file descriptor, with flow control from the frontend.
class fd_input {
public:
    fd_input(chardev& owner, main_loop* loop) : owner_(owner), loop_(loop) {}
    ~fd_input() { stop(); }
    void start(int fd);
    void stop();
    void resume();
    int fd() const { return fd_; }
    // Called with bytes read; default delivers them to the frontend.
    std::function<void(std::span<const std::byte>)> filter;
    // How much to read now; default: what the frontend takes.
    std::function<std::size_t()> room;
    std::function<void()> on_eof;
    // Poll for room to write too, and who hears of it.
    void want_write(bool on);
    std::function<void()> on_writable;

private:
    void watch();
    void readable(short revents);
    void update_events();
    chardev& owner_;
    main_loop* loop_;
    int fd_ = -1;
    bool paused_ = false, want_write_ = false;
    // Out of the poll set while paused at a hang-up, which poll reports
    // whatever events are asked for: it would spin.
    bool unwatched_ = false;
};

class stdio {
public:
    static constexpr std::string_view name = "stdio";
    stdio(chardev& owner, const chardev_spec& spec, chardev_env& env);
    ~stdio();
    void write(std::span<const std::byte> data);
    void accept_input();

    // A mux reads ahead of its frontend (QEMU's MUX_BUFFER_SIZE), so that
    // C-a x gets through to a guest that reads nothing.
    static constexpr std::size_t mux_buffer = 32;

private:
    void mux_byte(std::byte b);
    void mux_flush();
    chardev& owner_;
    chardev_env& env_;
    fd_input input_;
    bool mux_;
    std::vector<std::byte> pending_;  // a mux's bytes the frontend has no room for yet
    bool escape_ = false;
    bool raw_ = false;
    termios saved_{};
};

class file {
public:
    static constexpr std::string_view name = "file";
    file(chardev& owner, const chardev_spec& spec, chardev_env& env);
    ~file();
    void write(std::span<const std::byte> data);
    void accept_input() {}

private:
    int fd_ = -1;
};

class null {
public:
    static constexpr std::string_view name = "null";
    null(chardev&, const chardev_spec&, chardev_env&) {}
    void write(std::span<const std::byte>) {}
    void accept_input() {}
};

class socket {
public:
    static constexpr std::string_view name = "socket";
    socket(chardev& owner, const chardev_spec& spec, chardev_env& env);
    ~socket();
    void write(std::span<const std::byte> data);
    void accept_input() { input_.resume(); }
    // The bound TCP port (useful with port=0) and whether a client is on.
    std::uint16_t bound_port() const { return port_; }
    bool connected() const { return client_ >= 0; }
    // Output the client has not taken yet (sent as it makes room).
    std::size_t pending() const { return pending_.size(); }
    // Beyond this a slow client loses output, so a guest never stalls.
    static constexpr std::size_t max_pending = 1 << 20;

private:
    void accept_client();
    void drop_client(bool tell = true);
    chardev& owner_;
    main_loop* loop_;
    fd_input input_;
    int listen_ = -1;
    int client_ = -1;
    std::uint16_t port_ = 0;
    std::string unix_path_;
    std::string pending_;
    void flush();
};

class pty {
public:
    static constexpr std::string_view name = "pty";
    pty(chardev& owner, const chardev_spec& spec, chardev_env& env);
    ~pty();
    void write(std::span<const std::byte> data);
    void accept_input() { input_.resume(); }
    const std::string& slave_path() const { return slave_; }

private:
    fd_input input_;
    std::unique_ptr<timer> retry_;  // while no one has the slave open
    int master_ = -1;
    std::string slave_;
};

// An in-memory ring of the last `size` bytes the guest wrote (QEMU's
// ringbuf/memory backend); tests and embedders read it and can type into
// the guest through it.
class ringbuf {
public:
    static constexpr std::string_view name = "ringbuf";
    ringbuf(chardev& owner, const chardev_spec& spec, chardev_env& env);
    void write(std::span<const std::byte> data);
    void accept_input();

    // What has not been read yet, oldest first: at most the last `size`
    // bytes written (older ones are overwritten, as in QEMU's ring).
    std::string contents() const;
    std::string take();                    // contents(), which is then read
    std::string read(std::size_t max);     // QMP's ringbuf-read: the oldest unread bytes
    std::uint64_t total_written() const { return total_; }
    // Queue bytes for the guest; delivered as the frontend has room.
    void send_to_guest(std::string_view s);
    // Bytes sent but not yet taken by the guest are dropped (a test rig
    // restoring a snapshot puts its own input in).
    void discard_input() { pending_in_.clear(); }

private:
    chardev& owner_;
    std::uint64_t first_unread() const;
    std::vector<char> ring_;
    std::uint64_t total_ = 0, read_ = 0;  // bytes written and read since creation
    std::string pending_in_;
};

} // namespace qf::chardevs
