/* dpdk-harness probe, RSS part: DPDK's software Toeplitz hash, a port's RSS configuration
 * (hash conf, RETA), a capture loop that records per received packet its queue and hash,
 * and a kernel-side injector of explicit flows. API in probe.h (the rss section); every
 * function returns >= 0 or -errno. Nothing per packet crosses into Python while running:
 * the capture writes into an array the caller owns and Python reads it after the stop. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <linux/if_packet.h>
#include <sys/socket.h>

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_tcp.h>
#include <rte_thash.h>
#include <rte_udp.h>

#include "probe.h"
#include "probe_internal.h"
#include "frame.h"

#define RSS_MP(p) ((struct rte_mempool *)(void *)(p))

/* ---------------------------------------------------------------- software Toeplitz */

int probe_rss_softrss(const struct probe_rss_tuple *t, uint32_t flags, const uint8_t *key,
                      uint32_t key_len, uint32_t *hash)
{
    union rte_thash_tuple tuple;
    uint32_t kbuf[PROBE_RSS_KEY_MAX / 4], kbe[PROBE_RSS_KEY_MAX / 4];
    if (t == NULL || key == NULL || hash == NULL || key_len > PROBE_RSS_KEY_MAX || key_len % 4)
        return -EINVAL;
    uint32_t len;
    memset(&tuple, 0, sizeof(tuple));
    if (t->ipv6) {
        struct rte_ipv6_hdr h;
        memset(&h, 0, sizeof(h));
        memcpy(h.src_addr, t->src, 16);
        memcpy(h.dst_addr, t->dst, 16);
        rte_thash_load_v6_addrs(&h, &tuple);
        tuple.v6.sport = t->sport;
        tuple.v6.dport = t->dport;
        len = (flags & PROBE_RSS_L4) ? RTE_THASH_V6_L4_LEN : RTE_THASH_V6_L3_LEN;
    } else {
        uint32_t s, d;
        memcpy(&s, t->src, 4);
        memcpy(&d, t->dst, 4);
        tuple.v4.src_addr = rte_be_to_cpu_32(s);
        tuple.v4.dst_addr = rte_be_to_cpu_32(d);
        tuple.v4.sport = t->sport;
        tuple.v4.dport = t->dport;
        len = (flags & PROBE_RSS_L4) ? RTE_THASH_V4_L4_LEN : RTE_THASH_V4_L3_LEN;
    }
    /* rte_softrss reads key word j + 1 for input word j: the key must reach one word beyond */
    if (key_len < (len + 1) * 4)
        return -EINVAL;
    memset(kbuf, 0, sizeof(kbuf));
    memcpy(kbuf, key, key_len); /* aligned copy: the hash reads the key as 32-bit words */
    if (flags & PROBE_RSS_BE) {
        rte_convert_rss_key(kbuf, kbe, (int)key_len);
        *hash = rte_softrss_be((uint32_t *)&tuple, len, (const uint8_t *)kbe);
    } else {
        *hash = rte_softrss((uint32_t *)&tuple, len, (const uint8_t *)kbuf);
    }
    return 0;
}

/* ---------------------------------------------------------------- port RSS configuration */

int probe_rss_hash_conf_get(uint16_t port, struct probe_rss_hash_conf *out)
{
    struct rte_eth_dev_info di;
    struct rte_eth_rss_conf rc;
    if (!rte_eth_dev_is_valid_port(port))
        return -ENODEV;
    if (out == NULL)
        return -EINVAL;
    int rc_ = rte_eth_dev_info_get(port, &di);
    if (rc_ < 0)
        return rc_;
    memset(out, 0, sizeof(*out));
    memset(&rc, 0, sizeof(rc));
    uint8_t klen = di.hash_key_size;
    if (klen > sizeof(out->key))
        return -ENOSPC;
    if (klen) {
        rc.rss_key = out->key;
        rc.rss_key_len = klen;
    }
    rc_ = rte_eth_dev_rss_hash_conf_get(port, &rc);
    if (rc_ < 0)
        return rc_;
    out->rss_hf = rc.rss_hf;
    out->key_len = klen ? (rc.rss_key_len ? rc.rss_key_len : klen) : 0;
    return 0;
}

