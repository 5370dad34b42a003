/* dpdk-harness probe: EAL, ports, mempools, virtual devices and the worker-lcore loops.
 * API in probe.h; every function returns >= 0 or -errno. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <sys/socket.h>

#include <rte_bus.h>
#include <rte_common.h>
#include <rte_dev.h>
#include <rte_bus_vdev.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_eth_ring.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_memory.h>
#include <rte_mempool.h>
#include <rte_memcpy.h>
#include <rte_prefetch.h>
#include <rte_ring.h>
#include <rte_udp.h>
#include <rte_version.h>

#include "probe.h"
#include "probe_internal.h"
#include "frame.h"

#ifndef PROBE_VERSION
#error "PROBE_VERSION must be defined by the build (harness/native/build.py)"
#endif

#define AS_MP(p) ((struct rte_mempool *)(void *)(p))
#define ERR_RTE() (rte_errno > 0 ? -rte_errno : -EIO)

static int eal_ready;

const char *probe_version(void) { return PROBE_VERSION; }

int probe_dpdk_version(char *buf, size_t len)
{
    if (buf == NULL || len == 0)
        return -EINVAL;
    return snprintf(buf, len, "%s", rte_version()) < 0 ? -EIO : 0;
}

int probe_eal_init(int argc, char **argv)
{
    if (eal_ready)
        return -EALREADY;
    int rc = rte_eal_init(argc, argv);
    if (rc < 0)
        return ERR_RTE();
    eal_ready = 1;
    return rc;
}

int probe_eal_initialized(void) { return eal_ready; }

int probe_eal_cleanup(void)
{
    if (!eal_ready)
        return -EINVAL;
    rte_eal_mp_wait_lcore();
    int rc = rte_eal_cleanup();
    eal_ready = 0;
    return rc < 0 ? rc : 0;
}

/* ---------------------------------------------------------------- lcores */

int probe_lcore_count(void) { return eal_ready ? (int)rte_lcore_count() : -EINVAL; }

int probe_lcore_list(uint32_t *ids, uint32_t max)
{
    if (!eal_ready)
        return -EINVAL;
    uint32_t n = 0, lc;
    RTE_LCORE_FOREACH(lc) {
        if (n < max)
            ids[n] = lc;
        n++;
    }
    return (int)n;
}

int probe_lcore_info(uint32_t lcore, struct probe_lcore_info *out)
{
    if (!eal_ready || out == NULL || lcore >= RTE_MAX_LCORE || !rte_lcore_is_enabled(lcore))
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    rte_cpuset_t set = rte_lcore_cpuset(lcore);
    out->lcore_id = lcore;
    out->cpu_id = -1;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (CPU_ISSET(cpu, &set)) {
            if (out->cpu_id < 0)
                out->cpu_id = cpu;
            out->cpu_count++;
        }
    }
    out->socket_id = (int32_t)rte_lcore_to_socket_id(lcore);
    out->is_main = lcore == rte_get_main_lcore();
    out->busy = !out->is_main && rte_eal_get_lcore_state(lcore) != WAIT;
    return 0;
}

/* ---------------------------------------------------------------- ports */

int probe_port_count(void) { return eal_ready ? (int)rte_eth_dev_count_avail() : -EINVAL; }

int probe_port_by_name(const char *name)
{
    uint16_t port;
    if (!eal_ready || name == NULL)
        return -EINVAL;
    int rc = rte_eth_dev_get_port_by_name(name, &port);
    return rc < 0 ? -ENODEV : port;
}

int probe_port_info(uint16_t port, struct probe_port_info *out)
{
    struct rte_eth_dev_info di;
    struct rte_ether_addr mac;
    if (!rte_eth_dev_is_valid_port(port) || out == NULL)
        return -ENODEV;
    int rc = rte_eth_dev_info_get(port, &di);
    if (rc < 0)
        return rc;
    memset(out, 0, sizeof(*out));
    out->port_id = port;
    rte_eth_dev_get_name_by_port(port, out->name);
    snprintf(out->driver, sizeof(out->driver), "%s", di.driver_name ? di.driver_name : "");
    out->max_rx_queues = di.max_rx_queues;
    out->max_tx_queues = di.max_tx_queues;
    out->reta_size = di.reta_size;
    out->hash_key_size = di.hash_key_size;
    out->flow_type_rss_offloads = di.flow_type_rss_offloads;
    out->rx_offload_capa = di.rx_offload_capa;
    out->tx_offload_capa = di.tx_offload_capa;
    out->socket_id = rte_eth_dev_socket_id(port);
    if (rte_eth_macaddr_get(port, &mac) == 0)
        memcpy(out->mac, mac.addr_bytes, 6);
    out->rx_desc_min = di.rx_desc_lim.nb_min;
    out->rx_desc_max = di.rx_desc_lim.nb_max;
    out->rx_desc_align = di.rx_desc_lim.nb_align;
    out->tx_desc_min = di.tx_desc_lim.nb_min;
    out->tx_desc_max = di.tx_desc_lim.nb_max;
    out->tx_desc_align = di.tx_desc_lim.nb_align;
    out->max_rx_pktlen = di.max_rx_pktlen;
    out->min_mtu = di.min_mtu;
    out->max_mtu = di.max_mtu;
    out->min_rx_bufsize = di.min_rx_bufsize;
    out->nb_rx_queues = di.nb_rx_queues;
    out->nb_tx_queues = di.nb_tx_queues;
    return 0;
}

int probe_port_fw_version(uint16_t port, char *buf, size_t len)
{
    if (!rte_eth_dev_is_valid_port(port) || buf == NULL || len == 0)
        return -EINVAL;
    int rc = rte_eth_dev_fw_version_get(port, buf, len);
    return rc > 0 ? -ENOSPC : rc; /* > 0: the buffer was too small by that much */
}

int probe_port_link(uint16_t port, struct probe_link *out, uint32_t wait_ms)
{
    struct rte_eth_link link;
    if (!rte_eth_dev_is_valid_port(port) || out == NULL)
        return -ENODEV;
    for (uint32_t waited = 0;; waited += 10) {
        memset(&link, 0, sizeof(link));
        int rc = rte_eth_link_get_nowait(port, &link);
        if (rc < 0)
            return rc;
        if (link.link_status || waited >= wait_ms)
            break;
        rte_delay_ms(10);
    }
    out->speed_mbps = link.link_speed;
    out->up = link.link_status;
    out->full_duplex = link.link_duplex;
    out->autoneg = link.link_autoneg;
    return 0;
}

