"""The peers phase's summary and table: every figure of model_rollout as a ratio to the peer of the same run."""

from bench.stats import fmt, ratio, summary

PREFIX = "peer-"
OURS = "model_rollout"
SUCCESS_FIELDS = ("complete_s", "complete_after_first_pod_s", "verdict_latency_s", "first_new_pod_s", "wall_s",
                  "requests", "client_cpu_s", "controller_cpu_s", "cpu_s", "floor", "zero_ready_s")
FAILURE_FIELDS = ("failure_verdict_s", "failure_after_first_pod_s", "abort_s", "back_to_full_s", "first_new_pod_s",
                  "requests", "client_cpu_s", "controller_cpu_s", "cpu_s", "floor", "zero_ready_s")


def kind(scenario):
    return scenario[len(PREFIX):].split("-", 1)[0]


def is_failure(scenario):
    return kind(scenario) in ("failure", "bluegreen")


def after_first_pod(record, field):
    """``field`` counted from the first pod of the new image instead of the command's start.

    It takes the client's start-up out (ansible-playbook and the module starting, or kubectl and the
    peer's controller noticing the change): what is left is the time the tool itself needs to decide.
    """
    value, first = record.get(field), record.get("first_new_pod_s")
    return None if value is None or first is None else round(value - first, 3)


def summarize(records):
    """{scenario: {contender: {figure: summary}, ...}} with each row's ratio to the other contender."""
    out = {}
    for r in records:
        if r["scenario"].startswith(PREFIX):
            r["complete_after_first_pod_s"] = after_first_pod(r, "complete_s")
            r["failure_after_first_pod_s"] = after_first_pod(r, "failure_verdict_s")
    scenarios = []
    for r in records:
        if r["scenario"].startswith(PREFIX) and r["scenario"] not in scenarios:
            scenarios.append(r["scenario"])
    for scenario in scenarios:
        fields = FAILURE_FIELDS if is_failure(scenario) else SUCCESS_FIELDS
        groups = {}
        for r in records:
            if r["scenario"] == scenario:
                groups.setdefault(r["contender"], []).append(r)
        table = {}
        for contender, runs in groups.items():
            row = {f: summary([r.get(f) for r in runs]) for f in fields}
            row["runs"] = len(runs)
            row["verdicts"] = sorted(set("%s/%s" % (r.get("verdict"), r.get("reason")) for r in runs))
            row["reason_named"] = sum(1 for r in runs if r.get("reason_named"))
            row["early_done"] = sum(1 for r in runs if r.get("early_done"))
            row["expected_floor"] = runs[0].get("expected_floor")
            row["replicas"] = runs[0].get("replicas")
            table[contender] = row
        peer = next((c for c in table if c != OURS), None)
        if OURS in table and peer:
            table[OURS]["peer"] = peer
            table[OURS]["ratio"] = {f: ratio(table[OURS].get(f), table[peer].get(f)) for f in fields}
        out[scenario] = table
    return out


def _r(value):
    return "–" if value is None else "%.2f×" % value


def _min(value):
    return "–" if value is None else "%d" % value["min"]


def _row(cells):
    return "| %s |" % " | ".join(cells)


def _with_ratio(row, ratios, field, digits):
    return "%s (%s)" % (fmt(row[field], digits=digits), _r(ratios.get(field)))


def _cpu(row, ratios):
    return "%s + %s (%s)" % (fmt(row["client_cpu_s"]), fmt(row["controller_cpu_s"]), _r(ratios.get("cpu_s")))


def _order(table):
    return [c for c in table if c == OURS] + sorted(c for c in table if c != OURS)


