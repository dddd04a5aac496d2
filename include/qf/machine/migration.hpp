#pragma once
// Where a migration stream goes and comes from, in QEMU's URI syntax:
// exec:CMD (a shell command's stdin, or its stdout on the incoming side),
// unix:PATH and tcp:[HOST]:PORT (the source connects; -incoming listens
// and takes one connection). The stream itself is vmstate.hpp's, sent as
// the session makes it (live pre-copy, session::migrate).
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "qf/machine/vmstate.hpp"

#include <sys/types.h>

namespace qf {
class main_loop;
}

namespace qf::migration {

// Throws qf::error with one line for a URI that is not one of the three.
void check_uri(std::string_view uri);
// The source's side: connected (or exec:'s command started) when the
// constructor returns, else qf::error ("migration: ..."). write_some never
// blocks; finish ends the stream.
class outgoing {
public:
    explicit outgoing(std::string_view uri);
    ~outgoing();  // closes, and kills a command still running
    outgoing(const outgoing&) = delete;
    outgoing& operator=(const outgoing&) = delete;
    int fd() const { return fd_; }
    // Whether a TCP connection has been made (false: writable is when to
    // ask again); throws qf::error when it failed.
    bool connected();
    // Writes what the peer takes now of data; the bytes written. Throws
    // qf::error when the peer is gone.
    std::size_t write_some(std::span<const std::byte> data);
    // Closes the stream and waits for exec:'s command, which must succeed.
    void finish();

private:
    int fd_ = -1;
    pid_t pid_ = -1;
    bool connecting_ = false;
    std::string what_, cmd_;
};
// The incoming side (-incoming, QMP's migrate-incoming), in the main loop
// as QEMU's: listening (or exec:'s command started) when the constructor
// returns, else qf::error; then the stream is read as it comes, while the
// monitors go on. Each whole section is offered to take_section (RAM goes
// into place as it comes); done(the rest of the stream) or failed(why) is
// called from the loop once it has ended. More than max_bytes held at once
// fails. Destroying it stops listening and kills a command still running.
class incoming {
public:
    using done_fn = std::function<void(std::vector<std::byte>)>;
    using failed_fn = std::function<void(const std::string&)>;
    incoming(main_loop& loop, std::string_view uri, std::uint64_t max_bytes, done_fn done, failed_fn failed,
             vmstate::splitter::take_fn take_section = [](const vmstate::section&) { return false; });
    ~incoming();
    incoming(const incoming&) = delete;
    incoming& operator=(const incoming&) = delete;

private:
    void accept_one();
    void read_some();
    void end(std::string why);  // empty: the stream is whole
    void close_fds();

    main_loop& loop_;
    std::string what_;
    std::uint64_t max_;
    done_fn done_;
    failed_fn failed_;
    int listen_fd_ = -1, data_fd_ = -1;
    pid_t pid_ = -1;
    std::string cmd_;
    vmstate::splitter in_;
    bool ended_ = false;
};
} // namespace qf::migration
