"""Unit tests for harness.profile: loading, validation messages, lcores, overrides, host checks."""
from __future__ import annotations

import dataclasses
import pathlib

import pytest

from harness.errors import ProfileError, UsageError
from harness.profile import (
    TOPOLOGIES,
    EalConfig,
    FrozenMap,
    LcoreMap,
    PpsTarget,
    Profile,
    check_host,
    default_profile_path,
    format_lcores,
    load_profile,
    mbufs_required,
    parse_lcores,
    parse_profile,
)

REPO = pathlib.Path(__file__).resolve().parents[2]
PROFILES = REPO / "profiles"
MS_KEY = bytes.fromhex(
    "6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa"
)
NIC = '[ports]\npci = ["0000:03:00.0", "0000:03:00.1"]\n'


def error(text: str, path: str = "profiles/x.toml") -> str:
    with pytest.raises(ProfileError) as info:
        parse_profile(text, path)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}: ")
    return msg


def lm(lcore, *cpus):
    return LcoreMap(lcore, frozenset(cpus))


# --------------------------------------------------------------------------- shipped profiles


def test_vdev_profile_is_the_ci_default():
    p = load_profile(PROFILES / "vdev.toml")
    assert p.name == "vdev"
    assert p.eal.lcores == (lm(0, 0), lm(1, 1))
    assert p.eal.main_lcore == 0 and p.eal.worker_lcores() == (1,)
    assert (p.eal.memory_mb, p.eal.hugepages, p.eal.hugepage_size_kb) == (256, True, 2048)
    assert p.ports.topology == "ring_wire" and not p.ports.nic_mode
    assert (p.queues.rx, p.queues.tx, p.queues.rx_desc, p.queues.tx_desc, p.queues.burst) == (1, 1, 1024, 1024, 32)
    assert (p.mempool.mbufs, p.mempool.cache, p.mempool.data_room) == (8191, 256, 2176)
    assert p.rss.hash_functions == ("ipv4", "tcp", "udp")
    assert p.targets.pps == (PpsTarget(64, 1e6), PpsTarget(1518, 5e5))
    assert p.measure.duration_s == 0.5 and p.measure.repeats == 3


def test_vdev_profile_comments_every_key():
    for line in (PROFILES / "vdev.toml").read_text().splitlines():
        s = line.strip()
        if "=" in s and not s.startswith("#") and not s.startswith("name") and not s.startswith("description"):
            key = s.split("=")[0].strip()
            # continuation keys of a repeated [[targets.pps]] are documented once above
            assert "#" in s or key in ("frame_size", "pps"), f"uncommented key: {s}"


def test_nic_pair_profile():
    p = load_profile(PROFILES / "nic-pair-10g.toml")
    assert p.ports.pci == ("0000:03:00.0", "0000:03:00.1") and p.ports.nic_mode
    assert p.ports.loopback == "cable"
    assert p.queues.rx == p.queues.tx == 4
    assert p.rss.key == MS_KEY and len(p.rss.key) == 40
    assert p.targets.pps_for(64).pps == 14_880_952
    assert p.targets.pps_for(1518).pps == 812_743
    assert len(p.eal.lcores) == 4 and p.eal.cpus() == frozenset({1, 2, 3, 4})
    assert p.mempool.mbufs >= mbufs_required(p, 2, 4)


def test_nic_internal_loopback_profile():
    p = load_profile(PROFILES / "nic-internal-loopback.toml")
    assert p.ports.pci == ("0000:03:00.0",)
    assert (p.ports.loopback, p.ports.lpbk_mode) == ("internal", 1)
    assert p.targets.pps == (PpsTarget(64, 10e6),)


def test_profiles_are_hashable_and_frozen():
    p = load_profile(PROFILES / "nic-pair-10g.toml")
    assert hash(p) == hash(load_profile(PROFILES / "nic-pair-10g.toml"))
    assert p == load_profile(PROFILES / "nic-pair-10g.toml")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.queues.rx = 8
    with pytest.raises(TypeError):
        p.targets.latency_us["p50"] = 1.0
    assert dict(p.targets.latency_us) == {"p50": 20.0, "p99": 100.0}


def test_default_profile_path(monkeypatch, tmp_path):
    monkeypatch.delenv("DPDK_HARNESS_PROFILE", raising=False)
    assert default_profile_path() == PROFILES / "vdev.toml"
    monkeypatch.setenv("DPDK_HARNESS_PROFILE", str(tmp_path / "mine.toml"))
    assert default_profile_path() == tmp_path / "mine.toml"


# --------------------------------------------------------------------------- files and TOML


def test_empty_profile_takes_every_default():
    p = parse_profile("", "profiles/empty.toml")
    assert p == Profile(name="empty", path="profiles/empty.toml")
    assert p.eal == EalConfig() and p.eal.lcores_arg() == "0@0,1@1"
    assert p.targets.pps == () and dict(p.targets.latency_us) == {}


def test_name_and_description():
    p = parse_profile('name = "lab"\ndescription = "rack 3"', "x/y.toml")
    assert (p.name, p.description, p.path) == ("lab", "rack 3", "x/y.toml")
    assert "name: is empty" in error('name = "  "')
    assert "name: expected a string, got 3 (int)" in error("name = 3")


def test_parse_from_mapping():
    p = parse_profile({"queues": {"rx": 2}, "rss": {"reta": [0, 1]}})
    assert p.queues.rx == 2 and p.rss.reta == (0, 1) and p.name == "<string>"


def test_missing_file(tmp_path):
    path = tmp_path / "nope.toml"
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert str(info.value) == (
        f"{path}: no such profile file; pass --dpdk-profile with the path of a TOML profile (see profiles/)"
    )


def test_directory_is_not_a_profile(tmp_path):
    with pytest.raises(ProfileError, match="is a directory.*pass --dpdk-profile"):
        load_profile(tmp_path)


