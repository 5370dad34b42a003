"""RSS: the reference hash, queue-of-hash through a RETA and spread statistics.

Pure Python; needs neither root nor DPDK (tests/unit covers it):

* :func:`toeplitz` / :class:`Toeplitz`: the Toeplitz hash of the Microsoft RSS specification,
  checked against its verification-suite vectors (the same ones DPDK's app/test/test_thash.c
  uses, :data:`MS_VECTORS_V4` / :data:`MS_VECTORS_V6`); :func:`symmetric_toeplitz` for the
  symmetric variants (src/dst XOR, as DPDK's ``RTE_ETH_HASH_FUNCTION_SYMMETRIC_TOEPLITZ``,
  or sorted), and :func:`is_symmetric_key` for keys that make plain Toeplitz symmetric.
* :func:`queue_of`: ``reta[hash % len(reta)]``, as a NIC picks the queue.
* :func:`spread`: chi-square goodness-of-fit p-value (the survival function is computed here,
  :func:`chi2_sf`, no scipy) and max/min ratio of per-queue counts, judged per *flow*: every
  flow sends the same number of packets, and the flow, not the packet, is what RSS places.
* :func:`as_deployed`: the per-queue counts a deployment would see from counts a topology measured.

The verdicts on these figures, worded with their cause and fix (``spread_problems``,
``config_problems``), are :mod:`harness.rss.verdicts`.
"""
from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from typing import Iterable, Sequence

from harness.native.defines import define

# --------------------------------------------------------------------------- keys and vectors

#: the 40-byte key of the Microsoft RSS specification (also the default key of ixgbe and others)
DEFAULT_KEY = bytes.fromhex(
    "6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa")
#: a key with a 16-bit period: plain Toeplitz then hashes both directions of a flow alike
SYMMETRIC_KEY = bytes([0x6D, 0x5A]) * 20

# Microsoft "Verifying the RSS Hash Calculation" / 82599 datasheet 7.1.2.8.3, as in DPDK's
# app/test/test_thash.c: (dst, dst port, src, src port, hash of addresses, hash with ports)
MS_VECTORS_V4 = (
    ("161.142.100.80", 1766, "66.9.149.187", 2794, 0x323E8FC2, 0x51CCC178),
    ("65.69.140.83", 4739, "199.92.111.2", 14230, 0xD718262A, 0xC626B0EA),
    ("12.22.207.184", 38024, "24.19.198.95", 12898, 0xD2D0A5DE, 0x5C2B394A),
    ("209.142.163.6", 2217, "38.27.205.30", 48228, 0x82989176, 0xAFC7327F),
    ("202.188.127.2", 1303, "153.39.163.191", 44251, 0x5D1809C5, 0x10E828A2),
)
MS_VECTORS_V6 = (
    ("3ffe:2501:200:3::1", 1766, "3ffe:2501:200:1fff::7", 2794, 0x2CC18CD5, 0x40207D3D),
    ("ff02::1", 4739, "3ffe:501:8::260:97ff:fe40:efab", 14230, 0x0F0C461C, 0xDDE51BBF),
    ("fe80::200:f8ff:fe21:67cf", 38024, "3ffe:1900:4545:3:200:f8ff:fe21:67cf", 44251, 0x4B61E985, 0x02D1FEEF),
)

# the harness's generated flows (harness/native/frame.h, PROBE_FRAME_* in probe.h): 198.18.x.y:sport -> 198.19.0.1:5001
FLOW_SRC_NET = define("PROBE_FRAME_SRC_NET")
FLOW_DST_IP = define("PROBE_FRAME_DST_IP")
FLOW_DST_PORT = define("PROBE_FRAME_DST_PORT")
FLOW_BASE_SPORT = define("PROBE_FRAME_BASE_SPORT")

#: chi-square is only meaningful with at least this many expected flows per queue
MIN_FLOWS_PER_QUEUE = 5
#: RETA size assumed where the device cannot report one (ixgbe and many others have 128)
DEFAULT_RETA_SIZE = 128


class RssFlowsWarning(UserWarning):
    """Too few flows for the spread verdict to mean anything."""


