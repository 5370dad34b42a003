"""RSS configuration: what the profile asks for is what the ports hold.

Read back through rte_eth_dev_rss_hash_conf_get and rte_eth_dev_rss_reta_query; a PMD that
cannot report (or update) them makes the check SKIP, naming the driver.
"""
import pytest

from harness import probe, rss
from harness.errors import ProbeUnsupportedError


def _rss_ports(ports, profile):
    """Ports that run RSS; skip naming why when none does."""
    out, why = [], []
    for port in ports.ports:
        info = port.info()
        if port.conf is not None and port.conf.rss:
            out.append(port)
        elif info["nb_rx_queues"] <= 1:
            why.append(f"{info['driver']} ({info['name']}) has {info['nb_rx_queues']} rx queue: RSS is not configured")
        elif not profile.rss.enabled:
            why.append(f"{info['driver']} ({info['name']}): rss.enabled = false")
        else:
            why.append(f"{info['driver']} ({info['name']}) offers no RSS (flow_type_rss_offloads 0)")
    if not out:
        pytest.skip("; ".join(why))
    return out


def _readable(port, call):
    try:
        return call()
    except ProbeUnsupportedError as exc:
        pytest.skip(f"{port.driver} ({port.name}) cannot report its RSS configuration (missing capability: "
                    f"rss_hash): {exc}")


def test_rss_hash_configuration_applied(ports, profile, measure):
    """Steps: for each port under test, read back the hash functions and key it holds.
    Verify: it hashes every function the profile asks for (and the device offers them all), holds
    rss.key if the profile gives one, and its key has the device's key size."""
    for port in ports.ports:  # a device that cannot report skips, whatever the profile says
        _readable(port, lambda: rss.hash_conf(port))
    for port in _rss_ports(ports, profile):
        info = port.info()
        rss_hf, key = rss.hash_conf(port)
        measure(f"{info['name']}.rss_key_size", len(key), unit="bytes")
        problems = rss.config_problems(
            driver=f"{info['driver']} ({info['name']})", want_hf=probe.rss_hf(profile.rss.hash_functions),
            capa_hf=info["flow_type_rss_offloads"], read_hf=rss_hf, want_key=profile.rss.key, read_key=key,
            key_size=info["hash_key_size"], want_reta=None, read_reta=(), reta_size=info["reta_size"],
            nb_rxq=info["nb_rx_queues"])
        assert not problems, "; ".join(problems)


def test_rss_reta_applied(ports, profile, measure):
    """Steps: program rss.reta (repeated over the device's RETA size) where the profile gives one;
    read the RETA back from each port under test.
    Verify: it has the device's RETA size, equals the profile's RETA, sends only to configured rx
    queues, and every configured rx queue is in some entry (none idles)."""
    for port in ports.ports:
        if not port.info()["reta_size"]:
            pytest.skip(f"{port.driver} ({port.name}) has no redirection table (reta_size 0; missing "
                        "capability: rss_hash)")
        _readable(port, lambda: rss.reta_query(port))
    notes = rss.apply_profile_reta(ports, profile)
    if notes:
        pytest.skip(f"the PMD cannot take rss.reta: {notes[0]}")
    for port in _rss_ports(ports, profile):
        info = port.info()
        reta = rss.reta_query(port)
        measure(f"{info['name']}.reta_size", len(reta), unit="entries")
        problems = rss.config_problems(
            driver=f"{info['driver']} ({info['name']})", want_hf=0, capa_hf=0, read_hf=0, want_key=None,
            read_key=b"", key_size=0, want_reta=profile.rss.reta or None, read_reta=reta,
            reta_size=info["reta_size"], nb_rxq=info["nb_rx_queues"])
        assert not problems, "; ".join(problems)


def test_rss_key_can_be_reprogrammed(ports, profile):
    """Steps: on each RSS port, write another key with rte_eth_dev_rss_hash_update, read it back,
    then restore the original key.
    Verify: the port holds the key written (the key is not silently ignored) and then the original."""
    for port in ports.ports:
        _readable(port, lambda: rss.hash_conf(port))
    for port in _rss_ports(ports, profile):
        rss_hf, original = rss.hash_conf(port)
        if not original:
            pytest.skip(f"{port.driver} ({port.name}) reports no RSS key")
        other = (rss.SYMMETRIC_KEY * 2)[:len(original)]
        if other == original:
            other = (rss.DEFAULT_KEY * 2)[:len(original)]
        try:
            rss.hash_update(port, rss_hf, other)
        except ProbeUnsupportedError as exc:
            pytest.skip(f"{port.driver} ({port.name}) cannot update its RSS key: {exc}")
        try:
            _, now = rss.hash_conf(port)
        finally:
            rss.hash_update(port, rss_hf, original)
        assert now == other, (f"{port.driver} ({port.name}): wrote key {other.hex()}, read back {now.hex()}; the "
                              "PMD accepts rte_eth_dev_rss_hash_update but does not apply the key")
        assert rss.hash_conf(port)[1] == original, f"{port.driver} ({port.name}): the original key was not restored"
