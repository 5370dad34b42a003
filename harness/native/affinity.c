/* dpdk-harness probe, affinity part: where each EAL lcore thread may run and where it does run.
 *
 * probe_lcore_affinity() reads a lcore's thread from inside that thread: it is launched on a
 * worker lcore with rte_eal_remote_launch and, for the main lcore, run directly by the caller
 * (the EAL main thread). probe_spin_*() keep a worker lcore busy like a poll loop that finds
 * nothing, sampling sched_getcpu(), so every worker can be observed under load at once.
 * API in probe.h (the affinity section); every function returns >= 0 or -errno. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_memory.h>
#include <rte_mempool.h>
#include <rte_thread.h>

#include "probe.h"
#include "probe_internal.h"

#define AFF_WORDS PROBE_AFF_CPU_WORDS
#define AFF_SAMPLE_MASK 63 /* sample sched_getcpu() every 64 turns of a spin loop */

_Static_assert(AFF_WORDS * 64 >= CPU_SETSIZE, "CPU bitmask too small for CPU_SETSIZE");

static uint32_t set_to_mask(const cpu_set_t *set, uint64_t *mask)
{
    uint32_t n = 0;
    memset(mask, 0, AFF_WORDS * sizeof(uint64_t));
    for (int cpu = 0; cpu < CPU_SETSIZE && cpu < AFF_WORDS * 64; cpu++) {
        if (CPU_ISSET(cpu, set)) {
            mask[cpu / 64] |= 1ull << (cpu % 64);
            n++;
        }
    }
    return n;
}

static inline void mask_add(uint64_t *mask, int cpu)
{
    if (cpu >= 0 && cpu < AFF_WORDS * 64)
        mask[cpu / 64] |= 1ull << (cpu % 64);
}

/* ---------------------------------------------------------------- one look from inside */

struct aff_job {
    struct probe_thread_affinity *out;
    uint32_t sample_us;
};

/* runs on the lcore's own thread */
static int aff_read_self(void *arg)
{
    struct aff_job *job = arg;
    struct probe_thread_affinity *o = job->out;
    cpu_set_t set;
    rte_cpuset_t eal_set;

    o->tid = (int32_t)gettid();
    o->seen_lcore_id = rte_lcore_id();
    o->socket_id = (int32_t)rte_socket_id();
    o->cpu_now = sched_getcpu();
    pthread_getname_np(pthread_self(), o->name, sizeof(o->name));

    CPU_ZERO(&set);
    o->err = -pthread_getaffinity_np(pthread_self(), sizeof(set), &set);
    if (o->err == 0)
        o->cpu_count = set_to_mask(&set, o->cpus);

    CPU_ZERO(&eal_set);
    rte_thread_get_affinity(&eal_set); /* what EAL recorded for this thread (per-lcore cpuset) */
    o->eal_thread_cpu_count = set_to_mask(&eal_set, o->eal_thread_cpus);

    /* where it runs: sample sched_getcpu() for sample_us (a busy wait, as a poll loop is) */
    memset(o->cpus_seen, 0, sizeof(o->cpus_seen));
    mask_add(o->cpus_seen, o->cpu_now);
    o->samples = 1;
    if (job->sample_us) {
        uint64_t end = rte_rdtsc() + rte_get_tsc_hz() / 1000000 * job->sample_us;
        int last = o->cpu_now;
        while (rte_rdtsc() < end) {
            int cpu = sched_getcpu();
            mask_add(o->cpus_seen, cpu);
            o->migrations += cpu != last;
            last = cpu;
            o->samples++;
        }
    }
    return 0;
}

