#pragma once
// A QMP monitor (QEMU's machine protocol, docs/interop/qmp-spec.rst) on a
// chardev: the greeting when a client arrives, capabilities negotiation,
// commands as JSON objects with an optional "id" echoed back, errors in
// QEMU's classes, and events once negotiated. Input is split into JSON
// values as it streams in, so a client may send a command in pieces or
// several in one write; a value that grows past a bound is dropped with an
// error, never buffered without limit. Runs on the main loop's thread.
#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace qf {

class chardev;
class session;

class qmp_monitor {
public:
    qmp_monitor(session& s, chardev& dev, bool pretty);
    ~qmp_monitor();
    qmp_monitor(const qmp_monitor&) = delete;
    qmp_monitor& operator=(const qmp_monitor&) = delete;

    // The chardev frontend. No input while answers wait to go out: a
    // client that writes without reading is slowed, never answered in part.
    std::size_t can_receive();
    void receive(std::span<const std::byte> data);
    void chardev_opened(bool open);

    // One event line (session::emit_event's), if the client negotiated.
    void send_event(const std::string& line);

    // The input bound: a JSON value this long is dropped (QEMU's lexer
    // bounds a token at 64 MiB; a command is never near this).
    static constexpr std::size_t max_value = 1 << 20;
    static constexpr int max_depth = 1024;  // QEMU's MAX_NESTING

private:
    void value_complete();
    void handle(std::string_view text);
    void send(const std::string& json_text);

    session& s_;
    chardev& dev_;
    bool pretty_;
    bool negotiated_ = false;
    // The splitter's state: the value so far, its nesting, and whether it
    // is inside a string (after a backslash).
    std::string value_;
    int depth_ = 0;
    bool in_string_ = false, escaped_ = false, bare_ = false, dropping_ = false;
    bool single_ = false;  // the string is 'single-quoted' (QEMU takes those): stored as JSON
};

} // namespace qf
