/* shim_attach.c - the shim loaded into a process that is already running
 * (`heapsnap attach`, docs/ATTACH.md).
 *
 * `heapsnap attach` stops one thread with ptrace where it holds no lock of the
 * C library, makes it call dlopen on this library, then the entry points
 * below, and lets it go. The library is loaded RTLD_LOCAL and never unloaded
 * (a thread may be about to return into it; heapsnap.h's entry points stay
 * bound to it): our constructor, seeing the library came after libc,
 * initialises nothing. Start takes its settings from a string instead of the
 * environment (the process's environment cannot be changed from outside, and
 * is not ours to change), opens the trace and redirects the process's calls
 * (got_patch.c). Messages go to a buffer the attaching command reads, never
 * to the program's stderr.
 *
 * Detaching is done with every thread held by ptrace: the command checks that
 * none is inside heapsnap's code (its ip outside our text, its in_shim count
 * 0: the count is what heapsnap_attach_tls_offset() locates), then calls stop
 * on one of them. A thread held inside a real malloc our wrapper called finds,
 * when it returns, that recording is off (record_begin) and touches nothing of
 * the trace. So stop can put everything back: the slots, the trace mapping,
 * the descriptors. */
#include "shim.h"
#include "../include/heapsnap.h"

#include <dlfcn.h>
#include <link.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

bool shim_attached;
static char settings[8192]; /* NAME=value lines, the newlines made NULs */
static size_t settings_len;
static char message[2048];

/* What heapsnap's messages become: the program's stderr, or under attach the
 * buffer `heapsnap attach` reads back. */
static atomic_flag message_lock = ATOMIC_FLAG_INIT;

void shim_tell(const char *msg, size_t n)
{
    if (shim_attached) {
        while (atomic_flag_test_and_set_explicit(&message_lock, memory_order_acquire)) {
        }
        size_t have = strlen(message);
        if (have + n >= sizeof message) n = sizeof message - 1 - have;
        memcpy(message + have, msg, n);
        message[have + n] = 0;
        atomic_flag_clear_explicit(&message_lock, memory_order_release);
        return;
    }
    if (write(2, msg, n) < 0) { /* stderr is gone: nothing to do */
    }
}

const char *attach_setting(const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < settings_len; i += strlen(settings + i) + 1)
        if (strncmp(settings + i, name, len) == 0 && settings[i + len] == '=') return settings + i + len + 1;
    return NULL;
}

/* Whether this library was loaded after libc: by dlopen into a running
 * process. Preloaded (LD_PRELOAD, /etc/ld.so.preload) it comes before every
 * library the program needs. From our constructor, under the loader's lock. */
bool attach_loaded_late(void)
{
    struct dl_find_object fo;
    if (_dl_find_object((void *)attach_loaded_late, &fo) != 0) return false;
    for (const struct link_map *l = fo.dlfo_link_map->l_prev; l; l = l->l_prev) {
        const char *base = strrchr(l->l_name, '/');
        if (strncmp(base ? base + 1 : l->l_name, "libc.so", 7) == 0) return true;
    }
    return false;
}

/* The process's calls heapsnap takes over. First those on descriptors:
 * libunwind makes a pipe as we start, which must become ours (high, kept
 * from the program's close loops, closed at detach) like every descriptor
 * heapsnap opens. */
#define TARGET(f)                                                                                                      \
    {                                                                                                                  \
#f, (void *)f, false                                                                                           \
    }
#define API(f)                                                                                                         \
    {                                                                                                                  \
#f, (void *)f, true                                                                                            \
    }
static const struct got_target fd_targets[] = {
    TARGET(close), TARGET(close_range), TARGET(closefrom), TARGET(dup2),
    TARGET(dup3),  TARGET(pipe),        TARGET(pipe2),     TARGET(syscall),
};
/* Then the malloc family, mappings, dlclose (the unwinder's rules of an
 * unloaded module must go) and heapsnap.h's weak entry points (0 in a
 * program started without the shim). */
static const struct got_target targets[] = {
    TARGET(malloc),
    TARGET(free),
    TARGET(calloc),
    TARGET(realloc),
    TARGET(reallocarray),
    TARGET(posix_memalign),
    TARGET(aligned_alloc),
    TARGET(memalign),
    TARGET(valloc),
    TARGET(pvalloc),
    TARGET(mmap),
    TARGET(mmap64),
    TARGET(munmap),
    TARGET(mremap),
    TARGET(brk),
    TARGET(sbrk),
    TARGET(dlclose),
    API(heapsnap_shim_is_tracing),
    API(heapsnap_shim_snapshot),
    API(heapsnap_shim_traced_memory),
    API(heapsnap_shim_reset_peak),
    API(heapsnap_shim_pause),
    API(heapsnap_shim_resume),
    API(heapsnap_shim_leak_check),
    API(heapsnap_shim_ignore),
    API(heapsnap_shim_disable),
    API(heapsnap_shim_enable),
    API(heapsnap_shim_register_root),
    API(heapsnap_shim_unregister_root),
    API(heapsnap_shim_pool_alloc),
    API(heapsnap_shim_pool_free),
    API(heapsnap_shim_pool_destroy),
};
#undef TARGET
#undef API

