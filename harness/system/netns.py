"""Network namespaces and veth pairs through pyroute2, each journalled before it is made.

Clean-up ignores only "no such namespace" / "no such device"; anything else is reported.
pyroute2 is imported lazily, so importing this module (e.g. to register undo kinds) is cheap.
"""
from __future__ import annotations

import errno
import os
import subprocess

from harness.errors import HostError
from harness.system.journal import register_undo


def _netlink_code(err: BaseException) -> int | None:
    return getattr(err, "code", None) or getattr(err, "errno", None)


def create_netns(journal, name) -> None:
    """Create the named network namespace (``/var/run/netns/<name>``)."""
    from pyroute2 import netns

    change = journal.record("netns", name=name)
    try:
        netns.create(name)
    except OSError as err:
        journal.forget(change)
        if err.errno == errno.EEXIST:
            raise HostError(
                f"network namespace {name} already exists; delete it with "
                f"`ip netns delete {name}` or run `python -m harness restore`"
            ) from err
        raise HostError(
            f"cannot create network namespace {name} ({err.strerror or err}); run as root"
        ) from err


def _disable_ipv6_here(ifname: str) -> None:
    path = f"/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6"
    if not os.path.isdir("/proc/sys/net/ipv6"):
        return  # IPv6 is off in this kernel: nothing will be sent anyway
    with open(path, "w") as f:
        f.write("1")


def _disable_ipv6_in(netns: str, ifname: str) -> None:
    if not os.path.isdir("/proc/sys/net/ipv6"):
        return
    # /proc/sys/net follows the network namespace of the process reading it
    res = subprocess.run(
        ["ip", "netns", "exec", netns, "sysctl", "-q", "-w",
         f"net/ipv6/conf/{ifname}/disable_ipv6=1"],
        capture_output=True, text=True,
    )
    if res.returncode != 0:
        raise OSError(res.returncode, " ".join((res.stderr or "sysctl failed").split()))


def create_veth_pair(journal, host_if, peer_if, netns) -> None:
    """A veth pair: ``host_if`` in this namespace, ``peer_if`` moved into ``netns``.

    Both ends get IPv6 disabled while still down (no ND, RS or MLD noise), then go up.
    The host end is journalled; deleting it also deletes the peer.
    """
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        taken = [n for n in (host_if, peer_if) if ipr.link_lookup(ifname=n)]
    if taken:
        raise HostError(
            f"cannot create veth {host_if}/{peer_if}: interface {taken[0]} already exists; "
            f"delete it (`ip link del {taken[0]}`) or run `python -m harness restore`"
        )
    change = journal.record("link", name=host_if, netns=None)
    created = False
    try:
        with IPRoute() as ipr:
            ipr.link("add", ifname=host_if, kind="veth", peer={"ifname": peer_if})
            created = True
            host_idx = ipr.link_lookup(ifname=host_if)[0]
            peer_idx = ipr.link_lookup(ifname=peer_if)[0]
            _disable_ipv6_here(host_if)
            ipr.link("set", index=peer_idx, net_ns_fd=netns)
            _disable_ipv6_in(netns, peer_if)
            ipr.link("set", index=host_idx, state="up")
        with IPRoute(netns=netns, flags=0) as ns:
            ns.link("set", index=ns.link_lookup(ifname=peer_if)[0], state="up")
    except Exception as err:
        try:
            if created:
                delete_link(host_if)
            journal.forget(change)
        except Exception:  # noqa: BLE001 - the record stays; undone at exit / by restore
            pass
        detail = " ".join(str(err).split())
        raise HostError(
            f"cannot create veth {host_if} <-> {netns}:{peer_if} ({detail}); run as root "
            "with the veth module available, into an existing namespace"
        ) from err


def delete_netns(name) -> None:
    """Delete a network namespace; a missing one is fine."""
    from pyroute2 import netns

    try:
        netns.remove(name)
    except FileNotFoundError:
        pass


def delete_link(name, netns=None) -> None:
    """Delete a link (in ``netns`` if given); a missing link or namespace is fine."""
    from pyroute2 import IPRoute

    try:
        ipr = IPRoute(netns=netns, flags=0) if netns else IPRoute()
    except FileNotFoundError:
        return  # the namespace is gone, and its links with it
    with ipr:
        idx = ipr.link_lookup(ifname=name)
        if not idx:
            return
        try:
            ipr.link("del", index=idx[0])
        except Exception as err:
            if _netlink_code(err) != errno.ENODEV:
                raise


def _netns_scope(data: dict, sc) -> str | None:
    if data.get("name") == f"dh{sc.pid}":
        return None
    return f"names netns {str(data.get('name'))[:40]!r}, not dh{sc.pid} of run pid {sc.pid}"


def _link_scope(data: dict, sc) -> str | None:
    import re

    name, ns = str(data.get("name", "")), data.get("netns")
    tag = sc.pid % 100000
    if re.fullmatch(rf"dh(v{tag}\d*[ab]?|tap{tag}\d*)", name) and len(name) <= 15 and ns in (None, f"dh{sc.pid}"):
        return None
    return f"names link {name[:40]!r}, not a dhv/dhtap link of run pid {sc.pid}"


@register_undo("netns", scope=_netns_scope)
def _undo_netns(data: dict) -> None:
    delete_netns(data["name"])


@register_undo("link", scope=_link_scope)
def _undo_link(data: dict) -> None:
    delete_link(data["name"], data.get("netns"))
