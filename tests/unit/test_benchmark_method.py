"""benchmarks/run.py's way of turning interleaved windows into a ratio (no timing here: the figures are made up)."""
import importlib.util
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "benchmarks" / "run.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def windows(*rates, cpu_s=0.1):
    """testpmd, ours, testpmd, ... with the given pps."""
    return [("testpmd" if i % 2 == 0 else "ours", {"pps": r, "cpu_s": cpu_s}) for i, r in enumerate(rates)]


def test_a_linear_drift_of_the_host_cancels(bench):
    # the host slows down steadily; ours is exactly as fast as testpmd at every instant
    seq = windows(100, 98, 96, 94, 92)
    got = bench.bracketed(seq, 0.1)
    assert [b["ratio"] for b in got[1:-1]] == pytest.approx([1.0, 1.0, 1.0])
    assert all(b["steady"] for b in got[1:-1])
    assert not got[0]["steady"] and not got[-1]["steady"]  # the edges have one neighbour


def test_a_window_straddling_a_step_of_the_host_is_left_out(bench):
    # the host's speed steps from 100 to 65 between windows 2 and 3; ours is as fast as testpmd throughout
    seq = windows(100, 100, 100, 65, 65, 65, 65)
    got = bench.bracketed(seq, 0.1)
    assert got[2]["steady"] is False and "neighbours differ by 54 %" in got[2]["why"]
    assert got[3]["steady"] is False
    kept = [b["ratio"] for b in got if b["steady"]]
    assert kept == pytest.approx([1.0, 1.0, 1.0])


def test_the_ratio_is_ours_over_testpmd_from_either_side(bench):
    seq = windows(100, 90, 100, 90, 100)  # ours 10 % slower
    got = bench.bracketed(seq, 0.1)
    assert [b["ratio"] for b in got[1:-1]] == pytest.approx([0.9, 0.9, 0.9])


def test_a_window_without_cpu_spoils_its_brackets(bench):
    seq = windows(100, 100, 100, 100, 100)
    seq[2] = ("testpmd", {"pps": 100, "cpu_s": 0.001})
    got = bench.bracketed(seq, 0.1)
    assert [b["steady"] for b in got] == [False, False, False, False, False]
    assert "ms of CPU" in got[1]["why"]


def test_pairs_are_shared_out_over_instances(bench):
    assert [bench.per_instance(120, 10, i) for i in range(10)] == [12] * 10
    assert [bench.per_instance(13, 4, i) for i in range(4)] == [4, 3, 3, 3]
