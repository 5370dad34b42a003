/* dpdk-harness probe: the whole C API, and the only text handed to ffi.cdef.
 *
 * Rules: no DPDK types cross this boundary; handles are opaque; every function
 * returns >= 0 on success or -errno (-rte_errno after DPDK calls). The hot loops
 * run on worker lcores; Python starts them, stops them and reads counters.
 * This file is plain cdef text: no #include, no guards, only integer #defines.
 */

/* Array sizes of the structs below. Python reads them from lib (cffi exposes these defines), never a copy. */
#define PROBE_MAX_TASKS 16          /* tasks of a run */
#define PROBE_MAX_QUEUES 64         /* queues of a port a loop polls */
#define PROBE_MAX_BURST 512
#define PROBE_NAME_LEN 64
#define PROBE_RSS_KEY_MAX 64
#define PROBE_MAX_QUEUE_STATS 16    /* per-queue port counters (RTE_ETHDEV_QUEUE_STAT_CNTRS) */
#define PROBE_THREAD_NAME_LEN 16

/* The wire frame every generator writes and every receiver recognises (harness/native/frame.h):
 * flow f is 198.18.(f & 0xffff) : BASE_SPORT + (f >> 16) -> 198.19.0.1 : 5001, inside 198.18.0.0/15 */
#define PROBE_FRAME_SRC_NET 0xC6120000
#define PROBE_FRAME_NET_MASK 0xFFFE0000
#define PROBE_FRAME_DST_IP 0xC6130001
#define PROBE_FRAME_DST_PORT 5001
#define PROBE_FRAME_BASE_SPORT 1024
#define PROBE_FRAME_MIN_SIZE 64     /* frame sizes on the wire, FCS included */
#define PROBE_FRAME_MAX_SIZE 16000  /* the largest a generator writes (profile mempool.mtu limit) */

/* task modes: what one task of a run does on each turn of its lcore's loop */
#define PROBE_MODE_FWD 0    /* rx_burst(rx port) -> tx_burst(tx port), free unsent */
#define PROBE_MODE_GEN 1    /* alloc from pool, build a 198.18.0.0/15 UDP frame, tx_burst */
#define PROBE_MODE_SINK 2   /* rx_burst, classify, free */

/* run flags: deliberate faults, so mutation tests can show the checks fail */
#define PROBE_F_LEAK_UNSENT 1   /* do not free mbufs tx_burst did not take */
#define PROBE_F_COPY_FWD 2      /* forward a copy of each packet instead of the mbuf */

/* ---- version and EAL ---- */
const char *probe_version(void);
int probe_dpdk_version(char *buf, size_t len);
int probe_eal_init(int argc, char **argv);
int probe_eal_initialized(void);
int probe_eal_cleanup(void);

struct probe_lcore_info {
    uint32_t lcore_id;
    int32_t cpu_id;       /* first CPU of the lcore's cpuset, -1 if none */
    uint32_t cpu_count;   /* CPUs in the lcore's cpuset */
    int32_t socket_id;
    uint32_t is_main;
    uint32_t busy;        /* a run is launched on it */
};
int probe_lcore_count(void);
/* fill ids with the enabled lcore ids (main included); returns how many */
int probe_lcore_list(uint32_t *ids, uint32_t max);
int probe_lcore_info(uint32_t lcore, struct probe_lcore_info *out);

/* ---- ports ---- */
struct probe_port_info {
    uint16_t port_id;
    char name[PROBE_NAME_LEN];
    char driver[PROBE_NAME_LEN];
    uint16_t max_rx_queues;
    uint16_t max_tx_queues;
    uint16_t reta_size;
    uint8_t hash_key_size;
    uint64_t flow_type_rss_offloads;
    uint64_t rx_offload_capa;
    uint64_t tx_offload_capa;
    int32_t socket_id;
    uint8_t mac[6];
    uint16_t rx_desc_min, rx_desc_max, rx_desc_align;
    uint16_t tx_desc_min, tx_desc_max, tx_desc_align;
    uint32_t max_rx_pktlen;
    uint16_t min_mtu, max_mtu;
    uint32_t min_rx_bufsize;
    uint16_t nb_rx_queues, nb_tx_queues;   /* as configured now */
};
struct probe_link {
    uint32_t speed_mbps;
    uint16_t up;
    uint16_t full_duplex;
    uint16_t autoneg;
};
int probe_port_count(void);
int probe_port_by_name(const char *name);          /* port id */
int probe_port_info(uint16_t port, struct probe_port_info *out);
/* rte_eth_dev_fw_version_get; -ENOTSUP where the PMD does not report one */
int probe_port_fw_version(uint16_t port, char *buf, size_t len);
int probe_port_link(uint16_t port, struct probe_link *out, uint32_t wait_ms);