int probe_port_configure(uint16_t port, const struct probe_port_conf *c, probe_pool *pool)
{
    struct rte_eth_conf conf;
    struct rte_eth_dev_info di;
    if (!rte_eth_dev_is_valid_port(port))
        return -ENODEV;
    if (c == NULL || pool == NULL || c->nb_rxq == 0 || c->nb_txq == 0)
        return -EINVAL;
    int rc = rte_eth_dev_info_get(port, &di);
    if (rc < 0)
        return rc;
    memset(&conf, 0, sizeof(conf));
    conf.lpbk_mode = c->lpbk_mode;
    if (c->mtu)
        conf.rxmode.mtu = c->mtu;
    if (c->scatter)
        conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_SCATTER;
    if (c->rss) {
        conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
        conf.rx_adv_conf.rss_conf.rss_hf = c->rss_hf;
        if (c->rss_key_len) {
            /* ethdev keeps only the pointer, and PMDs (igb, ixgbe, i40e) program the key at
             * rte_eth_dev_start, after the caller's conf is gone: the key must outlive it */
            static uint8_t keys[RTE_MAX_ETHPORTS][sizeof(c->rss_key)];
            if (c->rss_key_len > sizeof(keys[port]))
                return -EINVAL;
            memcpy(keys[port], c->rss_key, c->rss_key_len);
            conf.rx_adv_conf.rss_conf.rss_key = keys[port];
            conf.rx_adv_conf.rss_conf.rss_key_len = c->rss_key_len;
        }
    }
    rc = rte_eth_dev_configure(port, c->nb_rxq, c->nb_txq, &conf);
    if (rc < 0)
        return rc;
    int socket = rte_eth_dev_socket_id(port);
    if (socket < 0)
        socket = (int)rte_socket_id();
    struct rte_eth_rxconf rxconf = di.default_rxconf;
    rxconf.offloads = conf.rxmode.offloads;
    for (uint16_t q = 0; q < c->nb_rxq; q++) {
        rc = rte_eth_rx_queue_setup(port, q, c->rx_desc, (unsigned)socket, &rxconf, AS_MP(pool));
        if (rc < 0)
            return rc;
    }
    struct rte_eth_txconf txconf = di.default_txconf;
    txconf.offloads = conf.txmode.offloads;
    if (c->tx_free_thresh)
        txconf.tx_free_thresh = c->tx_free_thresh;
    if (c->tx_rs_thresh)
        txconf.tx_rs_thresh = c->tx_rs_thresh;
    for (uint16_t q = 0; q < c->nb_txq; q++) {
        rc = rte_eth_tx_queue_setup(port, q, c->tx_desc, (unsigned)socket, &txconf);
        if (rc < 0)
            return rc;
    }
    if (c->promisc) {
        rc = rte_eth_promiscuous_enable(port);
        if (rc < 0 && rc != -ENOTSUP)
            return rc;
    }
    return 0;
}

int probe_port_start(uint16_t port)
{
    return rte_eth_dev_is_valid_port(port) ? rte_eth_dev_start(port) : -ENODEV;
}

int probe_port_stop(uint16_t port)
{
    return rte_eth_dev_is_valid_port(port) ? rte_eth_dev_stop(port) : -ENODEV;
}

int probe_port_close(uint16_t port)
{
    struct rte_eth_dev_info di;
    if (!rte_eth_dev_is_valid_port(port))
        return -ENODEV;
    struct rte_device *dev = rte_eth_dev_info_get(port, &di) == 0 ? di.device : NULL;
    int rc = rte_eth_dev_close(port);
    if (rc < 0 || dev == NULL || strcmp(rte_bus_name(rte_dev_bus(dev)), "pci") != 0)
        return rc;
    /* A closed PCI port stays mapped, its vfio device fd open: the kernel's unbind from vfio-pci
     * (the harness gives the NIC back at exit) then blocks until the process exits, and vfio's
     * release requests spin in EAL. Detach the device from its bus so the fd is released. */
    return rte_dev_remove(dev);
}

int probe_port_stats(uint16_t port, struct probe_port_stats *out)
{
    struct rte_eth_stats st;
    if (!rte_eth_dev_is_valid_port(port) || out == NULL)
        return -ENODEV;
    int rc = rte_eth_stats_get(port, &st);
    if (rc < 0)
        return rc;
    out->ipackets = st.ipackets;
    out->opackets = st.opackets;
    out->ibytes = st.ibytes;
    out->obytes = st.obytes;
    out->imissed = st.imissed;
    out->ierrors = st.ierrors;
    out->oerrors = st.oerrors;
    out->rx_nombuf = st.rx_nombuf;
    _Static_assert(PROBE_MAX_QUEUE_STATS <= RTE_ETHDEV_QUEUE_STAT_CNTRS, "per-queue counters");
    for (int q = 0; q < PROBE_MAX_QUEUE_STATS; q++) {
        out->q_ipackets[q] = st.q_ipackets[q];
        out->q_opackets[q] = st.q_opackets[q];
    }
    return 0;
}

int probe_port_stats_reset(uint16_t port)
{
    return rte_eth_dev_is_valid_port(port) ? rte_eth_stats_reset(port) : -ENODEV;
}

int probe_port_tx_done_cleanup(uint16_t port, uint16_t queue, uint32_t free_cnt)
{
    return rte_eth_dev_is_valid_port(port) ? rte_eth_tx_done_cleanup(port, queue, free_cnt) : -ENODEV;
}

/* ---------------------------------------------------------------- virtual devices */

int probe_vdev_create(const char *name, const char *args)
{
    if (!eal_ready || name == NULL)
        return -EINVAL;
    int rc = rte_vdev_init(name, args ? args : "");
    if (rc < 0)
        return rc == -1 ? ERR_RTE() : rc;
    return probe_port_by_name(name);
}

int probe_vdev_destroy(const char *name)
{
    if (!eal_ready || name == NULL)
        return -EINVAL;
    uint16_t port;
    if (rte_eth_dev_get_port_by_name(name, &port) == 0)
        rte_eth_dev_stop(port);
    /* the driver's remove closes and releases the port: closing it here too double-frees */
    int rc = rte_vdev_uninit(name);
    return rc < 0 ? (rc == -1 ? ERR_RTE() : rc) : 0;
}

#define MAX_WIRES 8
struct wire {
    char name[PROBE_NAME_LEN];
    uint16_t nq;
    struct rte_ring *ab[PROBE_MAX_QUEUES]; /* a transmits, b receives */
    struct rte_ring *ba[PROBE_MAX_QUEUES];
};
static struct wire wires[MAX_WIRES];

