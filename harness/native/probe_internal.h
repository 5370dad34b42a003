/* Helpers shared between the probe's C files. Not part of the API: never handed to cdef.
 * The wire frame lives in frame.h. */
#ifndef PROBE_INTERNAL_H
#define PROBE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <rte_ethdev.h>

/* an AF_PACKET socket (send only) bound to ifname, opened inside the network namespace at
 * netns_path if given (the calling thread returns to its own namespace); fd or -errno */
int probe_open_packet_socket(const char *ifname, const char *netns_path);

/* send count frames of len bytes on such a socket, build(buf, len, i, arg) filling frame i (from 0) in a
 * zeroed buffer first; rate_pps paces them (0: as fast as the socket takes them), ENOBUFS/EAGAIN are
 * retried; frames sent, or -errno when none was (-EINVAL for a frame over the jumbo length) */
int64_t probe_send_frames(const char *ifname, const char *netns_path, uint16_t len, uint64_t count,
                          uint64_t rate_pps, void (*build)(uint8_t *buf, uint16_t len, uint64_t i, void *arg),
                          void *arg);

/* ---- one lifecycle for every loop on a worker lcore (harness/native/job.c) ----
 *
 * A handle (a run, a perf run, an RSS capture, a spin loop) embeds a struct probe_job named job and
 * counters named stats (with uint64_t tsc_last and uint32_t running), sets them up with PROBE_JOB_SETUP,
 * and then every handle has the same five steps:
 *
 *   probe_job_start   check the lcore (enabled, not the main one, idle), mark running, launch the loop
 *   probe_job_stats   a copy of the counters; while running, tsc_last is "now"
 *   probe_job_wait    wait for a flag the loop sets (e.g. every generator done)
 *   probe_job_stop    ask the loop to return (it polls probe_job_stopping) and wait for its lcore
 *   probe_job_free    stop, then release the handle
 *
 * The loop itself calls probe_job_finished() last: tsc_last = now, running = 0. */
struct probe_job {
    uint32_t lcore;
    uint32_t stop;
    uint32_t launched;
    int (*loop)(struct probe_job *job);
    void *stats;                /* the counters the loop writes; copied out whole */
    size_t stats_len;
    size_t tsc_last_off;        /* offsets of tsc_last and running inside stats */
    size_t running_off;
    void (*release)(struct probe_job *job);
};

#define PROBE_JOB_SETUP(h, loop_fn, release_fn)                                                          \
    probe_job_setup(&(h)->job, (loop_fn), &(h)->stats, sizeof((h)->stats),                             \
                    offsetof(__typeof__((h)->stats), tsc_last), offsetof(__typeof__((h)->stats), running), \
                    (release_fn))

void probe_job_setup(struct probe_job *job, int (*loop)(struct probe_job *), void *stats, size_t stats_len,
                     size_t tsc_last_off, size_t running_off, void (*release)(struct probe_job *));

int probe_job_start(struct probe_job *job, uint32_t lcore);
int probe_job_stats(struct probe_job *job, void *out);
int probe_job_wait(struct probe_job *job, const uint32_t *flag, uint32_t timeout_ms);
int probe_job_stop(struct probe_job *job);
int probe_job_free(struct probe_job *job);
/* a worker lcore a job may use: 0 or -EINVAL */
int probe_job_lcore_ok(uint32_t lcore);
/* fn(arg) once on a worker lcore, waited for (one-shot readings, not loops); fn's return value */
int probe_job_once(uint32_t lcore, int (*fn)(void *), void *arg);
void probe_job_finished(struct probe_job *job);

/* one rx burst of a poll loop, counted: polls + 1, and empty_polls + 1 when nothing came; the packets */
static inline uint16_t probe_rx_counted(uint16_t port, uint16_t queue, struct rte_mbuf **bufs, uint16_t burst,
                                        uint64_t *polls, uint64_t *empty_polls)
{
    uint16_t n = rte_eth_rx_burst(port, queue, bufs, burst);
    (*polls)++;
    *empty_polls += n == 0;
    return n;
}

static inline int probe_job_stopping(const struct probe_job *job)
{
    return __atomic_load_n(&job->stop, __ATOMIC_RELAXED);
}

#endif
