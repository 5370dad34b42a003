"""RSS: the reference hash, queue-of-hash through a RETA, spread statistics and verdicts.

The first half is pure Python and needs neither root nor DPDK (tests/unit covers it):

* :func:`toeplitz` / :class:`Toeplitz`: the Toeplitz hash of the Microsoft RSS specification,
  checked against its verification-suite vectors (the same ones DPDK's app/test/test_thash.c
  uses, :data:`MS_VECTORS_V4` / :data:`MS_VECTORS_V6`); :func:`symmetric_toeplitz` for the
  symmetric variants (src/dst XOR, as DPDK's ``RTE_ETH_HASH_FUNCTION_SYMMETRIC_TOEPLITZ``,
  or sorted), and :func:`is_symmetric_key` for keys that make plain Toeplitz symmetric.
* :func:`queue_of`: ``reta[hash % len(reta)]``, as a NIC picks the queue.
* :func:`spread`: chi-square goodness-of-fit p-value (the survival function is computed here,
  :func:`chi2_sf`, no scipy) and max/min ratio of per-queue counts, judged per *flow*: every
  flow sends the same number of packets, and the flow, not the packet, is what RSS places.
* :func:`spread_problems`: the verdict, with a message naming the cause and the fix.

The second half talks to the probe (harness/native/rss.c): ``rte_softrss`` on a tuple, a port's
hash configuration and RETA, a capture loop on a worker lcore that records the queue and hash
of every received packet into an array Python owns, and a kernel-side injector of flows.
"""
from __future__ import annotations

import errno
import ipaddress
import math
import struct
import time
from dataclasses import dataclass, field
from typing import Iterable, Sequence

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

# the harness's generated flows (harness/native/probe.c build_frame): 198.18.x.y:sport -> 198.19.0.1:5001
FLOW_SRC_NET = 0xC6120000
FLOW_DST_IP = 0xC6130001
FLOW_DST_PORT = 5001
FLOW_BASE_SPORT = 1024

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


def too_few_flows_message(flows: int, queues: int) -> str | None:
    """The warning for a flow count too small for the chi-square verdict, or None."""
    if queues <= 1 or flows / queues >= MIN_FLOWS_PER_QUEUE:
        return None
    need = MIN_FLOWS_PER_QUEUE * queues
    return (f"rss.flows = {flows} over {queues} rx queues is {flows / queues:.3g} flows per queue, fewer than "
            f"the {MIN_FLOWS_PER_QUEUE} a chi-square verdict needs: the spread verdict is not meaningful; "
            f"raise rss.flows to at least {need} (the default is 1024)")


def _queue_list(qs: Sequence[int]) -> str:
    qs = sorted(qs)
    if len(qs) > 2 and qs == list(range(qs[0], qs[-1] + 1)):
        return f"{qs[0]}..{qs[-1]}"
    return ", ".join(map(str, qs))


def _reta_text(reta: Sequence[int]) -> str:
    return "[" + ", ".join(map(str, reta[:16])) + (", ...]" if len(reta) > 16 else "]")


@dataclass(frozen=True)
class SpreadSetting:
    """The configuration a spread was produced under, for naming the cause of a bad one."""

    queues: int
    flows: int
    enabled: bool = True
    reta: tuple[int, ...] = ()
    reta_source: str = "rss.reta"     # where the RETA came from, as the message names it
    fields: str | None = "l4"
    hash_functions: tuple[str, ...] = ()
    key_source: str = "the key"


