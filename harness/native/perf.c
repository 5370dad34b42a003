/* dpdk-harness probe, perf part: throughput and latency (harness/perf.py is its Python face).
 *
 * A run loops on one worker lcore over GEN, RECV and DUT tasks (probe.h, perf section):
 *   GEN   paces frames by the TSC: by time t after the start it has handed over
 *         floor(t * rate) frames (never more than a burst per turn), so the rate does not drift;
 *         what it could not hand over by its deadline is "ungenerated" and counts as loss.
 *   RECV  judges every frame of the run by its sequence number (a 64K-frame window for
 *         duplicates; older arrivals are counted as late) and each stamped frame by its TSC stamp
 *         (latency histogram): GEN stamps 1 frame in lat_sample, the others carry 0.
 *   DUT   a forwarder whose capacity is known: a server with a fixed service time per packet and
 *         a queue of known depth in front of it.
 * Frames are the probe's format (frame.h): a prebuilt template per size, then per packet only the flow's
 * address, port and checksum, the sequence number, and the TSC stamp in 1 frame of lat_sample (the
 * template's stamp is 0).
 * Every function returns >= 0 or -errno; nothing per packet crosses into Python. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_common.h>
#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_pause.h>
#include <rte_prefetch.h>
#include <rte_udp.h>

#include "probe.h"
#include "probe_internal.h"
#include "frame.h"

#define PERF_MP(p) ((struct rte_mempool *)(void *)(p))

/* histogram: values < 64 exactly, then 32 sub-buckets per power of two */
#define HIST_EXACT 64
#define HIST_SUB_BITS 5
#define HIST_SUB (1u << HIST_SUB_BITS)

/* receiver's duplicate window, in frames (a power of two) */
#define SEQ_WINDOW (1u << 16)

_Static_assert(HIST_EXACT + (64 - 6) * HIST_SUB == PROBE_PERF_HIST_BUCKETS,
               "histogram size must cover 64-bit values");

static inline uint32_t hist_index(uint64_t v)
{
    if (v < HIST_EXACT)
        return (uint32_t)v;
    uint32_t e = 63u - (uint32_t)__builtin_clzll(v); /* >= 6 */
    uint32_t sub = (uint32_t)(v >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1);
    uint32_t i = HIST_EXACT + (e - 6) * HIST_SUB + sub;
    return i < PROBE_PERF_HIST_BUCKETS ? i : PROBE_PERF_HIST_BUCKETS - 1;
}

int probe_perf_hist_index(uint64_t value) { return (int)hist_index(value); }

int probe_perf_frame(uint8_t *buf, uint32_t buf_len, uint16_t frame_size, uint32_t flow, uint64_t seq,
                     uint64_t tsc)
{
    uint8_t tmpl[FRAME_TMPL], full[FRAME_TMPL];
    uint16_t len = frame_len(frame_size);
    if (buf == NULL || len > FRAME_MAX || buf_len < len)
        return -EINVAL;
    frame_template(tmpl, len);
    frame_write(full, tmpl, flow, seq, tsc);
    memset(buf, 0, len);
    memcpy(buf, full, FRAME_MIN);
    return len;
}

static inline uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* a (tsc, ns) pair read as close together as the two clocks allow */
static void clock_pair(uint64_t *tsc, uint64_t *ns)
{
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 5; i++) {
        uint64_t a = rte_rdtsc();
        uint64_t n = mono_ns();
        uint64_t b = rte_rdtsc();
        if (b - a < best) {
            best = b - a;
            *tsc = a + (b - a) / 2;
            *ns = n;
        }
    }
}

int probe_perf_tsc_hz(uint32_t ms, uint64_t *hz)
{
    uint64_t t0 = 0, n0 = 0, t1 = 0, n1 = 0;
    if (hz == NULL || ms == 0 || ms > 10000)
        return -EINVAL;
    clock_pair(&t0, &n0);
    struct timespec d = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&d, &d) != 0 && errno == EINTR)
        ;
    clock_pair(&t1, &n1);
    if (n1 <= n0 || t1 <= t0)
        return -EIO;
    *hz = (uint64_t)((unsigned __int128)(t1 - t0) * 1000000000ull / (n1 - n0));
    return 0;
}

/* ---------------------------------------------------------------- state */

