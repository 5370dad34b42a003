"""The emulated-NIC lab: the --nic path on PCI NICs and real PMDs, in a QEMU guest (issue 11).

model.py is pure (QEMU command line, device plan, initramfs and guest scripts, cache layout,
verdict); run.py fetches, builds, boots and collects. No compiled probe is needed here.
"""
