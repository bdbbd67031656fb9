/* run_pack.h - the packing thread of `heapsnap run`. While a process runs,
 * the slots its threads have sealed are packed here, beside the loop that
 * follows and checks it (run_loop.c), so that neither waits for the other and
 * a second core does the compressing; when the loop is done with a process
 * that ended, the rest of its trace is packed and committed here too.
 *
 * A process's packer (run_proc.packer) belongs to this thread alone; the
 * loop tells it what it may do through run_proc.pack_phase and punch_below,
 * and owns everything else of the process. */
#ifndef HEAPSNAP_RUN_PACK_H
#define HEAPSNAP_RUN_PACK_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "run_procs.h"

struct run_packing {
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    pthread_cond_t wake; /* to the thread: a process to look at */
    pthread_cond_t done; /* from the thread: a process finished (PACK_DONE) */
    struct run_proc **v; /* processes not yet PACK_DONE */
    size_t n, cap;
    bool quit;
};

void packing_start(struct run_packing *k);
/* From now on, p's sealed slots are packed as they come. */
void packing_add(struct run_packing *k, struct run_proc *p);
/* p has ended and the loop is done with it (its check results and inherited
 * blocks are final): pack the rest, commit with how/code as its end if it
 * recorded none (enum end_how). pack_phase becomes PACK_DONE. */
void packing_end(struct run_packing *k, struct run_proc *p, uint32_t how, int32_t code);
/* p runs on without us: stops packing it, and returns once that is so. What
 * was packed stays in its temporary if its raw slots were freed, for the
 * packer at its end to take over. */
void packing_abandon(struct run_packing *k, struct run_proc *p);
/* Waits until every process handed over is PACK_DONE, then stops the thread. */
void packing_finish(struct run_packing *k);

#endif