def test_malformed_toml(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[queues]\nrx = = 2\n")
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: not valid TOML: ") and "line 2" in msg and "\n" not in msg


def test_not_utf8(tmp_path):
    path = tmp_path / "bin.toml"
    path.write_bytes(b"name = \"\xff\"\n")
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert str(info.value) == (f"{path}: not UTF-8 text (byte 8, line 1: b'\\xff'); save the profile as UTF-8, "
                               f"e.g. `iconv -f latin1 -t utf-8 {path} > fixed.toml`")


@pytest.mark.parametrize("text", [
    '[eal]\nlog_level = "{x}"\n', '[eal]\nlcores = "{x}"\n', '[eal]\n{x} = 1\n', '[{x}]\na = 1\n',
    '[ports]\npci = ["{x}"]\n', '[eal]\nextra_args = ["--lcores={x}"]\n', '[rss]\nhash_functions = ["{x}"]\n',
])
def test_a_100000_character_value_is_cut_in_the_message(text):
    with pytest.raises(ProfileError) as info:
        parse_profile(text.replace("{x}", "x" * 100_000), "p.toml")
    msg = str(info.value)
    assert len(msg) < 600 and "\n" not in msg, msg[:300]
    assert "(100000 characters)" in msg or "(100002 characters)" in msg or "characters)" in msg, msg


def test_load_reports_path_as_given(tmp_path, monkeypatch):
    (tmp_path / "p.toml").write_text("[queues]\nrx = 0\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ProfileError) as info:
        load_profile("p.toml")
    assert str(info.value) == "p.toml: queues.rx: 0 is out of range 1..1024; use a value in 1..1024 (default 1)"


# --------------------------------------------------------------------------- unknown keys and types


def test_unknown_key_names_the_known_keys():
    msg = error("[queues]\nrx_dsec = 512\n")
    assert msg == (
        "profiles/x.toml: queues.rx_dsec: unknown key; did you mean 'rx_desc'? known keys in [queues]: "
        "rx, tx, rx_desc, tx_desc, burst, tx_free_thresh, tx_rs_thresh, in_flight"
    )


def test_unknown_section():
    msg = error("[queue]\nrx = 1\n")
    assert "profiles/x.toml: queue: unknown section; did you mean [queues]? known sections: [eal]" in msg


def test_unknown_top_level_key():
    msg = error('nme = "x"\n')
    assert "nme: unknown key; did you mean 'name'? known top-level keys: name, description, eal" in msg


def test_section_that_is_not_a_table():
    assert "eal: expected a table [eal], got 3 (int); write it as a [eal] section" in error("eal = 3")


@pytest.mark.parametrize(
    "text, expected",
    [
        ('[queues]\nrx = "four"', "queues.rx: expected an integer, got 'four' (str); write e.g. rx = 1"),
        ("[queues]\nrx = true", "queues.rx: expected an integer, got true (bool); write e.g. rx = 1"),
        ("[queues]\nrx = 2.0", "queues.rx: expected an integer, got 2.0 (float)"),
        ("[eal]\nmemory_mb = [1]", "eal.memory_mb: expected an integer, got [1] (array)"),
        ("[eal]\nhugepages = 1", "eal.hugepages: expected true or false, got 1 (int); write hugepages = true or hugepages = false"),
        ('[ports]\npromiscuous = "yes"', "ports.promiscuous: expected true or false, got 'yes' (str)"),
        ("[ports]\nlink_timeout_s = true", "ports.link_timeout_s: expected a number, got true (bool); write e.g. link_timeout_s = 5.0"),
        ('[measure]\nduration_s = "1s"', "measure.duration_s: expected a number, got '1s' (str); write e.g. duration_s = 1.0"),
        ("[measure]\nduration_s = nan", "measure.duration_s: nan is not a finite number"),
        ("[targets]\ntolerance = inf", "targets.tolerance: inf is not a finite number"),
        ("[eal]\nlog_level = 3", "eal.log_level: expected a string, got 3 (int); write e.g. log_level = \"notice\""),
        ('[ports]\npci = "0000:03:00.0"', "ports.pci: expected an array, got '0000:03:00.0' (str)"),
        ("[ports]\npci = [3]", "ports.pci[0]: expected a string, got 3 (int); write PCI addresses as quoted strings"),
        ("[eal]\nextra_args = [1]", "eal.extra_args[0]: expected a string, got 1 (int)"),
        ("[eal]\nlcores = [0, 1]", 'eal.lcores: expected a string, got [0, 1] (array); write comma-separated items'),
        ('[rss]\nhash_functions = "ipv4"', "rss.hash_functions: expected an array, got 'ipv4' (str)"),
        ("[rss]\nhash_functions = [4]", "rss.hash_functions[0]: expected a string, got 4 (int)"),
        ('[rss]\nreta = [0, "1"]', "rss.reta[1]: expected an integer, got '1' (str); write one rx queue number per RETA entry"),
        ("[rss]\nkey = 5", "rss.key: expected a hex string, got 5 (int); write the key as 80 (40-byte) or 104 (52-byte) hex digits"),
        ('[mempool]\nsocket = "any"', "mempool.socket: expected an integer, got 'any' (str); write e.g. socket = -1"),
        ("[targets]\npps = 5", "targets.pps: expected an array of tables [[targets.pps]], got 5 (int); write each target as [[targets.pps]]"),
        ("[targets]\npps = [5]", "targets.pps[0]: expected a table [[targets.pps]], got 5 (int)"),
        ('[[targets.pps]]\nframe_size = "64"\npps = 1', "targets.pps[0].frame_size: expected an integer, got '64' (str); write e.g. frame_size = 64"),
        ("[[targets.pps]]\nframe_size = 64\npps = false", "targets.pps[0].pps: expected a number, got false (bool)"),
        ("[targets]\nlatency_us = 5", "targets.latency_us: expected a table [targets.latency_us], got 5 (int)"),
        ('[targets.latency_us]\np99 = "5us"', "targets.latency_us.p99: expected a number, got '5us' (str); write e.g. p99 = 50.0"),
    ],
)
def test_wrong_types(text, expected):
    assert expected in error(text)


@pytest.mark.parametrize(
    "text, key, known",
    [
        ("[eal]\nhugepage_size_kb = 2048", "eal.hugepage_size_kb", "did you mean 'hugepage_size'? known keys in [eal]: lcores,"),
        ("[ports]\ntopo = 'tap'", "ports.topo", "known keys in [ports]: topology, pci, loopback"),
        ("[mempool]\nmbuf = 1", "mempool.mbuf", "did you mean 'mbufs'? known keys in [mempool]"),
        ("[rss]\nhash = []", "rss.hash", "known keys in [rss]: enabled, hash_functions"),
        ("[targets]\nmpps = 1", "targets.mpps", "known keys in [targets]: tolerance, loss, pps, latency_us"),
        ("[[targets.pps]]\nframe_size = 64\npps = 1\nsize = 64", "targets.pps[0].size", "known keys in [[targets.pps]]: frame_size, pps, mpps"),
        ("[targets.latency_us]\np95 = 3", "targets.latency_us.p95", "known keys in [targets.latency_us]: p50, p90, p99, p999, max"),
        ("[measure]\nduration = 1", "measure.duration", "did you mean 'duration_s'?"),
        ("[queues]\nrx_queues = 1", "queues.rx_queues", "known keys in [queues]"),
    ],
)
def test_unknown_keys_in_every_section(text, key, known):
    msg = error(text)
    assert f"{key}: unknown key; " in msg and known in msg


# --------------------------------------------------------------------------- ranges


@pytest.mark.parametrize(
    "text, expected",
    [
        ("[queues]\nrx = 0", "queues.rx: 0 is out of range 1..1024; use a value in 1..1024 (default 1)"),
        ("[queues]\ntx = 1025", "queues.tx: 1025 is out of range 1..1024"),
        ("[queues]\nrx_desc = 0", "queues.rx_desc: 0 is out of range 1..65535"),
        ("[queues]\ntx_desc = 65536", "queues.tx_desc: 65536 is out of range 1..65535"),
        ("[queues]\nburst = 513", "queues.burst: 513 is out of range 1..512; use a value in 1..512 (default 32)"),
        ("[queues]\ntx_free_thresh = -1", "queues.tx_free_thresh: -1 is out of range 0..65535"),
        ("[queues]\ntx_rs_thresh = 70000", "queues.tx_rs_thresh: 70000 is out of range 0..65535"),
        ("[queues]\nin_flight = -1", "queues.in_flight: -1 is out of range: must be >= 0; use a value >= 0 (default 0)"),
        ("[eal]\nmemory_mb = 8", "eal.memory_mb: 8 is out of range 16..1048576"),
        ("[eal]\nmain_lcore = -1", "eal.main_lcore: -1 is out of range 0..1023"),
        ("[ports]\nlpbk_mode = 256", "ports.lpbk_mode: 256 is out of range 0..255"),
        ("[ports]\nlink_timeout_s = 0", "ports.link_timeout_s: 0 is out of range: must be > 0 and <= 600; use a value > 0 and <= 600 (default 5.0)"),
        ("[mempool]\nmbufs = 0", "mempool.mbufs: 0 is out of range: must be >= 1"),
        ("[mempool]\ncache = -1", "mempool.cache: -1 is out of range 0..65535"),
        ("[mempool]\ndata_room = 127", "mempool.data_room: 127 is out of range 128..65535"),
        ("[mempool]\nmtu = 67", "mempool.mtu: 67 is out of range 68..16000"),
        ("[mempool]\nsocket = -2", "mempool.socket: -2 is out of range: must be -1 (any) or 0..63; use -1 for the port's own socket"),
        ("[mempool]\nsocket = 64", "mempool.socket: 64 is out of range"),
        ("[rss]\nflows = 0", "rss.flows: 0 is out of range 1..1000000"),
        ("[rss]\nflows = 1_000_001", "rss.flows: 1000001 is out of range 1..1000000"),
        ("[rss]\nmin_p_value = 0", "rss.min_p_value: 0 is out of range: must be > 0 and < 1; use a value > 0 and < 1 (default 0.01)"),
        ("[rss]\nmin_p_value = 1.0", "rss.min_p_value: 1 is out of range: must be > 0 and < 1"),
        ("[rss]\nmax_ratio = 0.9", "rss.max_ratio: 0.9 is out of range: must be >= 1; use a value >= 1 (default 1.5)"),
        ("[targets]\ntolerance = 1.5", "targets.tolerance: 1.5 accepts any rate: target x (1 - tolerance) is <= 0"),
        ("[targets]\ntolerance = 1.0", "targets.tolerance: 1 accepts any rate: target x (1 - tolerance) is <= 0, so "
                                      "every throughput check passes whatever is measured; use a fraction below 1"),
        ("[targets]\ntolerance = 0.9999\n[[targets.pps]]\nframe_size = 64\npps = 1e6",
         "targets.tolerance: 0.9999 turns targets.pps[0] (1,000,000 pps at 64 bytes) into >= 100 pps, which any "
         "deployment passes; use a tolerance that keeps the bound at 1000 pps or more"),
        ("[targets]\nloss = -0.1", "targets.loss: -0.1 is out of range 0..1"),
        ("[[targets.pps]]\nframe_size = 63\npps = 1", "targets.pps[0].frame_size: 63 is out of range 64..9728"),
        ("[[targets.pps]]\nframe_size = 9729\npps = 1", "targets.pps[0].frame_size: 9729 is out of range 64..9728"),
        ("[[targets.pps]]\nframe_size = 64\npps = 0", "targets.pps[0].pps: 0 is out of range: must be > 0"),
        ("[[targets.pps]]\nframe_size = 64\nmpps = -1", "targets.pps[0].mpps: -1 is out of range: must be > 0"),
        ("[targets.latency_us]\np50 = 0", "targets.latency_us.p50: 0 is out of range: must be > 0"),
        ("[measure]\nduration_s = 0.01", "measure.duration_s: 0.01 is out of range 0.05..3600"),
        ("[measure]\nduration_s = 3601", "measure.duration_s: 3601 is out of range 0.05..3600"),
        ("[measure]\nrepeats = 0", "measure.repeats: 0 is out of range 1..100; use a value in 1..100 (default 3)"),
        ("[measure]\nrepeats = 101", "measure.repeats: 101 is out of range 1..100"),
        ("[measure]\nwarmup_s = -1", "measure.warmup_s: -1 is out of range 0..60"),
        ("[measure]\nwarmup_s = 61", "measure.warmup_s: 61 is out of range 0..60"),
    ],
)
def test_out_of_range(text, expected):
    assert expected in error(text)


def test_range_edges_are_accepted():
    p = parse_profile(
        "[queues]\nrx = 1024\ntx = 1\nburst = 512\n"
        "[mempool]\nsocket = 63\ncache = 0\n"
        "[rss]\nflows = 1_000_000\nmax_ratio = 1\n"
        "[targets]\ntolerance = 0.999\nloss = 0\n"
        "[measure]\nduration_s = 0.05\nrepeats = 100\nwarmup_s = 0\n"
    )
    assert p.queues.rx == 1024 and p.mempool.socket == 63 and p.rss.max_ratio == 1.0
    assert isinstance(p.rss.max_ratio, float) and isinstance(p.measure.warmup_s, float)


# --------------------------------------------------------------------------- choices and rules


@pytest.mark.parametrize(
    "text, expected",
    [
        ('[eal]\nlog_level = "verbose"', "eal.log_level: 'verbose' is not one of emerg, alert, crit, err, warning, notice, info, debug; choose one of those"),
        ('[eal]\nlog_level = "warn"', "did you mean 'warning'?"),
        ('[eal]\nhugepage_size = "4K"', "eal.hugepage_size: '4K' is not a hugepage size; write hugepage_size = \"2M\" or \"1G\""),
        ('[ports]\ntopology = "ring"', "ports.topology: 'ring' is not one of null_pair, ring_wire, tap, af_packet, pcap"),
        ('[ports]\nloopback = "wire"', "ports.loopback: 'wire' is not one of none, cable, internal"),
        ('[rss]\nhash_functions = ["ipv5"]', "rss.hash_functions[0]: 'ipv5' is not one of ip, ipv4, ipv6"),
        ('[rss]\nhash_functions = ["tcp", "tcp"]', "rss.hash_functions[1]: 'tcp' is listed twice; list each hash function once"),
        ("[rss]\nhash_functions = []", "rss.hash_functions: is empty but rss.enabled = true; list the hash functions"),
        ("[eal]\nmain_lcore = 2", "eal.main_lcore: lcore 2 is not one of eal.lcores (0-1); set main_lcore to one of 0,1 or add lcore 2 to eal.lcores"),
        ('[eal]\nlcores = "0"', "eal.lcores: 1 lcore given; the harness needs at least 2"),
        ('[eal]\nextra_args = ["--lcores=0-3"]', "eal.extra_args[0]: '--lcores=0-3' is set by the profile (eal.lcores); remove it from extra_args and set eal.lcores instead"),
        ('[eal]\nextra_args = ["-m", "512"]', "eal.extra_args[0]: '-m' is set by the profile (eal.memory_mb)"),
        ('[eal]\nextra_args = ["--no-huge"]', "(eal.hugepages)"),
        ('[eal]\nextra_args = ["-a", "0000:03:00.0"]', "(ports.pci)"),
        ('[eal]\nextra_args = ["--vdev=net_null0"]', "(ports.topology)"),
        ('[ports]\npci = ["03:00"]', "ports.pci[0]: '03:00' is not a PCI address; write it as domain:bus:device.function"),
        ('[ports]\npci = ["03:00.0", "0000:03:00.0"]', "ports.pci[1]: 0000:03:00.0 is already listed as ports.pci[0]; list each port once"),
        ('[ports]\nloopback = "cable"', "ports.loopback: 'cable' needs NIC ports but neither --nic nor ports.pci gives any; pass --nic PCI for each port"),
        (NIC + 'loopback = "internal"', 'ports.lpbk_mode: must be > 0 when ports.loopback = "internal"; set lpbk_mode'),
        (NIC + "lpbk_mode = 1", 'ports.lpbk_mode: 1 is only used with ports.loopback = "internal" (loopback is \'none\'); set lpbk_mode = 0'),
        ('[rss]\nkey = "6d5a"', "rss.key: is 2 bytes; an RSS key is 40 bytes (most NICs) or 52 bytes"),
        ('[rss]\nkey = "6d5g"', "rss.key: 'g' is not a hex digit; write the key as 80 (40-byte) or 104 (52-byte) hex digits"),
        ('[rss]\nkey = "6d5"', "rss.key: has an odd number of hex digits (3)"),
        ("[rss]\nreta = [-1]", "rss.reta[0]: -1 is out of range: must be >= 0"),
        ("[[targets.pps]]\nframe_size = 64", "targets.pps[0]: gives neither pps nor mpps; give exactly one, e.g. pps = 5e6 or mpps = 5.0"),
        ("[[targets.pps]]\nframe_size = 64\npps = 1\nmpps = 1", "targets.pps[0]: gives both pps and mpps; give exactly one"),
        ("[[targets.pps]]\npps = 1", "targets.pps[0].frame_size: is missing; add frame_size = 64"),
        ("[[targets.pps]]\nframe_size = 64\npps = 1\n[[targets.pps]]\nframe_size = 64\nmpps = 2",
         "targets.pps[1].frame_size: 64 is already targeted by targets.pps[0]; give each frame size once"),
        ("[targets.latency_us]\np50 = 10\np99 = 5", "targets.latency_us.p99: 5 is below p50 = 10, and a higher percentile cannot be lower; raise p99 to at least 10 or lower p50"),
    ],
)
def test_rules(text, expected):
    assert expected in error(text)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("[queues]\nrx = 2\n[rss]\nreta = [0, 1, 2, 1]", "rss.reta[2]: sends to rx queue 2 but queues.rx is 2 (queues 0..1); lower the entry or raise queues.rx"),
        ("[mempool]\nmbufs = 1_000_000\ncache = 256", "mempool.mbufs: 1000000 mbufs of 2176 bytes need at least 2272 MB (the pool 2268 MB + EAL's own 4 MB) but eal.memory_mb is 256; raise eal.memory_mb to at least 2272"),
        ("[[targets.pps]]\nframe_size = 9000\npps = 1", "targets.pps[0].frame_size: 9000-byte frames exceed mempool.mtu 1500 (largest frame 1518); raise mempool.mtu to at least 8982"),
    ],
)
def test_cross_section_rules_name_both_keys(text, expected):
    assert expected in error(text)


