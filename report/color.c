/* color.c - see color.h. Whether a stream is a terminal is asked once per
 * stream: a report asks for every line it colours. */
#include "color.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool color_terminal(int fd)
{
    const char *term = getenv("TERM");
    return !(term && strcmp(term, "dumb") == 0) && isatty(fd);
}

static bool wants_color(FILE *out)
{
    static int decided[2] = {-1, -1}; /* stdout, stderr */
    int k = out == stdout ? 0 : out == stderr ? 1 : -1;
    if (k < 0) return false;
    if (decided[k] < 0) {
        const char *no = getenv("NO_COLOR");
        decided[k] = !(no && *no) && color_terminal(fileno(out));
    }
    return decided[k];
}

const char *color(FILE *out, enum color c)
{
    static const char *const sgr[] = {"\033[0m", "\033[1;31m", "\033[31m", "\033[33m", "\033[32m", "\033[2m"};
    return wants_color(out) ? sgr[c] : "";
}
