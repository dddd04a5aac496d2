#pragma once
// Where a migration stream goes and comes from, in QEMU's URI syntax:
// exec:CMD (a shell command's stdin, or its stdout on the incoming side),
// unix:PATH and tcp:[HOST]:PORT (the source connects; -incoming listens
// and takes one connection). The stream itself is vmstate.hpp's; the VM
// is stopped while it is written (no pre-copy yet).
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace qf::migration {

// Throws qf::error with one line for a URI that is not one of the three.
void check_uri(std::string_view uri);
// The source's side: the whole stream to uri. Throws qf::error ("migration:
// ...") when it cannot be delivered.
void send(std::string_view uri, std::span<const std::byte> stream);
// The incoming side: waits for the stream (a shutdown signal ends the wait
// as it ends the process) and reads it to its end; a sender of more than
// max_bytes is refused.
std::vector<std::byte> receive(std::string_view uri, std::uint64_t max_bytes);

} // namespace qf::migration