def test_valid_values_are_converted():
    p = parse_profile(
        '[eal]\nhugepages = false\nhugepage_size = "1G"\nlog_level = "debug"\nextra_args = ["--iova-mode=va", "--file-prefix=x"]\n'
        '[ports]\npci = ["03:00.0"]\nloopback = "internal"\nlpbk_mode = 1\nlink_timeout_s = 3\n'
        '[mempool]\nmtu = 9000\nscatter = true\n'
        '[rss]\nkey = "6d:5a:56:da 25:5b:0e:c2:41:67:25:3d:43:a3:8f:b0:d0:ca:2b:cb:ae:7b:30:b4:77:cb:2d:a3:80:30:f2:0c:6a:42:b7:3b:be:ac:01:fa"\n'
        "reta = [0, 0]\nenabled = false\nhash_functions = []\n"
        "[[targets.pps]]\nframe_size = 1518\nmpps = 0.5\n[[targets.pps]]\nframe_size = 64\npps = 2000000\n"
        "[targets.latency_us]\nmax = 100\np50 = 10\n"
    )
    assert p.eal.hugepage_size_kb == 1048576 and not p.eal.hugepages
    assert p.eal.extra_args == ("--iova-mode=va", "--file-prefix=x")
    assert p.ports.pci == ("0000:03:00.0",) and p.ports.link_timeout_s == 3.0
    assert p.rss.key == MS_KEY and p.rss.hash_functions == () and p.rss.reta == (0, 0)
    assert p.targets.pps == (PpsTarget(64, 2e6), PpsTarget(1518, 5e5))  # sorted by frame size
    assert list(p.targets.latency_us) == ["p50", "max"]  # percentile order
    assert p.targets.pps_for(1518).mpps == 0.5 and p.targets.pps_for(128) is None


