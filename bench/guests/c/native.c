/* The host side: the same kernel as a process, for the native column of
   bench/compare-qemu. Prints what the guest prints (name, checksum). */
#include "rt.h"
#include <stdio.h>

int main(void) {
    const uint64_t sum = bench_run();
    printf("%-8s%016llx\r\n", BENCH_NAME, (unsigned long long)sum);
    return 0;
}
