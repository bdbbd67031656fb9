/* help.c - `heapsnap help COMMAND` and `heapsnap COMMAND --help`: the manual
 * pages (the .scd sources in docs/man) as plain text, made into help_pages.c at build time
 * by scripts/man_to_help.py, so the command and `man` say the same. */
#include "opts.h"

#include <stdio.h>
#include <string.h>

struct help_page {
    const char *name; /* "heapsnap", "run", ..., "heapsnap.h" */
    const char *text;
};
extern const struct help_page help_pages[];

bool help_print(const char *page)
{
    for (const struct help_page *p = help_pages; p->name; p++)
        if (strcmp(p->name, page) == 0) {
            fputs(p->text, stdout);
            return true;
        }
    return false;
}