def spread_problems(sp: Spread, *, min_p_value: float, max_ratio: float, setting: SpreadSetting,
                    what: str = "measured", unit: str = "packets") -> list[str]:
    """Empty when the spread meets the thresholds; else one message naming the cause and the fix.

    The cause is looked for in the configuration first (RSS off, one flow, a RETA that leaves
    queues out, hash functions that do not cover the traffic), then put down to the hash itself.
    """
    bad_p = sp.p_value < min_p_value
    bad_ratio = not sp.max_min_ratio <= max_ratio
    if sp.queues <= 1 or not (bad_p or bad_ratio):
        return []
    q = sp.queues
    figures = (f"{what}: per-queue {unit} {list(sp.counts)} from {sp.flows} flow(s): chi-square p = "
               f"{sp.p_value:.3g} (expected >= rss.min_p_value {min_p_value:g}), max/min ratio "
               f"{sp.max_min_ratio:.3g} (expected <= rss.max_ratio {max_ratio:g})")
    empty = sp.empty_queues
    empty_text = f"queues {_queue_list(empty)} receive nothing" if len(empty) > 1 else (
        f"queue {empty[0]} receives nothing" if empty else "")
    if not setting.enabled:
        cause = (f"RSS is disabled (rss.enabled = false) with {q} rx queues: queues 1..{q - 1} receive nothing, "
                 f"every packet lands on queue 0; set rss.enabled = true (with hash_functions covering the "
                 f"traffic) or configure queues.rx = 1")
    elif setting.flows < q or setting.flows == 1:
        need = MIN_FLOWS_PER_QUEUE * q
        cause = (f"rss.flows = {setting.flows}: {'a single flow always lands on one queue' if setting.flows == 1 else f'{setting.flows} flows cannot cover {q} queues'}"
                 f"{', so ' + empty_text if empty_text else ''}; raise rss.flows to at least {need} "
                 f"({MIN_FLOWS_PER_QUEUE} per queue; the default is 1024)")
    elif setting.reta and set(range(q)) - set(setting.reta):
        missing = sorted(set(range(q)) - set(setting.reta))
        targets = sorted(set(setting.reta))
        only = f"points only at queue{'s' if len(targets) > 1 else ''} {_queue_list(targets)}"
        cause = (f"{setting.reta_source} = {_reta_text(setting.reta)} {only}: queue{'s' if len(missing) > 1 else ''} "
                 f"{_queue_list(missing)} {'are' if len(missing) > 1 else 'is'} in no RETA entry and receive"
                 f"{'' if len(missing) > 1 else 's'} nothing; list every rx queue, e.g. rss.reta = "
                 f"{_reta_text(list(range(q)))}")
    elif setting.fields is None:
        cause = (f"rss.hash_functions = {list(setting.hash_functions)} do not cover IPv4/UDP, so the test flows are "
                 f"not hashed and all land on one queue; add 'udp' (4-tuple) or 'ipv4' (addresses)")
    else:
        cause = (f"the hash ({setting.key_source}, {'addresses and ports' if setting.fields == 'l4' else 'addresses only'}"
                 f") spreads these {setting.flows} flows unevenly"
                 f"{' and ' + empty_text if empty_text else ''}; try another rss.key, hash on ports too "
                 f"(hash_functions 'udp'/'tcp'), or send more flows (rss.flows)")
    weak = too_few_flows_message(setting.flows, q) if setting.flows >= q else None
    return [f"{figures}. {cause}" + (f". Note: {weak}" if weak else "")]


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


# --------------------------------------------------------------------------- configuration verdicts


def rss_hf_names(mask: int) -> list[str]:
    from harness.probe import RSS_BITS
    return [n for n, bit in RSS_BITS.items() if mask & bit]