static struct wire *wire_find(const char *name)
{
    for (int i = 0; i < MAX_WIRES; i++)
        if (wires[i].name[0] && strcmp(wires[i].name, name) == 0)
            return &wires[i];
    return NULL;
}

static void wire_free_rings(struct wire *w)
{
    for (int q = 0; q < PROBE_MAX_QUEUES; q++) {
        rte_ring_free(w->ab[q]);
        rte_ring_free(w->ba[q]);
        w->ab[q] = w->ba[q] = NULL;
    }
}

static void wire_drain(struct rte_ring *r)
{
    void *objs[64];
    unsigned n;
    while (r && (n = rte_ring_dequeue_burst(r, objs, 64, NULL)) > 0)
        rte_pktmbuf_free_bulk((struct rte_mbuf **)objs, n);
}

int probe_ring_wire_create(const char *name, uint16_t nq, uint32_t ring_size, int32_t socket,
                           uint16_t *port_a, uint16_t *port_b)
{
    char rn[RTE_RING_NAMESIZE], pa[PROBE_NAME_LEN], pb[PROBE_NAME_LEN];
    if (!eal_ready || name == NULL || port_a == NULL || port_b == NULL || nq == 0 ||
        nq > PROBE_MAX_QUEUES || strlen(name) > 20 || ring_size == 0)
        return -EINVAL;
    if (wire_find(name))
        return -EEXIST;
    struct wire *w = NULL;
    for (int i = 0; i < MAX_WIRES && !w; i++)
        if (!wires[i].name[0])
            w = &wires[i];
    if (!w)
        return -ENOSPC;
    memset(w, 0, sizeof(*w));
    if (socket < 0)
        socket = (int32_t)rte_socket_id();
    for (uint16_t q = 0; q < nq; q++) {
        snprintf(rn, sizeof(rn), "%s_ab%u", name, q);
        w->ab[q] = rte_ring_create(rn, ring_size, socket, RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ);
        snprintf(rn, sizeof(rn), "%s_ba%u", name, q);
        w->ba[q] = rte_ring_create(rn, ring_size, socket, RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ);
        if (!w->ab[q] || !w->ba[q]) {
            int err = ERR_RTE();
            wire_free_rings(w);
            return err;
        }
    }
    snprintf(pa, sizeof(pa), "%s_a", name); /* rte_eth_from_rings names the port net_ring_<name> */
    snprintf(pb, sizeof(pb), "%s_b", name);
    int a = rte_eth_from_rings(pa, w->ba, nq, w->ab, nq, (unsigned)socket);
    if (a < 0) {
        int err = ERR_RTE();
        wire_free_rings(w);
        return err;
    }
    int b = rte_eth_from_rings(pb, w->ab, nq, w->ba, nq, (unsigned)socket);
    if (b < 0) {
        int err = ERR_RTE();
        rte_eth_dev_close((uint16_t)a);
        char van[PROBE_NAME_LEN + 16];
        snprintf(van, sizeof(van), "net_ring_%s", pa);
        rte_vdev_uninit(van);
        wire_free_rings(w);
        return err;
    }
    snprintf(w->name, sizeof(w->name), "%s", name);
    w->nq = nq;
    *port_a = (uint16_t)a;
    *port_b = (uint16_t)b;
    return 0;
}

int probe_ring_wire_pending(const char *name)
{
    struct wire *w = name ? wire_find(name) : NULL;
    if (!w)
        return -ENOENT;
    unsigned n = 0;
    for (uint16_t q = 0; q < w->nq; q++)
        n += rte_ring_count(w->ab[q]) + rte_ring_count(w->ba[q]);
    return (int)n;
}

int probe_ring_wire_destroy(const char *name)
{
    char pn[PROBE_NAME_LEN];
    struct wire *w = name ? wire_find(name) : NULL;
    if (!w)
        return -ENOENT;
    const char *sides[2] = {"a", "b"};
    for (int s = 0; s < 2; s++) {
        uint16_t port;
        snprintf(pn, sizeof(pn), "net_ring_%s_%s", name, sides[s]);
        if (rte_eth_dev_get_port_by_name(pn, &port) == 0)
            rte_eth_dev_stop(port);
        rte_vdev_uninit(pn);
    }
    for (uint16_t q = 0; q < w->nq; q++) {
        wire_drain(w->ab[q]);
        wire_drain(w->ba[q]);
    }
    wire_free_rings(w);
    memset(w, 0, sizeof(*w));
    return 0;
}

/* ---------------------------------------------------------------- mempools */

int probe_pool_create(const char *name, uint32_t n, uint32_t cache, uint16_t data_room,
                      int32_t socket, probe_pool **out)
{
    if (!eal_ready || name == NULL || out == NULL)
        return -EINVAL;
    struct rte_mempool *mp = rte_pktmbuf_pool_create(name, n, cache, 0, data_room,
                                                     socket < 0 ? SOCKET_ID_ANY : socket);
    if (mp == NULL)
        return ERR_RTE();
    *out = (probe_pool *)(void *)mp;
    return 0;
}

int probe_pool_free(probe_pool *pool)
{
    if (pool == NULL)
        return -EINVAL;
    rte_mempool_free(AS_MP(pool));
    return 0;
}

int probe_pool_stats(probe_pool *pool, struct probe_pool_stats *out)
{
    if (pool == NULL || out == NULL)
        return -EINVAL;
    struct rte_mempool *mp = AS_MP(pool);
    memset(out, 0, sizeof(*out));
    out->size = mp->size;
    out->avail = rte_mempool_avail_count(mp);
    out->in_use = rte_mempool_in_use_count(mp);
    out->cache_size = mp->cache_size;
    if (mp->cache_size)
        for (unsigned lc = 0; lc < RTE_MAX_LCORE; lc++)
            out->cached += mp->local_cache[lc].len;
    out->socket_id = mp->socket_id;
    out->data_room = rte_pktmbuf_data_room_size(mp);
    out->elt_size = mp->elt_size;
    struct rte_mempool_memhdr *hdr = STAILQ_FIRST(&mp->mem_list);
    if (hdr) {
        struct rte_memseg_list *msl = rte_mem_virt2memseg_list(hdr->addr);
        if (msl)
            out->hugepage_sz = msl->page_sz;
    }
    return 0;
}

struct held {
    struct rte_mempool *mp;
    void **objs;
    uint32_t n;
    struct held *next;
};
static struct held *held_list;