int probe_rss_hash_update(uint16_t port, const struct probe_rss_hash_conf *conf)
{
    struct rte_eth_rss_conf rc;
    uint8_t key[PROBE_RSS_KEY_MAX];
    if (!rte_eth_dev_is_valid_port(port))
        return -ENODEV;
    if (conf == NULL || conf->key_len > sizeof(key))
        return -EINVAL;
    memset(&rc, 0, sizeof(rc));
    rc.rss_hf = conf->rss_hf;
    if (conf->key_len) {
        memcpy(key, conf->key, conf->key_len);
        rc.rss_key = key;
        rc.rss_key_len = conf->key_len;
    }
    return rte_eth_dev_rss_hash_update(port, &rc);
}

static struct rte_eth_rss_reta_entry64 *reta_groups(uint16_t reta_size)
{
    size_t n = (reta_size + RTE_ETH_RETA_GROUP_SIZE - 1) / RTE_ETH_RETA_GROUP_SIZE;
    struct rte_eth_rss_reta_entry64 *g = calloc(n, sizeof(*g));
    if (g == NULL)
        return NULL;
    for (uint16_t i = 0; i < reta_size; i++)
        g[i / RTE_ETH_RETA_GROUP_SIZE].mask |= 1ULL << (i % RTE_ETH_RETA_GROUP_SIZE);
    return g;
}

/* the redirection table of port: read into out, or written from in (the other NULL; both NULL: -EINVAL) */
static int reta_io(uint16_t port, uint16_t *out, const uint16_t *in, uint16_t reta_size)
{
    if (!rte_eth_dev_is_valid_port(port))
        return -ENODEV;
    if ((out == NULL && in == NULL) || reta_size == 0 || reta_size > PROBE_RSS_RETA_MAX)
        return -EINVAL;
    struct rte_eth_rss_reta_entry64 *g = reta_groups(reta_size);
    if (g == NULL)
        return -ENOMEM;
    int rc;
    if (in != NULL) {
        for (uint16_t i = 0; i < reta_size; i++)
            g[i / RTE_ETH_RETA_GROUP_SIZE].reta[i % RTE_ETH_RETA_GROUP_SIZE] = in[i];
        rc = rte_eth_dev_rss_reta_update(port, g, reta_size);
    } else {
        rc = rte_eth_dev_rss_reta_query(port, g, reta_size);
        if (rc == 0)
            for (uint16_t i = 0; i < reta_size; i++)
                out[i] = g[i / RTE_ETH_RETA_GROUP_SIZE].reta[i % RTE_ETH_RETA_GROUP_SIZE];
    }
    free(g);
    return rc;
}

int probe_rss_reta_query(uint16_t port, uint16_t *reta, uint16_t reta_size)
{
    return reta_io(port, reta, NULL, reta_size);
}

int probe_rss_reta_update(uint16_t port, const uint16_t *reta, uint16_t reta_size)
{
    return reta_io(port, NULL, reta, reta_size);
}

/* ---------------------------------------------------------------- frames */

static int tuple_in_range(const struct probe_rss_tuple *t)
{
    uint32_t s, d;
    if (t->ipv6)
        return 0;
    memcpy(&s, t->src, 4);
    memcpy(&d, t->dst, 4);
    return (rte_be_to_cpu_32(s) & PROBE_FRAME_NET_MASK) == PROBE_FRAME_SRC_NET &&
           (rte_be_to_cpu_32(d) & PROBE_FRAME_NET_MASK) == PROBE_FRAME_SRC_NET;
}

/* the frame of one tuple (frame.h's format with the tuple's addresses and ports); its first FRAME_MIN bytes */
static void rss_build_frame(uint8_t *p, uint16_t len, const struct probe_rss_tuple *t, uint64_t seq)
{
    uint8_t tmpl[FRAME_TMPL];
    uint32_t s, d;
    memcpy(&s, t->src, 4);
    memcpy(&d, t->dst, 4);
    frame_template_tuple(tmpl, len, rte_be_to_cpu_32(s), rte_be_to_cpu_32(d), t->sport, t->dport);
    memcpy(tmpl + FRAME_SEQ, &seq, 8);
    memcpy(p, tmpl, FRAME_MIN);
}