struct probe_port_conf {
    uint16_t nb_rxq, nb_txq;
    uint16_t rx_desc, tx_desc;
    uint16_t tx_free_thresh, tx_rs_thresh;   /* 0 = PMD default */
    uint32_t mtu;                            /* 0 = leave as is */
    uint32_t lpbk_mode;
    uint32_t promisc;
    uint32_t scatter;
    uint32_t rss;                            /* 1 = mq_mode RSS */
    uint64_t rss_hf;
    uint8_t rss_key[PROBE_RSS_KEY_MAX];
    uint8_t rss_key_len;                     /* 0 = PMD default key */
};
typedef struct probe_pool probe_pool;
int probe_port_configure(uint16_t port, const struct probe_port_conf *conf, probe_pool *pool);
int probe_port_start(uint16_t port);
int probe_port_stop(uint16_t port);
int probe_port_close(uint16_t port);

struct probe_port_stats {
    uint64_t ipackets, opackets, ibytes, obytes;
    uint64_t imissed, ierrors, oerrors, rx_nombuf;
    uint64_t q_ipackets[PROBE_MAX_QUEUE_STATS];
    uint64_t q_opackets[PROBE_MAX_QUEUE_STATS];
};
int probe_port_stats(uint16_t port, struct probe_port_stats *out);
int probe_port_stats_reset(uint16_t port);
/* rte_eth_tx_done_cleanup: mbufs freed, or -ENOTSUP where the PMD does not implement it */
int probe_port_tx_done_cleanup(uint16_t port, uint16_t queue, uint32_t free_cnt);

/* ---- virtual devices ---- */
/* rte_vdev_init(name, args) then look the port up; returns the port id */
int probe_vdev_create(const char *name, const char *args);
int probe_vdev_destroy(const char *name);
/* a wire of rings: what port a transmits on queue q, port b receives on queue q
 * (the same mbuf pointers), and back; returns 0 and fills both port ids */
int probe_ring_wire_create(const char *name, uint16_t nb_queues, uint32_t ring_size,
                           int32_t socket, uint16_t *port_a, uint16_t *port_b);
int probe_ring_wire_destroy(const char *name);
/* mbufs sitting in the wire's rings (sent by one side, not yet received) */
int probe_ring_wire_pending(const char *name);

/* ---- mempools ---- */
struct probe_pool_stats {
    uint32_t size;          /* mbufs in the pool */
    uint32_t avail;         /* free, in the ring and in lcore caches */
    uint32_t in_use;
    uint32_t cache_size;
    uint32_t cached;        /* free mbufs sitting in per-lcore caches */
    int32_t socket_id;
    uint32_t data_room;
    uint32_t elt_size;
    uint64_t hugepage_sz;   /* page size backing the pool's memory, 0 if unknown */
};
int probe_pool_create(const char *name, uint32_t n, uint32_t cache, uint16_t data_room,
                      int32_t socket, probe_pool **out);
int probe_pool_free(probe_pool *pool);
int probe_pool_stats(probe_pool *pool, struct probe_pool_stats *out);
/* take up to n mbufs out of the pool and keep them (exhaustion tests), after flushing every
 * lcore's cache (call while no run uses the pool); returns how many were taken;
 * probe_pool_release gives every held mbuf back */
int probe_pool_hold(probe_pool *pool, uint32_t n);
int probe_pool_release(probe_pool *pool);
/* get/put bulk cycles on a worker lcore, through its per-lcore cache or around it */
struct probe_pool_bench {
    uint64_t ops;           /* mbufs got and put back */
    uint64_t cycles;
    uint64_t tsc_hz;
    uint32_t failed_gets;
};
int probe_pool_bench(probe_pool *pool, uint32_t lcore, uint32_t bulk, uint32_t rounds, uint32_t use_cache,
                     struct probe_pool_bench *out);

