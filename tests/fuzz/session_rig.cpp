#include "session_rig.hpp"

#include "fuzz.hpp"
#include "qf/core/error.hpp"

#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <sys/resource.h>
#include <unistd.h>

namespace qf::fuzz {

namespace {

namespace fs = std::filesystem;

fs::path& sandbox_dir() {
    static fs::path p;
    return p;
}
fs::path& home_dir() {
    static fs::path p;
    return p;
}

void leave_sandbox() {
    std::error_code ec;
    if (sandbox_dir().empty()) return;
    fs::current_path(home_dir(), ec);
    fs::remove_all(sandbox_dir(), ec);
}

// \u00XX for a letter, a digit or '/' becomes the character, until none
// is left (a decoded character may complete another escape).
std::string decode_plain_escapes(std::string s) {
    for (bool again = true; again;) {
        again = false;
        std::string out;
        out.reserve(s.size());
        for (std::size_t i = 0; i < s.size(); ++i) {
            if (s[i] == '\\' && i + 5 < s.size() && s[i + 1] == 'u' && s[i + 2] == '0' && s[i + 3] == '0' &&
                hex_digit(s[i + 4]) >= 0 && hex_digit(s[i + 5]) >= 0) {
                const char c = static_cast<char>(hex_digit(s[i + 4]) << 4 | hex_digit(s[i + 5]));
                if (std::isalnum(static_cast<unsigned char>(c)) || c == '/') {
                    out += c;
                    i += 5;
                    again = true;
                    continue;
                }
            }
            out += s[i];
        }
        s.swap(out);
    }
    return s;
}

} // namespace

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string hex_of(std::string_view bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char c : bytes) out.append({digits[c >> 4], digits[c & 15]});
    return out;
}

void enter_sandbox() {
    if (!sandbox_dir().empty()) return;
    const fs::path dir = scratch_dir_of(getpid());
    std::error_code ec;
    // What processes that crashed left (a crash has no atexit), and a
    // former process's with this pid.
    for (const auto& e : fs::directory_iterator(dir.parent_path(), ec)) {
        const std::string name = e.path().filename().string();
        if (!name.starts_with("qf-fuzz-") || name.find_first_not_of("0123456789", 8) != std::string::npos) continue;
        const long pid = std::strtol(name.c_str() + 8, nullptr, 10);
        if (pid > 0 && kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) fs::remove_all(e.path(), ec);
    }
    fs::remove_all(dir, ec);
    if (!fs::create_directory(dir, ec) || fs::is_symlink(dir))
        fail("the sandbox: cannot make " + dir.string());
    fs::permissions(dir, fs::perms::owner_all, ec);
    home_dir() = fs::current_path();
    sandbox_dir() = dir;
    fs::current_path(dir);
    std::atexit(leave_sandbox);
    rlimit r{1 << 20, 1 << 20};
    if (setrlimit(RLIMIT_FSIZE, &r) != 0) fail("the sandbox: cannot limit file sizes");
    std::signal(SIGXFSZ, SIG_IGN);
}

void clean_sandbox() {
    std::error_code ec;
    if (fs::current_path(ec) != sandbox_dir()) fail("the sandbox: a command changed the working directory");
    for (const auto& e : fs::directory_iterator(sandbox_dir(), ec)) {
        fs::remove_all(e.path(), ec);
        count("files written (in the sandbox)");
    }
}

std::unique_ptr<session> make_session(const options& o) {
    static constexpr int sigs[] = {SIGBUS, SIGSEGV, SIGABRT, SIGFPE, SIGILL, SIGINT, SIGTERM, SIGHUP};
    struct sigaction saved[std::size(sigs)];
    for (std::size_t i = 0; i < std::size(sigs); ++i) sigaction(sigs[i], nullptr, &saved[i]);
    std::unique_ptr<session> s;
    try {
        s = std::make_unique<session>(o);
    } catch (...) {
        for (std::size_t i = 0; i < std::size(sigs); ++i) sigaction(sigs[i], &saved[i], nullptr);
        throw;
    }
    for (std::size_t i = 0; i < std::size(sigs); ++i) sigaction(sigs[i], &saved[i], nullptr);
    return s;
}

std::string defuse(std::string_view text, bool json) {
    std::string s = json ? decode_plain_escapes(std::string(text)) : std::string(text);
    if (s.find("memsave") != std::string::npos)
        for (char& c : s)
            if (c == '/') c = '_';
    return s;
}

} // namespace qf::fuzz