struct gen_state {
    uint64_t deadline;          /* TSC, 0 = none */
    uint32_t size_i;
    uint32_t flow;              /* (seq - seq_base) % n_flows, kept without a division */
    uint16_t seg_room;          /* data bytes one mbuf of the pool holds */
    uint32_t stamp_mask;        /* lat_sample - 1: frames with (seq - seq_base) & stamp_mask == 0 are stamped */
    uint64_t rearm;             /* rearm_data of a fresh single-segment mbuf */
    uint8_t (*tmpl)[FRAME_TMPL];    /* one template per pattern entry */
    uint16_t *lens;
};

struct recv_state {
    uint64_t *seen;             /* SEQ_WINDOW bits, by seq % SEQ_WINDOW */
    uint64_t *hist;             /* PROBE_PERF_HIST_BUCKETS */
    uint32_t any;
};

struct dut_state {
    struct rte_mbuf **q;        /* FIFO of cap slots: packets in the system, and those whose service
                                   is over but that the loop has not sent yet */
    uint64_t *fin;              /* TSC each one's service is over (non-decreasing) */
    uint32_t head, len, cap;    /* cap: a power of two */
    uint32_t done;              /* leading entries whose service was over when the last one arrived */
    uint64_t busy_until;        /* TSC the server is done with everything it holds */
};

struct probe_perf {
    struct probe_job job;
    struct probe_perf_conf conf;
    struct probe_perf_stats stats;
    struct gen_state gen[PROBE_PERF_MAX_TASKS];
    struct recv_state recv[PROBE_PERF_MAX_TASKS];
    struct dut_state dut[PROBE_PERF_MAX_TASKS];
};

/* ---------------------------------------------------------------- GEN */

static inline void gen_finish(struct probe_perf_task_stats *s, uint64_t now, int deadline)
{
    s->gen_tsc_end = now;
    s->gen_ns_end = mono_ns();
    s->gen_deadline = (uint32_t)deadline;
    __atomic_store_n(&s->gen_done, 1, __ATOMIC_RELEASE);
}

/* a frame of len bytes in one mbuf or, past the pool's data room, a chain (jumbo frames) */
static inline int gen_fill(struct rte_mempool *mp, struct rte_mbuf *m, uint16_t len, uint16_t room)
{
    if (likely(len <= room)) {
        m->data_len = len;
        m->pkt_len = len;
        return 0;
    }
    m->data_len = room;
    m->pkt_len = room;
    uint32_t left = (uint32_t)len - room;
    while (left) {
        struct rte_mbuf *seg = rte_pktmbuf_alloc(mp);
        if (seg == NULL)
            return -ENOMEM;
        uint16_t n = left < room ? (uint16_t)left : room;
        seg->data_len = n;
        seg->pkt_len = n;
        if (rte_pktmbuf_chain(m, seg) != 0) {
            rte_pktmbuf_free(seg);
            return -EOVERFLOW;
        }
        left -= n;
    }
    return 0;
}