/* ---- traffic runs on worker lcores ---- */
struct probe_task {
    uint32_t mode;          /* PROBE_MODE_* */
    uint16_t rx_port, rx_queue;
    uint16_t tx_port, tx_queue;
};
/* per-packet trace of the first trace_len packets a run handles (zero-copy checks) */
#define PROBE_TRACE_RX 1
#define PROBE_TRACE_TX 2
struct probe_trace_rec {
    uint64_t mbuf;          /* the rte_mbuf's address */
    uint64_t data;          /* rte_pktmbuf_mtod */
    uint64_t buf_iova;
    uint64_t seq;           /* the generator's sequence number, or UINT64_MAX if not ours */
    uint16_t task;          /* index of the task in the run */
    uint16_t kind;          /* PROBE_TRACE_RX / PROBE_TRACE_TX */
    uint16_t nb_segs;
    uint16_t intact;        /* RX: the bytes the generator wrote are unchanged */
};
struct probe_run_conf {
    uint32_t lcore;
    uint16_t burst;
    uint32_t flags;         /* PROBE_F_* */
    probe_pool *pool;       /* GEN allocates here; also the pool whose low-water mark is sampled */
    uint16_t frame_size;    /* GEN: Ethernet frame size including the 4-byte FCS */
    uint32_t n_flows;       /* GEN: flows, 198.18.x.y:sport -> 198.19.0.1:5001 */
    uint64_t gen_count;     /* GEN: stop after this many packets sent (0 = until stopped) */
    uint64_t gen_rate_pps;  /* GEN: TSC-paced rate (0 = as fast as possible) */
    uint32_t n_tasks;
    struct probe_task tasks[PROBE_MAX_TASKS];
    struct probe_trace_rec *trace;  /* NULL = no trace */
    uint32_t trace_len;
};
struct probe_task_stats {
    uint64_t rx_pkts, rx_bytes, rx_ours, rx_polls, rx_empty_polls;
    uint64_t tx_pkts, tx_bytes, tx_unsent, tx_calls, alloc_fail, copies;
};
struct probe_run_stats {
    uint64_t tsc_hz;
    uint64_t tsc_start, tsc_last;
    uint64_t loops;
    int32_t cpu_first, cpu_last;    /* sched_getcpu() seen in the loop */
    uint32_t running;               /* the loop has not returned yet */
    uint32_t gen_done;              /* every GEN task reached gen_count */
    uint32_t pool_min_avail;        /* lowest free count seen, sampled in the loop */
    uint32_t trace_used;            /* records written to conf.trace */
    uint32_t n_tasks;
    struct probe_task_stats task[PROBE_MAX_TASKS];
};
typedef struct probe_run probe_run;
int probe_run_start(const struct probe_run_conf *conf, probe_run **out);
int probe_run_stats(probe_run *run, struct probe_run_stats *out);
/* wait until GEN tasks are done or timeout; 1 = done, 0 = timed out */
int probe_run_wait(probe_run *run, uint32_t timeout_ms);
/* ask the loop to return, wait for its lcore; returns the loop's return value */
int probe_run_stop(probe_run *run);
int probe_run_free(probe_run *run);

/* ---- single mbufs, for zero-copy checks (not a data path: one packet at a time) ---- */
typedef struct probe_mbuf probe_mbuf;
struct probe_mbuf_info {
    uint64_t mbuf, buf_addr, buf_iova, data_addr;
    uint64_t virt2iova;         /* rte_mem_virt2iova(buf_addr); RTE_BAD_IOVA = UINT64_MAX */
    uint64_t page_sz;           /* page size of the memory the buffer is in */
    uint32_t data_off;          /* headroom before the data */
    uint32_t buf_len, data_len, pkt_len;
    uint16_t nb_segs, refcnt;
    uint32_t flags;             /* bit 0 indirect (clone), bit 1 external buffer */
};
/* an mbuf with a generated frame of frame_size bytes (or an empty one if frame_size is 0) */
int probe_mbuf_alloc(probe_pool *pool, uint16_t frame_size, probe_mbuf **out);
/* receive one mbuf on port/queue from the calling thread, waiting up to timeout_ms */
int probe_mbuf_rx(uint16_t port, uint16_t queue, uint32_t timeout_ms, probe_mbuf **out);
/* transmit it (ownership passes to the PMD on success; -EAGAIN if the queue took nothing) */
int probe_mbuf_tx(probe_mbuf *m, uint16_t port, uint16_t queue);
int probe_mbuf_info(probe_mbuf *m, struct probe_mbuf_info *out);
/* pointer and length of the first segment's data, for a view without a copy */
int probe_mbuf_data(probe_mbuf *m, uint8_t **data, uint32_t *len);
/* C's own read of byte i of the data: shows writes through a view reach the mbuf */
int probe_mbuf_byte(probe_mbuf *m, uint32_t i);
int probe_mbuf_clone(probe_mbuf *m, probe_pool *pool, probe_mbuf **out);
/* chain: a frame of total bytes split over segments of seg_len (multi-segment checks) */
int probe_mbuf_alloc_chain(probe_pool *pool, uint32_t total, uint16_t seg_len, probe_mbuf **out);
int probe_mbuf_free(probe_mbuf *m);
/* external buffers: an mbuf attached (rte_pktmbuf_attach_extbuf) to a buffer from rte_malloc
 * holding a generated frame; the buffer's free callback counts into the set */
