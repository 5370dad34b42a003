/* dpdk-harness probe: the one lifecycle of a loop on a worker lcore (probe_internal.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_launch.h>
#include <rte_lcore.h>

#include "probe.h"
#include "probe_internal.h"

int probe_job_lcore_ok(uint32_t lcore)
{
    if (!probe_eal_initialized() || lcore >= RTE_MAX_LCORE || !rte_lcore_is_enabled(lcore) ||
        lcore == rte_get_main_lcore())
        return -EINVAL;
    return 0;
}

#define JOB_FIELD(job, base, off, type) ((type *)((char *)(base) + (job)->off))

void probe_job_setup(struct probe_job *job, int (*loop)(struct probe_job *), void *stats, size_t stats_len,
                     size_t tsc_last_off, size_t running_off, void (*release)(struct probe_job *))
{
    memset(job, 0, sizeof(*job));
    job->loop = loop;
    job->stats = stats;
    job->stats_len = stats_len;
    job->tsc_last_off = tsc_last_off;
    job->running_off = running_off;
    job->release = release;
}

static int job_trampoline(void *arg)
{
    struct probe_job *job = arg;
    return job->loop(job);
}

int probe_job_start(struct probe_job *job, uint32_t lcore)
{
    int rc = probe_job_lcore_ok(lcore);
    if (rc < 0)
        return rc;
    job->lcore = lcore;
    job->stop = 0;
    __atomic_store_n(JOB_FIELD(job, job->stats, running_off, uint32_t), 1, __ATOMIC_RELEASE);
    rc = rte_eal_remote_launch(job_trampoline, job, lcore);
    job->launched = rc == 0;
    if (rc < 0)
        __atomic_store_n(JOB_FIELD(job, job->stats, running_off, uint32_t), 0, __ATOMIC_RELEASE);
    return rc;
}

int probe_job_stats(struct probe_job *job, void *out)
{
    if (job == NULL || out == NULL)
        return -EINVAL;
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    memcpy(out, job->stats, job->stats_len);
    if (*JOB_FIELD(job, out, running_off, uint32_t))
        *JOB_FIELD(job, out, tsc_last_off, uint64_t) = rte_rdtsc();
    return 0;
}

int probe_job_wait(struct probe_job *job, const uint32_t *flag, uint32_t timeout_ms)
{
    if (job == NULL || flag == NULL)
        return -EINVAL;
    for (uint32_t waited = 0;; waited++) {
        if (__atomic_load_n(flag, __ATOMIC_ACQUIRE))
            return 1;
        if (waited >= timeout_ms)
            return 0;
        rte_delay_us_sleep(1000);
    }
}

int probe_job_stop(struct probe_job *job)
{
    if (job == NULL)
        return -EINVAL;
    if (!job->launched)
        return 0;
    __atomic_store_n(&job->stop, 1, __ATOMIC_RELEASE);
    int rc = rte_eal_wait_lcore(job->lcore);
    job->launched = 0;
    return rc;
}

int probe_job_free(struct probe_job *job)
{
    if (job == NULL)
        return -EINVAL;
    probe_job_stop(job);
    job->release(job);
    return 0;
}

void probe_job_finished(struct probe_job *job)
{
    *JOB_FIELD(job, job->stats, tsc_last_off, uint64_t) = rte_rdtsc();
    __atomic_store_n(JOB_FIELD(job, job->stats, running_off, uint32_t), 0, __ATOMIC_RELEASE);
}

int probe_job_once(uint32_t lcore, int (*fn)(void *), void *arg)
{
    int rc = probe_job_lcore_ok(lcore);
    if (rc < 0)
        return rc;
    rc = rte_eal_remote_launch(fn, arg, lcore);
    if (rc < 0)
        return rc; /* -EBUSY: a loop is on that lcore */
    return rte_eal_wait_lcore(lcore);
}
