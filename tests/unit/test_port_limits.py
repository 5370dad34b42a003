"""Profile queue settings against a NIC PMD's limits, as rte_eth_dev_info reports them."""
from harness.profile import parse_profile
from harness.topology import descriptor_problems

IGB = {"driver": "net_e1000_igb", "name": "0000:01:00.0", "rx_desc_min": 32, "rx_desc_max": 4096,
       "rx_desc_align": 8, "tx_desc_min": 32, "tx_desc_max": 4096, "tx_desc_align": 8}


def _profile(rx, tx):
    return parse_profile(f"[queues]\nrx_desc = {rx}\ntx_desc = {tx}\n", "profiles/x.toml")


def test_counts_within_the_pmds_range_and_alignment_pass():
    assert descriptor_problems(_profile(512, 1024), IGB) == []
    assert descriptor_problems(_profile(1000, 3), {"driver": "net_ring", "name": "r", "rx_desc_max": 0}) == []


def test_a_count_off_the_alignment_or_range_names_the_key_the_limits_and_a_fitting_value():
    assert descriptor_problems(_profile(1001, 8192), IGB) == [
        "queues.rx_desc = 1001: net_e1000_igb (0000:01:00.0) takes 32..4096 rx descriptors in multiples of 8; "
        "set queues.rx_desc = 1000",
        "queues.tx_desc = 8192: net_e1000_igb (0000:01:00.0) takes 32..4096 tx descriptors in multiples of 8; "
        "set queues.tx_desc = 4096",
    ]
    assert descriptor_problems(_profile(16, 36), IGB)[0].endswith("set queues.rx_desc = 32")
    assert descriptor_problems(_profile(16, 36), IGB)[1].endswith("set queues.tx_desc = 32")
