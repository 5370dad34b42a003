"""``python -m harness <command>``: host maintenance outside a pytest run.

Commands live in :data:`COMMANDS` (name -> (help, add_arguments, run)); add one there.
"""
from __future__ import annotations

import argparse
import os
import sys

from harness.errors import HarnessError


def _restore_args(p: argparse.ArgumentParser) -> None:
    from harness.system.journal import DEFAULT_STATE_DIR

    p.add_argument(
        "--state-dir",
        default=DEFAULT_STATE_DIR,
        metavar="DIR",
        help=f"where run journals are kept (default: {DEFAULT_STATE_DIR})",
    )
    p.add_argument(
        "--sys-root",
        default=os.environ.get("DPDK_HARNESS_SYS_ROOT", "/sys"),
        metavar="DIR",
        help="the sysfs root the runs used (default: $DPDK_HARNESS_SYS_ROOT or /sys); journal entries "
             "outside it are left alone",
    )


def _restore(args: argparse.Namespace) -> int:
    from harness.system.journal import ERROR_PREFIX, restore

    lines = restore(args.state_dir, sys_root=args.sys_root)
    failed = False
    for line in lines:
        print(line)
        failed = failed or line.startswith(ERROR_PREFIX)
    return 1 if failed else 0


def _lab_args(p: argparse.ArgumentParser) -> None:
    from harness.lab import run

    run.add_arguments(p)


def _lab(args: argparse.Namespace) -> int:
    from harness.errors import UsageError
    from harness.lab import run

    try:
        return run.main(args)
    except UsageError as err:  # bad input: one line, exit 4, nothing changed
        print(f"error: {err}", file=sys.stderr)
        return 4


COMMANDS = {
    "restore": (
        "undo the host changes (hugepages, mounts, PCI bindings, namespaces) of harness runs "
        "that were killed before they could clean up",
        _restore_args,
        _restore,
    ),
    "lab": (
        "boot the emulated-NIC lab (QEMU: two igb ports on a cable, an e1000e, a management NIC) and run "
        "the --nic suites and the harness's NIC-mode tests inside it; reports in reports/lab/",
        _lab_args,
        _lab,
    ),
}


def _report_commands() -> dict:
    """``report`` and ``baseline`` (harness/report/cli.py): reports of a finished run."""
    from harness.report import cli

    return cli.COMMANDS


def _needs_install(name: str, err: ImportError):
    def run(args: argparse.Namespace) -> int:
        print(f"error: `{name}` needs the installed harness ({err}); run ./harness.sh setup first", file=sys.stderr)
        return 1

    return (f"{name} reports and baselines (needs ./harness.sh setup)", lambda p: None, run)


try:  # restore must work from a bare checkout with the system python3 (./harness.sh restore, no .venv)
    COMMANDS.update(_report_commands())
except ImportError as _err:
    COMMANDS.update({name: _needs_install(name, _err) for name in ("report", "baseline")})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m harness",
        description="dpdk-harness outside a pytest run: host maintenance, reports and baselines.",
    )
    sub = parser.add_subparsers(dest="command", title="commands", required=True)
    for name, (help_text, add_args, run) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_args(p)
        p.set_defaults(run=run)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except HarnessError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