static void task_gen(struct probe_perf *r, const struct probe_perf_task *t, struct probe_perf_task_stats *s,
                     struct gen_state *g)
{
    struct rte_mbuf *bufs[PROBE_MAX_BURST];
    if (s->gen_done)
        return;
    uint64_t now = rte_rdtsc();
    uint64_t n = r->conf.burst;
    if (t->count) {
        if (s->attempted >= t->count) {
            gen_finish(s, now, 0);
            return;
        }
        if (t->count - s->attempted < n)
            n = t->count - s->attempted;
    }
    if (g->deadline && now >= g->deadline) {
        gen_finish(s, now, t->count && s->attempted < t->count);
        return;
    }
    if (t->rate_pps) {
        /* due by now: floor(elapsed * rate), exact in 128 bits */
        uint64_t due = (uint64_t)((unsigned __int128)(now - s->gen_tsc_start) * t->rate_pps / r->stats.tsc_hz);
        if (due <= s->attempted)
            return;
        uint64_t behind = due - s->attempted;
        if (behind > s->behind_max)
            s->behind_max = behind;
        if (behind < n)
            n = behind;
    }
    struct rte_mempool *mp = PERF_MP(r->conf.pool);
    if (rte_mempool_get_bulk(mp, (void **)bufs, (unsigned)n) != 0) {
        s->alloc_fail++;
        return;
    }
    const uint32_t flows = t->n_flows ? t->n_flows : 1;
    uint64_t seq = t->seq_base + s->attempted;
    uint32_t flow = g->flow;
    uint64_t bytes = 0;
    uint16_t built = 0;
    for (uint16_t i = 0; i < n; i++) {
        uint32_t k = g->size_i;
        g->size_i = k + 1 == t->n_sizes ? 0 : k + 1;
        uint16_t len = g->lens[k];
        struct rte_mbuf *m = bufs[i];
        /* raw from the pool: refcnt 1, one segment, next NULL; set what a previous user may have left */
        frame_mbuf_reset(m, g->rearm, len); /* gen_fill sets the lengths (and chains a jumbo frame) */
        if (unlikely(gen_fill(mp, m, len, g->seg_room) != 0)) {
            s->alloc_fail++;
            rte_pktmbuf_free_bulk(&bufs[i], (unsigned)(n - i));
            break;
        }
        uint8_t *p = rte_pktmbuf_mtod(m, uint8_t *);
        const uint8_t *tmpl = g->tmpl[k];
        rte_mov64(p, tmpl);
        frame_set_flow(p, ((const struct rte_ipv4_hdr *)(tmpl + FRAME_L3))->hdr_checksum, flow);
        memcpy(p + FRAME_SEQ, &seq, 8);
        seq++;
        flow = flow + 1 == flows ? 0 : flow + 1;
        bytes += len;
        built++;
    }
    g->flow = flow;
    if (built == 0)
        return;
    /* stamp the burst as late as possible: latency starts when the frames are handed over. Only the
     * sampled frames, seq - seq_base = attempted + i a multiple of the period: the first at
     * i = -attempted mod period, then every period-th; the others keep the template's 0 */
    uint64_t stamp = rte_rdtsc();
    const uint32_t mask = g->stamp_mask;
    for (uint32_t i = (uint32_t)(-s->attempted & mask); i < built; i += mask + 1)
        memcpy(rte_pktmbuf_mtod(bufs[i], uint8_t *) + FRAME_TSC, &stamp, 8);
    uint16_t sent = rte_eth_tx_burst(t->tx_port, t->tx_queue, bufs, built);
    s->attempted += built;
    s->sent += sent;
    if (sent < built) {
        for (uint16_t i = sent; i < built; i++)
            bytes -= rte_pktmbuf_pkt_len(bufs[i]);
        s->unsent += built - sent;
        rte_pktmbuf_free_bulk(&bufs[sent], built - sent);
    }
    s->sent_bytes += bytes;
    if (t->count && s->attempted >= t->count)
        gen_finish(s, rte_rdtsc(), 0);
}

/* ---------------------------------------------------------------- RECV */

static inline void seen_clear_range(uint64_t *seen, uint64_t from, uint64_t to) /* [from, to) */
{
    if (to - from >= SEQ_WINDOW) {
        memset(seen, 0, SEQ_WINDOW / 8);
        return;
    }
    for (uint64_t x = from; x < to; x++) {
        uint64_t b = x & (SEQ_WINDOW - 1);
        seen[b >> 6] &= ~(1ull << (b & 63));
    }
}