/* read the flow of a received frame; returns 1 when it is one of the harness's */
static inline int rss_parse(const uint8_t *p, uint32_t len, struct probe_rss_pkt *out)
{
    out->src_ip = out->dst_ip = 0;
    out->sport = out->dport = 0;
    if (len < FRAME_L4)
        return 0;
    const struct rte_ether_hdr *eth = (const struct rte_ether_hdr *)p;
    if (eth->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4))
        return 0;
    const struct rte_ipv4_hdr *ip = (const struct rte_ipv4_hdr *)(p + FRAME_L3);
    uint32_t ihl = (uint32_t)(ip->version_ihl & 0x0f) * 4;
    out->src_ip = rte_be_to_cpu_32(ip->src_addr);
    out->dst_ip = rte_be_to_cpu_32(ip->dst_addr);
    if (ihl < 20 || len < FRAME_L3 + ihl + 4)
        return 0;
    if (ip->next_proto_id == IPPROTO_UDP || ip->next_proto_id == IPPROTO_TCP) {
        const uint16_t *ports = (const uint16_t *)(p + FRAME_L3 + ihl);
        out->sport = rte_be_to_cpu_16(ports[0]);
        out->dport = rte_be_to_cpu_16(ports[1]);
    }
    if (ihl != 20)
        return 0;
    return frame_is_ours(p, len);
}

/* ---------------------------------------------------------------- capture loop */

struct probe_rss_capture {
    struct probe_job job;
    struct probe_rss_capture_conf conf;
    struct probe_rss_capture_stats stats;
};

static void capture_tx(struct probe_rss_capture *c, uint64_t *seq)
{
    const struct probe_rss_capture_conf *cf = &c->conf;
    struct probe_rss_capture_stats *st = &c->stats;
    struct rte_mbuf *bufs[PROBE_MAX_BURST];
    uint64_t left = cf->tx_count - (st->tx_pkts + st->tx_unsent);
    uint16_t n = left < cf->burst ? (uint16_t)left : cf->burst;
    if (rte_pktmbuf_alloc_bulk(RSS_MP(cf->pool), bufs, n) != 0) {
        st->alloc_fail++;
        return;
    }
    uint16_t len = frame_len(cf->frame_size);
    for (uint16_t i = 0; i < n; i++) {
        rss_build_frame(rte_pktmbuf_mtod(bufs[i], uint8_t *), len, &cf->tuples[*seq % cf->n_tuples], *seq);
        bufs[i]->data_len = len;
        bufs[i]->pkt_len = len;
        (*seq)++;
    }
    uint16_t sent = rte_eth_tx_burst(cf->tx_port, cf->tx_queue, bufs, n);
    st->tx_pkts += sent;
    if (sent < n) {
        /* the tuples of unsent frames are not retried: count them, free them */
        st->tx_unsent += n - sent;
        rte_pktmbuf_free_bulk(&bufs[sent], n - sent);
    }
}

static void capture_rx(struct probe_rss_capture *c, uint16_t q)
{
    const struct probe_rss_capture_conf *cf = &c->conf;
    struct probe_rss_capture_stats *st = &c->stats;
    struct rte_mbuf *bufs[PROBE_MAX_BURST];
    uint16_t n = rte_eth_rx_burst(cf->port, q, bufs, cf->burst);
    st->q_polls[q]++;
    if (n == 0)
        return;
    st->q_pkts[q] += n;
    st->rx_pkts += n;
    for (uint16_t i = 0; i < n; i++) {
        struct rte_mbuf *m = bufs[i];
        struct probe_rss_pkt rec;
        rec.queue = q;
        rec.has_hash = (m->ol_flags & RTE_MBUF_F_RX_RSS_HASH) != 0;
        rec.hash = rec.has_hash ? m->hash.rss : 0;
        rec.ours = (uint8_t)rss_parse(rte_pktmbuf_mtod(m, const uint8_t *), rte_pktmbuf_data_len(m), &rec);
        st->ours += rec.ours;
        st->with_hash += rec.has_hash;
        if (st->captured < cf->max_pkts)
            cf->pkts[st->captured++] = rec;
        else
            st->not_stored++;
    }
    rte_pktmbuf_free_bulk(bufs, n);
}

