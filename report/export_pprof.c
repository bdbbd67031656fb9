/* export_pprof.c - placeholder until the pprof writer lands. */
#include "export.h"

#include <stdio.h>

int export_pprof(struct strbuf *out, const struct profile *p, enum profile_value default_value, char *err,
                 size_t errlen)
{
    (void)out;
    (void)p;
    (void)default_value;
    snprintf(err, errlen, "pprof export: not built yet");
    return -1;
}