static int patch(const struct got_target *t, size_t n)
{
    shim_tls.in_shim++;
    unsigned busy = 0;
    int done = got_patch_all(t, n, &busy);
    shim_tls.in_shim--;
    return done;
}
#define PATCH(table) patch(table, sizeof table / sizeof *table)

/* Returns the number of call slots redirected (> 0), or -1 with the reason in
 * heapsnap_attach_message(); on success the message is the trace's path (what
 * the shim says while attached is added after it; stop's message is the path,
 * a newline, and that). */
SHIM_EXPORT int heapsnap_attach_start(const char *text)
{
    message[0] = 0;
    if (!attach_loaded_late() || (shim_state == SHIM_ACTIVE && !shim_attached)) {
        snprintf(message, sizeof message, "heapsnap is preloaded in this process already: it is traced from its start");
        return -1;
    }
    if (atomic_load(&shim_state) == SHIM_ACTIVE) {
        snprintf(message, sizeof message, "heapsnap is attached to this process already (heapsnap detach it first)");
        return -1;
    }
    /* Another copy of the library, preloaded from another path: it traces already. */
    void *other = dlsym(RTLD_DEFAULT, "heapsnap_shim_is_tracing");
    if (other && other != (void *)heapsnap_shim_is_tracing) {
        snprintf(message, sizeof message, "another heapsnap library is loaded in this process already");
        return -1;
    }
    size_t len = strlen(text);
    if (len >= sizeof settings) {
        snprintf(message, sizeof message, "settings too long");
        return -1;
    }
    memcpy(settings, text, len + 1);
    for (size_t i = 0; i < len; i++)
        if (settings[i] == '\n') settings[i] = 0;
    settings_len = len;
    shim_attached = true;
    if (!fd_restore_unwind_pipe()) {
        snprintf(message, sizeof message,
                 "the program now uses descriptor numbers libunwind kept from an earlier attach: cannot attach again");
        return -1;
    }
    fd_init();
    int n = PATCH(fd_targets);
    if (atomic_load(&shim_state) == SHIM_UNINIT)
        shim_init();
    else
        shim_reattach();
    if (atomic_load(&shim_state) != SHIM_ACTIVE) { /* the message says why */
        got_restore_all();
        fd_release_all();
        return -1;
    }
    atomic_fetch_or((_Atomic uint32_t *)&spool_header()->flags, TRACE_F_ATTACHED);
    n += PATCH(targets);
    snprintf(message, sizeof message, "%s", spool_path());
    return n;
}

/* A later pass over the modules (new ones, dlopen'ed since): the slots taken. */
SHIM_EXPORT int heapsnap_attach_rescan(void)
{
    if (!shim_attached || atomic_load(&shim_state) != SHIM_ACTIVE) return -1;
    return PATCH(fd_targets) + PATCH(targets);
}

/* Where shim_tls sits from the thread pointer: the same in every thread
 * (static TLS), so `heapsnap detach` reads each held thread's in_shim there. */
SHIM_EXPORT long heapsnap_attach_tls_offset(void)
{
    uintptr_t tp;
    __asm__("movq %%fs:0, %0" : "=r"(tp));
    return (long)((uintptr_t)&shim_tls.in_shim - tp);
}

/* Called with every thread held out of our code: puts the process back as
 * it was. Returns the slots restored, or -1 if not attached. */
SHIM_EXPORT int heapsnap_attach_stop(void)
{
    if (!shim_attached || atomic_load(&shim_state) != SHIM_ACTIVE) return -1;
    shim_tls.in_shim++;
    atomic_store(&shim_state, SHIM_OFF); /* first: a held thread's wrapper records nothing after this */
    int n = (int)got_restore_all();
    struct trace_header *h = spool_header();
    if (h) {
        h->end_code = 0;
        h->end_ticks = shim_ticks();
        h->end_mono_ns = shim_mono_ns();
        h->peak_rss_kib = 0;
        atomic_store((_Atomic uint32_t *)&h->end_how, END_DETACHED);
    }
    /* The trace's path, then what was said while attached (a full disk...). */
    char said[sizeof message];
    size_t skip = strlen(spool_path());
    snprintf(said, sizeof said, "%s", strncmp(message, spool_path(), skip) == 0 ? message + skip : message);
    snprintf(message, sizeof message, "%s\n%s", spool_path(), said[0] == '\n' ? said + 1 : said);
    api_stop();
    /* No thread writes to the trace any more (each was held out of our code
     * and finds the recording off when it comes back): its mappings and
     * descriptor go, as a fork child's do. */
    spool_forget();
    fd_release_all();
    atomic_fetch_add(&shim_generation, 1); /* every thread's chunk was the old trace's */
    shim_tls.in_shim--;
    return n;
}

SHIM_EXPORT const char *heapsnap_attach_message(void) { return message; }
