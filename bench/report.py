"""Turn the recorded runs into the summary, the Markdown table, the JSON file and the plots."""

import json
import os

from bench import peers_report
from bench.stats import fmt, ratio, summary

REFERENCE = "kubectl"
# The gate-overhead scenario compares model_rollout with gates against itself without them.
GATE_REFERENCE = "model_rollout"
# The bench's watch and a contender's watch receive the same status write a few milliseconds
# apart; a report that much "before" complete is the same moment, not an early done.
EARLY_TOLERANCE_S = 0.1


def early(verdict_latency, old_ready_at_done):
    """Done while an old pod still served, or clearly before the controller finished."""
    return bool((old_ready_at_done or 0) > 0 or (verdict_latency is not None and verdict_latency < -EARLY_TOLERANCE_S))


ORDER = ("kubectl", "kubectl (one at a time)", "k8s", "model_rollout", "model_rollout (forks 5)",
         "model_rollout (one at a time)", "rollout.yml", "rollout.yml (forks 5)", "rollout.yml (one at a time)")


def _by(records, scenario):
    out = {}
    for r in records:
        if r["scenario"] == scenario:
            out.setdefault(r["contender"], []).append(r)
    return out


def _scenarios(records, prefix):
    seen = []
    for r in records:
        if r["scenario"].startswith(prefix) and r["scenario"] not in seen:
            seen.append(r["scenario"])
    return seen


def _contenders(groups):
    return [c for c in ORDER if c in groups] + sorted(c for c in groups if c not in ORDER)


def _figures(runs, fields):
    return {f: summary([r.get(f) for r in runs]) for f in fields}


WAVE_FIELDS = ("wall_s", "slowest_rollout_s", "verdict_latency_s", "requests", "requests_per_cluster", "cpu_s",
               "first_change_s")


def summarize(records):
    """{scenario: {contender: {figure: {median, min, max, n}, ...}}} with ratios to kubectl."""
    out = {}
    fields = {
        "rollout": ("verdict_latency_s", "wall_s", "overhead_s", "rollout_s", "requests", "cpu_s", "floor",
                    "zero_ready_s", "peak_rss_mb", "apiserver_request_total_delta"),
        "failure": ("failure_latency_s", "back_to_full_s", "wall_s", "requests", "cpu_s", "floor", "zero_ready_s",
                    "rollback_floor", "rollback_zero_ready_s"),
        "wave-": WAVE_FIELDS,
        "waves-": WAVE_FIELDS,
        "gates": ("gate_s", "gate_checks", "wall_s", "verdict_latency_s", "overhead_s", "rollout_s", "requests",
                  "cpu_s", "peak_rss_mb"),
    }
    for prefix, names in fields.items():
        for scenario in _scenarios(records, prefix):
            groups = _by(records, scenario)
            table = {}
            for c in _contenders(groups):
                runs = groups[c]
                row = _figures(runs, names)
                row["runs"] = len(runs)
                row["early_done"] = sum(1 for r in runs if "early_done" in r and early(
                    r.get("verdict_latency_s"), r.get("old_ready_at_done")))
                row["reason_named"] = sum(1 for r in runs if r.get("reason_named"))
                row["expected_floor"] = runs[0].get("expected_floor")
                row["verdicts"] = sorted(set("%s/%s" % (r.get("verdict"), r.get("reason")) for r in runs))
                table[c] = row
            ref = table.get({"gates": GATE_REFERENCE, "waves-": REFERENCE + " (one at a time)"}.get(prefix, REFERENCE), {})
            for row in table.values():
                row["ratio"] = {f: ratio(row.get(f), ref.get(f)) for f in names}
            if prefix == "gates":
                gate_extras(groups, table)
            out[scenario] = table
    out.update(peers_report.summarize(records))
    for scenario, table in out.items():
        if scenario.startswith("wave-"):
            for c, row in table.items():
                one = out.get("wave-1", {}).get(c, {}).get("wall_s")
                row["wall_vs_one_cluster"] = ratio(row.get("wall_s"), one)
    return out


