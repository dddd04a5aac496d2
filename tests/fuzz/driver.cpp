// main() for a fuzz target where libFuzzer is not linked in:
//
//   fuzz_X FILE|DIR...            each input once (a crash found elsewhere,
//                                 afl-fuzz's `@@`, a regression directory)
//   fuzz_X --random SECONDS [--runs N] [--seed S] [--corpus DIR]...
//          [--dict FILE] [--max-len N] [--artifacts DIR] [--timeout S]
//                                 the corpus as it is, then random and
//                                 mutated inputs until the time is up (CI)
//   fuzz_X --afl                  AFL++'s persistent mode where the binary
//                                 was built by afl-clang-fast, else stdin
//   fuzz_X --minimize FILE        the smallest part of FILE that still
//                                 fails, as FILE.min
//   fuzz_X --generate N DIR       N inputs from the target's generator
//                                 (a starting corpus for AFL++)
//
// The random mode has no coverage feedback: it leans on the target's own
// generator (qf_fuzz_generate) and on mutations of the seeds and of AFL
// dictionary tokens, so that a short CI run is still a real test. A crash,
// a sanitizer's report, a target's fail() or an input that runs longer
// than --timeout prints the input in hex and saves it under --artifacts;
// the process then dies, and ctest reports the failure.
#include "fuzz.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <random>
#include <signal.h>
#include <sys/wait.h>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define QF_FUZZ_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define QF_FUZZ_SANITIZED 1
#endif
#endif
#ifdef QF_FUZZ_SANITIZED
#include <sanitizer/common_interface_defs.h>
// UndefinedBehaviorSanitizer's runtime is a library of its own under GCC,
// which does not call ASan's death callback: its report ends in abort()
// instead, which the SIGABRT handler below saves the input for. (Options
// from UBSAN_OPTIONS still come after these.)
extern "C" const char* __ubsan_default_options() { return "print_stacktrace=1:abort_on_error=1"; }
#endif

#ifdef __AFL_FUZZ_TESTCASE_LEN
__AFL_FUZZ_INIT();
#endif

namespace qf::fuzz {
std::string counters_report();
}

namespace {

using bytes = std::vector<std::uint8_t>;
namespace fs = std::filesystem;

// The input being run, for the crash paths (signal handlers: no
// allocation there, only write(2)).
const std::uint8_t* current = nullptr;
std::size_t current_size = 0;
// Where a failing input is saved; empty: not saved (replaying files).
char artifact_prefix[4096] = "";
const char* program = "fuzz";

void put(const char* s) {
    const ssize_t unused = write(2, s, std::strlen(s));
    (void)unused;
}

// The input in hex on stderr and in a file named by its hash: the failure
// is reproducible from the CI log alone, and locally from the file.
void save_current(const char* why) {
    static std::atomic<bool> saved{false};
    if (!current) {
        put("\n==== ");
        put(program);
        put(": ");
        put(why);
        put(" outside any input\n");
        return;
    }
    if (saved.exchange(true)) return;
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (std::size_t i = 0; i < current_size; ++i) h = (h ^ current[i]) * 0x100000001b3ull;
    static const char hex[] = "0123456789abcdef";
    char name[4200];
    std::size_t n = 0;
    for (const char* p = artifact_prefix; *p && n < 4096; ++p) name[n++] = *p;
    for (const char* p = "crash-"; *p; ++p) name[n++] = *p;
    for (int i = 15; i >= 0; --i) name[n++] = hex[(h >> (4 * i)) & 15];
    name[n] = 0;
    put("\n==== ");
    put(program);
    put(": ");
    put(why);
    put(" on this input (");
    char len[24];
    int k = 0;
    std::size_t v = current_size;
    char rev[24];
    do {
        rev[k++] = static_cast<char>('0' + v % 10);
        v /= 10;
    } while (v);
    for (int i = 0; i < k; ++i) len[i] = rev[k - 1 - i];
    len[k] = 0;
    put(len);
    put(" bytes, hex):\n");
    char line[80];
    const std::size_t shown = std::min<std::size_t>(current_size, 4096);
    for (std::size_t i = 0; i < shown; i += 32) {
        std::size_t m = 0;
        for (std::size_t j = i; j < std::min(shown, i + 32); ++j) {
            line[m++] = hex[current[j] >> 4];
            line[m++] = hex[current[j] & 15];
        }
        line[m++] = '\n';
        line[m] = 0;
        put(line);
    }
    if (shown < current_size) put("(first 4096 bytes shown)\n");
    const int fd = artifact_prefix[0] ? open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644) : -1;
    if (fd >= 0) {
        std::size_t off = 0;
        while (off < current_size) {
            const ssize_t w = write(fd, current + off, current_size - off);
            if (w <= 0) break;
            off += static_cast<std::size_t>(w);
        }
        close(fd);
        put("saved as ");
        put(name);
        put("\nreproduce: ");
        put(program);
        put(" ");
        put(name);
        put("\n");
    }
}

