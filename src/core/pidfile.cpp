#include "qf/core/pidfile.hpp"
#include "qf/core/error.hpp"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <fcntl.h>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

namespace qf {

static std::string absolute(const std::string& path) {
    if (!path.empty() && path[0] == '/') return path;
    char cwd[PATH_MAX];
    if (!::getcwd(cwd, sizeof cwd)) return path;
    return std::string(cwd) + "/" + path;
}

pidfile::pidfile(const std::string& path) : path_(absolute(path)) {
    for (;;) {
        fd_ = ::open(path_.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
        if (fd_ < 0) throw error(errno_message("cannot create PID file " + path));
        struct flock fl {};
        fl.l_type = F_WRLCK;
        fl.l_whence = SEEK_SET;
        if (::fcntl(fd_, F_SETLK, &fl) < 0) {
            int e = errno;
            ::close(fd_);
            fd_ = -1;
            errno = e;
            throw error(errno_message("cannot create PID file " + path +
                                      ": another instance holds its lock"));
        }
        // The holder may have unlinked the file between our open and lock:
        // only a lock on the file the path names now counts.
        struct stat a {}, b {};
        if (::fstat(fd_, &a) == 0 && ::stat(path_.c_str(), &b) == 0 && a.st_ino == b.st_ino &&
            a.st_dev == b.st_dev)
            break;
        ::close(fd_);
    }
    std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd_, 0) < 0 || ::write(fd_, pid.data(), pid.size()) != ssize_t(pid.size()))
        throw error(errno_message("cannot write PID file " + path));
}

pidfile::~pidfile() {
    if (fd_ >= 0) {
        ::unlink(path_.c_str());
        ::close(fd_);
    }
}

} // namespace qf
