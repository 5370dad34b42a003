"""Trace analysis of the zero-copy check, on synthetic traces."""
from harness import zerocopy as zc


def rec(task, kind, seq, mbuf, data=None, intact=1):
    return {"task": task, "kind": kind, "seq": seq, "mbuf": mbuf, "data": data or mbuf + 128, "intact": intact,
            "buf_iova": 0, "nb_segs": 1}


def trace(copy_at_fwd=False, n=4):
    out = []
    for s in range(n):
        m = 0x1000 * (s + 1)
        out += [rec(zc.GEN, zc.TX, s, m), rec(zc.FWD, zc.RX, s, m),
                rec(zc.FWD, zc.TX, s, m + 0x800 if copy_at_fwd else m),
                rec(zc.SINK, zc.RX, s, m + 0x800 if copy_at_fwd else m)]
    out.append(rec(zc.SINK, zc.RX, zc.NOT_OURS, 0x9999))  # not ours: ignored
    return out


def test_zero_copy_path():
    a = zc.analyse(trace(), fwd_where="rx p1 -> tx p1", wire_identity=True)
    assert a.packets == 4 and a.copies == 0 and a.copies_per_packet == 0 and a.intact == 4
    assert [h.name for h in a.hops] == ["wire out", "forwarding stage", "wire back"]


def test_copy_at_the_forwarding_stage_is_named():
    a = zc.analyse(trace(copy_at_fwd=True), fwd_where="rx p1 -> tx p1", wire_identity=True)
    assert a.copies == 4 and a.copies_per_packet == 1.0
    msg = zc.copy_message(a)
    assert msg.startswith("the forwarding stage (rx p1 -> tx p1) handed on a different mbuf for 4 of 4 packets")
    assert "wire" not in msg


def test_on_a_cable_only_the_stage_is_judged():
    t = trace()
    for r in t:
        if r["task"] == zc.SINK:
            r["mbuf"] += 0x10  # the far NIC has its own buffers
    a = zc.analyse(t, fwd_where="x", wire_identity=False)
    assert [h.name for h in a.hops] == ["forwarding stage"] and a.copies == 0


def test_changed_bytes_are_counted():
    t = trace()
    t[3]["intact"] = 0
    assert zc.analyse(t, fwd_where="x", wire_identity=True).not_intact == 1