int probe_pool_hold(probe_pool *pool, uint32_t n)
{
    if (pool == NULL)
        return -EINVAL;
    struct held *h = calloc(1, sizeof(*h));
    void **objs = n ? calloc(n, sizeof(void *)) : NULL;
    if (h == NULL || (n && objs == NULL)) {
        free(h);
        free(objs);
        return -ENOMEM;
    }
    /* mbufs parked in lcore caches are free too: flush them to the ring first, or a worker keeps
     * allocating from its cache and the pool never runs dry for it. Only safe while no lcore is
     * using the pool: the caller holds before starting runs. */
    for (unsigned lc = 0; lc < RTE_MAX_LCORE; lc++) {
        struct rte_mempool_cache *cache = rte_mempool_default_cache(AS_MP(pool), lc);
        if (cache)
            rte_mempool_cache_flush(cache, AS_MP(pool));
    }
    uint32_t got = 0;
    while (got < n) { /* bulks while they last, then one at a time for the tail */
        uint32_t want = n - got >= 32 ? 32 : 1;
        if (rte_mempool_get_bulk(AS_MP(pool), &objs[got], want) == 0)
            got += want;
        else if (want == 1)
            break;
        else if (rte_mempool_get(AS_MP(pool), &objs[got]) == 0)
            got++;
        else
            break;
    }
    h->mp = AS_MP(pool);
    h->objs = objs;
    h->n = got;
    h->next = held_list;
    held_list = h;
    return (int)got;
}

int probe_pool_release(probe_pool *pool)
{
    if (pool == NULL)
        return -EINVAL;
    int released = 0;
    for (struct held **pp = &held_list; *pp;) {
        struct held *h = *pp;
        if (h->mp != AS_MP(pool)) {
            pp = &h->next;
            continue;
        }
        if (h->n)
            rte_mempool_put_bulk(h->mp, h->objs, h->n);
        released += (int)h->n;
        *pp = h->next;
        free(h->objs);
        free(h);
    }
    return released;
}

struct bench_arg {
    struct rte_mempool *mp;
    uint32_t bulk, rounds, use_cache;
    struct probe_pool_bench *out;
};

static int bench_loop(void *arg)
{
    struct bench_arg *a = arg;
    void *objs[PROBE_MAX_BURST];
    struct rte_mempool_cache *cache = a->use_cache ? rte_mempool_default_cache(a->mp, rte_lcore_id()) : NULL;
    uint64_t t0 = rte_rdtsc();
    for (uint32_t r = 0; r < a->rounds; r++) {
        if (rte_mempool_generic_get(a->mp, objs, a->bulk, cache) < 0) {
            a->out->failed_gets++;
            continue;
        }
        rte_mempool_generic_put(a->mp, objs, a->bulk, cache);
        a->out->ops += a->bulk;
    }
    a->out->cycles = rte_rdtsc() - t0;
    if (cache)
        rte_mempool_cache_flush(cache, a->mp); /* leave nothing parked in this lcore's cache */
    return 0;
}

int probe_pool_bench(probe_pool *pool, uint32_t lcore, uint32_t bulk, uint32_t rounds, uint32_t use_cache,
                     struct probe_pool_bench *out)
{
    if (!eal_ready || pool == NULL || out == NULL || bulk == 0 || bulk > PROBE_MAX_BURST)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    out->tsc_hz = rte_get_tsc_hz();
    struct bench_arg a = {AS_MP(pool), bulk, rounds, use_cache, out};
    return probe_job_once(lcore, bench_loop, &a);
}

/* ---------------------------------------------------------------- runs */

/* A run is a loop on one worker lcore over its tasks (FWD, GEN, SINK). It is written to cost what
 * dpdk-testpmd's io, txonly and rxonly loops cost (benchmarks/run.py measures both side by side):
 *   - counters accumulate in the loop's own memory and are published every RUN_PUBLISH loops (and at
 *     the end), so nothing the reader touches is written per burst;
 *   - FWD touches no mbuf, as testpmd's io mode (bytes: the ports' own counters);
 *   - GEN takes mbufs raw from the pool (fields a freed mbuf may have kept are set, nothing more),
 *     copies a prebuilt 64-byte template per packet with the burst's TSC stamp already in it, and
 *     writes only what varies: the flow's address, port and checksum, and the sequence number;
 *   - SINK reads one data line per packet and classifies it without branches; a burst of plain mbufs
 *     goes back to its pool in one put (frame.h). */

#define RUN_PUBLISH 64      /* loops between publishing counters, sampling the CPU and the pool */

struct gen_state {
    uint64_t seq;
    uint64_t next_tsc;
    double cycles_per_pkt;
    uint32_t flow;          /* seq % n_flows, kept without a division */
    uint16_t len;
    uint64_t rearm;         /* the mbuf's rearm_data for a fresh single-segment frame */
    uint8_t tmpl[FRAME_TMPL] __rte_aligned(64);
};

struct probe_run {
    struct probe_job job;
    struct probe_run_conf conf;
    struct probe_run_stats stats;
    struct gen_state gen[PROBE_MAX_TASKS];
    uint32_t pool_lcores[RTE_MAX_LCORE];    /* enabled lcores, whose caches hold free mbufs */
    uint32_t n_pool_lcores;
};

/* the first trace_len packets of a run, recorded for the zero-copy checks */
static void trace_burst(struct probe_run *r, const struct probe_task *t, uint16_t kind, struct rte_mbuf **bufs,
                        uint16_t n)
{
    struct probe_trace_rec *tr = r->conf.trace;
    for (uint16_t i = 0; i < n && r->stats.trace_used < r->conf.trace_len; i++) {
        struct probe_trace_rec *rec = &tr[r->stats.trace_used++];
        const uint8_t *d = rte_pktmbuf_mtod(bufs[i], const uint8_t *);
        uint32_t dl = rte_pktmbuf_data_len(bufs[i]);
        rec->mbuf = (uint64_t)(uintptr_t)bufs[i];
        rec->data = (uint64_t)(uintptr_t)d;
        rec->buf_iova = bufs[i]->buf_iova;
        rec->seq = frame_seq(d, dl);
        rec->task = (uint16_t)(t - r->conf.tasks);
        rec->kind = kind;
        rec->nb_segs = bufs[i]->nb_segs;
        rec->intact = kind == PROBE_TRACE_RX ? (uint16_t)frame_intact(d, dl) : 0;
    }
}

