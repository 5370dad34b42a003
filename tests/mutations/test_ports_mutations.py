"""The port bring-up check FAILS when the device cannot hold the profile's queues; the sound profile passes."""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from mutate import mutated_profile, run_suite  # noqa: E402

SUITE = "suites/ports"


def test_sound_profile_brings_the_ports_up(tmp_path):
    run = run_suite(tmp_path, SUITE)
    assert run.returncode == 0, run.output
    assert run.outcome("test_ports_start_as_configured") == "passed"
    assert run.outcome("test_wire_delivers_every_frame") == "passed"


def test_more_queues_than_the_device_offers_fails_bring_up(tmp_path):
    prof = mutated_profile(tmp_path, "toomanyqueues", queues__rx=2, queues__tx=2)
    run = run_suite(tmp_path, SUITE, "--vdev", "pcap", "-k", "start_as_configured", profile=prof)
    assert run.outcome("test_ports_start_as_configured") == "failed", run.output
    msg = run.message("test_ports_start_as_configured").split("\n")[0]
    assert "(net_pcap): 1 rx queue(s) configured, the profile asks for 2 (queues.rx)" in msg
    assert "lower queues.rx to 1 or use a device with more queues" in msg