# --------------------------------------------------------------------------- flows


@dataclass(frozen=True)
class Flow:
    """One direction of a flow. Addresses are integers (IPv4, or IPv6 when ``ipv6``)."""

    src: int
    dst: int
    sport: int = 0
    dport: int = 0
    ipv6: bool = False

    @classmethod
    def of(cls, src: str, dst: str, sport: int = 0, dport: int = 0) -> "Flow":
        s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
        if s.version != d.version:
            raise ValueError(f"{src} and {dst} are not of one IP version")
        return cls(int(s), int(d), sport, dport, s.version == 6)

    def reversed(self) -> "Flow":
        return Flow(self.dst, self.src, self.dport, self.sport, self.ipv6)

    @property
    def addr_len(self) -> int:
        return 16 if self.ipv6 else 4

    def key(self) -> tuple[int, int, int, int]:
        """Direction-free identity: both directions of a flow give the same key."""
        a, b = (self.src, self.sport), (self.dst, self.dport)
        return (*min(a, b), *max(a, b))

    def __str__(self) -> str:
        ip = ipaddress.IPv6Address if self.ipv6 else ipaddress.IPv4Address
        return f"{ip(self.src)}:{self.sport} -> {ip(self.dst)}:{self.dport}"


def harness_flows(n: int) -> list[Flow]:
    """The ``n`` flows the probe's generator sends (198.18.x.y:sport -> 198.19.0.1:5001)."""
    return [Flow(FLOW_SRC_NET | (f & 0xFFFF), FLOW_DST_IP, FLOW_BASE_SPORT + (f >> 16), FLOW_DST_PORT)
            for f in range(n)]


def hash_input(flow: Flow, l4: bool = True) -> bytes:
    """The bytes RSS hashes: source address, destination address, then source and destination port."""
    n = flow.addr_len
    data = flow.src.to_bytes(n, "big") + flow.dst.to_bytes(n, "big")
    if l4:
        data += flow.sport.to_bytes(2, "big") + flow.dport.to_bytes(2, "big")
    return data


# --------------------------------------------------------------------------- Toeplitz


def toeplitz(key: bytes, data: bytes) -> int:
    """The Toeplitz hash of ``data``: for every set bit i of the input (most significant first),
    XOR the 32 key bits starting at bit i. The key must be at least 4 bytes longer than the input."""
    if len(key) < len(data) + 4:
        raise ValueError(f"a {len(key)}-byte key hashes at most {len(key) - 4} input bytes, got {len(data)}")
    k, kbits = int.from_bytes(key, "big"), len(key) * 8
    bits, n = int.from_bytes(data, "big"), len(data) * 8
    out = 0
    for i in range(n):
        if (bits >> (n - 1 - i)) & 1:
            out ^= (k >> (kbits - 32 - i)) & 0xFFFFFFFF
    return out


class Toeplitz:
    """Toeplitz over inputs of one length, with a per-byte table (fast enough for 10^6 flows)."""

    def __init__(self, key: bytes, length: int):
        if len(key) < length + 4:
            raise ValueError(f"a {len(key)}-byte key hashes at most {len(key) - 4} input bytes, got {length}")
        self.key, self.length = bytes(key), length
        k, kbits = int.from_bytes(key, "big"), len(key) * 8
        self._table = []
        for pos in range(length):
            row = [0] * 256
            for bit in range(8):  # bit 0 = the byte's most significant bit
                window = (k >> (kbits - 32 - (pos * 8 + bit))) & 0xFFFFFFFF
                mask = 0x80 >> bit
                for v in range(256):
                    if v & mask:
                        row[v] ^= window
            self._table.append(row)

    def __call__(self, data: bytes) -> int:
        if len(data) != self.length:
            raise ValueError(f"this hash takes {self.length}-byte inputs, got {len(data)}")
        out = 0
        for row, b in zip(self._table, data):
            out ^= row[b]
        return out


_HASHERS: dict[tuple[bytes, int], Toeplitz] = {}


