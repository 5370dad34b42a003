"""Last of the lab's tests (the file name sorts it last; the suites ran before in the same guest):
after every run, both igb functions are back on igb with their netdevs and nothing the harness
made is left."""
import pytest
from labrun import IGB, driver_of, driver_override, harness_leftovers, netdevs_of


@pytest.mark.parametrize("pci", IGB)
def test_igb_back_on_igb_with_its_netdev(pci):
    assert driver_of(pci) == "igb", f"{pci} is on {driver_of(pci)} after the lab's runs, expected igb"
    assert netdevs_of(pci), f"{pci} has no netdev after the lab's runs"
    assert driver_override(pci) == "", f"{pci}: driver_override left at {driver_override(pci)!r}"


def test_nothing_the_harness_made_is_left():
    left = harness_leftovers()
    assert not left, f"left behind after the lab's runs: {'; '.join(left)}"
