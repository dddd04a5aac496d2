#include "qf/machine/firmware.hpp"
#include "qf/core/error.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef QF_BUILD_FIRMWARE_DIR
#define QF_BUILD_FIRMWARE_DIR ""
#endif

namespace qf {

namespace {
// The firmware directories beside the running binary: a build tree's
// (firmware/), carried to another path or machine, and an installed tree's
// (../share/qforge, cmake --install), as QEMU finds pc-bios relative to
// itself.
std::vector<std::string> firmware_beside_executable() {
    char buf[4096];
    const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return {};
    std::string exe(buf, std::size_t(n));
    const std::size_t slash = exe.rfind('/');
    if (slash == std::string::npos) return {};
    const std::string dir = exe.substr(0, slash);
    return {dir + "/firmware", dir + "/../share/qforge"};
}
} // namespace

std::string find_firmware(const std::string& option, const std::string& name,
                          const std::vector<std::string>& datadirs) {
    if (::access(name.c_str(), R_OK) == 0) return name;
    if (name.find('/') == std::string::npos) {
        std::vector<std::string> dirs = datadirs;
        for (std::string& beside : firmware_beside_executable()) dirs.push_back(std::move(beside));
        if (*QF_BUILD_FIRMWARE_DIR) dirs.emplace_back(QF_BUILD_FIRMWARE_DIR);
        dirs.emplace_back("/usr/share/seabios");
        dirs.emplace_back("/usr/share/qemu");
        for (auto& d : dirs) {
            auto p = d + "/" + name;
            if (::access(p.c_str(), R_OK) == 0) return p;
        }
    }
    errno = ENOENT;
    if (::access(name.c_str(), F_OK) == 0) errno = EACCES;
    throw error(errno_message(option + " " + name + ": cannot open firmware"));
}

std::vector<std::byte> read_file(const std::string& option, const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw error(errno_message(option + " " + path));
    struct stat st {};
    if (::fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        throw error(option + " " + path + ": not a regular file");
    }
    std::vector<std::byte> data(std::size_t(st.st_size));
    std::size_t got = 0;
    while (got < data.size()) {
        ssize_t n = ::read(fd, data.data() + got, data.size() - got);
        if (n <= 0) {
            ::close(fd);
            throw error(errno_message(option + " " + path + ": read failed"));
        }
        got += std::size_t(n);
    }
    ::close(fd);
    return data;
}

std::vector<std::byte> load_bios_image(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > (16 << 20))
        throw error("-bios " + path + ": image is larger than 16 MiB");
    return check_bios_image(path, read_file("-bios", path));
}

std::vector<std::byte> check_bios_image(const std::string& name, std::vector<std::byte> data) {
    if (data.empty()) throw error("-bios " + name + ": image is empty");
    if (data.size() > (16u << 20)) throw error("-bios " + name + ": image is larger than 16 MiB");
    if (data.size() % 65536)
        throw error("-bios " + name + ": image size " + std::to_string(data.size()) +
                    " is not a multiple of 64 KiB");
    return data;
}

} // namespace qf