def markdown(meta, summ):
    scenarios = [s for s in summ if s.startswith(PREFIX)]
    if not scenarios:
        return []
    peers = meta.get("peers") or {}
    lines = ["## Against the peers (Argo Rollouts, Flagger)", ""]
    versions = peers.get("versions") or {}
    if versions:
        lines.append("Peers: %s. Idle controller CPU (s per minute, nothing to roll out): %s." % (
            ", ".join("%s %s" % kv for kv in sorted(versions.items())),
            ", ".join("%s %s" % kv for kv in sorted((peers.get("idle_cpu_s_per_min") or {}).items())) or "–"))
        lines.append("")
    st = peers.get("settings") or {}
    if st:
        lines.append("Pods Ready %s after start (%s in the slow rollout), progressDeadlineSeconds %s, canary %s%% on %s "
                     "replicas with %s s pauses, blue/green on %s, slow rollout on %s; %s run(s) of each good case, "
                     "%s of each failure; Flagger's analysis interval %s (its minimum)." % (
                         st.get("ready_delay"), st.get("slow_ready_delay"), st.get("progress_deadline_seconds"),
                         "/".join(str(x) for x in st.get("canary_steps") or []), st.get("canary_replicas"),
                         st.get("pause_seconds"), st.get("bg_replicas"), st.get("slow_replicas"), st.get("reps"),
                         st.get("failure_reps"), st.get("flagger_interval")))
        lines.append("")
    lines += ["Seconds from the start of the command that asks for the change; ratios are model_rollout's "
              "median over the peer's median in the same run (below 1: model_rollout is faster / cheaper). "
              "CPU is the client's process tree plus, for a peer, its resident controller's CPU over the run.", ""]
    success = [s for s in scenarios if not is_failure(s)]
    if success:
        lines += ["| scenario | contender | runs | verdict | first new pod s | complete s (ratio) "
                  "| complete after the first new pod s (ratio) | verdict latency s (ratio) "
                  "| early done | API requests (ratio) | CPU s client + controller (ratio) | ready floor / expected "
                  "| s with 0 ready |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for scenario in success:
            table = summ[scenario]
            for c in _order(table):
                row = table[c]
                rt = row.get("ratio") or {}
                lines.append(_row([
                    scenario[len(PREFIX):], c, "%d" % row["runs"], ", ".join(row["verdicts"]),
                    fmt(row["first_new_pod_s"], digits=1),
                    _with_ratio(row, rt, "complete_s", 1), _with_ratio(row, rt, "complete_after_first_pod_s", 1),
                    _with_ratio(row, rt, "verdict_latency_s", 2), "%d" % row["early_done"],
                    _with_ratio(row, rt, "requests", 0), _cpu(row, rt),
                    "%s / %s" % (_min(row["floor"]), row["expected_floor"]), fmt(row["zero_ready_s"], digits=1)]))
        lines.append("")
    failures = [s for s in scenarios if is_failure(s)]
    if failures:
        lines += ["| case | contender | runs | verdict/reason | first new pod s | failure verdict s (ratio) "
                  "| failure verdict after the first new pod s (ratio) | abort s (ratio) "
                  "| cause named | back to full capacity s (ratio) | ready floor / expected | API requests (ratio) "
                  "| CPU s client + controller (ratio) |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for scenario in failures:
            table = summ[scenario]
            for c in _order(table):
                row = table[c]
                rt = row.get("ratio") or {}
                lines.append(_row([
                    scenario[len(PREFIX):], c, "%d" % row["runs"], ", ".join(row["verdicts"]),
                    fmt(row["first_new_pod_s"], digits=1),
                    _with_ratio(row, rt, "failure_verdict_s", 1), _with_ratio(row, rt, "failure_after_first_pod_s", 1),
                    _with_ratio(row, rt, "abort_s", 1), "%d/%d" % (row["reason_named"], row["runs"]),
                    _with_ratio(row, rt, "back_to_full_s", 1),
                    "%s / %s" % (_min(row["floor"]), row["expected_floor"]),
                    _with_ratio(row, rt, "requests", 0), _cpu(row, rt)]))
        lines.append("")
    return lines