def test_52_byte_rss_key():
    p = parse_profile(f'[rss]\nkey = "{"ab" * 52}"')
    assert p.rss.key == bytes([0xAB]) * 52


def test_hugepage_size_spellings():
    for text, kb in (("2M", 2048), ("2mb", 2048), ("1G", 1048576), ("1GB", 1048576)):
        assert parse_profile(f'[eal]\nhugepage_size = "{text}"').eal.hugepage_size_kb == kb


# --------------------------------------------------------------------------- lcores


@pytest.mark.parametrize(
    "text, maps, arg",
    [
        ("0,1", [lm(0, 0), lm(1, 1)], "0@0,1@1"),
        ("0-1", [lm(0, 0), lm(1, 1)], "0@0,1@1"),
        ("0@0,1@1", [lm(0, 0), lm(1, 1)], "0@0,1@1"),
        ("1@(0,1),0@0", [lm(0, 0), lm(1, 0, 1)], "0@0,1@(0,1)"),
        ("0, 2-3", [lm(0, 0), lm(2, 2), lm(3, 3)], "0@0,2@2,3@3"),
        ("0@4,1@(0-3,8)", [lm(0, 4), lm(1, 0, 1, 2, 3, 8)], "0@4,1@(0-3,8)"),
        ("0-1@2", [lm(0, 2), lm(1, 2)], "0@2,1@2"),
        ("(0,1)@(2-5)", [lm(0, 2, 3, 4, 5), lm(1, 2, 3, 4, 5)], "0@(2-5),1@(2-5)"),
        ("(0-1)", [lm(0, 0, 1), lm(1, 0, 1)], "0@(0,1),1@(0,1)"),
        ("0@0,1@0", [lm(0, 0), lm(1, 0)], "0@0,1@0"),
    ],
)
def test_lcore_syntax(text, maps, arg):
    parsed = parse_lcores(text)
    assert parsed == tuple(maps)
    eal = EalConfig(lcores=parsed)
    assert eal.lcores_arg() == arg
    assert parse_lcores(eal.lcores_arg()) == parsed  # round trip
    assert parse_lcores(format_lcores(parsed)) == parsed
    p = parse_profile(f'[eal]\nlcores = "{text}"\nmain_lcore = {maps[0].lcore}')
    assert p.eal.lcores == parsed