static void task_recv(struct probe_perf *r, const struct probe_perf_task *t, struct probe_perf_task_stats *s,
                      struct recv_state *v)
{
    struct rte_mbuf *bufs[PROBE_MAX_BURST];
    uint16_t n = probe_rx_counted(t->rx_port, t->rx_queue, bufs, r->conf.burst, &s->polls, &s->empty_polls);
    if (n == 0)
        return;
    uint64_t now = rte_rdtsc();
    s->rx_pkts += n;
    /* the burst's counts in locals: the histogram's stores could alias the counters, which would then be
     * reloaded and stored per packet; they go back to s once per burst */
    uint64_t bytes = 0, foreign = 0, stale = 0, lat_count = s->lat_count, lat_sum = 0, lat_min = s->lat_min;
    uint64_t lat_max = s->lat_max, seq_max = s->seq_max, late = 0, reordered = 0, unique = 0, dups = 0;
    const uint64_t base = t->seq_base, count = t->count;
    uint64_t *hist = v->hist, *seen = v->seen;
    uint32_t plain = 1;
    const struct rte_mempool *mp = bufs[0]->pool;
    for (uint16_t i = 0; i < n; i++) {
        struct rte_mbuf *m = bufs[i];
        const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
        bytes += rte_pktmbuf_pkt_len(m);
        plain &= frame_mbuf_plain(m, mp);
        if (!frame_is_ours(p, rte_pktmbuf_data_len(m))) {
            foreign++;
            continue;
        }
        uint64_t seq = frame_seq_of(p), tsc = frame_tsc_of(p);
        if (seq < base || (count && seq - base >= count)) {
            stale++; /* another run's frame, still in flight */
            continue;
        }
        uint64_t x = seq - base;
        /* a stamped frame (1 in the generator's lat_sample; the others carry 0): a regular pattern,
         * which the branch predictor learns */
        if (tsc != 0) {
            uint64_t lat = now > tsc ? now - tsc : 0;
            hist[hist_index(lat)]++;
            lat_count++;
            lat_sum += lat;
            if (lat < lat_min || lat_count == 1)
                lat_min = lat;
            if (lat > lat_max)
                lat_max = lat;
        }
        uint64_t b = x & (SEQ_WINDOW - 1);
        if (unlikely(!v->any)) {
            v->any = 1;
            seq_max = x;
        } else if (likely(x > seq_max)) {
            seen_clear_range(seen, seq_max + 1, x + 1);
            seq_max = x;
        } else if (seq_max - x >= SEQ_WINDOW) {
            late++; /* too old to tell a duplicate: counted received, and reordered */
            reordered++;
            unique++;
            continue;
        } else if (seen[b >> 6] & (1ull << (b & 63))) {
            dups++;
            continue;
        } else {
            reordered++; /* arrived after a later frame (RFC 4737) */
        }
        seen[b >> 6] |= 1ull << (b & 63);
        unique++;
    }
    s->rx_bytes += bytes;
    s->foreign += foreign;
    s->stale += stale;
    s->lat_sum += lat_sum;
    s->lat_count = lat_count;
    s->lat_min = lat_min;
    s->lat_max = lat_max;
    s->seq_max = seq_max;
    s->late += late;
    s->reordered += reordered;
    s->unique += unique;
    s->dups += dups;
    frame_free_burst(bufs, n, plain);
}

/* ---------------------------------------------------------------- DUT */

static inline void dut_tx(const struct probe_perf_task *t, struct probe_perf_task_stats *s,
                          struct rte_mbuf **bufs, uint16_t n)
{
    uint16_t sent = rte_eth_tx_burst(t->tx_port, t->tx_queue, bufs, n);
    s->dut_tx += sent;
    if (sent < n) {
        s->dut_unsent += n - sent;
        rte_pktmbuf_free_bulk(&bufs[sent], n - sent);
    }
}

/* when a frame arrives: now, or when its generator's schedule said it was due */
static inline uint64_t dut_arrival(const struct probe_perf *r, const struct probe_perf_task *t,
                                   const struct rte_mbuf *m, uint64_t now)
{
    if (!(t->flags & PROBE_PERF_DUT_SCHEDULED))
        return now;
    const struct probe_perf_task *g = &r->conf.tasks[t->gen_task];
    const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
    if (g->rate_pps == 0 || !frame_is_ours(p, rte_pktmbuf_data_len(m)))
        return now;
    uint64_t seq = frame_seq_of(p);
    if (seq < g->seq_base)
        return now;
    /* frame i is due once floor(elapsed * rate) > i: at start + ceil((i + 1) * hz / rate) */
    uint64_t i = seq - g->seq_base;
    uint64_t at = r->stats.task[t->gen_task].gen_tsc_start +
                  (uint64_t)(((unsigned __int128)(i + 1) * r->stats.tsc_hz + g->rate_pps - 1) / g->rate_pps);
    return at < now ? at : now;
}