def config_problems(*, driver: str, want_hf: int, capa_hf: int, read_hf: int, want_key: bytes | None,
                    read_key: bytes, key_size: int, want_reta: Sequence[int] | None, read_reta: Sequence[int],
                    reta_size: int, nb_rxq: int) -> list[str]:
    """What the port holds against what the profile asked for; one message per difference."""
    out = []
    unsupported = want_hf & ~capa_hf
    if unsupported:
        out.append(f"{driver}: the profile asks for hash functions {rss_hf_names(unsupported)} that the device "
                   f"does not offer (flow_type_rss_offloads has {rss_hf_names(capa_hf)}); drop them from "
                   "rss.hash_functions or use a NIC that hashes them")
    missing = want_hf & capa_hf & ~read_hf
    if missing:
        out.append(f"{driver}: expected hash functions {rss_hf_names(want_hf & capa_hf)} applied, the port holds "
                   f"{rss_hf_names(read_hf)} (missing {rss_hf_names(missing)}); check rss.hash_functions and the "
                   "PMD's RSS support")
    if want_key is not None:
        if key_size and len(want_key) != key_size:
            out.append(f"{driver}: rss.key is {len(want_key)} bytes, the device's key is {key_size} bytes; give a "
                       f"{key_size}-byte key")
        elif read_key and bytes(read_key) != bytes(want_key):
            out.append(f"{driver}: expected RSS key {want_key.hex()}, the port holds {bytes(read_key).hex()}; the "
                       "PMD did not apply rss.key")
    if read_reta:
        if len(read_reta) != reta_size:
            out.append(f"{driver}: RETA read back has {len(read_reta)} entries, the device reports {reta_size}")
        beyond = sorted({q for q in read_reta if q >= nb_rxq})
        if beyond:
            out.append(f"{driver}: the RETA sends to queue(s) {beyond} but only {nb_rxq} rx queues are configured; "
                       "their packets are lost")
        if want_reta:
            expected = expand_reta(want_reta, len(read_reta))
            if tuple(read_reta) != expected:
                diff = next(i for i, (a, b) in enumerate(zip(read_reta, expected)) if a != b)
                out.append(f"{driver}: expected RETA {_reta_text(expected)} (rss.reta repeated over {len(read_reta)} "
                           f"entries), the port holds {_reta_text(list(read_reta))} (first difference at entry "
                           f"{diff}); reprogram it with rte_eth_dev_rss_reta_update")
        idle = sorted(set(range(nb_rxq)) - set(read_reta))
        if idle:
            out.append(f"{driver}: rx queue(s) {idle} are in no RETA entry and never receive; list every rx queue "
                       "in rss.reta")
    return out


# --------------------------------------------------------------------------- the probe (C)


def _lib():
    from harness.probe import require_lib
    return require_lib()


def _ffi():
    from harness.probe import ffi
    return ffi


def _probe():
    from harness import probe
    return probe


L4, BE = 1, 2          # PROBE_RSS_L4, PROBE_RSS_BE
F_RX_AFTER_TX = 1      # PROBE_RSS_F_RX_AFTER_TX
PKT_FORMAT = "=IIIHHHBB"  # struct probe_rss_pkt
MAX_QUEUES = 64


def _c_tuple(flow: Flow, out) -> None:
    n = flow.addr_len
    out.ipv6 = int(flow.ipv6)
    out.src[0:n] = flow.src.to_bytes(n, "big")
    out.dst[0:n] = flow.dst.to_bytes(n, "big")
    out.sport, out.dport = flow.sport, flow.dport


def c_tuples(flows: Sequence[Flow]):
    """``struct probe_rss_tuple[]`` of the flows (keep the result alive while C reads it)."""
    arr = _ffi().new("struct probe_rss_tuple[]", len(flows))
    for i, f in enumerate(flows):
        _c_tuple(f, arr[i])
    return arr


def softrss(flow: Flow, key: bytes = DEFAULT_KEY, *, l4: bool = True, be: bool = False) -> int:
    """DPDK's ``rte_softrss`` (or ``rte_softrss_be`` on the converted key) on one flow, through the probe."""
    from harness.errors import check
    ffi, lib = _ffi(), _lib()
    t = ffi.new("struct probe_rss_tuple *")
    _c_tuple(flow, t)
    out = ffi.new("uint32_t *")
    kbuf = ffi.new("uint8_t[]", bytes(key))
    check(lib.probe_rss_softrss(t, (L4 if l4 else 0) | (BE if be else 0), kbuf, len(key), out),
          f"rte_softrss({flow}, {len(key)}-byte key)")
    return out[0]