def test_format_lcores_is_compact():
    assert format_lcores(parse_lcores("0@0,1@1,2@2")) == "0-2"
    assert format_lcores(parse_lcores("0,1,3")) == "0-1,3"
    assert format_lcores(parse_lcores("0@2,1@(3,4)")) == "0@2,1@(3,4)"


def test_workers_and_cpus():
    eal = parse_profile('[eal]\nlcores = "0@1,1@(2,3),2@4"\nmain_lcore = 1').eal
    assert eal.worker_lcores() == (0, 2)
    assert eal.lcore_ids() == (0, 1, 2)
    assert eal.cpus() == frozenset({1, 2, 3, 4})


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", "eal.lcores: is empty; write comma-separated items L, L-M, L@C or L@(C1,C2-C3)"),
        ("a", "eal.lcores: cannot parse 'a' in 'a'; write comma-separated items"),
        ("0,,1", "eal.lcores: empty item in '0,,1'"),
        ("0,1,", "eal.lcores: empty item in '0,1,'"),
        ("1@0-1", "eal.lcores: cannot parse '1@0-1'"),
        ("1@(0,1", "eal.lcores: cannot parse '1@(0,1'"),
        ("0-1,1@2", "eal.lcores: lcore 1 is given twice in '0-1,1@2'; give each lcore id once"),
        ("(0,0)@1,2", "eal.lcores: lcore 0 is given twice"),
        ("3-1", "eal.lcores: range 3-1 runs backwards; write 1-3"),
        ("0,1024", "eal.lcores: lcore 1024 is out of range 0..1023"),
        ("0,1@1024", "eal.lcores: CPU 1024 is out of range 0..1023"),
        ("-1,0", "eal.lcores: cannot parse '-1'"),
    ],
)
def test_lcore_errors(text, expected):
    assert expected in error(f'[eal]\nlcores = "{text}"')


