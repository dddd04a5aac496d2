/* The host side: the same kernel as a process, for the native column of
   bench/compare-qemu. Prints what the guest prints (name, checksum). */
#include "rt.h"
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    /* As guest.inc runs it: REPS times, each checksum folded in, and each
       run from a fresh image, as the guest's (crt.asm copies the kernel
       and clears its bss every time): a child process of the untouched
       parent. */
    uint64_t sum = 0;
    for (int i = 0; i < REPS; ++i) {
        int fd[2];
        if (pipe(fd) != 0) return 1;
        const pid_t pid = fork();
        if (pid < 0) return 1;
        if (pid == 0) {
            const uint64_t v = bench_run();
            _exit(write(fd[1], &v, sizeof v) == sizeof v ? 0 : 1);
        }
        uint64_t v = 0;
        int st = 0;
        if (read(fd[0], &v, sizeof v) != sizeof v || waitpid(pid, &st, 0) != pid || st != 0) return 1;
        close(fd[0]);
        close(fd[1]);
        sum = (sum << 1 | sum >> 63) ^ v;
    }
    printf("%-8s%016llx\r\n", BENCH_NAME, (unsigned long long)sum);
    return 0;
}
