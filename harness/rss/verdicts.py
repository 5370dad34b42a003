"""RSS verdicts: what a bad spread or a port's RSS configuration says, naming the cause and the fix.

The maths these judge (Toeplitz, queue-of-hash, the spread statistics) is :mod:`harness.rss.model`;
this is the text: :func:`spread_problems` looks for the cause in the configuration before it blames
the hash, :func:`config_problems` compares what a port holds with what the profile asked for. Pure
Python, like the model (tests/unit covers both).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from harness.rss.model import MIN_FLOWS_PER_QUEUE, Spread, expand_reta

# --------------------------------------------------------------------------- spread verdicts


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
    key_all_zero: bool = False         # the key the hash ran with is all zeros (rss.key = "00...")


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
    failed = " and ".join(n for n, bad in (("the chi-square p-value", bad_p), ("the max/min ratio", bad_ratio)) if bad)
    figures = (f"{what}: {failed} failed: per-queue {unit} {list(sp.counts)} from {sp.flows} flow(s): chi-square p = "
               f"{sp.p_value:.3g} ({'FAIL' if bad_p else 'ok'}, expected >= rss.min_p_value {min_p_value:g}), "
               f"max/min ratio {sp.max_min_ratio:.3g} ({'FAIL' if bad_ratio else 'ok'}, expected <= rss.max_ratio "
               f"{max_ratio:g})")
    empty = sp.empty_queues
    empty_text = f"queues {_queue_list(empty)} receive nothing" if len(empty) > 1 else (
        f"queue {empty[0]} receives nothing" if empty else "")
    if not setting.enabled:
        cause = (f"RSS is disabled (rss.enabled = false) with {q} rx queues: queues 1..{q - 1} receive nothing, "
                 f"every packet lands on queue 0; set rss.enabled = true (with hash_functions covering the "
                 f"traffic) or configure queues.rx = 1")
    elif setting.key_all_zero:
        cause = (f"{setting.key_source} is all zeros: the Toeplitz hash of every packet is 0, so every flow lands on "
                 f"the queue of RETA entry 0{', and ' + empty_text if empty_text else ''}; set rss.key to a random "
                 "40-byte key (80 hex digits), or leave rss.key out for the PMD's default")
    elif setting.flows < q or setting.flows == 1:
        need = MIN_FLOWS_PER_QUEUE * q
        why = ("a single flow always lands on one queue" if setting.flows == 1
               else f"{setting.flows} flows cannot cover {q} queues")
        cause = (f"rss.flows = {setting.flows}: {why}"
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
    elif bad_p:
        fields = "addresses and ports" if setting.fields == "l4" else "addresses only"
        cause = (f"the hash ({setting.key_source}, {fields}"
                 f") spreads these {setting.flows} flows unevenly"
                 f"{' and ' + empty_text if empty_text else ''}; try another rss.key, hash on ports too "
                 f"(hash_functions 'udp'/'tcp'), or send more flows (rss.flows)")
    else:
        per_q = setting.flows / q
        cause = (f"the chi-square p-value is fine (the spread is what an even hash gives), only the busiest / quietest "
                 f"queue ratio is above rss.max_ratio: with {per_q:.3g} flows per queue, chance alone gives ratios "
                 f"like {sp.max_min_ratio:.3g}; send more flows (rss.flows = {max(setting.flows * 4, 64 * q)}) "
                 "or raise rss.max_ratio to what the deployment accepts")
    weak = too_few_flows_message(setting.flows, q) if setting.flows >= q else None
    return [f"{figures}. {cause}" + (f". Note: {weak}" if weak else "")]


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