extern "C" void on_fatal_signal(int sig) {
    save_current(sig == SIGABRT ? "abort" : "fatal signal");
    std::signal(sig, SIG_DFL);
    std::raise(sig);
}

void install_crash_handlers() {
    // On a stack of their own, so that a stack overflow is reported too
    // (the sanitizers have theirs).
#ifndef QF_FUZZ_SANITIZED
    static std::vector<char> alt_stack(1 << 16);
    stack_t ss{};
    ss.ss_sp = alt_stack.data();
    ss.ss_size = alt_stack.size();
    sigaltstack(&ss, nullptr);
#endif
    auto on = [](int sig) {
        struct sigaction sa {};
        sa.sa_handler = on_fatal_signal;
        sa.sa_flags = SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        sigaction(sig, &sa, nullptr);
    };
    // Under the sanitizers their own handlers report SEGV and friends, then
    // call the death callback; ours would hide their report.
#ifdef QF_FUZZ_SANITIZED
    __sanitizer_set_death_callback([] { save_current("sanitizer report"); });
    on(SIGABRT);
#else
    for (int s : {SIGABRT, SIGSEGV, SIGBUS, SIGILL, SIGFPE}) on(s);
#endif
}

// A per-input time limit: a hang is a finding too.
std::atomic<std::int64_t> input_started_ms{0};
double timeout_s = 25;

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void start_hang_watch() {
    std::thread([] {
        for (;;) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            const std::int64_t t = input_started_ms.load();
            if (t && now_ms() - t > static_cast<std::int64_t>(timeout_s * 1000)) {
                save_current("timeout (one input ran past --timeout)");
                std::_Exit(3);
            }
        }
    }).detach();
}

void run_one(const std::uint8_t* data, std::size_t size) {
    current = data;
    current_size = size;
    input_started_ms.store(now_ms());
    LLVMFuzzerTestOneInput(data, size);
    input_started_ms.store(0);
    current = nullptr;
    current_size = 0;
}

bytes read_all(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    return bytes(std::istreambuf_iterator<char>(f), {});
}

void add_inputs(const fs::path& p, std::vector<bytes>& out) {
    if (fs::is_directory(p)) {
        std::vector<fs::path> files;
        for (const auto& e : fs::recursive_directory_iterator(p))
            if (e.is_regular_file()) files.push_back(e.path());
        std::sort(files.begin(), files.end());
        for (const auto& f : files) out.push_back(read_all(f));
    } else if (fs::exists(p)) {
        out.push_back(read_all(p));
    } else {
        std::fprintf(stderr, "%s: no such file or directory: %s\n", program, p.c_str());
        std::exit(2);
    }
}

