/* proc_rss.c - see proc_rss.h. */
#include "proc_rss.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

uint64_t proc_peak_rss_kib(pid_t pid)
{
    char path[48], buf[4096];
    if (pid)
        snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    else
        memcpy(path, "/proc/self/status", sizeof "/proc/self/status");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1); /* VmHWM is in the first kilobyte */
    close(fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    const char *p = strstr(buf, "\nVmHWM:");
    if (!p) return 0;
    p += 7;
    while (*p == ' ' || *p == '\t')
        p++;
    uint64_t kib = 0;
    while (*p >= '0' && *p <= '9')
        kib = kib * 10 + (uint64_t)(*p++ - '0');
    return kib;
}
