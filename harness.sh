#!/usr/bin/env bash
# dpdk-harness entry point.
#   ./harness.sh suites [pytest args]   set up if needed, run the conformance suites (default: vdev profile)
#   ./harness.sh test   [pytest args]   set up if needed, run the whole test suite (ours and the suites)
#   ./harness.sh lab    [-- pytest args] set up if needed, boot the emulated-NIC lab (QEMU, igb pair) and run
#                                       the --nic suites inside it; reports in reports/lab/
#   ./harness.sh setup                  install DPDK (apt), build the probe into .venv
#   ./harness.sh restore                undo what a killed run left on the host
set -euo pipefail
cd "$(dirname "$0")"
VENV=.venv
STAMP=$VENV/.installed
APT_PACKAGES=(dpdk dpdk-dev libdpdk-dev pkg-config iproute2 util-linux python3-venv)

die() { echo "harness.sh: $*" >&2; exit 2; }

# Ctrl-C before the run starts: one line and an interrupted run's status (pytest's 2), never a traceback.
# From the exec on, SIGINT stays blocked (env --block-signal) until harness.pytest_main has its handler;
# a press meanwhile is pending there and ends the run with the same line (harness/interrupts.py).
NOTHING_CHANGED="dpdk-harness: interrupted before anything changed on the host; nothing to restore"
interrupted() { echo "${INSTALLING:-$NOTHING_CHANGED}" >&2; exit 2; }
trap interrupted INT

need_root() {
    [ "$(id -u)" = 0 ] || die "run as root (sudo ./harness.sh $1): the harness reserves hugepages, boots DPDK and makes tap/veth devices, and gives them all back at exit"
}

install_apt() {
    if pkg-config --exists libdpdk 2>/dev/null && command -v dpdk-testpmd >/dev/null && command -v ip >/dev/null; then
        return
    fi
    command -v apt-get >/dev/null || die "DPDK development files not found and no apt-get: install DPDK 22.11 (libdpdk-dev, pkg-config) yourself"
    echo "harness.sh: installing ${APT_PACKAGES[*]}"
    INSTALLING="dpdk-harness: interrupted while apt-get was installing ${APT_PACKAGES[*]}: run ./harness.sh setup again"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${APT_PACKAGES[@]}" >/dev/null
    unset INSTALLING
}

install_python() {
    local py=${PYTHON:-python3}
    if [ ! -x $VENV/bin/python ]; then
        INSTALLING="dpdk-harness: interrupted while creating $VENV: rm -rf $VENV, then ./harness.sh setup"
        $py -m venv $VENV || die "cannot create $VENV with $py -m venv (apt-get install python3-venv)"
    fi
    # rebuild when the probe, its build or the package metadata changed since the last install
    if [ ! -f $STAMP ] || [ -n "$(find pyproject.toml setup.py harness/__init__.py harness/native -newer $STAMP -print -quit)" ]; then
        echo "harness.sh: building the probe and installing dpdk-harness into $VENV (log: $VENV/pip.log)"
        INSTALLING="dpdk-harness: interrupted while building the probe into $VENV: the next ./harness.sh builds it again"
        # quiet: pip's and the build backend's chatter goes to the log, shown only when the install fails
        if ! { $VENV/bin/pip install -q --upgrade pip && $VENV/bin/pip install -q -e ".[test]"; } >$VENV/pip.log 2>&1; then
            tail -n 40 $VENV/pip.log >&2
            die "installing dpdk-harness into $VENV failed (the end of $VENV/pip.log is above)"
        fi
        touch $STAMP
    fi
    unset INSTALLING
}

setup() { need_root "$1"; install_apt; install_python; }

cmd=${1:-help}; shift || true
case "$cmd" in
    setup)   setup setup ;;
    # harness.pytest_main takes Ctrl-C before pytest is even imported (reports written, host restored);
    # SIGINT is blocked until it can (see interrupted() above)
    suites)  setup suites; exec env --block-signal=INT $VENV/bin/python -m harness.pytest_main suites/ "$@" ;;
    test)    setup test; exec env --block-signal=INT $VENV/bin/python -m harness.pytest_main tests/ suites/ "$@" ;;
    lab)     setup lab; exec $VENV/bin/python -m harness lab "$@" ;;
    # restore needs nothing installed: the system python3 runs it from this checkout
    restore) if [ -x $VENV/bin/python ]; then exec $VENV/bin/python -m harness restore "$@"; fi
             command -v "${PYTHON:-python3}" >/dev/null || die "no python3: apt-get install python3"
             exec "${PYTHON:-python3}" -m harness restore "$@" ;;
    *)       sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; [ "$cmd" = help ] || exit 2 ;;
esac