struct probe_extbuf_set {
    uint32_t attached;          /* buffers handed out with this set */
    uint32_t freed;             /* free-callback calls so far */
    uint32_t extra_frees;       /* calls beyond one per buffer */
};
int probe_extbuf_alloc(probe_pool *pool, uint16_t frame_size, struct probe_extbuf_set *set, probe_mbuf **out);

/* ---- frames outside DPDK: the kernel side of tap / af_packet, and pcap files ---- */
/* send count frames of n_flows flows on ifname through an AF_PACKET socket opened
 * in the network namespace at netns_path (NULL or "" = this one), paced to rate_pps
 * (0 = as fast as the socket takes them); returns frames sent */
int64_t probe_inject(const char *ifname, const char *netns_path, uint32_t n_flows,
                     uint64_t count, uint16_t frame_size, uint64_t rate_pps);
/* write count frames to a pcap file; returns frames written */
int64_t probe_write_pcap(const char *path, uint32_t n_flows, uint64_t count, uint16_t frame_size);

/* ---- affinity (harness/native/affinity.c) ---- */
/* CPU sets cross this boundary as bitmasks: CPU n is bit n % 64 of word n / 64 (1024 CPUs) */
#define PROBE_AFF_CPU_WORDS 16
/* rte_eal_lcore_role() values */
#define PROBE_ROLE_RTE 0
#define PROBE_ROLE_OFF 1
#define PROBE_ROLE_SERVICE 2
#define PROBE_ROLE_NON_EAL 3

struct probe_thread_affinity {
    uint32_t lcore_id;          /* the lcore asked about */
    uint32_t is_main;
    uint32_t role;              /* PROBE_ROLE_* */
    int32_t lcore_socket_id;    /* rte_lcore_to_socket_id() */
    uint32_t eal_cpu_count;     /* rte_lcore_cpuset(): the CPUs EAL's lcore config gives it */
    uint64_t eal_cpus[PROBE_AFF_CPU_WORDS];
    /* read inside the lcore's own thread */
    int32_t tid;                /* gettid() */
    uint32_t seen_lcore_id;     /* rte_lcore_id() */
    int32_t socket_id;          /* rte_socket_id() */
    int32_t cpu_now;            /* sched_getcpu() */
    int32_t err;                /* pthread_getaffinity_np() result, -errno */
    uint32_t cpu_count;         /* pthread_getaffinity_np(): the kernel's mask for the thread */
    uint64_t cpus[PROBE_AFF_CPU_WORDS];
    uint32_t eal_thread_cpu_count; /* rte_thread_get_affinity(): EAL's record for the thread */
    uint64_t eal_thread_cpus[PROBE_AFF_CPU_WORDS];
    char name[PROBE_THREAD_NAME_LEN]; /* pthread_getname_np() */
    uint64_t samples;           /* sched_getcpu() samples taken over sample_us */
    uint32_t migrations;        /* samples whose CPU differed from the one before */
    uint64_t cpus_seen[PROBE_AFF_CPU_WORDS]; /* every CPU a sample saw */
};
/* Read lcore's thread from inside it: a worker lcore through rte_eal_remote_launch (-EBUSY while
 * a run is on it), the main lcore directly (the caller must be the EAL main thread, else -EPERM).
 * sample_us > 0 also busy-samples sched_getcpu() for that long (at most 1 s). */