static void task_dut(struct probe_perf *r, const struct probe_perf_task *t, struct probe_perf_task_stats *s,
                     struct dut_state *d)
{
    struct rte_mbuf *bufs[PROBE_MAX_BURST];
    uint16_t burst = r->conf.burst;
    uint16_t n = probe_rx_counted(t->rx_port, t->rx_queue, bufs, burst, &s->polls, &s->empty_polls);
    if ((t->flags & PROBE_PERF_DUT_SPIN) && t->cost_cycles) {
        /* a dedicated lcore: serve what arrived, spending the cost in real cycles; its queue is
         * the rx ring in front of it (when that is full, the sender's tx fails) */
        uint64_t now = rte_rdtsc();
        s->dut_rx += n;
        /* busy without a break since the last full burst: the loop's own work (rx, tx) was part of
         * the service time already paid, so the chain goes on from where it was; after a short
         * burst the server was idle and starts now */
        if (n && d->len < burst && d->busy_until < now)
            d->busy_until = now;
        d->len = n;
        for (uint16_t i = 0; i < n; i++) {
            d->busy_until += t->cost_cycles;
            while (rte_rdtsc() < d->busy_until)
                rte_pause();
        }
        if (n)
            dut_tx(t, s, bufs, n);
        return;
    }
    if (d->q == NULL) {         /* plain forwarder: rx -> tx, nothing touched */
        if (n) {
            s->dut_rx += n;
            dut_tx(t, s, bufs, n);
        }
        return;
    }
    uint64_t now = rte_rdtsc();
    s->dut_rx += n;
    uint32_t mask = d->cap - 1;
    for (uint16_t i = 0; i < n; i++) {
        uint64_t a = dut_arrival(r, t, bufs[i], now);
        /* packets whose service was over when this one arrived have left the system (arrivals
         * come in order and service ends in order: each entry is passed once) */
        while (d->done < d->len && d->fin[(d->head + d->done) & mask] <= a)
            d->done++;
        if (d->len - d->done >= t->dut_queue || d->len == d->cap) {
            s->dut_drops++;
            rte_pktmbuf_free(bufs[i]);
            continue;
        }
        d->busy_until = (d->busy_until > a ? d->busy_until : a) + t->cost_cycles;
        uint32_t slot = (d->head + d->len) & mask;
        d->q[slot] = bufs[i];
        d->fin[slot] = d->busy_until;
        d->len++;
        if (d->len - d->done > s->dut_queue_max)
            s->dut_queue_max = d->len - d->done;
    }
    /* everything whose service is over by now leaves, a burst at a time */
    for (;;) {
        uint16_t k = 0;
        while (k < burst && k < d->len && d->fin[(d->head + k) & mask] <= now) {
            bufs[k] = d->q[(d->head + k) & mask];
            k++;
        }
        if (k == 0)
            return;
        d->head = (d->head + k) & mask;
        d->len -= k;
        d->done = d->done > k ? d->done - k : 0;
        dut_tx(t, s, bufs, k);
    }
}

/* ---------------------------------------------------------------- the loop */

/* plain forwarders only (a benchmark, or an io-forwarding DUT): rx -> tx and two counters, nothing else
 * per turn, as testpmd's io mode does */
static void perf_fwd_loop(struct probe_perf *r)
{
    const struct probe_perf_conf *c = &r->conf;
    struct probe_perf_stats *st = &r->stats;
    struct rte_mbuf *bufs[PROBE_MAX_BURST];
    const uint16_t burst = c->burst;
    const uint32_t nt = c->n_tasks;
    uint64_t loops = 0;
    while (!probe_job_stopping(&r->job)) {
        for (uint32_t i = 0; i < nt; i++) {
            const struct probe_perf_task *t = &c->tasks[i];
            uint16_t n = rte_eth_rx_burst(t->rx_port, t->rx_queue, bufs, burst);
            if (n == 0)
                continue;
            struct probe_perf_task_stats *s = &st->task[i];
            s->dut_rx += n;
            dut_tx(t, s, bufs, n);
        }
        if ((++loops & 1023) == 0) {
            st->loops = loops;
            st->tsc_last = rte_rdtsc();
        }
    }
    st->loops = loops;
    for (uint32_t i = 0; i < nt; i++)
        st->task[i].polls = loops;
}