static int capture_loop(struct probe_job *job)
{
    struct probe_rss_capture *c = container_of(job, struct probe_rss_capture, job);
    const struct probe_rss_capture_conf *cf = &c->conf;
    struct probe_rss_capture_stats *st = &c->stats;
    uint64_t seq = 0, loops = 0;
    st->tsc_hz = rte_get_tsc_hz();
    st->tsc_start = st->tsc_last = rte_rdtsc();
    if (cf->tx_count == 0)
        __atomic_store_n(&st->tx_done, 1, __ATOMIC_RELEASE);
    while (!probe_job_stopping(&c->job)) {
        if (!st->tx_done) {
            capture_tx(c, &seq);
            if (st->tx_pkts + st->tx_unsent >= cf->tx_count)
                __atomic_store_n(&st->tx_done, 1, __ATOMIC_RELEASE);
        }
        if (st->tx_done || !(cf->flags & PROBE_RSS_F_RX_AFTER_TX))
            for (uint16_t i = 0; i < cf->n_queues; i++)
                capture_rx(c, cf->queues[i]);
        if ((++loops & 63) == 0)
            st->tsc_last = rte_rdtsc();
    }
    probe_job_finished(job);
    return 0;
}

static void capture_release(struct probe_job *job) { free(container_of(job, struct probe_rss_capture, job)); }

int probe_rss_capture_start(const struct probe_rss_capture_conf *conf, probe_rss_capture **out)
{
    if (conf == NULL || out == NULL || conf->burst == 0 || conf->burst > PROBE_MAX_BURST ||
        conf->n_queues == 0 || conf->n_queues > PROBE_MAX_QUEUES || (conf->max_pkts && conf->pkts == NULL))
        return -EINVAL;
    if (probe_job_lcore_ok(conf->lcore) < 0)
        return -EINVAL;
    if (!rte_eth_dev_is_valid_port(conf->port))
        return -ENODEV;
    for (uint16_t i = 0; i < conf->n_queues; i++)
        if (conf->queues[i] >= PROBE_MAX_QUEUES)
            return -EINVAL;
    if (conf->tx_count) {
        if (!rte_eth_dev_is_valid_port(conf->tx_port))
            return -ENODEV;
        if (conf->pool == NULL || conf->tuples == NULL || conf->n_tuples == 0)
            return -EINVAL;
        for (uint32_t i = 0; i < conf->n_tuples; i++)
            if (!tuple_in_range(&conf->tuples[i]))
                return -EINVAL;
    }
    struct probe_rss_capture *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -ENOMEM;
    PROBE_JOB_SETUP(c, capture_loop, capture_release);
    c->conf = *conf;
    int rc = probe_job_start(&c->job, conf->lcore);
    if (rc < 0) {
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int probe_rss_capture_stats(probe_rss_capture *c, struct probe_rss_capture_stats *out)
{
    return c ? probe_job_stats(&c->job, out) : -EINVAL;
}

int probe_rss_capture_stop(probe_rss_capture *c) { return c ? probe_job_stop(&c->job) : -EINVAL; }

int probe_rss_capture_free(probe_rss_capture *c) { return c ? probe_job_free(&c->job) : -EINVAL; }

/* ---------------------------------------------------------------- kernel side */

struct rss_inject_arg {
    const struct probe_rss_tuple *tuples;
    uint32_t n_tuples;
    uint64_t first;
};

static void rss_inject_build(uint8_t *buf, uint16_t len, uint64_t i, void *arg)
{
    const struct rss_inject_arg *a = arg;
    rss_build_frame(buf, len, &a->tuples[(a->first + i) % a->n_tuples], a->first + i);
}

int64_t probe_rss_inject(const char *ifname, const char *netns_path, const struct probe_rss_tuple *tuples,
                         uint32_t n_tuples, uint64_t first, uint64_t count, uint16_t frame_size)
{
    if (ifname == NULL || tuples == NULL || n_tuples == 0 || frame_size > RTE_ETHER_MAX_JUMBO_FRAME_LEN)
        return -EINVAL;
    for (uint32_t i = 0; i < n_tuples; i++)
        if (!tuple_in_range(&tuples[i]))
            return -EINVAL;
    struct rss_inject_arg arg = {tuples, n_tuples, first};
    return probe_send_frames(ifname, netns_path, frame_len(frame_size), count, 0, rss_inject_build, &arg);
}