static inline int tracing(const struct probe_run *r)
{
    return unlikely(r->conf.trace != NULL) && r->stats.trace_used < r->conf.trace_len;
}

/* free mbufs counted from the pool's ring and the caches of the enabled lcores (what
 * rte_mempool_avail_count adds up, without walking all RTE_MAX_LCORE caches) */
static inline uint32_t pool_avail(const struct probe_run *r, struct rte_mempool *mp)
{
    uint32_t n = rte_mempool_get_ops(mp->ops_index)->get_count(mp); /* the ring: rte_mempool_ops_get_count is internal */
    if (mp->cache_size)
        for (uint32_t i = 0; i < r->n_pool_lcores; i++)
            n += mp->local_cache[r->pool_lcores[i]].len;
    return n > mp->size ? mp->size : n;
}

/* tx_burst; the caller owns what the PMD did not take, so free it (unless the run is the deliberate
 * "forgets to free unsent mbufs" fault) and count it; bytes: of the n mbufs */
static inline void tx_and_free_unsent(const struct probe_run *r, const struct probe_task *t,
                                      struct probe_task_stats *s, struct rte_mbuf **bufs, uint16_t n, uint64_t bytes)
{
    uint16_t sent = rte_eth_tx_burst(t->tx_port, t->tx_queue, bufs, n);
    s->tx_calls++;
    s->tx_pkts += sent;
    if (unlikely(sent < n)) {
        for (uint16_t i = sent; i < n; i++)
            bytes -= rte_pktmbuf_pkt_len(bufs[i]);
        s->tx_unsent += n - sent;
        if (!(r->conf.flags & PROBE_F_LEAK_UNSENT))
            rte_pktmbuf_free_bulk(&bufs[sent], n - sent);
    }
    s->tx_bytes += bytes;
}

/* the deliberate fault: forward copies, as an application that linearises would */
static uint16_t copy_burst(struct probe_task_stats *s, struct rte_mbuf **bufs, uint16_t n)
{
    uint16_t kept = 0;
    for (uint16_t i = 0; i < n; i++) {
        struct rte_mbuf *c = rte_pktmbuf_copy(bufs[i], bufs[i]->pool, 0, UINT32_MAX);
        rte_pktmbuf_free(bufs[i]);
        if (c != NULL) {
            bufs[kept++] = c;
            s->copies++;
        } else {
            s->alloc_fail++;
        }
    }
    return kept;
}

/* rx -> tx, as testpmd's io mode: packets are counted, the mbufs are not read (a port's own counters
 * have the bytes: probe_port_stats); rx_bytes and tx_bytes of a FWD task stay 0 */
static inline void task_fwd(struct probe_run *r, const struct probe_task *t, struct probe_task_stats *s)
{
    struct rte_mbuf *bufs[PROBE_MAX_BURST];
    uint16_t n = probe_rx_counted(t->rx_port, t->rx_queue, bufs, r->conf.burst, &s->rx_polls, &s->rx_empty_polls);
    if (n == 0)
        return;
    s->rx_pkts += n;
    if (unlikely(r->conf.trace != NULL || (r->conf.flags & PROBE_F_COPY_FWD))) {
        if (tracing(r))
            trace_burst(r, t, PROBE_TRACE_RX, bufs, n);
        if (r->conf.flags & PROBE_F_COPY_FWD)
            n = copy_burst(s, bufs, n);
        if (tracing(r))
            trace_burst(r, t, PROBE_TRACE_TX, bufs, n);
    }
    uint16_t sent = rte_eth_tx_burst(t->tx_port, t->tx_queue, bufs, n);
    s->tx_calls++;
    s->tx_pkts += sent;
    if (unlikely(sent < n)) {
        s->tx_unsent += n - sent;
        if (!(r->conf.flags & PROBE_F_LEAK_UNSENT))
            rte_pktmbuf_free_bulk(&bufs[sent], n - sent);
    }
}

static inline void task_gen(struct probe_run *r, const struct probe_task *t, struct probe_task_stats *s,
                            struct gen_state *g, uint32_t flows)
{
    const struct probe_run_conf *c = &r->conf;
    struct rte_mbuf *bufs[PROBE_MAX_BURST];
    uint16_t n = c->burst;
    if (c->gen_count) {
        if (s->tx_pkts >= c->gen_count)
            return;
        if (c->gen_count - s->tx_pkts < n)
            n = (uint16_t)(c->gen_count - s->tx_pkts);
    }
    uint64_t now = rte_rdtsc();
    if (g->cycles_per_pkt > 0) {
        if (now < g->next_tsc)
            return;
        g->next_tsc += (uint64_t)(g->cycles_per_pkt * n);
        if (g->next_tsc < now - rte_get_tsc_hz() / 1000) /* fell behind by over 1 ms: don't burst to catch up */
            g->next_tsc = now;
    }
    if (rte_mempool_get_bulk(AS_MP(c->pool), (void **)bufs, n) != 0) {
        s->alloc_fail++;
        return;
    }
    memcpy(g->tmpl + FRAME_TSC, &now, 8); /* the burst's stamp, in every frame through the template */
    const uint16_t tmpl_ck = ((const struct rte_ipv4_hdr *)(g->tmpl + FRAME_L3))->hdr_checksum;
    const uint16_t len = g->len;
    uint64_t seq = g->seq;
    uint32_t flow = g->flow;
    for (uint16_t i = 0; i < n; i++) {
        struct rte_mbuf *m = bufs[i];
        /* a raw mbuf: refcnt 1, one segment, next NULL (the pool's invariant); set what a previous
         * user may have left: data offset, lengths, offload flags */
        frame_mbuf_reset(m, g->rearm, len);
        uint8_t *p = rte_pktmbuf_mtod(m, uint8_t *);
        rte_mov64(p, g->tmpl);
        frame_set_flow(p, tmpl_ck, flow);
        memcpy(p + FRAME_SEQ, &seq, 8);
        seq++;
        flow = flow + 1 == flows ? 0 : flow + 1;
    }
    g->seq = seq;
    g->flow = flow;
    if (tracing(r))
        trace_burst(r, t, PROBE_TRACE_TX, bufs, n);
    tx_and_free_unsent(r, t, s, bufs, n, (uint64_t)len * n);
}