int probe_lcore_affinity(uint32_t lcore, uint32_t sample_us, struct probe_thread_affinity *out)
{
    if (!probe_eal_initialized() || out == NULL || lcore >= RTE_MAX_LCORE || !rte_lcore_is_enabled(lcore))
        return -EINVAL;
    if (sample_us > 1000000)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    out->lcore_id = lcore;
    out->is_main = lcore == rte_get_main_lcore();
    out->role = (uint32_t)rte_eal_lcore_role(lcore);
    out->lcore_socket_id = (int32_t)rte_lcore_to_socket_id(lcore);
    rte_cpuset_t cfg = rte_lcore_cpuset(lcore);
    out->eal_cpu_count = set_to_mask(&cfg, out->eal_cpus);

    struct aff_job job = {out, sample_us};
    if (out->is_main) {
        /* the main lcore's thread is the one that called rte_eal_init: it must be the caller */
        if (rte_lcore_id() != lcore)
            return -EPERM;
        return aff_read_self(&job);
    }
    int rc = probe_job_once(lcore, aff_read_self, &job); /* -EBUSY: a loop (or a service) is on that lcore */
    return rc < 0 ? rc : 0;
}

/* ---------------------------------------------------------------- spin loops */

struct probe_spin {
    struct probe_job job;
    struct probe_spin_stats stats;
};

static int spin_loop(struct probe_job *job)
{
    struct probe_spin *s = container_of(job, struct probe_spin, job);
    struct probe_spin_stats *st = &s->stats;
    st->tid = (int32_t)gettid();
    st->tsc_hz = rte_get_tsc_hz();
    st->tsc_start = st->tsc_last = rte_rdtsc();
    st->cpu_first = st->cpu_last = sched_getcpu();
    mask_add(st->cpus_seen, st->cpu_first);
    st->samples = 1;
    __atomic_store_n(&st->started, 1, __ATOMIC_RELEASE);
    while (!probe_job_stopping(&s->job)) {
        rte_pause();
        st->loops++;
        if ((st->loops & AFF_SAMPLE_MASK) == 0) {
            int cpu = sched_getcpu();
            st->migrations += cpu != st->cpu_last;
            st->cpu_last = cpu;
            mask_add(st->cpus_seen, cpu);
            st->samples++;
            st->tsc_last = rte_rdtsc();
        }
    }
    probe_job_finished(job);
    return 0;
}

static void spin_release(struct probe_job *job) { free(container_of(job, struct probe_spin, job)); }

int probe_spin_start(uint32_t lcore, probe_spin **out)
{
    if (out == NULL || probe_job_lcore_ok(lcore) < 0)
        return -EINVAL;
    struct probe_spin *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    PROBE_JOB_SETUP(s, spin_loop, spin_release);
    int rc = probe_job_start(&s->job, lcore);
    if (rc < 0) {
        free(s);
        return rc;
    }
    /* wait until the loop runs, so the caller's "before" readings come after its start */
    for (int i = 0; i < 1000 && !__atomic_load_n(&s->stats.started, __ATOMIC_ACQUIRE); i++)
        rte_delay_us_sleep(100);
    *out = s;
    return 0;
}

int probe_spin_stats(probe_spin *s, struct probe_spin_stats *out) { return s ? probe_job_stats(&s->job, out) : -EINVAL; }

int probe_spin_stop(probe_spin *s) { return s ? probe_job_stop(&s->job) : -EINVAL; }

int probe_spin_free(probe_spin *s) { return s ? probe_job_free(&s->job) : -EINVAL; }

/* ---------------------------------------------------------------- NUMA placement of a pool's memory */

struct pool_sockets {
    uint64_t mask;
    uint32_t unknown;
};

static void pool_chunk(struct rte_mempool *mp, void *opaque, struct rte_mempool_memhdr *hdr, unsigned idx)
{
    struct pool_sockets *ps = opaque;
    const struct rte_memseg *ms = rte_mem_virt2memseg(hdr->addr, NULL);
    if (ms == NULL || ms->socket_id < 0 || ms->socket_id >= 64)
        ps->unknown++;
    else
        ps->mask |= 1ull << ms->socket_id;
}

int probe_pool_mem_sockets(probe_pool *pool, uint64_t *socket_mask)
{
    if (!probe_eal_initialized() || pool == NULL || socket_mask == NULL)
        return -EINVAL;
    struct pool_sockets ps = {0, 0};
    rte_mempool_mem_iter((struct rte_mempool *)(void *)pool, pool_chunk, &ps);
    *socket_mask = ps.mask;
    return (int)ps.unknown;
}
