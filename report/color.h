/* color.h - colour in the text reports (the leak kinds, growth and shrinkage
 * in diffs): only on a terminal, and never with NO_COLOR set (no-color.org)
 * or TERM=dumb, so a pipe, a file or a CI log gets plain text. */
#ifndef HEAPSNAP_COLOR_H
#define HEAPSNAP_COLOR_H

#include <stdbool.h>
#include <stdio.h>

enum color { COLOR_RESET, COLOR_RED_BOLD, COLOR_RED, COLOR_YELLOW, COLOR_GREEN, COLOR_DIM };

/* The escape sequence that starts c on out, or "" where out gets no colour. */
const char *color(FILE *out, enum color c);
/* Whether fd is a terminal that takes escape sequences (not TERM=dumb):
 * where colour, and a progress line redrawn in place, may go. */
bool color_terminal(int fd);

#endif
