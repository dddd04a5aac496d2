#include "qf/chardev/backends.hpp"
#include "qf/core/error.hpp"
#include "fd_io.hpp"

#include <fcntl.h>
#include <unistd.h>

namespace qf::chardevs {

file::file(chardev&, const chardev_spec& spec, chardev_env&) {
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (spec.append ? O_APPEND : O_TRUNC);
    fd_ = ::open(spec.path.c_str(), flags, 0666);
    if (fd_ < 0) throw error(errno_message("chardev '" + spec.id + "': cannot open " + spec.path));
}

file::~file() {
    if (fd_ >= 0) ::close(fd_);
}

void file::write(std::span<const std::byte> data) { write_out(fd_, data); }

} // namespace qf::chardevs