def flow_hash(flow: Flow, key: bytes = DEFAULT_KEY, l4: bool = True) -> int:
    """Toeplitz hash of one flow (cached per key and input length)."""
    data = hash_input(flow, l4)
    h = _HASHERS.get((key, len(data)))
    if h is None:
        h = _HASHERS[(key, len(data))] = Toeplitz(key, len(data))
    return h(data)


def symmetric_toeplitz(flow: Flow, key: bytes = DEFAULT_KEY, l4: bool = True, mode: str = "xor") -> int:
    """Symmetric Toeplitz: the same hash for both directions of a flow, whatever the key.

    ``mode="xor"``: source and destination are each replaced by their XOR (DPDK's
    ``RTE_ETH_HASH_FUNCTION_SYMMETRIC_TOEPLITZ``); ``mode="sort"``: the lower address and the
    lower port go first (``..._SYMMETRIC_TOEPLITZ_SORT``).
    """
    if mode == "xor":
        a, p = flow.src ^ flow.dst, flow.sport ^ flow.dport
        f = Flow(a, a, p, p, flow.ipv6)
    elif mode == "sort":
        f = Flow(min(flow.src, flow.dst), max(flow.src, flow.dst),
                 min(flow.sport, flow.dport), max(flow.sport, flow.dport), flow.ipv6)
    else:
        raise ValueError(f"symmetric mode {mode!r}: use 'xor' or 'sort'")
    return flow_hash(f, key, l4)


def is_symmetric_key(key: bytes) -> bool:
    """True when plain Toeplitz with ``key`` hashes A->B and B->A alike for IPv4 and IPv6 4-tuples:
    swapping the addresses moves the input by 32 (IPv4) or 128 (IPv6) bits and the ports by 16, so
    the key must repeat itself with a 16-bit period over the bits the tuples use."""
    used = min(len(key), 16 + 16 + 4 + 4)  # IPv6 4-tuple input and the 32-bit window beyond it
    return all(key[i] == key[i % 2] for i in range(used))


def queue_of(hash_value: int, reta: Sequence[int]) -> int:
    """The rx queue a NIC picks: ``reta[hash % len(reta)]`` (the low bits for power-of-two sizes)."""
    return reta[hash_value % len(reta)]


def default_reta(queues: int, size: int = DEFAULT_RETA_SIZE) -> tuple[int, ...]:
    """The RETA PMDs program by default: entry i -> queue i % queues."""
    return tuple(i % queues for i in range(size))


def expand_reta(reta: Sequence[int], size: int) -> tuple[int, ...]:
    """A profile's RETA repeated over the device's ``size`` entries (how it is programmed)."""
    if not reta:
        raise ValueError("an empty RETA cannot be expanded")
    return tuple(reta[i % len(reta)] for i in range(size))


# profile hash-function names (harness.profile.RSS_HASH_FUNCTIONS) that hash IPv4/UDP traffic
_UDP4_L4 = {"udp", "ipv4-udp"}
_IP4_L3 = {"ip", "ipv4"}


def hash_fields(hash_functions: Iterable[str]) -> str | None:
    """What a NIC hashes of the harness's IPv4/UDP flows under these hash functions:
    ``"l4"`` (addresses and ports), ``"l3"`` (addresses; most NICs fall back to it), or None."""
    names = set(hash_functions)
    if names & _UDP4_L4:
        return "l4"
    if names & _IP4_L3:
        return "l3"
    return None


def expected_queues(flows: Sequence[Flow], *, queues: int, reta: Sequence[int], key: bytes = DEFAULT_KEY,
                    fields: str | None = "l4", enabled: bool = True) -> list[int]:
    """The rx queue of each flow under a configuration; with RSS off (or the flows not hashed)
    the device delivers to queue 0 (RSS off) or ``reta[0]`` (hash 0)."""
    if not enabled or queues <= 1:
        return [0] * len(flows)
    if fields is None:
        return [queue_of(0, reta)] * len(flows)
    return [queue_of(flow_hash(f, key, fields == "l4"), reta) for f in flows]


# --------------------------------------------------------------------------- statistics


