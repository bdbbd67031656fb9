/* proc_rss.c - see proc_rss.h. Read in small pieces: the shim may call this
 * on a signal's alternate stack, which can be a few kilobytes in all, and
 * the status file's lines before VmHWM (Groups: on a host with many groups)
 * have no fixed length. */
#include "proc_rss.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

uint64_t proc_peak_rss_kib(pid_t pid)
{
    char path[48], buf[256], head[8];
    if (pid)
        snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    else
        memcpy(path, "/proc/self/status", sizeof "/proc/self/status");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    /* Per line: its first 6 bytes in head; on "VmHWM:", the number after it. */
    size_t col = 0;
    bool in_value = false, done = false;
    uint64_t kib = 0;
    ssize_t n;
    while (!done && (n = read(fd, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n && !done; i++) {
            char c = buf[i];
            if (in_value) {
                if (c >= '0' && c <= '9')
                    kib = kib * 10 + (uint64_t)(c - '0');
                else if (c != ' ' && c != '\t')
                    done = true;
            } else if (c == '\n') {
                col = 0;
            } else if (col < 6) {
                head[col++] = c;
                in_value = col == 6 && memcmp(head, "VmHWM:", 6) == 0;
            }
        }
    }
    close(fd);
    return done || in_value ? kib : 0;
}