int probe_lcore_affinity(uint32_t lcore, uint32_t sample_us, struct probe_thread_affinity *out);

/* a busy loop on a worker lcore that polls nothing: keeps it loaded as a poll loop would */
struct probe_spin_stats {
    uint64_t tsc_hz, tsc_start, tsc_last;
    uint64_t loops, samples;    /* sched_getcpu() is sampled every 64 loops */
    int32_t tid;
    int32_t cpu_first, cpu_last;
    uint32_t migrations;
    uint32_t started, running;
    uint64_t cpus_seen[PROBE_AFF_CPU_WORDS];
};
typedef struct probe_spin probe_spin;
int probe_spin_start(uint32_t lcore, probe_spin **out);
int probe_spin_stats(probe_spin *spin, struct probe_spin_stats *out);
int probe_spin_stop(probe_spin *spin);
int probe_spin_free(probe_spin *spin);

/* sockets of the memory backing a pool (bit n = socket n); returns chunks of unknown socket */
int probe_pool_mem_sockets(probe_pool *pool, uint64_t *socket_mask);

/* ---- rss (harness/native/rss.c) ---- */
#define PROBE_RSS_RETA_MAX 4096
#define PROBE_RSS_L4 1          /* softrss: hash addresses and ports (else addresses only) */
#define PROBE_RSS_BE 2          /* softrss: rte_softrss_be on a key converted by rte_convert_rss_key */
#define PROBE_RSS_F_RX_AFTER_TX 1  /* capture: poll nothing until every frame is sent (a burst) */

/* a flow, IPv4 addresses in the first 4 bytes; addresses in network order, ports in host order */
struct probe_rss_tuple {
    uint8_t ipv6;
    uint8_t src[16];
    uint8_t dst[16];
    uint16_t sport, dport;
};
/* the Toeplitz hash DPDK computes in software (rte_softrss / rte_softrss_be) */
int probe_rss_softrss(const struct probe_rss_tuple *t, uint32_t flags, const uint8_t *key,
                      uint32_t key_len, uint32_t *hash);

/* a port's RSS configuration as the PMD reports it */
struct probe_rss_hash_conf {
    uint64_t rss_hf;
    uint8_t key[PROBE_RSS_KEY_MAX];
    uint8_t key_len;        /* 0: the PMD reports no key */
};
int probe_rss_hash_conf_get(uint16_t port, struct probe_rss_hash_conf *out);
/* rte_eth_dev_rss_hash_update; key_len 0 keeps the key */
int probe_rss_hash_update(uint16_t port, const struct probe_rss_hash_conf *conf);
/* RETA of reta_size entries (the device's size from probe_port_info) */
int probe_rss_reta_query(uint16_t port, uint16_t *reta, uint16_t reta_size);
int probe_rss_reta_update(uint16_t port, const uint16_t *reta, uint16_t reta_size);

/* one received packet, as the capture loop saw it (addresses and ports in host order) */
struct probe_rss_pkt {
    uint32_t hash;          /* mbuf hash.rss when has_hash */
    uint32_t src_ip, dst_ip;
    uint16_t sport, dport;
    uint16_t queue;
    uint8_t has_hash;       /* RTE_MBUF_F_RX_RSS_HASH */
    uint8_t ours;           /* an IPv4/UDP frame of the harness (198.18.0.0/15, 'DH' payload) */
};
struct probe_rss_capture_conf {
    uint32_t lcore;
    uint16_t port;                  /* rx port */
    uint16_t burst;
    uint16_t n_queues;              /* rx queues this lcore polls */
    uint16_t queues[PROBE_MAX_QUEUES];
    struct probe_rss_pkt *pkts;     /* caller-owned, kept alive until the capture is freed */
    uint64_t max_pkts;              /* records beyond this are counted, not stored */
    uint32_t flags;                 /* PROBE_RSS_F_* */
    /* optional: send tuples[seq % n_tuples] from tx_port/tx_queue on the same lcore */
    uint64_t tx_count;              /* 0 = send nothing */
    uint16_t tx_port, tx_queue;
    uint16_t frame_size;
    probe_pool *pool;
    const struct probe_rss_tuple *tuples;   /* caller-owned, IPv4, inside 198.18.0.0/15 */
    uint32_t n_tuples;
};
struct probe_rss_capture_stats {
    uint64_t tsc_hz, tsc_start, tsc_last;
    uint64_t rx_pkts, ours, with_hash, captured, not_stored;
    uint64_t tx_pkts, tx_unsent, alloc_fail;
    uint32_t running, tx_done;
    uint64_t q_pkts[PROBE_MAX_QUEUES];   /* by queue id */
    uint64_t q_polls[PROBE_MAX_QUEUES];
};
typedef struct probe_rss_capture probe_rss_capture;
int probe_rss_capture_start(const struct probe_rss_capture_conf *conf, probe_rss_capture **out);
int probe_rss_capture_stats(probe_rss_capture *cap, struct probe_rss_capture_stats *out);
int probe_rss_capture_stop(probe_rss_capture *cap);
int probe_rss_capture_free(probe_rss_capture *cap);
/* send count frames, frame i of tuples[(first + i) % n_tuples], on ifname from the kernel side
 * (AF_PACKET, in the netns at netns_path if given); tuples must be IPv4 inside 198.18.0.0/15;
 * returns frames sent */