def _lower_gamma_series(a: float, x: float) -> float:
    """Regularized lower incomplete gamma P(a, x) by its series (x < a + 1)."""
    term = total = 1.0 / a
    ap = a
    for _ in range(10_000):
        ap += 1.0
        term *= x / ap
        total += term
        if abs(term) < abs(total) * 1e-16:
            break
    return total * math.exp(-x + a * math.log(x) - math.lgamma(a))


def _upper_gamma_cf(a: float, x: float) -> float:
    """Regularized upper incomplete gamma Q(a, x) by its continued fraction (x >= a + 1), modified Lentz."""
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-16:
            break
    return math.exp(-x + a * math.log(x) - math.lgamma(a)) * h


def gammaincc(a: float, x: float) -> float:
    """Regularized upper incomplete gamma Q(a, x) = Γ(a, x) / Γ(a) (Numerical Recipes' gammq)."""
    if a <= 0:
        raise ValueError(f"gammaincc: a must be > 0, got {a}")
    if x < 0:
        raise ValueError(f"gammaincc: x must be >= 0, got {x}")
    if x == 0:
        return 1.0
    if math.isinf(x):
        return 0.0
    if x < a + 1.0:
        return max(0.0, min(1.0, 1.0 - _lower_gamma_series(a, x)))
    return max(0.0, min(1.0, _upper_gamma_cf(a, x)))


def chi2_sf(x: float, dof: int) -> float:
    """P(X >= x) for X chi-square distributed with ``dof`` degrees of freedom."""
    if dof <= 0:
        return 1.0
    return gammaincc(dof / 2.0, max(0.0, x) / 2.0)


@dataclass(frozen=True)
class Spread:
    """How ``flows`` flows, sending equally, spread over the queues: ``counts`` are per-queue
    packets. The chi-square is computed on flows per queue (``counts`` scaled by flows/total),
    since the flow is what RSS places; the max/min ratio is the same either way."""

    counts: tuple[int, ...]
    flows: int
    chi2: float
    dof: int
    p_value: float
    max_min_ratio: float

    @property
    def queues(self) -> int:
        return len(self.counts)

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def expected_flows_per_queue(self) -> float:
        return self.flows / self.queues if self.queues else 0.0

    @property
    def flows_per_queue(self) -> tuple[float, ...]:
        t = self.total
        return tuple(c * self.flows / t if t else 0.0 for c in self.counts)

    @property
    def empty_queues(self) -> list[int]:
        return [q for q, c in enumerate(self.counts) if c == 0]

    @property
    def too_few_flows(self) -> bool:
        return self.queues > 1 and self.expected_flows_per_queue < MIN_FLOWS_PER_QUEUE


def spread(counts: Sequence[int], flows: int) -> Spread:
    """Chi-square goodness of fit (uniform over the queues) and max/min ratio of ``counts``."""
    counts = tuple(int(c) for c in counts)
    if not counts:
        raise ValueError("spread of no queues")
    if flows < 1:
        raise ValueError(f"spread of {flows} flows")
    q, total = len(counts), sum(counts)
    if q == 1:
        return Spread(counts, flows, 0.0, 0, 1.0, 1.0)
    if total == 0:
        return Spread(counts, flows, math.inf, q - 1, 0.0, math.inf)
    expected = flows / q
    chi2 = sum((c * flows / total - expected) ** 2 / expected for c in counts)
    lo, hi = min(counts), max(counts)
    ratio = hi / lo if lo else math.inf
    return Spread(counts, flows, chi2, q - 1, chi2_sf(chi2, q - 1), ratio)


def as_deployed(counts: Sequence[int], *, enabled: bool, device_rss: bool) -> list[int]:
    """Per-queue counts the deployment would see, from counts measured on a topology.

    On a device that does RSS the measurement is the deployment. On kernel-fed vdevs the kernel,
    not the device, spreads, and cannot be told to stop: with RSS disabled a device delivers every
    packet to queue 0, so that is what the deployment sees.
    """
    counts = list(counts)
    if device_rss or enabled or len(counts) <= 1:
        return counts
    return [sum(counts)] + [0] * (len(counts) - 1)
