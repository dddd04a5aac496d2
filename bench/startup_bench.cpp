// Start-up time of the stock binary: exec to exit for a firmware whose first
// instruction (at the reset vector) writes isa-debug-exit. That bounds the
// time from exec to the first guest instruction from above. Real time, as
// the process's life is what counts; compare runs within one invocation.
#include "../tests/build_path.hpp"

#include <benchmark/benchmark.h>
#include <cstdlib>
#include <spawn.h>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace {

int run(const char* const* argv) {
    pid_t pid;
    if (posix_spawn(&pid, argv[0], nullptr, nullptr, const_cast<char* const*>(argv), environ) != 0) return -1;
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

const std::string binary_path = qft::build_path("QF_SYSTEM_BINARY", QF_SYSTEM_BINARY);
const std::string exit_firmware_path = qft::build_path("QF_EXIT_FIRMWARE", QF_EXIT_FIRMWARE);
const char* binary() { return binary_path.c_str(); }
const char* exit_firmware() { return exit_firmware_path.c_str(); }

void BM_startup(benchmark::State& state) {
    const char* argv[] = {binary(), "-M", "testrig", "-bios", exit_firmware(), "-nographic", "-serial", "none", nullptr};
    for (auto _ : state) {
        if (run(argv) != 1) {  // isa-debug-exit with 0: status 1
            state.SkipWithError("the binary did not exit through isa-debug-exit");
            break;
        }
    }
}
BENCHMARK(BM_startup)->Name("startup/exec_to_exit_at_reset_vector")->UseRealTime()->Unit(benchmark::kMillisecond);

// The same under KVM: VM, memory slots, vCPU and CPUID set-up included.
void BM_startup_kvm(benchmark::State& state) {
    // An error exits 1 as isa-debug-exit's 0 does: check for KVM first.
    struct stat st {};
    if (stat("/dev/kvm", &st) != 0 || !S_ISCHR(st.st_mode) || access("/dev/kvm", R_OK | W_OK) != 0) {
        state.SkipWithError("SKIPPED: /dev/kvm cannot be opened here");
        for (auto _ : state) {
        }
        return;
    }
    const char* argv[] = {binary(), "-M", "testrig", "-accel", "kvm", "-bios", exit_firmware(), "-nographic", "-serial", "none", nullptr};
    for (auto _ : state) {
        if (run(argv) != 1) {
            state.SkipWithError("-accel kvm did not run here (no usable /dev/kvm?)");
            break;
        }
    }
}
BENCHMARK(BM_startup_kvm)->Name("startup/kvm_exec_to_exit_at_reset_vector")->UseRealTime()->Unit(benchmark::kMillisecond);

} // namespace

BENCHMARK_MAIN();
