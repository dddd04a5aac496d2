#pragma once
// A parsed -chardev / -serial argument, in QEMU's syntax:
//   -chardev BACKEND,id=ID[,path=P][,host=H,port=N][,server=on|off][,wait=on|off]
//            [,size=N][,mux=on|off][,signal=on|off][,append=on|off]
//   -serial stdio | null | none | pty | file:PATH | tcp:HOST:PORT[,opts]
//           | unix:PATH[,opts] | chardev:ID | mon:stdio | ringbuf
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace qf {

struct chardev_spec {
    std::string backend;  // stdio, file, null, socket, pty, ringbuf
    std::string id;
    std::string path;     // file, unix socket
    std::string host;     // tcp socket
    std::uint16_t port = 0;
    bool server = false;
    bool wait = true;     // a server waits for its first client (QEMU's default)
    bool mux = false;     // stdio under -nographic: Ctrl-A commands
    bool signal = true;   // stdio: Ctrl-C raises SIGINT
    bool append = false;  // file
    std::uint32_t size = 65536;  // ringbuf
};

// -chardev ARG. Throws qf::error naming the option and the problem.
chardev_spec parse_chardev(std::string_view arg);

// -serial ARG. Returns nullopt for "none". A "chardev:ID" reference comes
// back with backend empty and id set.
std::optional<chardev_spec> parse_serial(std::string_view arg, std::string id);

bool parse_on_off(std::string_view option, std::string_view key, std::string_view value);

} // namespace qf