def test_parse_lcores_raises_usage_error():
    with pytest.raises(UsageError, match=r"^lcores: cannot parse 'x'"):
        parse_lcores("x")


# --------------------------------------------------------------------------- overrides


@pytest.fixture
def vdev():
    return load_profile(PROFILES / "vdev.toml")


@pytest.fixture
def nic_pair():
    return load_profile(PROFILES / "nic-pair-10g.toml")


def test_no_overrides_is_identity(vdev):
    assert vdev.with_overrides() == vdev


def test_override_nic(vdev):
    p = vdev.with_overrides(nic=["03:00.0,0000:03:00.1", "0000:04:00.0"])
    assert p.ports.pci == ("0000:03:00.0", "0000:03:00.1", "0000:04:00.0") and p.ports.nic_mode
    assert vdev.ports.pci == ()  # the original is untouched
    assert vdev.with_overrides(nic="0000:05:00.0").ports.pci == ("0000:05:00.0",)


@pytest.mark.parametrize(
    "nic, expected",
    [
        (["zz"], "--nic: 'zz' is not a PCI address; write it as domain:bus:device.function"),
        (["0000:03:00.0", "03:00.0"], "--nic: 0000:03:00.0 is given twice; list each port once"),
        ([], "--nic: no PCI address given; pass e.g. --nic 0000:03:00.0"),
        ([" , "], "--nic: no PCI address given"),
    ],
)
def test_override_nic_errors(vdev, nic, expected):
    with pytest.raises(UsageError) as info:
        vdev.with_overrides(nic=nic)
    assert str(info.value).startswith(expected)


@pytest.mark.parametrize("text", [
    "[mempool]\ncache = 513",
    "[mempool]\nmbufs = 300\ncache = 256",
    "[mempool]\nmtu = 9000",
    NIC + "[queues]\nrx = 4\ntx = 4",
])
def test_pool_sizing_is_left_to_the_mempool_suite(text):
    """An oversized cache, an undersized pool or a data room below the frame load: suites/mempool
    judges them against DPDK's rules and fails the named check, so the loader must not pre-empt it."""
    parse_profile(text, "p.toml")


CABLE_NO_PCI = '[ports]\nloopback = "cable"\n[queues]\nrx = 4\ntx = 4\n'


def test_a_nic_profile_without_pci_is_validated_with_the_nic_option_applied(tmp_path):
    """A NIC profile need not name PCI addresses the command line gives: it is judged as it will run."""
    p = parse_profile(CABLE_NO_PCI, "p.toml", nic=["03:00.0", "0000:03:00.1"])
    assert p.ports.pci == ("0000:03:00.0", "0000:03:00.1") and p.ports.loopback == "cable" and p.queues.rx == 4
    path = tmp_path / "nic.toml"
    path.write_text(CABLE_NO_PCI)
    assert load_profile(path, nic=["0000:03:00.0"]).ports.pci == ("0000:03:00.0",)  # one port and a plug
    internal = parse_profile('[ports]\nloopback = "internal"\nlpbk_mode = 1\n', "p.toml", nic="0000:03:00.0")
    assert internal.ports.nic_mode and internal.ports.lpbk_mode == 1


@pytest.mark.parametrize("nic", [None, []])
def test_a_nic_profile_without_pci_or_nic_is_one_line_naming_both_fixes(tmp_path, nic):
    path = tmp_path / "nic.toml"
    path.write_text(CABLE_NO_PCI)
    with pytest.raises(ProfileError if nic is None else UsageError) as info:
        load_profile(path, nic=nic)
    msg = str(info.value)
    assert "\n" not in msg
    if nic is None:
        assert msg.startswith(f"{path}: ports.loopback: 'cable' needs NIC ports but neither --nic nor ports.pci "
                              "gives any; pass --nic PCI for each port (e.g. --nic 0000:03:00.0 --nic 0000:03:00.1), "
                              "or list them in ports.pci"), msg
    else:  # --nic given without an address: the option's own error
        assert msg.startswith("--nic: no PCI address given"), msg


def test_vdev_option_on_a_nic_profile_without_pci_runs_the_vdevs():
    p = parse_profile(CABLE_NO_PCI, "p.toml", topology="null_pair")
    assert not p.ports.nic_mode and p.ports.loopback == "none" and p.ports.topology == "null_pair"


def test_rules_across_sections_judge_the_topology_the_run_uses():
    """net_tap's rx == tx rule holds for the topology the run builds, --vdev applied."""
    tap = '[ports]\ntopology = "tap"\n[queues]\nrx = 4\ntx = 1\n'
    assert "net_tap needs as many tx queues as rx queues" in error(tap)
    assert parse_profile(tap, "p.toml", topology="af_packet").ports.topology == "af_packet"
    with pytest.raises(ProfileError, match="net_tap needs as many tx queues"):
        parse_profile('[queues]\nrx = 4\ntx = 1\n', "p.toml", topology="tap")


def test_override_vdev_switches_to_vdev_mode(nic_pair):
    p = nic_pair.with_overrides(topology="null_pair")
    assert p.ports.topology == "null_pair" and p.ports.pci == ()
    assert not p.ports.nic_mode and p.ports.loopback == "none" and p.ports.lpbk_mode == 0
    internal = load_profile(PROFILES / "nic-internal-loopback.toml").with_overrides(topology="tap")
    assert (internal.ports.loopback, internal.ports.lpbk_mode) == ("none", 0)


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_override_every_topology(vdev, topology):
    assert vdev.with_overrides(topology=topology).ports.topology == topology


def test_override_vdev_error(vdev):
    with pytest.raises(UsageError) as info:
        vdev.with_overrides(topology="foo")
    assert str(info.value) == (
        "--vdev: 'foo' is not a topology; choose one of null_pair, ring_wire, tap, af_packet, pcap"
    )


def test_override_nic_and_vdev_together(vdev):
    with pytest.raises(UsageError, match="^--nic and --vdev: give one or the other"):
        vdev.with_overrides(nic=["0000:03:00.0"], topology="tap")


