#include "CEaselCPU.h"

#include <malloc.h>

int easel_cpu_retain_freed_memory(void) {
    int ok = 1;
    /* 32 MiB is glibc's largest mmap threshold on 64-bit; bigger blocks are always mmapped. */
    ok &= mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
    ok &= mallopt(M_TRIM_THRESHOLD, 1 << 30); /* no trimming short of 1 GiB free at the top */
    ok &= mallopt(M_TOP_PAD, 64 * 1024 * 1024); /* grow the heap in big steps */
    return ok;
}
