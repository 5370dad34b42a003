/* The probe's wire frame: built and parsed here only, for every C file of the probe.
 *
 *   Ethernet 02:00:00:00:00:01 -> 02:00:00:00:00:02, IPv4 (no options, TTL 64), UDP without checksum
 *   flow f:  198.18.(f & 0xffff) : 1024 + (f >> 16)  ->  198.19.0.1 : 5001  (PROBE_FRAME_* in probe.h)
 *   payload: 'D' 'H', u64 sequence number, u64 TSC stamp (host order), zeros up to the frame's length
 *
 * A frame of frame_size bytes on the wire (FCS included) is frame_size - 4 bytes in the mbuf, at least
 * FRAME_MIN. The fast path (generators) keeps a prebuilt template of the first FRAME_TMPL bytes per frame
 * length and writes per packet only what varies: the flow's address, port and checksum, the sequence
 * number and, when asked, the stamp. Not part of the API: never handed to cdef. */
#ifndef PROBE_FRAME_H
#define PROBE_FRAME_H

#include <stdint.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_ip.h>
#include <rte_udp.h>

/* probe.h (PROBE_FRAME_*) must be included first: it is plain cdef text, without include guards */

#define FRAME_MIN 60        /* a 64-byte frame without its FCS */
#define FRAME_MAX (PROBE_FRAME_MAX_SIZE - 4)
#define FRAME_L3 14
#define FRAME_L4 (FRAME_L3 + 20)
#define FRAME_PAYLOAD (FRAME_L4 + 8)
#define FRAME_SEQ (FRAME_PAYLOAD + 2)
#define FRAME_TSC (FRAME_PAYLOAD + 10)
#define FRAME_TMPL 64       /* template bytes: headers, marks, seq and stamp (FRAME_TSC + 8 = 60), padded */
#define FRAME_MAGIC0 'D'
#define FRAME_MAGIC1 'H'

_Static_assert(FRAME_TSC + 8 <= FRAME_MIN, "the marks, seq and stamp must fit the smallest frame");

/* the mbuf length of a frame of frame_size bytes on the wire */
static inline uint16_t frame_len(uint16_t frame_size)
{
    uint16_t l = frame_size > 4 ? (uint16_t)(frame_size - 4) : 0;
    return l < FRAME_MIN ? FRAME_MIN : l;
}

/* flow number -> its source address and port (host order) */
static inline uint32_t frame_flow_src(uint32_t flow) { return PROBE_FRAME_SRC_NET | (flow & 0xffffu); }
static inline uint16_t frame_flow_sport(uint32_t flow)
{
    return (uint16_t)(PROBE_FRAME_BASE_SPORT + (flow >> 16));
}

/* the first FRAME_TMPL bytes of a frame of len bytes from src:sport to dst:dport (addresses and ports in
 * host order), its IPv4 checksum computed; seq and stamp 0 */
static inline void frame_template_tuple(uint8_t *p, uint16_t len, uint32_t src, uint32_t dst, uint16_t sport,
                                        uint16_t dport)
{
    struct rte_ether_hdr *eth = (struct rte_ether_hdr *)p;
    struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(p + FRAME_L3);
    struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(p + FRAME_L4);
    static const struct rte_ether_addr dst_mac = {{0x02, 0, 0, 0, 0, 0x02}};
    static const struct rte_ether_addr src_mac = {{0x02, 0, 0, 0, 0, 0x01}};
    memset(p, 0, FRAME_TMPL);
    rte_ether_addr_copy(&dst_mac, &eth->dst_addr);
    rte_ether_addr_copy(&src_mac, &eth->src_addr);
    eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
    ip->version_ihl = RTE_IPV4_VHL_DEF;
    ip->total_length = rte_cpu_to_be_16((uint16_t)(len - FRAME_L3));
    ip->time_to_live = 64;
    ip->next_proto_id = IPPROTO_UDP;
    ip->src_addr = rte_cpu_to_be_32(src);
    ip->dst_addr = rte_cpu_to_be_32(dst);
    ip->hdr_checksum = rte_ipv4_cksum(ip);
    udp->src_port = rte_cpu_to_be_16(sport);
    udp->dst_port = rte_cpu_to_be_16(dport);
    udp->dgram_len = rte_cpu_to_be_16((uint16_t)(len - FRAME_L4));
    p[FRAME_PAYLOAD] = FRAME_MAGIC0;
    p[FRAME_PAYLOAD + 1] = FRAME_MAGIC1;
}