// AFL's dictionary format: name="value" per line, \xNN and \\ \" escapes.
std::vector<bytes> read_dict(const fs::path& p) {
    std::vector<bytes> out;
    std::ifstream f(p);
    if (!f) {
        std::fprintf(stderr, "%s: cannot read dictionary %s\n", program, p.c_str());
        std::exit(2);
    }
    std::string line;
    while (std::getline(f, line)) {
        const auto q = line.find('"');
        const auto e = line.rfind('"');
        if (line.empty() || line[0] == '#' || q == std::string::npos || e <= q) continue;
        bytes tok;
        for (std::size_t i = q + 1; i < e; ++i) {
            if (line[i] == '\\' && i + 1 < e) {
                if (line[i + 1] == 'x' && i + 3 < e) {
                    tok.push_back(static_cast<std::uint8_t>(std::stoi(line.substr(i + 2, 2), nullptr, 16)));
                    i += 3;
                } else {
                    tok.push_back(static_cast<std::uint8_t>(line[++i]));
                }
            } else {
                tok.push_back(static_cast<std::uint8_t>(line[i]));
            }
        }
        out.push_back(std::move(tok));
    }
    return out;
}

class mutator {
public:
    mutator(std::uint64_t seed, std::size_t max_len, std::vector<bytes> dict)
        : rng_(seed), max_len_(max_len), dict_(std::move(dict)) {}

    std::uint64_t next() { return rng_(); }
    std::size_t below(std::size_t n) { return n ? static_cast<std::size_t>(rng_() % n) : 0; }

    bytes random_input() {
        bytes b(1 + below(std::min<std::size_t>(max_len_, 256)));
        for (auto& x : b) x = static_cast<std::uint8_t>(rng_());
        return b;
    }

    void mutate(bytes& b, const std::vector<bytes>& pool) {
        const unsigned n = 1u << below(4);
        for (unsigned i = 0; i < n; ++i) one(b, pool);
        if (b.size() > max_len_) b.resize(max_len_);
    }

private:
    void one(bytes& b, const std::vector<bytes>& pool) {
        static constexpr std::uint8_t interesting[] = {0, 1, 0x7f, 0x80, 0xff, 0x0f, 0x10, 0x20, 0x40, 0x66, 0xf0};
        switch (below(11)) {
        case 0:
            if (!b.empty()) b[below(b.size())] ^= static_cast<std::uint8_t>(1u << below(8));
            break;
        case 1:
            if (!b.empty()) b[below(b.size())] = static_cast<std::uint8_t>(rng_());
            break;
        case 2:
            if (!b.empty()) b[below(b.size())] = interesting[below(std::size(interesting))];
            break;
        case 3:
            if (!b.empty()) b[below(b.size())] += static_cast<std::uint8_t>(below(35)) - 17;
            break;
        case 4:
            if (b.size() > 1) {
                const std::size_t at = below(b.size()), len = 1 + below(std::min<std::size_t>(16, b.size() - at));
                b.erase(b.begin() + static_cast<std::ptrdiff_t>(at), b.begin() + static_cast<std::ptrdiff_t>(at + len));
            }
            break;
        case 5: {
            const std::size_t at = below(b.size() + 1), len = 1 + below(16);
            bytes ins(len);
            for (auto& x : ins) x = static_cast<std::uint8_t>(rng_());
            b.insert(b.begin() + static_cast<std::ptrdiff_t>(at), ins.begin(), ins.end());
            break;
        }
        case 6:
            if (!b.empty()) {
                const std::size_t from = below(b.size()), len = 1 + below(std::min<std::size_t>(32, b.size() - from));
                const bytes piece(b.begin() + static_cast<std::ptrdiff_t>(from),
                                  b.begin() + static_cast<std::ptrdiff_t>(from + len));
                b.insert(b.begin() + static_cast<std::ptrdiff_t>(below(b.size() + 1)), piece.begin(), piece.end());
            }
            break;
        case 7:
        case 8:
            if (!dict_.empty()) {
                const bytes& t = dict_[below(dict_.size())];
                const std::size_t at = below(b.size() + 1);
                if (below(2) || at + t.size() > b.size()) b.insert(b.begin() + static_cast<std::ptrdiff_t>(at), t.begin(), t.end());
                else std::copy(t.begin(), t.end(), b.begin() + static_cast<std::ptrdiff_t>(at));
            }
            break;
        case 9:
            if (!pool.empty()) {
                const bytes& o = pool[below(pool.size())];
                const std::size_t keep = below(b.size() + 1), from = below(o.size() + 1);
                b.resize(keep);
                b.insert(b.end(), o.begin() + static_cast<std::ptrdiff_t>(from), o.end());
            }
            break;
        default:
            // Bytes 0-2 are where the targets keep their configuration:
            // change it alone, so a seed runs in another mode.
            if (!b.empty()) b[below(std::min<std::size_t>(3, b.size()))] = static_cast<std::uint8_t>(rng_());
            break;
        }
    }