def gate_extras(groups, table):
    """Per check, the seconds of every entry in the result's ``gates`` list; and per repetition, the
    difference to the run without gates (the two run back to back, in alternating order)."""
    plain = dict((r.get("rep"), r) for r in groups.get(GATE_REFERENCE, []))
    for c, row in table.items():
        seconds = {}
        for r in groups[c]:
            for entry in (r.get("module") or {}).get("gates") or []:
                seconds.setdefault(entry.get("name"), []).append(entry.get("seconds"))
        row["checks"] = dict((name, summary(values)) for name, values in seconds.items())
        for field in ("wall_s", "verdict_latency_s", "cpu_s"):
            diffs = []
            for r in groups[c]:
                other = plain.get(r.get("rep"))
                if other is not None and isinstance(r.get(field), (int, float)) and \
                        isinstance(other.get(field), (int, float)):
                    diffs.append(r[field] - other[field])
            row["added_" + field] = summary(diffs) if c != GATE_REFERENCE else None


def _r(value):
    return "–" if value is None else "%.2f×" % value


def markdown(meta, summ):
    m = meta["machine"]
    s = meta["settings"]
    lines = [
        "# Benchmark results %s" % meta["started"],
        "",
        "Machine: %s CPUs (%s), %s GB RAM, %s. Load average at start %s, at end %s. Run took %s s."
        % (m.get("cpus"), m.get("cpu_model", "?"), m.get("memory_gb"), m.get("platform"),
           " / ".join("%.2f" % x for x in m.get("loadavg_start", [])),
           " / ".join("%.2f" % x for x in m.get("loadavg_end", [])), meta.get("duration_s")),
    ]
    for extra in meta.get("appended", []):
        lines.append("%s from a separate run at %s: load average at start %s, at end %s, %s s." % (
            ", ".join(extra["scenarios"]), extra["started"], " / ".join("%.2f" % x for x in extra["loadavg_start"]),
            " / ".join("%.2f" % x for x in extra.get("loadavg_end") or []), extra.get("duration_s")))
    lines += [
        "Versions: %s." % ", ".join("%s %s" % kv for kv in sorted(meta["versions"].items())),
        "Pods Ready %s after start; progressDeadlineSeconds %s; kubernetes.core wait_timeout capped at %s s on "
        "failure cases (default 120 otherwise). Figures are median [min–max] over the runs; ratios are medians "
        "against kubectl." % (s["ready_delay"], s["progress_deadline_seconds"], s["k8s_wait_timeout_on_failure"]),
        "",
    ]
    for name, why in sorted(meta.get("missing", {}).items()):
        lines.append("Contender **%s** missing: %s." % (name, why))
        lines.append("")
    rollouts = [k for k in summ if k.startswith("rollout-")]
    if rollouts:
        lines += ["## Successful rollouts", "",
                  "| scenario | contender | runs | verdict latency s | early done | wall s (ratio) | overhead s "
                  "| API requests (ratio) | CPU s (ratio) | ready floor / expected | s with 0 ready | peak RSS MB |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for scenario in rollouts:
            for c, row in summ[scenario].items():
                rt = row["ratio"]
                floor = row.get("floor")
                lines.append("| %s | %s | %d | %s | %d | %s (%s) | %s | %s (%s) | %s (%s) | %s / %s | %s | %s |" % (
                    scenario, c, row["runs"], fmt(row["verdict_latency_s"]), row["early_done"],
                    fmt(row["wall_s"], digits=1), _r(rt["wall_s"]), fmt(row["overhead_s"]),
                    fmt(row["requests"], digits=0), _r(rt["requests"]), fmt(row["cpu_s"]), _r(rt["cpu_s"]),
                    "–" if floor is None else "%d" % floor["min"], row["expected_floor"],
                    fmt(row["zero_ready_s"], digits=1), fmt(row["peak_rss_mb"], digits=0)))
        lines.append("")
    failures = [k for k in summ if k.startswith("failure-")]
    if failures:
        lines += ["## Failed rollouts", "",
                  "| case | contender | runs | verdict/reason | failure verdict s (ratio) | cause named "
                  "| back to full capacity s (ratio) | ready floor rollout / rollback / expected "
                  "| API requests (ratio) |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for scenario in failures:
            for c, row in summ[scenario].items():
                rt = row["ratio"]
                lines.append("| %s | %s | %d | %s | %s (%s) | %d/%d | %s (%s) | %s / %s / %s | %s (%s) |" % (
                    scenario[len("failure-"):], c, row["runs"], ", ".join(row["verdicts"]),
                    fmt(row["failure_latency_s"], digits=1), _r(rt["failure_latency_s"]),
                    row["reason_named"], row["runs"], fmt(row["back_to_full_s"], digits=1),
                    _r(rt["back_to_full_s"]), _min(row.get("floor")), _min(row.get("rollback_floor")),
                    row["expected_floor"], fmt(row["requests"], digits=0), _r(rt["requests"])))
        lines.append("")
    waves = [k for k in summ if k.startswith("wave-")] + [k for k in summ if k.startswith("waves-")]
    if waves:
        lines += ["## One wave over several clusters", "",
                  "| clusters | contender | runs | wall s | ratio to kubectl | ratio to 1 cluster | first change s "
                  "| slowest rollout s | API requests (per cluster) | CPU s |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for scenario in waves:
            for c, row in summ[scenario].items():
                lines.append("| %s | %s | %d | %s | %s | %s | %s | %s | %s (%s) | %s |" % (
                    scenario.split("-", 1)[1].replace("x1", " waves of 1"), c, row["runs"], fmt(row["wall_s"], digits=1), _r(row["ratio"]["wall_s"]),
                    _r(row.get("wall_vs_one_cluster")), fmt(row.get("first_change_s"), digits=1),
                    fmt(row["slowest_rollout_s"], digits=1), fmt(row["requests"], digits=0),
                    fmt(row.get("requests_per_cluster"), digits=1), fmt(row["cpu_s"], digits=1)))
        lines.append("")
        lines += fleet_goals(summ)
    gates = [k for k in summ if k.startswith("gates-")]
    if gates:
        lines += gate_markdown(summ, gates)
    lines += peers_report.markdown(meta, summ)
    for section in (meta.get("sections") or {}).values():  # phases with tables of their own (bench/sagemaker.py)
        lines += section["markdown"]
    for note in meta.get("notes", []):
        lines.append("- %s" % note)
    return "\n".join(lines) + "\n"


def fleet_goals(summ):
    from bench import fleet

    return fleet.markdown(summ)


def gate_markdown(summ, scenarios):
    lines = ["## Gate overhead", "",
             "The same 3-replica rollout (maxSurge 1, maxUnavailable 1) by model_rollout without and with "
             "`gates` (kserve_v2: server ready, model ready and a smoke inference on every new pod, through the API "
             "server's port-forward to a real MLServer serving a tiny model), in alternating order. \"added\" is "
             "the difference to the run without gates in the same repetition.", "",
             "| scenario | contender | runs | verdict | gate checks | durations.gate s | wall s (added) "
             "| verdict latency s (added) | CPU s (added) | API requests | peak RSS MB |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    checks = []
    for scenario in scenarios:
        for c, row in summ[scenario].items():
            lines.append("| %s | %s | %d | %s | %s | %s | %s%s | %s%s | %s%s | %s | %s |" % (
                scenario, c, row["runs"], ", ".join(row["verdicts"]), fmt(row["gate_checks"], digits=0),
                fmt(row["gate_s"]), fmt(row["wall_s"], digits=1), _added(row.get("added_wall_s")),
                fmt(row["verdict_latency_s"]), _added(row.get("added_verdict_latency_s")),
                fmt(row["cpu_s"]), _added(row.get("added_cpu_s")),
                fmt(row["requests"], digits=0), fmt(row["peak_rss_mb"], digits=0)))
            for name, value in (row.get("checks") or {}).items():
                checks.append("| %s | %s | %s | %s | %s |" % (
                    scenario, c, name, value["n"] if value else 0, fmt(value, digits=3)))
    lines.append("")
    if checks:
        lines += ["Per check, each entry of the result's `gates` list (one per pod and check):", "",
                  "| scenario | contender | check | entries | s per entry |", "|---|---|---|---|---|"] + checks + [""]
    return lines


def _added(value):
    return "" if value is None else " (%s%s)" % ("+" if value["median"] >= 0 else "", fmt(value))


def _min(value):
    return "–" if value is None else "%d" % value["min"]


def plot(path, scenario, records):
    """Ready endpoints and updated replicas over time, one panel per contender (first run)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

    groups = _by(records, scenario)
    names = [c for c in _contenders(groups) if groups[c][0].get("timeline")]
    if not names:
        return None
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3), sharey=True, squeeze=False)
    for ax, c in zip(axes[0], names):
        tl = groups[c][0]["timeline"]
        if tl["endpoints"]:
            xs, ys = zip(*tl["endpoints"])
            ax.step(xs, ys, where="post", label="ready endpoints")
        if tl["deployment"]:
            xs, updated, available = zip(*tl["deployment"])
            ax.step(xs, updated, where="post", label="updated", alpha=0.6)
            ax.step(xs, available, where="post", label="available", alpha=0.6)
        ax.set_title(c)
        ax.set_xlabel("s since the change")
    axes[0][0].legend(fontsize="small")
    fig.suptitle(scenario)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def render(json_path):
    """Rewrite the summary and the Markdown table of a results file from its runs."""
    with open(json_path) as f:
        data = json.load(f)
    for r in data["runs"]:
        if "early_done" in r:
            r["early_done"] = early(r.get("verdict_latency_s"), r.get("old_ready_at_done"))
    data["summary"] = summarize(data["runs"])
    with open(json_path, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    md_path = json_path[:-len(".json")] + ".md"
    with open(md_path, "w") as f:
        f.write(markdown(data["meta"], data["summary"]))
    return md_path


def appended(json_path, meta, records):
    """An earlier file's meta and runs (with timelines), with this run's records and load added."""
    with open(json_path) as f:
        data = json.load(f)
    timelines = {(t["scenario"], t["contender"], t.get("rep")): t["timeline"] for t in data.get("timelines", [])}
    old = []
    for r in data["runs"]:
        key = (r["scenario"], r["contender"], r.get("rep"))
        if key in timelines:
            r = dict(r, timeline=timelines[key])
        old.append(r)
    merged = data["meta"]
    merged.setdefault("appended", []).append({
        "started": meta["started"], "duration_s": meta.get("duration_s"), "settings": meta["settings"],
        "loadavg_start": meta["machine"]["loadavg_start"], "loadavg_end": meta["machine"].get("loadavg_end"),
        "scenarios": sorted(set(r["scenario"] for r in records))})
    merged["notes"] = merged.get("notes", []) + meta.get("notes", [])
    merged.setdefault("sections", {}).update(meta.get("sections") or {})
    done = set(r["scenario"] for r in records)
    return merged, [r for r in old if r["scenario"] not in done] + records


def write(out_dir, stem, meta, records, plots=True):
    os.makedirs(out_dir, exist_ok=True)
    summ = summarize(records)
    paths = []
    json_path = os.path.join(out_dir, stem + ".json")
    slim = [dict((k, v) for k, v in r.items() if k != "timeline") for r in records]
    with open(json_path, "w") as f:
        json.dump({"meta": meta, "summary": summ, "runs": slim,
                   "timelines": [{"scenario": r["scenario"], "contender": r["contender"], "rep": r.get("rep"),
                                  "timeline": r["timeline"]} for r in records if r.get("timeline")]},
                  f, indent=1, sort_keys=True)
    paths.append(json_path)
    md_path = os.path.join(out_dir, stem + ".md")
    with open(md_path, "w") as f:
        f.write(markdown(meta, summ))
    paths.append(md_path)
    if plots:
        for scenario in summ:
            png = plot(os.path.join(out_dir, "%s-%s.png" % (stem, scenario)), scenario, records)
            if png:
                paths.append(png)
    return paths