/* the template of flow 0 (generators patch the flow in per packet with frame_set_flow) */
static inline void frame_template(uint8_t *p, uint16_t len)
{
    frame_template_tuple(p, len, frame_flow_src(0), PROBE_FRAME_DST_IP, frame_flow_sport(0),
                         PROBE_FRAME_DST_PORT);
}

/* one's-complement sum helpers for the checksum update of RFC 1624 (HC' = ~(~HC + ~m + m')) */
static inline uint16_t frame_csum_fold(uint32_t s)
{
    s = (s & 0xffffu) + (s >> 16);
    s = (s & 0xffffu) + (s >> 16);
    return (uint16_t)s;
}

/* flow 0's template -> flow: only the low 16 bits of the source address and the source port differ;
 * the checksum is updated from the template's, not recomputed (network order throughout) */
static inline void frame_set_flow(uint8_t *p, uint16_t tmpl_cksum, uint32_t flow)
{
    struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(p + FRAME_L3);
    struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(p + FRAME_L4);
    uint16_t lo = rte_cpu_to_be_16((uint16_t)(flow & 0xffffu)); /* the template's low half is 0 */
    uint8_t *src = (uint8_t *)&ip->src_addr;
    memcpy(src + 2, &lo, 2);
    ip->hdr_checksum = (uint16_t)~frame_csum_fold((uint32_t)(uint16_t)~tmpl_cksum + lo);
    udp->src_port = rte_cpu_to_be_16(frame_flow_sport(flow));
}

/* a whole frame's first bytes from the template: flow, seq and stamp written (the rest of a longer frame
 * is left as the buffer had it) */
static inline void frame_write(uint8_t *p, const uint8_t *tmpl, uint32_t flow, uint64_t seq, uint64_t tsc)
{
    const struct rte_ipv4_hdr *tip = (const struct rte_ipv4_hdr *)(tmpl + FRAME_L3);
    memcpy(p, tmpl, FRAME_TMPL);
    frame_set_flow(p, tip->hdr_checksum, flow);
    memcpy(p + FRAME_SEQ, &seq, 8);
    memcpy(p + FRAME_TSC, &tsc, 8);
}

/* a frame of len bytes built from nothing (single mbufs, the kernel side, pcap files): its first FRAME_MIN
 * bytes are written, the rest of a longer frame is left as the buffer had it */
static inline void frame_build(uint8_t *p, uint16_t len, uint32_t flow, uint64_t seq, uint64_t tsc)
{
    uint8_t tmpl[FRAME_TMPL], full[FRAME_TMPL];
    frame_template(tmpl, len);
    frame_write(full, tmpl, flow, seq, tsc);
    memcpy(p, full, FRAME_MIN);
}

/* Generators take mbufs raw from the pool (rte_mempool_get_bulk): a freed mbuf keeps refcnt 1, one
 * segment and next NULL (the pool's invariant), so only what a previous user may have changed is set:
 * the data offset (with refcnt, nb_segs and port in one 8-byte store, as PMDs rearm rx mbufs), the
 * offload flags and the lengths. rte_pktmbuf_alloc_bulk would also reset fields in the mbuf's second
 * cache line. */
static inline uint64_t frame_mbuf_rearm(void)
{
    struct rte_mbuf m;
    uint64_t v;
    memset(&m, 0, sizeof(m));
    m.data_off = RTE_PKTMBUF_HEADROOM;
    m.nb_segs = 1;
    rte_mbuf_refcnt_set(&m, 1);
    memcpy(&v, (const char *)&m + offsetof(struct rte_mbuf, rearm_data), 8);
    return v;
}

static inline void frame_mbuf_reset(struct rte_mbuf *m, uint64_t rearm, uint16_t len)
{
    memcpy((char *)m + offsetof(struct rte_mbuf, rearm_data), &rearm, 8);
    m->ol_flags = 0;
    m->data_len = len;
    m->pkt_len = len;
}

/* A receiver frees what it received. rte_pktmbuf_free_bulk checks each mbuf on its own (reference count,
 * indirect or external buffer, next segment); when every mbuf of the burst is a plain one of one pool
 * (refcnt 1, one segment, a direct buffer, so next is NULL by the mbuf's invariant) they go back in one
 * rte_mempool_put_bulk. frame_mbuf_plain is 1 for such an mbuf of pool mp; it reads the first cache line. */