int64_t probe_rss_inject(const char *ifname, const char *netns_path, const struct probe_rss_tuple *tuples,
                         uint32_t n_tuples, uint64_t first, uint64_t count, uint16_t frame_size);

/* ---- perf (harness/native/perf.c) ---- */
/* Throughput and latency. A run is a loop on one worker lcore over up to 8 tasks:
 *   GEN   TSC-paced generator: frames of the probe's format (198.18.0.0/15 UDP; payload 'D' 'H',
 *         u64 seq, u64 tsc), sizes cycled from a pattern (IMIX, jumbo as mbuf chains);
 *   RECV  receiver: counts loss, reordering and duplicates by sequence number (every frame) and keeps a
 *         latency histogram of the stamped frames (GEN stamps 1 in lat_sample; TSC cycles, log buckets:
 *         64 exact, then 32 per power of two, < 3.2 % error);
 *   DUT   a forwarder of known capacity (tsc_hz / cost_cycles packets per second) holding at most
 *         dut_queue packets in its system (queued or in service); excess is dropped and counted.
 *         By default the service time is virtual (the loop does not wait and a packet leaves when
 *         its service is over), so a DUT sharing one lcore with the generator and receiver keeps
 *         its capacity; PROBE_PERF_DUT_SPIN burns the cycles instead (a DUT on a dedicated lcore).
 *         cost_cycles = 0 and dut_queue = 0: a plain forwarder, rx -> tx, nothing touched.
 * Several runs may go at once on different lcores (e.g. GEN+RECV on one, DUT on another). */
#define PROBE_PERF_MAX_TASKS 8
#define PROBE_PERF_MAX_SIZES 64
#define PROBE_PERF_HIST_BUCKETS 1920
#define PROBE_PERF_DUT_QUEUE_MAX 65536
#define PROBE_PERF_GEN 0
#define PROBE_PERF_RECV 1
#define PROBE_PERF_DUT 2
#define PROBE_PERF_DUT_SPIN 1
/* DUT flag: a frame arrives when the generator's schedule says it is due (GEN task gen_task of the
 * same run), not when the loop gets to it: the DUT then sees the ideal paced load whatever pauses
 * the shared CPU makes, and its drops depend on the offered rate alone */
#define PROBE_PERF_DUT_SCHEDULED 2
/* GEN: the largest latency sampling period (lat_sample) */
#define PROBE_PERF_LAT_SAMPLE_MAX 65536

