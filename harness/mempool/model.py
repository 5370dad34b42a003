"""Mempool sizing rules: what a deployment's pool must hold, and DPDK's limits on it.

Pure functions of the profile and the port set, so suites/mempool can judge a profile before
(or without) creating the pool, and tests/unit can show every rule failing.
"""
from __future__ import annotations

from dataclasses import dataclass

from harness.profile import Profile
from harness.soak.model import slope

RTE_MEMPOOL_CACHE_MAX_SIZE = 512   # rte_mempool.h
RTE_PKTMBUF_HEADROOM = 128         # rte_config.h
L2_OVERHEAD = 18                   # Ethernet header (14) + CRC (4): the largest frame is MTU + 18
CACHE_FLUSH_FACTOR = 1.5           # rte_mempool.c CALC_CACHE_FLUSHTHRESH: cache x 1.5 must fit in n


@dataclass(frozen=True)
class Term:
    name: str
    mbufs: int
    how: str


def pipeline_terms(profile: Profile, n_ports: int, n_lcores: int) -> list[Term]:
    """Every place an mbuf of the pool can sit at once."""
    q, mp = profile.queues, profile.mempool
    terms = [
        Term("rx rings", q.rx_desc * q.rx * n_ports, f"{q.rx_desc} rx_desc x {q.rx} rx queues x {n_ports} ports"),
        Term("tx rings", q.tx_desc * q.tx * n_ports, f"{q.tx_desc} tx_desc x {q.tx} tx queues x {n_ports} ports"),
        Term("lcore bursts and caches", (q.burst + mp.cache) * n_lcores,
             f"({q.burst} burst + {mp.cache} cache) x {n_lcores} lcores"),
    ]
    if q.in_flight:
        terms.append(Term("in flight", q.in_flight, "queues.in_flight"))
    return terms


def next_pow2_minus1(n: int) -> int:
    """The smallest 2^q - 1 >= n: the pool size DPDK's ring-backed mempool uses best."""
    q = 1
    while (1 << q) - 1 < n:
        q += 1
    return (1 << q) - 1


@dataclass(frozen=True)
class Verdict:
    ok: bool
    message: str
    advice: str = ""


def pool_covers_pipeline(profile: Profile, n_ports: int, n_lcores: int) -> tuple[Verdict, int, list[Term]]:
    terms = pipeline_terms(profile, n_ports, n_lcores)
    need = sum(t.mbufs for t in terms)
    have = profile.mempool.mbufs
    detail = " + ".join(f"{t.name} {t.mbufs} ({t.how})" for t in terms)
    if have >= need:
        return Verdict(True, f"mempool.mbufs = {have} covers the pipeline's {need} = {detail}"), need, terms
    return Verdict(False, f"mempool.mbufs = {have} is below what the pipeline can hold at once: {need} = {detail}; "
                          f"set mempool.mbufs >= {need} (e.g. {next_pow2_minus1(need)}), or lower the descriptor, "
                          "queue or cache counts"), need, terms


def cache_verdict(mbufs: int, cache: int) -> Verdict:
    """DPDK's rule (rte_mempool_create: cache <= RTE_MEMPOOL_CACHE_MAX_SIZE and 1.5 x cache <= n),
    with advice on the pool size's shape."""
    if cache > RTE_MEMPOOL_CACHE_MAX_SIZE:
        return Verdict(False, f"mempool.cache = {cache} exceeds RTE_MEMPOOL_CACHE_MAX_SIZE "
                              f"({RTE_MEMPOOL_CACHE_MAX_SIZE}): DPDK refuses to create the pool (EINVAL); "
                              f"set mempool.cache <= {RTE_MEMPOOL_CACHE_MAX_SIZE} (256 is usual)")
    if cache * CACHE_FLUSH_FACTOR > mbufs:
        return Verdict(False, f"mempool.cache = {cache} needs 1.5 x cache = {int(cache * CACHE_FLUSH_FACTOR)} <= "
                              f"mempool.mbufs, but mbufs is {mbufs}: DPDK refuses to create the pool (EINVAL); "
                              f"lower mempool.cache to <= {int(mbufs / CACHE_FLUSH_FACTOR)} or raise mempool.mbufs")
    advice = []
    if mbufs != next_pow2_minus1(mbufs):  # for 2^q - 1 pools this is the advice that wins:
        advice.append(f"mempool.mbufs = {mbufs} is not of the form 2^q - 1; {next_pow2_minus1(mbufs)} uses the "
                      "ring's memory best")
        if cache and mbufs % cache:  # no power-of-two cache divides a 2^q - 1 pool
            advice.append(f"DPDK advises mbufs % cache == 0 ({mbufs} % {cache} = {mbufs % cache})")
    return Verdict(True, f"mempool.cache = {cache} is within DPDK's limits for {mbufs} mbufs", "; ".join(advice))


def data_room_verdict(data_room: int, mtu: int, scatter: bool) -> Verdict:
    frame = mtu + L2_OVERHEAD
    room = data_room - RTE_PKTMBUF_HEADROOM
    if room >= frame:
        return Verdict(True, f"mempool.data_room = {data_room} holds a {frame}-byte frame after the "
                             f"{RTE_PKTMBUF_HEADROOM}-byte headroom")
    if scatter:
        return Verdict(True, f"frames of {frame} bytes span segments of {room} bytes (mempool.scatter = true)")
    return Verdict(False, f"mempool.data_room = {data_room} leaves {room} bytes after the {RTE_PKTMBUF_HEADROOM}-byte "
                          f"headroom, but an MTU of {mtu} means frames of up to {frame} bytes: they would be dropped "
                          f"or truncated; set mempool.data_room >= {frame + RTE_PKTMBUF_HEADROOM} "
                          "or mempool.scatter = true")


def growth_per_s(samples: list[tuple[float, int]]) -> float:
    """Least-squares slope of in-use mbufs over time (mbufs per second)."""
    return slope(samples)