static inline uint32_t frame_mbuf_plain(const struct rte_mbuf *m, const struct rte_mempool *mp)
{
    uint64_t rearm;
    memcpy(&rearm, (const char *)m + offsetof(struct rte_mbuf, rearm_data), 8);
    const uint64_t one_ref_one_seg = (uint64_t)1 << 16 | (uint64_t)1 << 32;     /* refcnt 1, nb_segs 1 */
    return ((rearm & 0xffffffff0000ull) == one_ref_one_seg) &
           ((m->ol_flags & (RTE_MBUF_F_INDIRECT | RTE_MBUF_F_EXTERNAL)) == 0) & (m->pool == mp);
}

static inline void frame_free_burst(struct rte_mbuf **bufs, uint16_t n, uint32_t plain)
{
    if (likely(plain))
        rte_mempool_put_bulk(bufs[0]->pool, (void **)bufs, n);
    else
        rte_pktmbuf_free_bulk(bufs, n);
}

/* one of ours: IPv4/UDP from 198.18.0.0/15 with the marks. Three loads from the frame's first cache line
 * (bytes 12..19, 20..27, 42..43) and no branches: a sink sees ours and others mixed, and a mispredicted
 * branch per packet would cost more than the reads. Byte n of a little-endian load is bits 8n..8n+7. */
#define FRAME_W12_MASK 0xffffull                                /* ether type */
#define FRAME_W12_OURS 0x0008ull                                /* 0x0800, network order */
#define FRAME_W20_MASK 0xfeff0000ff000000ull                    /* protocol (23), source /15 (26, 27) */
#define FRAME_W20_OURS ((uint64_t)IPPROTO_UDP << 24 | (uint64_t)(PROBE_FRAME_SRC_NET >> 24) << 48 | \
                        (uint64_t)((PROBE_FRAME_SRC_NET >> 16) & 0xff) << 56)
static inline int frame_is_ours(const uint8_t *p, uint32_t len)
{
    uint64_t w12, w20;
    uint16_t marks;
    memcpy(&w12, p + 12, 8);
    memcpy(&w20, p + 20, 8);
    memcpy(&marks, p + FRAME_PAYLOAD, 2);
    uint64_t diff = ((w12 ^ FRAME_W12_OURS) & FRAME_W12_MASK) | ((w20 ^ FRAME_W20_OURS) & FRAME_W20_MASK) |
                    (uint16_t)(marks ^ (FRAME_MAGIC0 | FRAME_MAGIC1 << 8));
    return (diff == 0) & (len >= FRAME_MIN);
}
#if RTE_BYTE_ORDER != RTE_LITTLE_ENDIAN
#error "frame_is_ours reads little-endian words"
#endif

static inline uint64_t frame_seq_of(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p + FRAME_SEQ, 8);
    return v;
}

static inline uint64_t frame_tsc_of(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p + FRAME_TSC, 8);
    return v;
}

/* the generator's sequence number, or UINT64_MAX if the frame is not ours */
static inline uint64_t frame_seq(const uint8_t *p, uint32_t len)
{
    return frame_is_ours(p, len) ? frame_seq_of(p) : UINT64_MAX;
}

/* the FRAME_MIN bytes a generator wrote, rebuilt from the frame's own flow, seq and stamp */
static inline int frame_intact(const uint8_t *p, uint32_t len)
{
    uint8_t want[FRAME_TMPL];
    if (!frame_is_ours(p, len))
        return 0;
    const struct rte_ipv4_hdr *ip = (const struct rte_ipv4_hdr *)(p + FRAME_L3);
    const struct rte_udp_hdr *udp = (const struct rte_udp_hdr *)(p + FRAME_L4);
    uint32_t flow = ((uint32_t)(rte_be_to_cpu_16(udp->src_port) - PROBE_FRAME_BASE_SPORT) << 16) |
                    (rte_be_to_cpu_32(ip->src_addr) & 0xffffu);
    uint8_t tmpl[FRAME_TMPL];
    frame_template(tmpl, (uint16_t)(rte_be_to_cpu_16(ip->total_length) + FRAME_L3));
    frame_write(want, tmpl, flow, frame_seq_of(p), frame_tsc_of(p));
    return memcmp(want, p, FRAME_MIN) == 0;
}

#endif