static inline void task_sink(struct probe_run *r, const struct probe_task *t, struct probe_task_stats *s)
{
    struct rte_mbuf *bufs[PROBE_MAX_BURST];
    uint16_t n = probe_rx_counted(t->rx_port, t->rx_queue, bufs, r->conf.burst, &s->rx_polls, &s->rx_empty_polls);
    if (n == 0)
        return;
    if (tracing(r))
        trace_burst(r, t, PROBE_TRACE_RX, bufs, n);
    uint64_t bytes = 0, ours = 0;
    uint32_t plain = 1;
    const struct rte_mempool *mp = bufs[0]->pool;
    for (uint16_t i = 0; i < n; i++) {
        const struct rte_mbuf *m = bufs[i];
        bytes += rte_pktmbuf_pkt_len(m);
        ours += frame_is_ours(rte_pktmbuf_mtod(m, const uint8_t *), rte_pktmbuf_data_len(m));
        plain &= frame_mbuf_plain(m, mp);
    }
    s->rx_pkts += n;
    s->rx_bytes += bytes;
    s->rx_ours += ours;
    frame_free_burst(bufs, n, plain);
}

static int run_loop(struct probe_job *job)
{
    struct probe_run *r = container_of(job, struct probe_run, job);
    const struct probe_run_conf *c = &r->conf;
    struct probe_run_stats *st = &r->stats;
    /* the loop's own counters: published to st every RUN_PUBLISH loops */
    struct probe_task_stats acc[PROBE_MAX_TASKS] __rte_cache_aligned;
    const uint32_t nt = c->n_tasks;
    const uint32_t flows = c->n_flows ? c->n_flows : 1;
    uint32_t n_gen = 0;
    memset(acc, 0, sizeof(acc));
    st->tsc_hz = rte_get_tsc_hz();
    st->tsc_start = st->tsc_last = rte_rdtsc();
    st->cpu_first = st->cpu_last = sched_getcpu();
    for (uint32_t i = 0; i < nt; i++) {
        if (c->tasks[i].mode == PROBE_MODE_GEN) {
            n_gen++;
            if (c->gen_rate_pps)
                r->gen[i].cycles_per_pkt = (double)st->tsc_hz / (double)c->gen_rate_pps;
            r->gen[i].next_tsc = st->tsc_start;
        }
    }
    struct rte_mempool *mp = c->pool ? AS_MP(c->pool) : NULL;
    if (mp)
        st->pool_min_avail = pool_avail(r, mp);
    uint64_t loops = 0;
    for (;;) {
        int stopping = probe_job_stopping(job);
        if (!stopping) {
            for (uint32_t i = 0; i < nt; i++) {
                const struct probe_task *t = &c->tasks[i];
                switch (t->mode) {
                case PROBE_MODE_FWD:
                    task_fwd(r, t, &acc[i]);
                    break;
                case PROBE_MODE_GEN:
                    task_gen(r, t, &acc[i], &r->gen[i], flows);
                    break;
                case PROBE_MODE_SINK:
                    task_sink(r, t, &acc[i]);
                    break;
                }
            }
            loops++;
        }
        if ((loops & (RUN_PUBLISH - 1)) == 0 || stopping) {
            memcpy(st->task, acc, nt * sizeof(acc[0]));
            st->loops = loops;
            st->tsc_last = rte_rdtsc();
            st->cpu_last = sched_getcpu();
            if (mp) {
                uint32_t avail = pool_avail(r, mp);
                if (avail < st->pool_min_avail)
                    st->pool_min_avail = avail;
            }
            if (n_gen && c->gen_count && !st->gen_done) {
                uint32_t done = 0;
                for (uint32_t i = 0; i < nt; i++)
                    done += c->tasks[i].mode == PROBE_MODE_GEN && acc[i].tx_pkts >= c->gen_count;
                if (done == n_gen)
                    __atomic_store_n(&st->gen_done, 1, __ATOMIC_RELEASE);
            }
            if (stopping)
                break;
        }
    }
    probe_job_finished(job);
    return 0;
}

static void run_release(struct probe_job *job) { rte_free(container_of(job, struct probe_run, job)); }