def test_override_lcores(vdev, nic_pair):
    p = vdev.with_overrides(lcores="0@0,1@0,2@1")
    assert p.eal.lcores_arg() == "0@0,1@0,2@1" and p.eal.main_lcore == 0
    assert p.eal.worker_lcores() == (1, 2)
    q = nic_pair.with_overrides(lcores="2-3")  # main lcore 0 is gone: lowest new one is main
    assert q.eal.main_lcore == 2 and q.eal.worker_lcores() == (3,)


@pytest.mark.parametrize(
    "lcores, expected",
    [
        ("x", "--lcores: cannot parse 'x' in 'x'; write comma-separated items"),
        ("0", "--lcores: 1 lcore given; the harness needs at least 2"),
        ("0-1,1", "--lcores: lcore 1 is given twice"),
        ("", "--lcores: is empty"),
        (5, "--lcores: expected a string, got 5 (int)"),
    ],
)
def test_override_lcores_errors(vdev, lcores, expected):
    with pytest.raises(UsageError) as info:
        vdev.with_overrides(lcores=lcores)
    assert str(info.value).startswith(expected)


# --------------------------------------------------------------------------- host and arithmetic


def test_check_host_accepts_available_cpus(vdev, nic_pair):
    check_host(vdev, [0, 1])
    check_host(vdev, range(8))
    check_host(nic_pair, {0, 1, 2, 3, 4})


def test_check_host_more_lcores_than_cpus(nic_pair):
    with pytest.raises(UsageError) as info:
        check_host(nic_pair, [0, 1])
    assert str(info.value) == (
        "eal.lcores: lcore 1 is mapped to CPU 2 but this process may only use CPUs 0-1 (2 CPUs); "
        "use fewer lcores, e.g. --dpdk-lcores 0-1"
    )


def test_check_host_single_cpu(vdev):
    with pytest.raises(UsageError) as info:
        check_host(vdev, [0])
    assert str(info.value) == (
        "eal.lcores: lcore 1 is mapped to CPU 1 but this process may only use CPU 0 (1 CPU); "
        "use fewer lcores, e.g. --dpdk-lcores 0@0,1@0"
    )


def test_check_host_enough_cpus_elsewhere(nic_pair):
    with pytest.raises(UsageError) as info:
        check_host(nic_pair, [4, 5, 6, 7, 8])
    assert str(info.value) == (
        "eal.lcores: lcore 0 is mapped to CPU 1 but this process may only use CPUs 4-8 (5 CPUs); "
        "map the lcores onto CPUs this process may use, e.g. --dpdk-lcores 0@4,1@5,2@6,3@7"
    )


def test_check_host_cpu_set_partly_missing(vdev):
    p = vdev.with_overrides(lcores="0@0,1@(0-2)")
    with pytest.raises(UsageError, match="^eal.lcores: lcore 1 is mapped to CPU 2 but"):
        check_host(p, [0, 1])


def test_check_host_suggestion_is_valid(nic_pair):
    with pytest.raises(UsageError) as info:
        check_host(nic_pair, [0, 1, 2])
    hint = str(info.value).rsplit("--dpdk-lcores ", 1)[1]
    check_host(nic_pair.with_overrides(lcores=hint), [0, 1, 2])


def test_mbufs_required_arithmetic(vdev, nic_pair):
    # 1024*1*2 + 1024*1*2 + (32+256)*2 + 0
    assert mbufs_required(vdev, 2, 2) == 4672
    # 1024*4*2 + 1024*4*2 + (32+256)*4
    assert mbufs_required(nic_pair, 2, 4) == 17536
    q = parse_profile(
        "[queues]\nrx = 3\ntx = 2\nrx_desc = 512\ntx_desc = 256\nburst = 64\nin_flight = 1000\n"
        "[mempool]\ncache = 100\nmbufs = 20000\n[eal]\nmemory_mb = 1024"
    )
    assert mbufs_required(q, 4, 5) == 512 * 3 * 4 + 256 * 2 * 4 + (64 + 100) * 5 + 1000
    assert mbufs_required(q, 0, 0) == 1000
    with pytest.raises(ValueError):
        mbufs_required(q, -1, 1)


def test_frozen_map():
    m = FrozenMap({"a": 1.0, "b": 2.0})
    assert m == {"b": 2.0, "a": 1.0} and hash(m) == hash(FrozenMap([("b", 2.0), ("a", 1.0)]))
    assert len(m) == 2 and m["a"] == 1.0 and list(m) == ["a", "b"]


@pytest.mark.parametrize("queues, expected", [
    ("tx_desc = 512\ntx_rs_thresh = 512", "queues.tx_rs_thresh: DPDK requires tx_rs_thresh < tx_desc - 2 "
     "(tx_rs_thresh 512, tx_free_thresh 32 by default, tx_desc 512)"),
    ("tx_free_thresh = 2048", "queues.tx_free_thresh: DPDK requires tx_free_thresh < tx_desc - 3"),
    ("tx_rs_thresh = 64", "queues.tx_rs_thresh: DPDK requires tx_rs_thresh <= tx_free_thresh "
     "(tx_rs_thresh 64, tx_free_thresh 32 by default, tx_desc 1024)"),
    ("tx_rs_thresh = 24\ntx_free_thresh = 48", "queues.tx_rs_thresh: DPDK requires tx_rs_thresh to divide tx_desc"),
    ("tx_desc = 64\ntx_rs_thresh = 32\ntx_free_thresh = 40",
     "queues.tx_free_thresh: DPDK requires tx_rs_thresh + tx_free_thresh <= tx_desc"),
])
def test_tx_thresholds_dpdk_rejects_are_profile_errors(queues, expected):
    with pytest.raises(ProfileError) as info:
        parse_profile("[queues]\n" + queues, "p.toml")
    msg = str(info.value)
    assert msg.startswith("p.toml: " + expected), msg
    assert "fix the thresholds (0 = the PMD's default of 32)" in msg and "\n" not in msg


@pytest.mark.parametrize("queues", ["", "tx_rs_thresh = 32\ntx_free_thresh = 32", "tx_rs_thresh = 16\ntx_free_thresh = 64"])
def test_tx_thresholds_dpdk_accepts_load(queues):
    parse_profile("[queues]\n" + queues, "p.toml")


