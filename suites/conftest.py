"""The conformance suites of dpdk-harness.

``DPDK_HARNESS_SUITES`` marks this directory as the suites: a pytest run that collects anything here is a
harness run (profile, EAL, reports), and its qualification report covers the checks under this directory
only. Elsewhere, with no ``--dpdk-...`` option or ``dpdk_harness = true`` ini setting, the installed plugin
stays inert.
"""
DPDK_HARNESS_SUITES = True


def pytest_ignore_collect(collection_path, config):
    """suites/audit judges a running application (--audit PID): a qualification run of the suites
    (``pytest suites/``) leaves it out rather than listing a dozen skips in every report. Named
    explicitly (``pytest suites/audit``) without --audit, its checks are collected and skip saying why."""
    if collection_path.name != "audit" or collection_path.parent.name != "suites":
        return None
    if config.getoption("audit", None):
        return None
    named = any(collection_path in (config.invocation_params.dir / a.split("::")[0]).resolve().parents
                or (config.invocation_params.dir / a.split("::")[0]).resolve() == collection_path
                for a in config.args)
    return None if named else True