static int perf_loop(struct probe_job *job)
{
    struct probe_perf *r = container_of(job, struct probe_perf, job);
    const struct probe_perf_conf *c = &r->conf;
    struct probe_perf_stats *st = &r->stats;
    uint64_t hz = st->tsc_hz;
    uint32_t n_gen = 0;
    st->tsc_start = st->tsc_last = rte_rdtsc();
    for (uint32_t i = 0; i < c->n_tasks; i++) {
        if (c->tasks[i].role != PROBE_PERF_GEN)
            continue;
        struct probe_perf_task_stats *s = &st->task[i];
        n_gen++;
        s->gen_tsc_start = rte_rdtsc();
        s->gen_ns_start = mono_ns();
        if (c->tasks[i].duration_ns)
            r->gen[i].deadline = s->gen_tsc_start +
                                 (uint64_t)((unsigned __int128)c->tasks[i].duration_ns * hz / 1000000000ull);
    }
    uint64_t gap = (uint64_t)((unsigned __int128)(c->gap_ns ? c->gap_ns : 20000) * hz / 1000000000ull);
    uint64_t prev = rte_rdtsc();
    int plain = 1;
    for (uint32_t i = 0; i < c->n_tasks; i++)
        plain &= c->tasks[i].role == PROBE_PERF_DUT && r->dut[i].q == NULL && c->tasks[i].cost_cycles == 0;
    if (plain)
        perf_fwd_loop(r);
    while (!plain && !probe_job_stopping(&r->job)) {
        uint32_t gen_done = 0;
        uint64_t now = rte_rdtsc();
        if (unlikely(now - prev > gap)) {
            uint64_t g = now - prev;
            st->gaps++;
            st->gap_cycles += g;
            if (g > st->gap_max)
                st->gap_max = g;
        }
        prev = now;
        for (uint32_t i = 0; i < c->n_tasks; i++) {
            const struct probe_perf_task *t = &c->tasks[i];
            struct probe_perf_task_stats *s = &st->task[i];
            switch (t->role) {
            case PROBE_PERF_GEN:
                task_gen(r, t, s, &r->gen[i]);
                gen_done += s->gen_done;
                break;
            case PROBE_PERF_RECV:
                task_recv(r, t, s, &r->recv[i]);
                break;
            case PROBE_PERF_DUT:
                task_dut(r, t, s, &r->dut[i]);
                break;
            }
        }
        if (n_gen && gen_done == n_gen && !st->gen_done)
            __atomic_store_n(&st->gen_done, 1, __ATOMIC_RELEASE);
        if ((++st->loops & 63) == 0)
            st->tsc_last = rte_rdtsc();
    }
    /* packets a DUT still holds go back to their pool */
    for (uint32_t i = 0; i < c->n_tasks; i++) {
        struct dut_state *d = &r->dut[i];
        while (d->q && d->len) {
            rte_pktmbuf_free(d->q[d->head]);
            d->head = (d->head + 1) & (d->cap - 1);
            d->len--;
        }
    }
    probe_job_finished(job);
    return 0;
}

static void perf_release(struct probe_job *job)
{
    struct probe_perf *r = container_of(job, struct probe_perf, job);
    for (uint32_t i = 0; i < PROBE_PERF_MAX_TASKS; i++) {
        free(r->gen[i].tmpl);
        free(r->gen[i].lens);
        free(r->recv[i].seen);
        free(r->recv[i].hist);
        free(r->dut[i].q);
        free(r->dut[i].fin);
    }
    free(r);
}

