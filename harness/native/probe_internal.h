/* Helpers shared between the probe's C files. Not part of the API: never handed to cdef. */
#ifndef PROBE_INTERNAL_H
#define PROBE_INTERNAL_H

/* an AF_PACKET socket (send only) bound to ifname, opened inside the network namespace at
 * netns_path if given (the calling thread returns to its own namespace); fd or -errno */
int probe_open_packet_socket(const char *ifname, const char *netns_path);

/* A loop launched on a worker lcore: what every such loop shares (runs, RSS captures, perf runs,
 * spin loops). The owner launches it, the loop polls probe_job_stopping(), the owner stops it. */
struct probe_job {
    uint32_t lcore;
    uint32_t stop;
    uint32_t launched;
};

/* launch fn(arg) on lcore; 0, or -errno (-EBUSY while another loop runs there) */
int probe_job_launch(struct probe_job *job, int (*fn)(void *), void *arg, uint32_t lcore);
/* ask the loop to return and wait for its lcore; idempotent; the loop's return value */
int probe_job_stop(struct probe_job *job);
/* wait up to timeout_ms for a flag the loop sets: 1 set, 0 timed out */
int probe_wait_flag(const uint32_t *flag, uint32_t timeout_ms);

static inline int probe_job_stopping(const struct probe_job *job)
{
    return __atomic_load_n(&job->stop, __ATOMIC_RELAXED);
}

#endif
