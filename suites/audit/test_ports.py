"""Ports of the audited application: error counters over the window, rx spread over the queues."""
import warnings

import pytest

from harness.audit import model

pytestmark = pytest.mark.audit


@pytest.mark.parametrize("counter", list(model.RATE_COUNTERS))
def test_port_counter_rate(counter, observed, audit_cfg, measure):
    """Steps: read /ethdev/stats of every port at both ends of the window (and /ethdev/xstats, whose
    error-like counters that rose are named in the message).
    Verify: per port, rx_nombuf (the pool ran dry), imissed, ierrors, oerrors rose no faster than the
    audit.max_<counter>_per_s limit (default 0/s)."""
    if not observed.ports:
        pytest.skip(f"{observed.app.label()} has no ethdev port (/ethdev/list is empty)")
    key = model.RATE_COUNTERS[counter]
    limit = getattr(audit_cfg, key)
    for p in observed.ports:
        measure(f"port{p.port}.{counter}_per_s", p.rate(counter), unit="1/s", target=limit, op="<=",
                delta=p.deltas.get(counter, 0), seconds=f"{p.seconds:.2f}", port=p.name)
    problems = model.rate_problems(observed.app, observed.ports, {k: getattr(audit_cfg, k)
                                                                    for k in model.RATE_COUNTERS.values()})
    problems = [m for m in problems if f": {counter} rose" in m]
    assert not problems, "\n".join(problems)


def test_rx_queue_spread(observed, audit_cfg, measure):
    """Steps: per-queue rx packets of every port with more than one rx queue (/ethdev/stats q_ipackets,
    the first nb_rx_queues of /ethdev/info) over the window.
    Verify: as suites/rss judges a spread: chi-square p-value (per flow, audit.flows flows assumed)
    >= audit.min_p_value and max/min ratio <= audit.max_ratio; a warning when audit.flows is too few
    for the chi-square."""
    multi = [p for p in observed.ports if p.nb_rx_queues > 1]
    if not multi:
        pytest.skip(f"{observed.app.label()}: no port has more than one rx queue "
                    f"({', '.join(f'port {p.port}: {p.nb_rx_queues}' for p in observed.ports) or 'no ports'})")
    judged = [p for p in multi if sum(p.q_ipackets) >= audit_cfg.min_rx_packets]
    if not judged:
        pytest.skip(f"{observed.app.label()}: its multi-queue ports received fewer than audit.min_rx_packets = "
                    f"{audit_cfg.min_rx_packets} packets in the {observed.seconds:.1f} s window "
                    f"({', '.join(f'port {p.port}: {sum(p.q_ipackets)}' for p in multi)}): no spread to judge")
    problems = []
    for p in judged:
        sp = model.spread_of(p, audit_cfg.flows)
        measure(f"port{p.port}.rx_spread_p_value", sp.p_value, unit="p", target=audit_cfg.min_p_value, op=">=",
                counts=list(sp.counts), flows=sp.flows)
        measure(f"port{p.port}.rx_spread_max_min", sp.max_min_ratio, unit="ratio", target=audit_cfg.max_ratio,
                op="<=", counts=list(sp.counts))
        for q, c in enumerate(sp.counts):
            measure(f"port{p.port}.q{q}.rx_packets", c, unit="packets")
        note = model.few_flows_note(audit_cfg.flows, sp.queues)
        if note:
            warnings.warn(note, stacklevel=1)
        problems += model.spread_problems(observed.app, p, sp, min_p_value=audit_cfg.min_p_value,
                                          max_ratio=audit_cfg.max_ratio)
    assert not problems, "\n".join(problems)