# --------------------------------------------------------------------------- throughput targets and search


def test_targets_as_a_share_of_line_rate():
    p = parse_profile("[targets]\nlink_gbps = 10\n[[targets.pps]]\nframe_size = 64\nline_rate = 0.95\n"
                      "[[targets.pps]]\nframe_size = 1518\nline_rate = 1\n[[targets.pps]]\nframe_size = 128\npps = 5e6\n")
    assert p.targets.link_gbps == 10.0
    t64, t128, t1518 = p.targets.pps
    assert t64.pps == pytest.approx(0.95 * 10e9 / (84 * 8)) and t64.line_rate == 0.95
    assert t1518.pps == pytest.approx(10e9 / (1538 * 8)) and t128 == PpsTarget(128, 5e6)
    assert t64.describe(10) == "14,136,905 pps (0.95x the 10G line rate)" and t128.describe(10) == "5,000,000 pps"


@pytest.mark.parametrize("text, expected", [
    ("[[targets.pps]]\nframe_size = 64\nline_rate = 0.9",
     "targets.pps[0].line_rate: is a share of the line rate but targets.link_gbps is not set; add link_gbps = 10"),
    ("[targets]\nlink_gbps = 10\n[[targets.pps]]\nframe_size = 64\nline_rate = 1.5",
     "targets.pps[0].line_rate: 1.5 is out of range: must be > 0 and <= 1"),
    ("[targets]\nlink_gbps = 10\n[[targets.pps]]\nframe_size = 64\nline_rate = 0",
     "targets.pps[0].line_rate: 0 is out of range: must be > 0 and <= 1"),
    ("[targets]\nlink_gbps = 10\n[[targets.pps]]\nframe_size = 64\npps = 1\nline_rate = 0.5",
     "targets.pps[0]: gives both pps and line_rate; give exactly one"),
    ("[targets]\nlink_gbps = 0.5", "targets.link_gbps: 0.5 is out of range 1..400"),
    ("[targets]\nlink_gbps = 800", "targets.link_gbps: 800 is out of range 1..400"),
    ('[targets]\nlink_gbps = "10G"', "targets.link_gbps: expected a number, got '10G' (str); write e.g. link_gbps = 10"),
    ('[measure]\nsearch = "fast"', "measure.search: 'fast' is not one of ci, rfc2544; choose one of those"),
    ('[measure]\nsearch = "rfc254"', "did you mean 'rfc2544'?"),
    ("[measure]\ntrial_s = 0.001", "measure.trial_s: 0.001 is out of range 0.01..3600"),
    ("[measure]\nlatency_load = 0", "measure.latency_load: 0 is out of range: must be > 0 and <= 1"),
    ("[measure]\nlatency_load = 1.1", "measure.latency_load: 1.1 is out of range"),
    ("[measure]\npdr_loss = 1", "measure.pdr_loss: 1 is out of range: must be >= 0 and < 1"),
    ('[measure]\ndut = "testpmd"', "measure.dut: 'testpmd' is not one of ports, testpmd-memif"),
    ("[measure]\nsearch_width = 0.1", "measure.search_width: unknown key; did you mean 'search'? known keys in [measure]: duration_s, "
                                      "repeats, warmup_s, search, trial_s, latency_load, pdr_loss, dut"),
    ("[[targets.pps]]\nframe_size = 64\nshare = 1", "known keys in [[targets.pps]]: frame_size, pps, mpps, line_rate"),
])
def test_throughput_key_rules(text, expected):
    assert expected in error(text)


def test_search_settings_and_their_defaults():
    d = parse_profile("").measure
    assert (d.search, d.trial_s, d.latency_load, d.pdr_loss, d.dut) == ("ci", None, 0.9, 0.005, "ports")
    m = parse_profile('[measure]\nsearch = "rfc2544"\ntrial_s = 10\nlatency_load = 0.5\npdr_loss = 0\n'
                      'dut = "testpmd-memif"').measure
    assert (m.search, m.trial_s, m.latency_load, m.pdr_loss, m.dut) == ("rfc2544", 10.0, 0.5, 0.0, "testpmd-memif")
    assert parse_profile("").targets.link_gbps is None


# --------------------------------------------------------------------------- verdicts that point at the cause


def test_net_tap_needs_as_many_tx_as_rx_queues():
    msg = error("[ports]\ntopology = \"tap\"\n[queues]\nrx = 4\ntx = 1")
    assert ("queues.tx: ports.topology = 'tap': net_tap needs as many tx queues as rx queues, the profile asks "
            "for 4 rx / 1 tx") in msg and "set queues.tx = queues.rx = 4" in msg
    assert parse_profile("[ports]\ntopology = \"af_packet\"\n[queues]\nrx = 4\ntx = 1").queues.tx == 1


def test_memory_needed_is_the_pool_plus_eal_overhead():
    from harness.profile import EAL_OVERHEAD_MB, memory_needed_mb, pool_mb
    p = parse_profile("")
    # 8191 x (2176 + 192) + a ring of 8192 pointers + 128 lcore caches of 8 kB: 19.6 MB
    assert pool_mb(p) == 20 and memory_needed_mb(p) == 20 + EAL_OVERHEAD_MB
    assert pool_mb(parse_profile("[mempool]\ncache = 0")) == 19
    assert parse_profile("[eal]\nmemory_mb = 24").eal.memory_mb == 24
    msg = error("[eal]\nmemory_mb = 23")
    assert "mempool.mbufs: 8191 mbufs of 2176 bytes need at least 24 MB (the pool 20 MB + EAL's own 4 MB) but " \
           "eal.memory_mb is 23; raise eal.memory_mb to at least 24" in msg


def test_an_all_zero_rss_key_is_a_warning():
    from harness.profile import warnings_for
    zero = parse_profile("[rss]\nkey = \"" + "00" * 40 + "\"")
    assert warnings_for(zero) and warnings_for(zero)[0].startswith("rss.key is all zeros")
    assert warnings_for(parse_profile("")) == []