def hash_conf(port) -> tuple[int, bytes]:
    """(rss_hf, key) the port holds (rte_eth_dev_rss_hash_conf_get); ProbeUnsupportedError if it cannot say."""
    from harness.errors import check
    out = _ffi().new("struct probe_rss_hash_conf *")
    check(_lib().probe_rss_hash_conf_get(port.id, out), f"rte_eth_dev_rss_hash_conf_get(port {port.id}, {port.driver})")
    return out.rss_hf, bytes(out.key[0:out.key_len])


def hash_update(port, rss_hf: int, key: bytes = b"") -> None:
    from harness.errors import check
    c = _ffi().new("struct probe_rss_hash_conf *")
    c.rss_hf = rss_hf
    if key:
        c.key[0:len(key)] = key
        c.key_len = len(key)
    check(_lib().probe_rss_hash_update(port.id, c), f"rte_eth_dev_rss_hash_update(port {port.id}, {port.driver})")


def reta_query(port, size: int | None = None) -> list[int]:
    """The port's RETA (rte_eth_dev_rss_reta_query); ProbeUnsupportedError where the PMD has none."""
    from harness.errors import ProbeUnsupportedError, check
    size = size if size is not None else port.info()["reta_size"]
    if not size:
        raise ProbeUnsupportedError(errno.ENOTSUP, f"RETA of port {port.id} ({port.driver}): the device reports no "
                                        "redirection table (reta_size 0)")
    arr = _ffi().new("uint16_t[]", size)
    check(_lib().probe_rss_reta_query(port.id, arr, size), f"rte_eth_dev_rss_reta_query(port {port.id}, {port.driver})")
    return list(arr)


def reta_update(port, reta: Sequence[int]) -> None:
    from harness.errors import check
    arr = _ffi().new("uint16_t[]", list(reta))
    check(_lib().probe_rss_reta_update(port.id, arr, len(reta)),
          f"rte_eth_dev_rss_reta_update(port {port.id}, {port.driver}, {len(reta)} entries)")


def inject(topo, flows, count: int, *, first: int = 0, frame_size: int = 64) -> int:
    """Send ``count`` frames into a kernel-fed topology's rx port, frame i of flow
    ``flows[(first + i) % len(flows)]``. ``flows``: a list of :class:`Flow`, or :func:`c_tuples` of one."""
    from harness.errors import UsageError, check
    if not topo.kernel_fed:
        raise UsageError(f"topology {topo.kind} is not fed from the kernel")
    tuples = flows if isinstance(flows, _ffi().CData) else c_tuples(flows)
    n = len(tuples)
    path = f"/run/netns/{topo.netns}" if topo.netns else ""
    return check(_lib().probe_rss_inject(topo.kernel_if.encode(), path.encode(), tuples, n, first, count, frame_size),
                 f"inject {count} frames of {n} flows on {topo.kernel_if}")


@dataclass(frozen=True)
class Packet:
    """One received packet as the capture recorded it."""

    queue: int
    hash: int
    has_hash: bool
    ours: bool
    flow: Flow


@dataclass
class CaptureResult:
    stats: dict
    packets: list[Packet] = field(default_factory=list)

    def ours(self) -> list[Packet]:
        return [p for p in self.packets if p.ours]

    def per_queue(self, queues: int) -> list[int]:
        """Our packets per rx queue 0..queues-1."""
        counts = [0] * queues
        for p in self.packets:
            if p.ours and p.queue < queues:
                counts[p.queue] += 1
        return counts

    def queues_of_flows(self) -> dict[Flow, set[int]]:
        out: dict[Flow, set[int]] = {}
        for p in self.packets:
            if p.ours:
                out.setdefault(p.flow, set()).add(p.queue)
        return out