struct probe_perf_task {
    uint32_t role;              /* PROBE_PERF_* */
    uint16_t rx_port, rx_queue; /* RECV, DUT */
    uint16_t tx_port, tx_queue; /* GEN, DUT */
    uint64_t seq_base;          /* GEN: first sequence number; RECV: lower ones are stale */
    uint64_t count;             /* GEN: frames to send (0 = until stopped / duration);
                                   RECV: frames expected from seq_base (0 = any above it) */
    uint64_t rate_pps;          /* GEN: paced rate (0 = as fast as the loop goes) */
    uint64_t duration_ns;       /* GEN: stop after this long (0 = no limit); what was not sent
                                   by then is ungenerated */
    uint32_t n_flows;           /* GEN: flows, 198.18.x.y:sport -> 198.19.0.1:5001 */
    uint32_t n_sizes;           /* GEN: frame sizes (FCS included) cycled in order */
    uint16_t sizes[PROBE_PERF_MAX_SIZES];
    uint64_t cost_cycles;       /* DUT: service time per packet */
    uint32_t dut_queue;         /* DUT: packets it may hold, waiting or in service (not with SPIN:
                                   then its queue is the rx ring in front of it) */
    uint32_t flags;             /* DUT: PROBE_PERF_DUT_* */
    uint32_t gen_task;          /* DUT with PROBE_PERF_DUT_SCHEDULED: index of the GEN task */
    uint32_t lat_sample;        /* GEN: frames whose seq - seq_base is a multiple of this carry the burst's
                                   TSC stamp, the others 0 (a power of two up to PROBE_PERF_LAT_SAMPLE_MAX;
                                   0 or 1 = every frame); RECV times the stamped frames only */
};
struct probe_perf_conf {
    uint32_t lcore;
    uint16_t burst;
    probe_pool *pool;           /* GEN allocates here */
    uint64_t tsc_hz;            /* TSC ticks per second for pacing and deadlines (0 = rte_get_tsc_hz();
                                   probe_perf_tsc_hz measures the real one) */
    uint32_t gap_ns;            /* a loop turn longer than this is a gap: the lcore was not running
                                   (the kernel, a VM exit, another thread); 0 = 20000; not measured
                                   in a run of plain forwarders only */
    uint32_t n_tasks;
    struct probe_perf_task tasks[PROBE_PERF_MAX_TASKS];
};
struct probe_perf_task_stats {
    uint64_t polls, empty_polls;
    /* GEN */
    uint64_t attempted, sent, unsent, alloc_fail, sent_bytes;
    uint64_t gen_tsc_start, gen_tsc_end;    /* schedule start; last frame handed over (or deadline) */
    uint64_t gen_ns_start, gen_ns_end;      /* the same instants on CLOCK_MONOTONIC_RAW */
    uint64_t behind_max;                    /* most frames the generator fell behind its schedule */
    uint32_t gen_done;                      /* count sent, or the deadline passed */
    uint32_t gen_deadline;                  /* it stopped at the deadline with frames unsent */
    /* RECV */
    uint64_t rx_pkts, rx_bytes, foreign, stale, unique, dups, reordered, late, seq_max;
    uint64_t lat_count, lat_min, lat_max, lat_sum;  /* TSC cycles, stamped frames of this run only (1 in
                                                       the generator's lat_sample): not frames received */
    /* DUT */
    uint64_t dut_rx, dut_tx, dut_drops, dut_unsent, dut_queue_max;
};
struct probe_perf_stats {
    uint64_t tsc_hz;
    uint64_t tsc_start, tsc_last;
    uint64_t loops;
    uint64_t gaps, gap_cycles, gap_max;     /* loop turns longer than gap_ns, their total and longest */
    uint32_t running;
    uint32_t gen_done;          /* every GEN task is done */
    uint32_t n_tasks;
    struct probe_perf_task_stats task[PROBE_PERF_MAX_TASKS];
};
typedef struct probe_perf probe_perf;
int probe_perf_start(const struct probe_perf_conf *conf, probe_perf **out);
int probe_perf_stats(probe_perf *run, struct probe_perf_stats *out);
/* copy task's latency histogram (PROBE_PERF_HIST_BUCKETS counts) */
int probe_perf_hist(probe_perf *run, uint32_t task, uint64_t *buckets, uint32_t n);
/* wait until every GEN task is done or timeout; 1 = done, 0 = timed out */
int probe_perf_wait(probe_perf *run, uint32_t timeout_ms);
int probe_perf_stop(probe_perf *run);
int probe_perf_free(probe_perf *run);
/* TSC ticks per second measured against CLOCK_MONOTONIC_RAW over ms milliseconds on the calling
 * thread; EAL's rte_get_tsc_hz() may be off by a few 0.1 % (a VM, a nominal frequency) */
int probe_perf_tsc_hz(uint32_t ms, uint64_t *hz);
/* the histogram bucket of a value (for checking the Python side against C) */
int probe_perf_hist_index(uint64_t value);
/* write one generator frame into buf (no mbuf); returns its length without the FCS */
int probe_perf_frame(uint8_t *buf, uint32_t buf_len, uint16_t frame_size, uint32_t flow, uint64_t seq,
                     uint64_t tsc);
