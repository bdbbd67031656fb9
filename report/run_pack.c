/* run_pack.c - see run_pack.h. */
#include "run_pack.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "util.h"

#define IDLE_MS 20          /* with nothing sealed to pack: a look this often */
#define SLOTS_PER_TURN 8u   /* per process, then the next one's turn: 512 KiB of records */

static bool followed(void *ctx, size_t slot)
{
    struct run_proc *p = ctx;
    return !p->followed || atomic_load_explicit(&p->followed[slot], memory_order_acquire);
}

static void set_phase(struct run_packing *k, struct run_proc *p, int phase)
{
    pthread_mutex_lock(&k->lock);
    atomic_store_explicit(&p->pack_phase, phase, memory_order_release);
    pthread_cond_broadcast(&k->wake);
    pthread_cond_broadcast(&k->done);
    pthread_mutex_unlock(&k->lock);
}

/* Sealed slots of a running process; true if more were left for later. */
static bool pack_some(struct run_proc *p)
{
    char err[1024];
    if (!p->packing) {
        /* Packed slots give their disk blocks back once the follower is past them. */
        int rc = packer_begin(&p->packer, p->path, true, err, sizeof err);
        if (rc != 0) {
            if (rc < 0) warn("%s", err);
            p->pack_failed = true;
            return false;
        }
        p->packer.may_punch = followed;
        p->packer.punch_ctx = p;
        p->packer.step_slots = SLOTS_PER_TURN;
        packer_beside(&p->packer); /* HEAPSNAP_PACK: checked at the start (run_check_pack_env) */
        p->packing = true;
    }
    int rc = packer_step(&p->packer, false, err, sizeof err);
    if (rc < 0) {
        warn("%s", err);
        packer_abort(&p->packer);
        p->packing = false;
        p->pack_failed = true;
    }
    return rc == 1;
}

static void pack_rest(struct run_proc *p)
{
    char err[1024];
    int rc = 0;
    if (!p->packing) {
        rc = packer_begin(&p->packer, p->path, false, err, sizeof err);
        p->packing = rc == 0;
    }
    if (rc == 0) rc = packer_step(&p->packer, true, err, sizeof err);
    if (rc == 0) rc = packer_add_external(&p->packer, &p->inherited, TRACE_STREAM_INHERITED, err, sizeof err);
    if (rc == 0) rc = packer_add_external(&p->packer, &p->checks_out, TRACE_STREAM_EXTERNAL, err, sizeof err);
    if (rc == 0) rc = packer_add_external(&p->packer, &p->rss_out, TRACE_STREAM_RSS, err, sizeof err);
    if (rc == 0) {
        rc = packer_commit(&p->packer, p->end_how, p->end_code, err, sizeof err);
        p->packing = false; /* committed or aborted */
    }
    rec_chunks_free(&p->inherited); /* in the trace now, or lost with it */
    rec_chunks_free(&p->checks_out);
    rec_chunks_free(&p->rss_out);
    if (rc < 0) {
        if (p->packing) packer_abort(&p->packer);
        p->packing = false;
        warn("%s", err);
    }
}

/* The process runs on without us: what its trace lost to packing beside it
 * is written back, so that it is whole on its own (if that cannot be done,
 * the temporary stays, for the packer at its end to take over). */
static void abandon(struct run_proc *p)
{
    char err[1024];
    if (packer_give_back(&p->packer, err, sizeof err) < 0) warn("%s", err);
    packer_abort(&p->packer);
    p->packing = false;
}

static void *packing_main(void *arg)
{
    struct run_packing *k = arg;
    struct run_proc **mine = NULL;
    size_t cap = 0;
    pthread_mutex_lock(&k->lock);
    for (;;) {
        /* Our own copy of the list: the loop may add to it meanwhile. */
        size_t n = k->n;
        if (n > cap) mine = xrealloc(mine, (cap = n) * sizeof *mine);
        for (size_t i = 0; i < n; i++) mine[i] = k->v[i];
        bool quit = k->quit;
        pthread_mutex_unlock(&k->lock);
        bool more = false;
        for (size_t i = 0; i < n; i++) {
            struct run_proc *p = mine[i];
            int phase = atomic_load_explicit(&p->pack_phase, memory_order_acquire);
            if (quit && phase == PACK_RUNNING) phase = PACK_ABANDON; /* the loop forgot it: never wait forever */
            switch (phase) {
            case PACK_RUNNING:
                if (!p->pack_failed && pack_some(p)) more = true;
                break;
            case PACK_END:
                pack_rest(p);
                set_phase(k, p, PACK_DONE);
                break;
            case PACK_ABANDON:
                if (p->packing) abandon(p);
                set_phase(k, p, PACK_DONE);
                break;
            default:
                break;
            }
        }
        pthread_mutex_lock(&k->lock);
        size_t w = 0; /* the done ones leave the list */
        for (size_t i = 0; i < k->n; i++)
            if (atomic_load(&k->v[i]->pack_phase) != PACK_DONE) k->v[w++] = k->v[i];
        k->n = w;
        if (quit && k->n == 0) break;
        if (more) continue;
        bool asked = false; /* a phase changed while we looked elsewhere */
        for (size_t i = 0; i < k->n; i++)
            if (atomic_load(&k->v[i]->pack_phase) != PACK_RUNNING) asked = true;
        if (asked || k->quit != quit) continue;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += IDLE_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&k->wake, &k->lock, &until);
    }
    pthread_mutex_unlock(&k->lock);
    free(mine);
    return NULL;
}

void packing_start(struct run_packing *k)
{
    *k = (struct run_packing){0};
    pthread_mutex_init(&k->lock, NULL);
    pthread_cond_init(&k->wake, NULL);
    pthread_cond_init(&k->done, NULL);
    /* Signals (the program's end, a request to stop waiting) are the loop's. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int e = pthread_create(&k->thread, NULL, packing_main, k);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e != 0) die("cannot start the packing thread: %s", strerror(e));
    k->started = true;
}

void packing_add(struct run_packing *k, struct run_proc *p)
{
    atomic_store(&p->pack_phase, PACK_RUNNING);
    pthread_mutex_lock(&k->lock);
    if (k->n == k->cap) k->v = xrealloc(k->v, (k->cap = k->cap ? 2 * k->cap : 8) * sizeof *k->v);
    k->v[k->n++] = p;
    p->pack_handed = true;
    pthread_cond_broadcast(&k->wake);
    pthread_mutex_unlock(&k->lock);
}

void packing_end(struct run_packing *k, struct run_proc *p, uint32_t how, int32_t code)
{
    p->end_how = how;
    p->end_code = code;
    set_phase(k, p, PACK_END); /* release: the fields above, checks_out and inherited are the thread's now */
}

void packing_abandon(struct run_packing *k, struct run_proc *p)
{
    set_phase(k, p, PACK_ABANDON);
    pthread_mutex_lock(&k->lock);
    while (atomic_load(&p->pack_phase) != PACK_DONE) pthread_cond_wait(&k->done, &k->lock);
    pthread_mutex_unlock(&k->lock);
}

void packing_finish(struct run_packing *k)
{
    if (!k->started) return;
    pthread_mutex_lock(&k->lock);
    k->quit = true;
    pthread_cond_broadcast(&k->wake);
    pthread_mutex_unlock(&k->lock);
    pthread_join(k->thread, NULL);
    free(k->v);
    pthread_mutex_destroy(&k->lock);
    pthread_cond_destroy(&k->wake);
    pthread_cond_destroy(&k->done);
    k->started = false;
}