class Capture:
    """The capture loop on one worker lcore: polls ``queues`` of ``port``, records every packet
    (queue, hash, has_hash, flow) into an array of ``max_pkts`` records; optionally sends frames
    of ``tx_flows`` from ``tx_port`` first or meanwhile."""

    def __init__(self, lcore: int, port, queues: Sequence[int], *, max_pkts: int, burst: int = 32,
                 tx_port=None, tx_queue: int = 0, tx_flows: Sequence[Flow] = (), tx_count: int = 0,
                 pool=None, frame_size: int = 64, rx_after_tx: bool = False):
        from harness.errors import UsageError, check
        ffi = _ffi()
        if not 0 < len(queues) <= MAX_QUEUES:
            raise UsageError(f"a capture polls 1..{MAX_QUEUES} queues, got {len(queues)}")
        c = ffi.new("struct probe_rss_capture_conf *")
        c.lcore, c.port, c.burst, c.n_queues = lcore, port.id, burst, len(queues)
        for i, q in enumerate(queues):
            c.queues[i] = q
        self._pkts = ffi.new("struct probe_rss_pkt[]", max(1, max_pkts))
        assert ffi.sizeof("struct probe_rss_pkt") == struct.calcsize(PKT_FORMAT)
        c.pkts, c.max_pkts = self._pkts, max_pkts
        c.flags = F_RX_AFTER_TX if rx_after_tx else 0
        self._tuples = None
        if tx_count:
            if tx_port is None or pool is None or not tx_flows:
                raise UsageError("a capture that sends needs tx_port, pool and tx_flows")
            self._tuples = c_tuples(tx_flows)
            c.tx_count, c.tx_port, c.tx_queue, c.frame_size = tx_count, tx_port.id, tx_queue, frame_size
            c.pool, c.tuples, c.n_tuples = pool.handle, self._tuples, len(tx_flows)
        self.conf, self.lcore, self.queues, self._pool = c, lcore, list(queues), pool
        out = ffi.new("probe_rss_capture **")
        check(_lib().probe_rss_capture_start(c, out), f"launch the RSS capture on lcore {lcore}")
        self._h = out[0]
        self._final: CaptureResult | None = None
        # stopped with the runs at teardown and on Ctrl-C (probe.stop_all_runs): EAL cleanup
        # waits for every lcore, so a loop left running would hang the exit
        _probe().register_loop(self)

    def stats(self) -> dict:
        from harness.errors import check
        from harness.probe import _struct_to_dict
        if self._final is not None:
            return self._final.stats
        st = _ffi().new("struct probe_rss_capture_stats *")
        check(_lib().probe_rss_capture_stats(self._h, st), "RSS capture stats")
        return _struct_to_dict(st[0], "struct probe_rss_capture_stats")

    def wait(self, ours: int, timeout_s: float, *, settle_s: float = 0.02) -> dict:
        """Wait until the capture has seen ``ours`` of our packets (or timeout), then ``settle_s`` more."""
        deadline = time.monotonic() + timeout_s
        st = self.stats()
        while time.monotonic() < deadline and st["ours"] < ours:
            time.sleep(0.005)
            st = self.stats()
        time.sleep(settle_s)
        return self.stats()

    def wait_sent(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.stats()["tx_done"]:
                return True
            time.sleep(0.002)
        return bool(self.stats()["tx_done"])

    def stop(self) -> CaptureResult:
        """Stop the loop (idempotent); the records are read once, here."""
        from harness.errors import check
        if self._final is None:
            check(_lib().probe_rss_capture_stop(self._h), f"stop the RSS capture on lcore {self.lcore}")
            stats = self.stats()
            n = stats["captured"]
            buf = _ffi().buffer(self._pkts, n * struct.calcsize(PKT_FORMAT))
            packets = [Packet(q, h, bool(hh), bool(o), Flow(s, d, sp, dp))
                       for h, s, d, sp, dp, q, hh, o in struct.iter_unpack(PKT_FORMAT, buf)]
            check(_lib().probe_rss_capture_free(self._h), "RSS capture free")
            self._h = _ffi().NULL
            self._final = CaptureResult(stats, packets)
            _probe().unregister_loop(self)
        return self._final

    def __enter__(self) -> "Capture":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def queue_plan(queues: int, lcores: Sequence[int]) -> dict[int, list[int]]:
    """Every rx queue 0..queues-1 onto a polling lcore, round robin."""
    if not lcores:
        raise ValueError("no worker lcore to poll the rx queues")
    plan: dict[int, list[int]] = {lc: [] for lc in lcores}
    for q in range(queues):
        plan[lcores[q % len(lcores)]].append(q)
    return {lc: qs for lc, qs in plan.items() if qs}


def drain(port, lcore: int, queues: Sequence[int], seconds: float = 0.03) -> int:
    """Poll and free whatever sits in the queues; returns packets drained."""
    cap = Capture(lcore, port, queues, max_pkts=0)
    time.sleep(seconds)
    return cap.stop().stats["rx_pkts"]


@dataclass
class Delivery:
    """Flows sent into a topology and what the capture(s) saw."""

    flows: list[Flow]
    sent: int
    queues: int
    result: CaptureResult
    per_lcore: dict[int, CaptureResult] = field(default_factory=dict)
    plan: dict[int, list[int]] = field(default_factory=dict)

    @property
    def per_queue(self) -> list[int]:
        return self.result.per_queue(self.queues)

    @property
    def received(self) -> int:
        return sum(self.per_queue)


#: frames injected before waiting for the pollers: fits the smallest kernel-side ring
#: (net_af_packet's 512-frame PACKET_RX_RING) even if every frame picks one queue
INJECT_CHUNK = 256


def _paced_inject(topo, flows, count, frame_size, caps, quiet_s) -> int:
    """Inject in chunks of :data:`INJECT_CHUNK`, each once the pollers have taken the one before:
    a poller descheduled on a busy host must not turn into ring overflow (loss) in a spread run."""
    tuples = c_tuples(flows)
    sent = 0
    while sent < count:
        n = min(INJECT_CHUNK, count - sent)
        sent += inject(topo, tuples, n, first=sent, frame_size=frame_size)  # the round robin continues
        deadline = time.monotonic() + max(quiet_s, 0.05) * 4
        while time.monotonic() < deadline and sum(c.stats()["ours"] for c in caps) < sent:
            time.sleep(0.0005)
    return sent


def send_and_capture(topo, lcores: Sequence[int], flows: Sequence[Flow], count: int, *, queues: int, pool=None,
                     burst: int = 32, frame_size: int = 64, timeout_s: float = 5.0, burst_first: bool = False,
                     reset_stats: bool = False, quiet_s: float = 0.25) -> Delivery:
    """Send ``count`` frames of ``flows`` into ``topo`` and capture every rx queue.

    Kernel-fed topologies are fed from the kernel side; others send from ``topo.tx`` on the first
    capture's lcore. The queues are polled per :func:`queue_plan` over ``lcores``. With
    ``burst_first`` nothing is polled until every frame is sent (a burst against the rings);
    ``reset_stats`` zeroes the ports' counters once the queues are drained, so they count this run.
    """
    from harness.errors import ProbeUnsupportedError
    plan = queue_plan(queues, list(lcores))
    lcs = list(plan)
    for lc in lcs:
        drain(topo.rx, lc, plan[lc])
    if reset_stats:
        for port in topo.ports:
            try:
                port.reset_stats()
            except ProbeUnsupportedError:
                pass
    caps: dict[int, Capture] = {}
    sent = 0
    try:
        if topo.kernel_fed:
            if burst_first:
                sent = inject(topo, flows, count, frame_size=frame_size)
                time.sleep(0.02)
            for lc in lcs:
                caps[lc] = Capture(lc, topo.rx, plan[lc], max_pkts=count + 1024, burst=burst)
            if not burst_first:
                time.sleep(0.01)
                sent = _paced_inject(topo, flows, count, frame_size, caps.values(), quiet_s)
        else:
            first = lcs[0]
            for lc in lcs:
                tx = dict(tx_port=topo.tx, tx_flows=flows, tx_count=count, pool=pool, frame_size=frame_size,
                          rx_after_tx=burst_first) if lc == first else {}
                caps[lc] = Capture(lc, topo.rx, plan[lc], max_pkts=count + 1024, burst=burst, **tx)
            caps[first].wait_sent(timeout_s)
            sent = caps[first].stats()["tx_pkts"]
        # until everything arrived, or nothing more arrives for quiet_s (frames were dropped)
        deadline = time.monotonic() + timeout_s
        seen, last_change = -1, time.monotonic()
        while time.monotonic() < deadline:
            now_seen = sum(c.stats()["ours"] for c in caps.values())
            if now_seen >= sent:
                break
            if now_seen != seen:
                seen, last_change = now_seen, time.monotonic()
            elif time.monotonic() - last_change > quiet_s:
                break
            time.sleep(0.005)
        time.sleep(0.03)  # stragglers
    finally:
        results = {lc: cap.stop() for lc, cap in caps.items()}
    merged = CaptureResult({k: sum(r.stats[k] for r in results.values()) if isinstance(v, int) else v
                            for k, v in next(iter(results.values())).stats.items()} if results else {},
                           [p for r in results.values() for p in r.packets])
    if results:
        for k in ("q_pkts", "q_polls"):
            merged.stats[k] = [sum(r.stats[k][i] for r in results.values()) for i in range(MAX_QUEUES)]
    return Delivery(list(flows), sent, queues, merged, results, plan)


#: rx queues a vdev run spreads over when the profile has one rx queue
DEMO_QUEUES = 4


def spread_queue_count(profile) -> int:
    """rx queues the spread is judged over: the profile's ``queues.rx``; on vdev runs with one rx
    queue, :data:`DEMO_QUEUES` show the spread the profile's RSS settings would give."""
    if profile.ports.nic_mode:
        return profile.queues.rx
    return profile.queues.rx if profile.queues.rx > 1 else DEMO_QUEUES


def device_key_and_reta(port) -> tuple[bytes | None, list[int] | None, list[str]]:
    """The key and RETA ``port`` holds, where its PMD can report them; notes say what it cannot."""
    from harness.errors import ProbeUnsupportedError
    notes: list[str] = []
    key = reta = None
    try:
        key = hash_conf(port)[1] or None
    except ProbeUnsupportedError as exc:
        notes.append(str(exc))
    try:
        reta = reta_query(port)
    except ProbeUnsupportedError as exc:
        notes.append(str(exc))
    return key, reta, notes


def apply_profile_reta(topo, profile) -> list[str]:
    """Program ``rss.reta`` (repeated over each port's RETA size) on ports that run RSS and have a RETA.

    Called by bring-up (harness/topology.py) after the key and hash functions are configured.
    Returns what could not be applied, one line per port.
    """
    from harness.errors import ProbeUnsupportedError
    notes: list[str] = []
    if not profile.rss.reta:
        return notes
    for port in topo.ports:
        size = port.info()["reta_size"]
        if size and port.conf is not None and port.conf.rss:
            try:
                reta_update(port, expand_reta(profile.rss.reta, size))
            except ProbeUnsupportedError as exc:
                notes.append(str(exc))
    return notes


def flows_off_their_queue(delivery: Delivery) -> dict[Flow, set[int]]:
    """Flows whose packets arrived on more than one queue (RSS keeps a flow on one queue)."""
    return {f: qs for f, qs in delivery.result.queues_of_flows().items() if len(qs) > 1}