    std::mt19937_64 rng_;
    std::size_t max_len_;
    std::vector<bytes> dict_;
};

[[noreturn]] void usage() {
    std::fprintf(stderr,
                 "usage: %s FILE|DIR...\n"
                 "       %s --random SECONDS [--runs N] [--seed S] [--corpus DIR]... [--dict FILE]\n"
                 "              [--max-len N] [--artifacts DIR] [--timeout SECONDS]\n"
                 "       %s --afl    (under afl-fuzz: persistent mode, or one input on stdin)\n"
                 "       %s --minimize FILE\n"
                 "       %s --generate N DIR\n",
                 program, program, program, program, program);
    std::exit(2);
}

// Delta debugging, each candidate in a child process: the smallest input
// (by removing pieces) that still fails in any way - a crash, fail(), a
// sanitizer's report, a hang. What each failure says goes to /dev/null.
bool fails_in_child(const bytes& in) {
    const pid_t pid = fork();
    if (pid == 0) {
        const int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        artifact_prefix[0] = 0;
        alarm(static_cast<unsigned>(timeout_s) + 1);
        run_one(in.data(), in.size());
        std::_Exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    std::error_code ec;
    fs::remove_all(qf::fuzz::scratch_dir_of(pid), ec);  // what a crash left there
    return !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int minimize(const std::string& path) {
    bytes in = read_all(path);
    if (!fails_in_child(in)) {
        std::fprintf(stderr, "%s: %s does not fail: nothing to minimize\n", program, path.c_str());
        return 1;
    }
    for (std::size_t chunk = std::max<std::size_t>(in.size() / 2, 1); chunk >= 1; chunk /= 2) {
        for (std::size_t i = 0; i < in.size();) {
            bytes cand = in;
            cand.erase(cand.begin() + static_cast<std::ptrdiff_t>(i),
                       cand.begin() + static_cast<std::ptrdiff_t>(std::min(in.size(), i + chunk)));
            if (fails_in_child(cand)) in = std::move(cand);
            else i += chunk;
        }
        if (chunk == 1) break;
    }
    const std::string out = path + ".min";
    std::ofstream(out, std::ios::binary).write(reinterpret_cast<const char*>(in.data()), static_cast<std::streamsize>(in.size()));
    std::printf("%s: %zu bytes still fail, saved as %s\n", program, in.size(), out.c_str());
    return 0;
}

// A starting corpus for AFL++ or libFuzzer from the target's generator.
int generate(unsigned long n, const std::string& dir) {
    if (!qf_fuzz_generate) {
        std::fprintf(stderr, "%s: this target has no generator\n", program);
        return 1;
    }
    fs::create_directories(dir);
    bytes buf(4096);
    for (unsigned long i = 0; i < n; ++i) {
        const std::size_t len = qf_fuzz_generate(buf.data(), buf.size(), 0x5eed0000 + i);
        std::ofstream(fs::path(dir) / ("gen-" + std::to_string(i)), std::ios::binary)
            .write(reinterpret_cast<const char*>(buf.data()), static_cast<std::streamsize>(len));
    }
    return 0;
}

} // namespace

// Outside the unnamed namespace: AFL++'s macros declare its runtime's
// functions in the enclosing scope, which must give them external linkage.
#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wold-style-cast"
#pragma clang diagnostic ignored "-Wgnu-statement-expression"
#endif
int qf_fuzz_run_afl() {
#ifdef __AFL_FUZZ_TESTCASE_LEN
    __AFL_INIT();
    const unsigned char* buf = __AFL_FUZZ_TESTCASE_BUF;
    while (__AFL_LOOP(10000)) {
        const auto len = static_cast<std::size_t>(__AFL_FUZZ_TESTCASE_LEN);
        run_one(buf, len);
    }
#else
    bytes in;
    std::uint8_t chunk[65536];
    for (ssize_t r; (r = read(0, chunk, sizeof chunk)) > 0;) in.insert(in.end(), chunk, chunk + r);
    run_one(in.data(), in.size());
#endif
    return 0;
}

#if defined(__clang__)
#pragma clang diagnostic pop
#endif

int main(int argc, char** argv) {
    program = argv[0];
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty()) usage();
    install_crash_handlers();
    if (args[0] == "--afl") return qf_fuzz_run_afl();
    if (args[0] == "--minimize" && args.size() == 2) return minimize(fs::absolute(args[1]).string());
    if (args[0] == "--generate" && args.size() == 3) return generate(std::stoul(args[1]), args[2]);

    double seconds = -1;
    std::uint64_t runs = ~0ull;
    std::uint64_t seed = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
                         (static_cast<std::uint64_t>(getpid()) << 32);
    std::size_t max_len = 4096;
    std::vector<bytes> corpus;
    std::vector<bytes> dict;
    std::vector<std::string> files;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        auto value = [&]() -> const std::string& {
            if (i + 1 >= args.size()) usage();
            return args[++i];
        };
        if (a == "--random") seconds = std::stod(value());
        else if (a == "--runs") runs = std::stoull(value());
        else if (a == "--seed") seed = std::stoull(value(), nullptr, 0);
        else if (a == "--corpus") add_inputs(value(), corpus);
        else if (a == "--dict") dict = read_dict(value());
        else if (a == "--max-len") max_len = std::stoull(value());
        else if (a == "--timeout") timeout_s = std::stod(value());
        else if (a == "--artifacts") {
            // Absolute: a target may change its working directory (the
            // monitor targets' sandbox).
            std::string d = fs::absolute(value()).string();
            fs::create_directories(d);
            if (d.back() != '/') d += '/';
            std::snprintf(artifact_prefix, sizeof artifact_prefix, "%s", d.c_str());
        } else if (a.starts_with("--")) usage();
        else files.push_back(a);
    }
    start_hang_watch();

    if (seconds < 0) {
        if (files.empty()) usage();
        std::vector<bytes> inputs;
        for (const auto& f : files) add_inputs(f, inputs);
        for (const auto& in : inputs) run_one(in.data(), in.size());
        std::printf("%s: %zu inputs, no failures\n%s", program, inputs.size(), qf::fuzz::counters_report().c_str());
        return 0;
    }
    for (const auto& f : files) add_inputs(f, corpus);
    if (!artifact_prefix[0]) std::snprintf(artifact_prefix, sizeof artifact_prefix, "%s/", fs::current_path().c_str());

    const auto t0 = std::chrono::steady_clock::now();
    auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
    std::uint64_t n = 0;
    // The corpus as it is first: seeds and regressions must keep passing.
    for (const auto& in : corpus) {
        run_one(in.data(), in.size());
        ++n;
    }
    mutator m(seed, max_len, std::move(dict));
    bytes buf(max_len);
    bytes in;
    while (n < runs && elapsed() < seconds) {
        const bool gen = qf_fuzz_generate && (corpus.empty() || m.below(10) < 4);
        if (gen) {
            in.assign(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(qf_fuzz_generate(buf.data(), max_len, m.next())));
            if (m.below(4) == 0) m.mutate(in, corpus);
        } else if (!corpus.empty()) {
            in = corpus[m.below(corpus.size())];
            m.mutate(in, corpus);
        } else {
            in = m.random_input();
        }
        run_one(in.data(), in.size());
        ++n;
    }
    const double t = elapsed();
    std::printf("%s: %llu runs in %.1f s (%.0f/s), seed %llu, no failures\n%s", program,
                static_cast<unsigned long long>(n), t, t > 0 ? static_cast<double>(n) / t : 0.0,
                static_cast<unsigned long long>(seed), qf::fuzz::counters_report().c_str());
    return 0;
}