static int perf_prepare(struct probe_perf *r)
{
    const struct probe_perf_conf *c = &r->conf;
    for (uint32_t i = 0; i < c->n_tasks; i++) {
        const struct probe_perf_task *t = &c->tasks[i];
        switch (t->role) {
        case PROBE_PERF_GEN: {
            struct gen_state *g = &r->gen[i];
            if (c->pool == NULL || t->n_sizes == 0 || t->n_sizes > PROBE_PERF_MAX_SIZES)
                return -EINVAL;
            if (!rte_eth_dev_is_valid_port(t->tx_port))
                return -ENODEV;
            uint32_t room = rte_pktmbuf_data_room_size(PERF_MP(c->pool));
            if (room < RTE_PKTMBUF_HEADROOM + FRAME_TMPL)
                return -EMSGSIZE;
            g->seg_room = (uint16_t)(room - RTE_PKTMBUF_HEADROOM);
            uint32_t period = t->lat_sample ? t->lat_sample : 1;
            if (period > PROBE_PERF_LAT_SAMPLE_MAX || (period & (period - 1)) != 0)
                return -EINVAL;
            g->stamp_mask = period - 1;
            g->rearm = frame_mbuf_rearm();
            g->tmpl = calloc(t->n_sizes, FRAME_TMPL);
            g->lens = calloc(t->n_sizes, sizeof(uint16_t));
            if (g->tmpl == NULL || g->lens == NULL)
                return -ENOMEM;
            for (uint32_t k = 0; k < t->n_sizes; k++) {
                if (t->sizes[k] > PROBE_FRAME_MAX_SIZE)
                    return -EINVAL;
                g->lens[k] = frame_len(t->sizes[k]);
                frame_template(g->tmpl[k], g->lens[k]);
            }
            break;
        }
        case PROBE_PERF_RECV: {
            struct recv_state *v = &r->recv[i];
            if (!rte_eth_dev_is_valid_port(t->rx_port))
                return -ENODEV;
            v->seen = calloc(SEQ_WINDOW / 64, sizeof(uint64_t));
            v->hist = calloc(PROBE_PERF_HIST_BUCKETS, sizeof(uint64_t));
            if (v->seen == NULL || v->hist == NULL)
                return -ENOMEM;
            break;
        }
        case PROBE_PERF_DUT:
            if (!rte_eth_dev_is_valid_port(t->rx_port) || !rte_eth_dev_is_valid_port(t->tx_port))
                return -ENODEV;
            if (t->dut_queue > PROBE_PERF_DUT_QUEUE_MAX || (t->cost_cycles && t->dut_queue == 0))
                return -EINVAL;
            if ((t->flags & PROBE_PERF_DUT_SCHEDULED) &&
                (t->gen_task >= c->n_tasks || c->tasks[t->gen_task].role != PROBE_PERF_GEN))
                return -EINVAL;
            if (t->dut_queue && !(t->flags & PROBE_PERF_DUT_SPIN)) {
                struct dut_state *d = &r->dut[i];
                d->cap = rte_align32pow2(t->dut_queue + 2 * PROBE_MAX_BURST);
                d->q = calloc(d->cap, sizeof(struct rte_mbuf *));
                d->fin = calloc(d->cap, sizeof(uint64_t));
                if (d->q == NULL || d->fin == NULL)
                    return -ENOMEM;
            }
            break;
        default:
            return -EINVAL;
        }
    }
    return 0;
}

int probe_perf_start(const struct probe_perf_conf *conf, probe_perf **out)
{
    if (conf == NULL || out == NULL || conf->n_tasks == 0 || conf->n_tasks > PROBE_PERF_MAX_TASKS ||
        conf->burst == 0 || conf->burst > PROBE_MAX_BURST)
        return -EINVAL;
    int rc = probe_job_lcore_ok(conf->lcore);
    if (rc < 0)
        return rc;
    struct probe_perf *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return -ENOMEM;
    PROBE_JOB_SETUP(r, perf_loop, perf_release);
    r->conf = *conf;
    rc = perf_prepare(r);
    if (rc < 0) {
        perf_release(&r->job);
        return rc;
    }
    r->stats.tsc_hz = conf->tsc_hz ? conf->tsc_hz : rte_get_tsc_hz();
    r->stats.n_tasks = conf->n_tasks;
    rc = probe_job_start(&r->job, conf->lcore);
    if (rc < 0) {
        perf_release(&r->job);
        return rc;
    }
    *out = r;
    return 0;
}

int probe_perf_stats(probe_perf *r, struct probe_perf_stats *out) { return r ? probe_job_stats(&r->job, out) : -EINVAL; }

int probe_perf_hist(probe_perf *r, uint32_t task, uint64_t *buckets, uint32_t n)
{
    if (r == NULL || buckets == NULL || task >= r->conf.n_tasks || r->recv[task].hist == NULL)
        return -EINVAL;
    uint32_t k = n < PROBE_PERF_HIST_BUCKETS ? n : PROBE_PERF_HIST_BUCKETS;
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    memcpy(buckets, r->recv[task].hist, k * sizeof(uint64_t));
    return (int)k;
}

int probe_perf_wait(probe_perf *r, uint32_t timeout_ms)
{
    return r ? probe_job_wait(&r->job, &r->stats.gen_done, timeout_ms) : -EINVAL;
}

int probe_perf_stop(probe_perf *r) { return r ? probe_job_stop(&r->job) : -EINVAL; }

int probe_perf_free(probe_perf *r) { return r ? probe_job_free(&r->job) : -EINVAL; }