int probe_run_start(const struct probe_run_conf *conf, probe_run **out)
{
    if (!eal_ready || conf == NULL || out == NULL)
        return -EINVAL;
    if (conf->n_tasks == 0 || conf->n_tasks > PROBE_MAX_TASKS || conf->burst == 0 ||
        conf->burst > PROBE_MAX_BURST)
        return -EINVAL;
    int rc = probe_job_lcore_ok(conf->lcore);
    if (rc < 0)
        return rc;
    uint16_t len = frame_len(conf->frame_size);
    for (uint32_t i = 0; i < conf->n_tasks; i++) {
        const struct probe_task *t = &conf->tasks[i];
        if (t->mode > PROBE_MODE_SINK)
            return -EINVAL;
        if (t->mode == PROBE_MODE_GEN &&
            (conf->pool == NULL || conf->frame_size > PROBE_FRAME_MAX_SIZE ||
             RTE_MAX(len, FRAME_TMPL) > rte_pktmbuf_data_room_size(AS_MP(conf->pool)) - RTE_PKTMBUF_HEADROOM))
            return conf->pool == NULL ? -EINVAL : -EMSGSIZE;
        if (t->mode != PROBE_MODE_GEN && !rte_eth_dev_is_valid_port(t->rx_port))
            return -ENODEV;
        if (t->mode != PROBE_MODE_SINK && !rte_eth_dev_is_valid_port(t->tx_port))
            return -ENODEV;
    }
    struct probe_run *r = rte_zmalloc("probe_run", sizeof(*r), RTE_CACHE_LINE_SIZE);
    if (r == NULL)
        return -ENOMEM;
    PROBE_JOB_SETUP(r, run_loop, run_release);
    r->conf = *conf;
    r->stats.n_tasks = conf->n_tasks;
    uint32_t lc;
    RTE_LCORE_FOREACH(lc)
        r->pool_lcores[r->n_pool_lcores++] = lc;
    for (uint32_t i = 0; i < conf->n_tasks; i++) {
        struct gen_state *g = &r->gen[i];
        g->len = len;
        g->rearm = frame_mbuf_rearm();
        frame_template(g->tmpl, len);
    }
    rc = probe_job_start(&r->job, conf->lcore);
    if (rc < 0) {
        rte_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int probe_run_stats(probe_run *r, struct probe_run_stats *out) { return r ? probe_job_stats(&r->job, out) : -EINVAL; }

int probe_run_wait(probe_run *r, uint32_t timeout_ms)
{
    return r ? probe_job_wait(&r->job, &r->stats.gen_done, timeout_ms) : -EINVAL;
}

int probe_run_stop(probe_run *r) { return r ? probe_job_stop(&r->job) : -EINVAL; }

int probe_run_free(probe_run *r) { return r ? probe_job_free(&r->job) : -EINVAL; }

/* ---------------------------------------------------------------- single mbufs */

#define AS_M(m) ((struct rte_mbuf *)(void *)(m))

int probe_mbuf_alloc(probe_pool *pool, uint16_t frame_size, probe_mbuf **out)
{
    if (pool == NULL || out == NULL)
        return -EINVAL;
    struct rte_mbuf *m = rte_pktmbuf_alloc(AS_MP(pool));
    if (m == NULL)
        return -ENOMEM;
    if (frame_size) {
        uint16_t len = frame_len(frame_size);
        if (len > rte_pktmbuf_tailroom(m)) {
            rte_pktmbuf_free(m);
            return -EMSGSIZE;
        }
        frame_build(rte_pktmbuf_mtod(m, uint8_t *), len, 0, 0, rte_rdtsc());
        m->data_len = m->pkt_len = len;
    }
    *out = (probe_mbuf *)(void *)m;
    return 0;
}

int probe_mbuf_rx(uint16_t port, uint16_t queue, uint32_t timeout_ms, probe_mbuf **out)
{
    struct rte_mbuf *m;
    if (!rte_eth_dev_is_valid_port(port) || out == NULL)
        return -EINVAL;
    for (uint32_t waited = 0;; waited++) {
        if (rte_eth_rx_burst(port, queue, &m, 1) == 1) {
            *out = (probe_mbuf *)(void *)m;
            return 0;
        }
        if (waited >= timeout_ms)
            return -ETIMEDOUT;
        rte_delay_us_sleep(1000);
    }
}

int probe_mbuf_tx(probe_mbuf *m, uint16_t port, uint16_t queue)
{
    struct rte_mbuf *mb = AS_M(m);
    if (m == NULL || !rte_eth_dev_is_valid_port(port))
        return -EINVAL;
    return rte_eth_tx_burst(port, queue, &mb, 1) == 1 ? 0 : -EAGAIN;
}

int probe_mbuf_info(probe_mbuf *m, struct probe_mbuf_info *out)
{
    if (m == NULL || out == NULL)
        return -EINVAL;
    struct rte_mbuf *mb = AS_M(m);
    memset(out, 0, sizeof(*out));
    out->mbuf = (uint64_t)(uintptr_t)mb;
    out->buf_addr = (uint64_t)(uintptr_t)mb->buf_addr;
    out->buf_iova = mb->buf_iova;
    out->data_addr = (uint64_t)(uintptr_t)rte_pktmbuf_mtod(mb, void *);
    rte_iova_t iova = rte_mem_virt2iova(mb->buf_addr);
    out->virt2iova = iova == RTE_BAD_IOVA ? UINT64_MAX : iova;
    const struct rte_memseg_list *msl = rte_mem_virt2memseg_list(mb->buf_addr);
    out->page_sz = msl ? msl->page_sz : 0;
    out->data_off = mb->data_off;
    out->buf_len = mb->buf_len;
    out->data_len = mb->data_len;
    out->pkt_len = mb->pkt_len;
    out->nb_segs = mb->nb_segs;
    out->refcnt = rte_mbuf_refcnt_read(RTE_MBUF_DIRECT(mb) ? mb : rte_mbuf_from_indirect(mb));
    out->flags = (RTE_MBUF_CLONED(mb) ? 1u : 0u) | (RTE_MBUF_HAS_EXTBUF(mb) ? 2u : 0u);
    return 0;
}

int probe_mbuf_data(probe_mbuf *m, uint8_t **data, uint32_t *len)
{
    if (m == NULL || data == NULL || len == NULL)
        return -EINVAL;
    *data = rte_pktmbuf_mtod(AS_M(m), uint8_t *);
    *len = rte_pktmbuf_data_len(AS_M(m));
    return 0;
}

int probe_mbuf_byte(probe_mbuf *m, uint32_t i)
{
    if (m == NULL || i >= rte_pktmbuf_data_len(AS_M(m)))
        return -EINVAL;
    return rte_pktmbuf_mtod(AS_M(m), const uint8_t *)[i];
}

int probe_mbuf_clone(probe_mbuf *m, probe_pool *pool, probe_mbuf **out)
{
    if (m == NULL || pool == NULL || out == NULL)
        return -EINVAL;
    struct rte_mbuf *c = rte_pktmbuf_clone(AS_M(m), AS_MP(pool));
    if (c == NULL)
        return -ENOMEM;
    *out = (probe_mbuf *)(void *)c;
    return 0;
}

int probe_mbuf_alloc_chain(probe_pool *pool, uint32_t total, uint16_t seg_len, probe_mbuf **out)
{
    if (pool == NULL || out == NULL || seg_len == 0 || total < FRAME_MIN || seg_len < FRAME_MIN)
        return -EINVAL;
    struct rte_mbuf *head = NULL;
    uint32_t left = total, seq = 0;
    while (left) {
        struct rte_mbuf *s = rte_pktmbuf_alloc(AS_MP(pool));
        if (s == NULL) {
            rte_pktmbuf_free(head);
            return -ENOMEM;
        }
        uint16_t n = left < seg_len ? (uint16_t)left : seg_len;
        if (n > rte_pktmbuf_tailroom(s)) {
            rte_pktmbuf_free(s);
            rte_pktmbuf_free(head);
            return -EMSGSIZE;
        }
        uint8_t *d = rte_pktmbuf_mtod(s, uint8_t *);
        for (uint16_t i = 0; i < n; i++)
            d[i] = (uint8_t)(seq + i);
        s->data_len = s->pkt_len = n;
        if (head == NULL) {
            frame_build(d, (uint16_t)(total > UINT16_MAX ? UINT16_MAX : total), 0, 0, 0);
            head = s;
        } else if (rte_pktmbuf_chain(head, s) != 0) {
            rte_pktmbuf_free(s);
            rte_pktmbuf_free(head);
            return -EOVERFLOW;
        }
        left -= n;
        seq += n;
    }
    *out = (probe_mbuf *)(void *)head;
    return 0;
}

int probe_mbuf_free(probe_mbuf *m)
{
    if (m == NULL)
        return -EINVAL;
    rte_pktmbuf_free(AS_M(m));
    return 0;
}

static void extbuf_free_cb(void *addr, void *opaque)
{
    struct probe_extbuf_set *set = opaque;
    if (__atomic_add_fetch(&set->freed, 1, __ATOMIC_RELAXED) > set->attached)
        __atomic_add_fetch(&set->extra_frees, 1, __ATOMIC_RELAXED);
    rte_free(addr);
}

int probe_extbuf_alloc(probe_pool *pool, uint16_t frame_size, struct probe_extbuf_set *set, probe_mbuf **out)
{
    if (pool == NULL || set == NULL || out == NULL)
        return -EINVAL;
    uint16_t len = frame_len(frame_size);
    uint16_t buf_len = (uint16_t)RTE_ALIGN_CEIL(len + RTE_PKTMBUF_HEADROOM + sizeof(struct rte_mbuf_ext_shared_info) + 64, 64);
    uint8_t *buf = rte_malloc("dh_extbuf", buf_len, RTE_CACHE_LINE_SIZE);
    if (buf == NULL)
        return -ENOMEM;
    struct rte_mbuf_ext_shared_info *shinfo =
        rte_pktmbuf_ext_shinfo_init_helper(buf, &buf_len, extbuf_free_cb, set);
    struct rte_mbuf *m = shinfo ? rte_pktmbuf_alloc(AS_MP(pool)) : NULL;
    if (m == NULL) {
        rte_free(buf);
        return -ENOMEM;
    }
    rte_pktmbuf_attach_extbuf(m, buf, rte_malloc_virt2iova(buf), buf_len, shinfo);
    rte_pktmbuf_reset_headroom(m);
    frame_build(rte_pktmbuf_mtod(m, uint8_t *), len, 0, set->attached, rte_rdtsc());
    m->data_len = m->pkt_len = len;
    set->attached++;
    *out = (probe_mbuf *)(void *)m;
    return 0;
}

/* ---------------------------------------------------------------- kernel side and pcap */

int probe_open_packet_socket(const char *ifname, const char *netns_path)
{
    int self = -1, target = -1, fd = -1, err = 0;
    if (netns_path && netns_path[0]) {
        self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        target = open(netns_path, O_RDONLY | O_CLOEXEC);
        if (self < 0 || target < 0) {
            err = -errno;
            goto out;
        }
        if (setns(target, CLONE_NEWNET) < 0) {
            err = -errno;
            goto out;
        }
    }
    fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        err = -errno;
    } else {
        struct sockaddr_ll sll;
        memset(&sll, 0, sizeof(sll));
        sll.sll_family = AF_PACKET;
        sll.sll_protocol = 0; /* send only */
        sll.sll_ifindex = (int)if_nametoindex(ifname);
        if (sll.sll_ifindex == 0 || bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
            err = sll.sll_ifindex == 0 ? -ENODEV : -errno;
            close(fd);
            fd = -1;
        }
    }
    if (self >= 0 && setns(self, CLONE_NEWNET) < 0 && err == 0)
        err = -errno; /* cannot get back: fail loudly */
out:
    if (self >= 0)
        close(self);
    if (target >= 0)
        close(target);
    return err ? err : fd;
}

int64_t probe_send_frames(const char *ifname, const char *netns_path, uint16_t len, uint64_t count,
                          uint64_t rate_pps, void (*build)(uint8_t *buf, uint16_t len, uint64_t i, void *arg),
                          void *arg)
{
    uint8_t buf[RTE_ETHER_MAX_JUMBO_FRAME_LEN];
    if (ifname == NULL || build == NULL || len > sizeof(buf))
        return -EINVAL;
    uint64_t gap_ns = rate_pps ? 1000000000ull / rate_pps : 0;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    int fd = probe_open_packet_socket(ifname, netns_path);
    if (fd < 0)
        return fd;
    memset(buf, 0, sizeof(buf));
    uint64_t sent = 0;
    int retries = 0;
    while (sent < count) {
        if (gap_ns) {
            next.tv_nsec += (long)gap_ns;
            while (next.tv_nsec >= 1000000000L) {
                next.tv_nsec -= 1000000000L;
                next.tv_sec++;
            }
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
        }
        build(buf, len, sent, arg);
        ssize_t w = send(fd, buf, len, 0);
        if (w == (ssize_t)len) {
            sent++;
            retries = 0;
            continue;
        }
        if ((errno == ENOBUFS || errno == EAGAIN) && retries++ < 10000) {
            usleep(100);
            continue;
        }
        int err = -errno;
        close(fd);
        return sent ? (int64_t)sent : err;
    }
    close(fd);
    return (int64_t)sent;
}

static void inject_build(uint8_t *buf, uint16_t len, uint64_t i, void *arg)
{
    uint32_t flows = *(const uint32_t *)arg;
    frame_build(buf, len, (uint32_t)(i % flows), i, rte_rdtsc());
}

int64_t probe_inject(const char *ifname, const char *netns_path, uint32_t n_flows, uint64_t count,
                     uint16_t frame_size, uint64_t rate_pps)
{
    if (ifname == NULL || frame_size > RTE_ETHER_MAX_JUMBO_FRAME_LEN)
        return -EINVAL;
    uint32_t flows = n_flows ? n_flows : 1;
    return probe_send_frames(ifname, netns_path, frame_len(frame_size), count, rate_pps, inject_build, &flows);
}

int64_t probe_write_pcap(const char *path, uint32_t n_flows, uint64_t count, uint16_t frame_size)
{
    uint8_t buf[RTE_ETHER_MAX_JUMBO_FRAME_LEN];
    if (path == NULL || frame_size > sizeof(buf))
        return -EINVAL;
    FILE *f = fopen(path, "wbe");
    if (f == NULL)
        return -errno;
    struct {
        uint32_t magic;
        uint16_t major, minor;
        int32_t zone;
        uint32_t sigfigs, snaplen, linktype;
    } gh = {0xa1b2c3d4u, 2, 4, 0, 0, 65535, 1};
    int ok = fwrite(&gh, sizeof(gh), 1, f) == 1;
    uint16_t len = frame_len(frame_size);
    uint32_t flows = n_flows ? n_flows : 1;
    memset(buf, 0, sizeof(buf));
    for (uint64_t i = 0; ok && i < count; i++) {
        uint32_t rh[4] = {(uint32_t)(i / 1000000), (uint32_t)(i % 1000000), len, len};
        frame_build(buf, len, (uint32_t)(i % flows), i, 0);
        ok = fwrite(rh, sizeof(rh), 1, f) == 1 && fwrite(buf, len, 1, f) == 1;
    }
    if (fclose(f) != 0 || !ok)
        return -EIO;
    return (int64_t)count;
}
