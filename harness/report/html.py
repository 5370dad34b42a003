"""report.html: the run as a qualification engineer reads and signs it off.

One self-contained file: inline CSS, inline SVG charts, no script, no external asset, so it can be
mailed, archived with the run, or opened on a host without network. Made from the results dict
alone (results.json), so ``python -m harness report`` renders it again later.

Sections: the overall verdict; host inventory and ports; verdicts per suite; measured vs target;
charts (throughput vs frame size, RSS per-queue spread, latency percentiles) when the run recorded
such figures; skipped checks with their reasons; the baseline comparison when there is one.
"""
from __future__ import annotations

import re
from html import escape

from harness.report.charts import charts_section
from harness.report.markup import badge, kv, or_unknown, table, verdict_cell, wire_text
from harness.report.results import fmt, measured_text, suite_of, suite_verdicts, with_wire

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1b1b1b;background:#fafafa}
main{max-width:1180px;margin:0 auto;padding:18px 28px 48px}
h1{font-size:22px;margin:8px 0 2px}h2{font-size:18px;margin:30px 0 8px;border-bottom:2px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;margin:6px 0 12px;background:#fff;font-size:13px}
th,td{border:1px solid #d6d6d6;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.kv th{width:230px}
.muted{color:#666}.small{font-size:12px}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-weight:600;font-size:12px;color:#fff}
.PASS,.passed,.ok,.improved{background:#2e7d32}.FAIL,.failed,.error,.REGRESSION,.missing{background:#c62828}
.skipped,.xfailed,.changed,.new{background:#8d6e00}.unknown,.xpassed,.NONE{background:#607d8b}
.INCOMPLETE,.interrupted{background:#6a1b9a}.bound{background:#8a8f98}
.v-passed{background:#2e7d32}.v-failed{background:#c62828}.v-partial{background:#8d6e00}.v-none{background:#607d8b}
.flag{color:#8e1b1b;font-weight:600}
div.details{max-width:380px;overflow-wrap:anywhere;font-size:12px;color:#444}
pre.cmd{background:#fff;border:1px solid #d6d6d6;padding:6px 8px;white-space:pre-wrap;word-break:break-all;font-size:12px}
.banner{padding:10px 14px;border-radius:6px;margin:10px 0;font-weight:600}
.banner.FAIL{background:#fdecea;color:#8e1b1b;border:1px solid #f5c2c0}
.banner.PASS{background:#e8f5e9;color:#1b5e20;border:1px solid #b9dfbb}
.banner.INCOMPLETE,.banner.warn{background:#f3e5f5;color:#4a148c;border:1px solid #dcc3e3}
.banner.device{background:#fff8e1;color:#5d4300;border:1px solid #f0d58a;font-size:16px}
nav a{margin-right:12px;color:#1f5fa8;text-decoration:none}
svg.chart{background:#fff;border:1px solid #d6d6d6;margin:6px 12px 6px 0}
svg .ct{font-weight:600;font-size:13px}svg .ax{font-size:11px;fill:#444}svg .bv{font-size:11px;fill:#222}
svg .grid{stroke:#e6e6e6}svg .axis{stroke:#888}svg .tg{stroke:#111;stroke-width:2;stroke-dasharray:5 3}
svg .tgk{font-weight:700}svg .refk{fill:#8d6e00;font-weight:700}svg .wh{stroke:#111;stroke-width:1.2;fill:none}svg .ref{stroke:#8d6e00;stroke-dasharray:2 3}
.charts{display:flex;flex-wrap:wrap}
.signoff td{height:28px;min-width:220px}
@media print{body{background:#fff}nav{display:none}main{padding:0}h2{break-after:avoid}svg.chart,table{break-inside:avoid}}
"""

OUTCOME_ORDER = ("failed", "error", "xpassed", "interrupted", "skipped", "xfailed", "passed", "unknown")


# ------------------------------------------------------------------------------ the verdict


def overall(results: dict) -> tuple[str, str]:
    """(class, sentence) of the run's verdict. A skip is never a pass: it is counted apart."""
    tests = results.get("tests", [])
    by = {o: sum(1 for t in tests if t.get("outcome") == o) for o in OUTCOME_ORDER}
    failed_figs = sum(1 for f in results.get("figures", []) if f.get("passed") is False)
    outcomes = results.get("outcomes", {})
    bad = by["failed"] + by["error"] + by["xpassed"] or outcomes.get("failed", 0) + outcomes.get("error", 0)
    skipped = by["skipped"] or outcomes.get("skipped", 0)
    passed = by["passed"] or outcomes.get("passed", 0)
    base = results.get("baseline")
    if results.get("interrupted"):
        return "INCOMPLETE", (f"INCOMPLETE: the run was interrupted after {passed} passed, {bad} failed and {skipped} "
                              "skipped checks; the results below are partial")
    if bad or results.get("exit_status") not in (0, None) or (base and not base.get("ok", True)):
        extra = f", {failed_figs} figure(s) below target" if failed_figs else ""
        if base and not base.get("ok", True):
            extra += f", {base.get('regressions', 0)} regression(s) against baseline {base.get('baseline')}"
        return "FAIL", f"FAIL: {bad} check(s) failed{extra}; {passed} passed, {skipped} skipped"
    if not passed and not skipped:
        return "INCOMPLETE", "NO CHECKS RAN"
    tail = f"; {skipped} check(s) skipped, not verified (see Skipped checks)" if skipped else ""
    return "PASS", f"PASS: {passed} check(s) passed{tail}"


# ------------------------------------------------------------------------------ sections


_INVENTORY_LABELS = [
    ("cpu_model", "CPU model"), ("cpu_flags", "CPU flags (DPDK-relevant)"), ("tsc_invariant", "invariant TSC"),
    ("cpus_online", "CPUs online"), ("numa_nodes", "NUMA nodes"), ("kernel", "kernel"),
    ("cmdline_isolcpus", "isolcpus="), ("cmdline_nohz_full", "nohz_full="), ("cmdline_rcu_nocbs", "rcu_nocbs="),
    ("cmdline_iommu", "IOMMU arguments"), ("kernel_cmdline", "kernel command line"), ("hugepages", "hugepages"),
    ("dpdk_version", "DPDK version"),
]


def _inventory(results: dict) -> str:
    inv = results.get("inventory", {})
    pairs = []
    for key, label in _INVENTORY_LABELS:
        v = inv.get(key, "")
        if key.startswith("cmdline_") and not v:
            pairs.append((label, '<span class="muted">not set</span>'))
        else:
            pairs.append((label, or_unknown(v)))
    known = {k for k, _ in _INVENTORY_LABELS}
    pairs += [(k, or_unknown(v)) for k, v in inv.items() if k not in known]
    prof = results.get("profile", {})
    pairs += [("host name", or_unknown(results.get("hostname"))),
              ("profile", f"{escape(str(prof.get('name', '')))} <span class='muted small'>"
                          f"{escape(str(prof.get('path', '')))}</span>"),
              ("dpdk-harness", escape(_harness_text(results)))]
    return kv(pairs)


def _harness_text(results: dict) -> str:
    h = results.get("harness") or {}
    text = str(h.get("version") or results.get("harness_version", ""))
    if h.get("commit"):
        text += f", commit {h['commit']}" + (" with local changes" if h.get("dirty") else "")
    elif h:
        text += " (installed package: no git commit)"
    return text


_PORT_COLUMNS = [("port", "port"), ("name", "device"), ("driver", "driver"), ("pci", "PCI address"),
                 ("firmware", "firmware"), ("link", "link"), ("speed_mbps", "speed"), ("socket", "socket"),
                 ("mac", "MAC"), ("rx_queues", "rx q"), ("tx_queues", "tx q"), ("topology", "topology")]


def _speed(mbps) -> str:
    if mbps in (None, ""):
        return or_unknown(None)
    try:
        mbps = int(mbps)
    except (TypeError, ValueError):
        return escape(str(mbps))
    if mbps == 0:
        return '<span class="muted">none reported</span>'
    return escape(f"{mbps / 1000:g} Gbit/s" if mbps >= 1000 else f"{mbps} Mbit/s")


def _ports(results: dict) -> str:
    ports = results.get("ports", [])
    if not ports:
        return '<p class="muted">No port information.</p>'
    rows = []
    for p in ports:
        row = []
        for key, _ in _PORT_COLUMNS:
            v = p.get(key)
            if key == "speed_mbps":
                row.append(_speed(v))
            elif key == "pci" and not v and p.get("topology") not in (None, "nic"):
                row.append('<span class="muted">virtual device</span>')
            elif key == "firmware" and not v:
                row.append('<span class="muted">unknown</span>')
            else:
                row.append(or_unknown(v, "-"))
        rows.append(row)
    html = table([label for _, label in _PORT_COLUMNS], rows)
    notes = [escape(p["note"]) for p in ports if p.get("note")] + [escape(p["error"]) for p in ports if p.get("error")]
    if any(p.get("topology") not in (None, "nic") for p in ports):
        notes.append("Virtual-device (vdev) run: no PCI address or firmware; link speed is what the PMD reports.")
    if notes:
        html += "".join(f'<p class="muted small">{n}</p>' for n in notes)
    return html


def _verdicts(results: dict) -> str:
    tests = results.get("tests", [])
    if not tests:
        return '<p class="muted">No per-check verdicts were recorded.</p>'
    suites: dict[str, list[dict]] = {}
    for t in tests:
        suites.setdefault(t.get("suite") or suite_of(t["nodeid"]), []).append(t)
    out = []
    summary_rows = []
    verdicts = {v["suite"]: v for v in (results.get("suites") or suite_verdicts(tests))}
    for name, ts in suites.items():
        counts = {o: sum(1 for t in ts if t.get("outcome") == o) for o in OUTCOME_ORDER}
        v = verdicts.get(name, {}).get("verdict") or next((o for o in OUTCOME_ORDER if counts[o]), "unknown")
        cls = ("v-passed" if v == "passed" else "v-failed" if v in ("failed", "interrupted") else
               "v-partial" if v.startswith("passed with") else "v-none")
        summary_rows.append([f'<a href="#suite-{escape(_slug(name))}">{escape(name)}</a>', badge(v, cls)]
                            + [str(counts[o]) for o in ("passed", "failed", "error", "skipped")])
    out.append(table(["suite", "verdict", "passed", "failed", "error", "skipped"], summary_rows, num_cols=(2, 3, 4, 5)))
    for name, ts in suites.items():
        rows = []
        for t in ts:
            dur = t.get("duration_s")
            figs = t.get("failed_figures") or []
            msg = escape(t.get("message") or "")
            if figs:
                msg += (("<br>" if msg else "") + "figures below target: " + escape(", ".join(figs)))
            rows.append([escape(t["nodeid"].split("::", 1)[-1]), badge(t.get("outcome", "unknown")),
                         "-" if dur is None else f"{dur:.2f} s", msg])
        out.append(f'<h3 id="suite-{escape(_slug(name))}">{escape(name)}</h3>')
        out.append(table(["check", "verdict", "duration", "reason / message"], rows, num_cols=(2,)))
    return "".join(out)


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", s).strip("-") or "x"


def _figures(results: dict) -> str:
    figs = results.get("figures", [])
    if not figs:
        return '<p class="muted">The run recorded no figures.</p>'
    rows = []
    for f in figs:
        extra = ", ".join(f"{k}={v}" for k, v in (f.get("extra") or {}).items())
        wire = wire_text(f)
        rows.append([escape(suite_of(f["test"])), escape(f["test"].split("::", 1)[-1]), escape(f["name"]),
                     escape(measured_text(f)) + (f"<br><span class='small'>{wire}</span>" if wire else ""),
                     escape(f.get("unit") or ""), escape(f.get("target_text") or "-"), verdict_cell(f),
                     f'<div class="details">{escape(extra)}</div>' if extra else ""])
    return table(["suite", "check", "figure", "measured", "unit", "target", "verdict", "details"], rows,
                  num_cols=(3,))


def _skips(results: dict) -> str:
    skips = results.get("skips", [])
    if not skips:
        return '<p class="muted">No check was skipped.</p>'
    rows = [[escape(s["check"]), escape(s["reason"])] for s in skips]
    return ("<p>A skipped check was not verified on this host: it is not a pass.</p>"
            + table(["check", "reason"], rows))


def _baseline(comp: dict | None) -> str:
    if not comp:
        return ""
    from harness.report.baseline import DIRECTION, pct

    m = comp.get("baseline_meta") or {}
    head = (f"<p>Against baseline <b>{escape(str(comp['baseline']))}</b>"
            + (f", saved {escape(str(m['saved']))}" if m.get("saved") else "")
            + (f" on {escape(str(m['hostname']))}" if m.get("hostname") else "")
            + (f" ({escape(str(m['cpu_model']))})" if m.get("cpu_model") else "")
            + f"; tolerance {comp['tolerance']:.1%}. "
            + badge("REGRESSION" if not comp["ok"] else "ok")
            + " " + escape(", ".join(f"{n} {s}" for s, n in sorted(comp.get("counts", {}).items()))) + "</p>")
    order = {"REGRESSION": 0, "missing": 1, "changed": 2, "new": 3, "improved": 4, "ok": 5}
    rows = []
    for r in sorted(comp["rows"], key=lambda r: order.get(r["status"], 9)):
        rows.append([escape(r["test"].split("::", 1)[-1]), escape(r["name"]), escape(fmt(r["baseline"])),
                     escape(fmt(r["current"])), escape(r.get("unit") or ""), escape(pct(r["change"])),
                     escape(DIRECTION.get(r["op"], "")), badge(r["status"])])
    html = head + table(["check", "figure", "baseline", "current", "unit", "change", "direction", "status"], rows,
                         num_cols=(2, 3, 5))
    if comp.get("host_differences"):
        html += "<h3>Host differences</h3>" + table(
            ["what", "baseline", "this run"], [[escape(str(x)) for x in d] for d in comp["host_differences"]])
    if comp.get("outcome_changes"):
        html += "<h3>Verdict changes</h3>" + table(
            ["check", "baseline", "this run"], [[escape(str(x)) for x in d] for d in comp["outcome_changes"]])
    return html


def _device_banner(results: dict) -> str:
    cls = results.get("device_class")
    if cls == "software":
        ports = sorted({str(p.get("driver")) for p in results.get("ports", []) if p.get("driver")})
        what = f" ({', '.join(ports)})" if ports else ""
        return (f'<div class="banner device">software devices — not a hardware qualification. The ports under '
                f"test are DPDK virtual devices{escape(what)}: rates and latencies are those of memory and CPUs, "
                "not of a NIC.</div>")
    if cls == "emulated":
        nic = results.get("inventory", {}).get("emulated_nic")
        what = f" ({nic})" if nic else ""
        return (f'<div class="banner device">emulated NIC — not a hardware qualification{escape(what)}: the NIC '
                "under test is emulated by a hypervisor; rates and latencies are the emulator's.</div>")
    return ""


def _reproduce(results: dict) -> str:
    run = results.get("run") or {}
    h = results.get("harness") or {}
    inv = results.get("inventory", {})
    prof = results.get("profile", {})
    pairs = [("command line", f"<code>{escape(str(run.get('command', '')))}</code>"),
             ("working directory", or_unknown(run.get("cwd"))),
             ("dpdk-harness", escape(_harness_text(results))),
             ("DPDK version", or_unknown(inv.get("dpdk_version"))),
             ("kernel command line", or_unknown(inv.get("kernel_cmdline"))),
             ("profile", f"{escape(str(prof.get('name', '')))} <span class='muted small'>"
                         f"{escape(str(prof.get('path', '')))}</span>")]
    html = kv(pairs)
    if run.get("rerun"):
        checkout = (f"git -C {h.get('source')} checkout {h['commit']}  # the harness as it ran"
                    + (" (it had local changes)" if h.get("dirty") else "") + "\n" if h.get("commit") else "")
        html += f"<h3>re-run</h3><pre class='cmd'>{escape(checkout)}{escape(run['rerun'])}</pre>"
    if prof.get("loaded"):
        html += ("<h3>Profile as loaded (command-line overrides applied)</h3>"
                 f"<pre class='cmd'>{escape(_profile_lines(prof['loaded']))}</pre>")
    return html


def _profile_lines(loaded: dict) -> str:
    """The loaded profile, one ``section.key = value`` line per key (values as JSON)."""
    import json

    lines = []
    for key, value in loaded.items():
        if isinstance(value, dict):
            lines += [f"{key}.{k} = {json.dumps(v)}" for k, v in value.items()]
        else:
            lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ the page


def render(results: dict) -> str:
    """The whole page. ``results["baseline"]`` (a Comparison.to_dict()) adds the comparison section."""
    results = with_wire({**results, "figures": [dict(f) for f in results.get("figures", [])]})
    prof = results.get("profile", {})
    cls, sentence = overall(results)
    title = f"dpdk-harness qualification report: {prof.get('name', '')} on {results.get('hostname', '')}"
    sections = [
        ("inventory", "Host inventory", _inventory(results) + "<h3>Ports</h3>" + _ports(results)),
        ("verdicts", "Verdicts per suite", _verdicts(results)),
        ("figures", "Measured vs target", _figures(results)),
        ("charts", "Charts", charts_section(results)),
        ("skips", "Skipped checks", _skips(results)),
    ]
    if results.get("soak"):
        from harness.report import soak
        sections.append(("soak", "Soak", soak.section(results["soak"])))
    if results.get("baseline"):
        sections.append(("baseline", "Baseline comparison", _baseline(results["baseline"])))
    sections.append(("reproduce", "Reproduce this run", _reproduce(results)))
    banners = [f'<div class="banner {cls}">{escape(sentence)}</div>']
    device = _device_banner(results)
    if device:
        banners.append(device)
    if results.get("probe_fault"):
        banners.append(f'<div class="banner warn">PROBE FAULT {escape(str(results["probe_fault"]))}: the probe '
                       "misbehaved on purpose (mutation test); these results are not a qualification.</div>")
    nav = "".join(f'<a href="#{sid}">{escape(name)}</a>' for sid, name, _ in sections)
    outcomes = ", ".join(f"{n} {k}" for k, n in results.get("outcomes", {}).items() if n) or "no tests ran"
    rerun = (results.get("run") or {}).get("rerun")
    body = "".join(f'<section id="{sid}"><h2>{escape(name)}</h2>{html}</section>' for sid, name, html in sections)
    signoff = kv([("qualified by", ""), ("date", ""), ("signature", "")]).replace('class="kv"', 'class="kv signoff"')
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body><main>"
        f"<h1>{escape(title)}</h1>"
        f'<p class="muted">profile {escape(str(prof.get("name", "")))} ({escape(str(prof.get("path", "")))}); '
        f"finished {escape(str(results.get('finished', '')))}; exit status {escape(str(results.get('exit_status')))}; "
        f"{escape(outcomes)}; dpdk-harness {escape(_harness_text(results))}</p>"
        + (f'<p class="small">re-run: <code>{escape(rerun)}</code> (<a href="#reproduce">details</a>)</p>'
           if rerun else "") +
        f"{''.join(banners)}<nav>{nav}</nav>{body}"
        f'<section id="signoff"><h2>Sign-off</h2>{signoff}</section>'
        "</main></body></html>\n"
    )
