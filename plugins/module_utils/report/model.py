# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet rollout report as data: one record per cluster, from what the run saw of it.

Pure functions: dicts in, dicts out. Each cluster's entry carries what its wave found out:
the preflight outcome (M(modelops.serving.fleet_check)), the change (the registered
M(modelops.serving.model_rollout) result), the bake, or an error. The record says which
cluster failed, at which stage and why; the picture is drawn from the same records, so the
JSON and the PNG cannot disagree.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import re

from ansible_collections.modelops.serving.plugins.module_utils.fleet import waves as fleet_waves

NOT_STARTED = "not_started"
# A host the run does not handle (a SageMaker endpoint in rollback.yml): left as it was, on purpose.
SKIPPED = "skipped"
SAGEMAKER = "sagemaker"
# sagemaker_endpoint_rollout's verdicts in check mode (the endpoint's preflight) that let it change.
ENDPOINT_PREFLIGHT_OK = ("pending", "unchanged")
# The fleet writes "<kind> <run id> <host> <UTC start>" in this tag of every Model and EndpointConfig it makes.
FLEET_RUN_TAG = "modelops.serving/fleet-run"
# pending: what model_rollout answers in check mode, where nothing is changed on purpose.
OK_VERDICTS = ("complete", "unchanged", "pending")
# Verdicts of a host that did not fail: it did its part, or was never meant to (skipped), or never started.
NOT_FAILED = OK_VERDICTS + (NOT_STARTED, SKIPPED)
FILE_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")
# The run writes "<kind> <run id> <cluster> <UTC start>" as model_rollout's Lease holder, so the
# moment each cluster's change started is known even when forks made it wait for a free worker.
IDENTITY_TIME = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)$")
STAGES = ("preflight", "change", "bake", "error")


def _dict(value):
    return value if isinstance(value, dict) else {}


def _number(value, default=None):
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _int(value, default=None):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def epoch_of(text):
    """Epoch seconds of an ISO 8601 UTC time such as ``2026-12-01T12:00:03.5Z``, or None."""
    if not text:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.timestamp()


def change_started_at(change):
    """When model_rollout started on this cluster, from the Lease holder identity the run gave it
    (model_rollout returns it as ``lock.holder``; its invocation has it too)."""
    change = _dict(change)
    args = _dict(_dict(change.get("invocation")).get("module_args"))
    identities = (_dict(change.get("lock")).get("holder"), args.get("lock_identity"),
                  _dict(args.get("tags")).get(FLEET_RUN_TAG))
    for identity in identities:
        match = IDENTITY_TIME.search(str(identity or ""))
        if match:
            return epoch_of(match.group(1))
    return None


def _ran(change):
    change = _dict(change)
    return bool(change) and not change.get("skipped")


def serving_split(point, phase):
    """(ready pods of the image before the run, ready pods of the run's target image) at one point.

    The Deployment's status counts pods of its current template (``updated``) and ready pods of
    all templates (``ready``), not ready pods per template. Ready pods are given first to the
    image that served before the run: it was serving, and its pods keep their readiness until
    they are removed. So the new image is never credited with pods it may not have had. While
    rolling out, the current template is the target's; while rolling back, the old one's.
    """
    ready = _int(point.get("ready"), 0) or 0
    updated = _int(point.get("updated"), 0) or 0
    if phase == "rollback":
        previous = min(ready, updated)
    else:
        total = _int(point.get("total"))
        if total is None and point.get("available") is not None and point.get("unavailable") is not None:
            total = (_int(point.get("available"), 0) or 0) + (_int(point.get("unavailable"), 0) or 0)
        if total is None:
            total = max(_int(point.get("desired"), 0) or 0, updated)
        previous = min(ready, max(total - updated, 0))
    return previous, ready - previous


def endpoint_split(point):
    """(instances serving the config before the run, instances of the new config taking traffic) at one point
    of sagemaker_endpoint_rollout's timeline.

    ``available`` counts the instances of the config that serves (the old one until the deployment ends),
    ``ready`` the new fleet's instances taking traffic or baking. While SageMaker is updating or rolling back the
    old fleet keeps serving beside the new one (blue/green has both at once); after, ``available`` is the new
    fleet itself.
    """
    ready = _int(point.get("ready"), 0) or 0
    available = _int(point.get("available"), 0) or 0
    if point.get("status") in ("Updating", "RollingBack", "Creating"):
        return available, ready
    return max(available - ready, 0), min(ready, available)


def _timeline(points, base=0.0, target_image=None, platform=None):
    """Points relative to ``base``, with the ready pods per image; a bake point whose template is
    another image than the target (another hand changed it) has no split: its pods are of three images."""
    out = []
    for p in points or []:
        p = _dict(p)
        t = _number(p.get("t"))
        if t is None:
            continue
        phase = p.get("phase") or "rollout"
        if platform == SAGEMAKER:
            previous, target = endpoint_split(p)
        elif target_image and p.get("image") not in (None, target_image):
            previous, target = None, None
        else:
            previous, target = serving_split(p, phase)
        out.append({
            "t": round(t - base, 3), "phase": phase, "desired": p.get("desired"), "updated": p.get("updated"),
            "ready": p.get("ready"), "available": p.get("available"), "unavailable": p.get("unavailable"),
            "total": p.get("total"), "ready_previous": previous, "ready_target": target, "image": p.get("image"),
        })
        if p.get("status"):
            out[-1]["status"] = p["status"]
    return out


def _durations(result):
    return dict((k, round(v, 3)) for k, v in ((k, _number(v)) for k, v in _dict(result.get("durations")).items())
                if v is not None)


def _not_started(entry, planned_wave, why):
    preflight = _dict(entry.get("preflight"))
    deployment = _dict(preflight.get("deployment"))
    return {
        "cluster": str(entry.get("cluster") or ""), "wave": _int(entry.get("wave")), "planned_wave": planned_wave,
        "verdict": NOT_STARTED, "stage": None, "reason": entry.get("reason") or NOT_STARTED,
        "message": why, "from": {"image": deployment.get("image"), "revision": deployment.get("revision")} if deployment
        else None, "to": None, "target_image": entry.get("target_image") or preflight.get("target_image"),
        "rolled_back_to": None, "durations": {}, "timeline": [], "diagnostics": [], "floor": deployment.get("floor"),
        "desired": _dict(deployment.get("replicas")).get("desired"), "started_at": None, "ended_at": None,
        "failed_at": None, "preflight_at": _number(preflight.get("started_at")), "changed": False, "resumed": False,
        "bake": None,
    }


def endpoint_preflight(result, at=None, endpoint=None):
    """The preflight of a SageMaker endpoint, from sagemaker_endpoint_rollout's result in check mode, in the
    shape of a cluster's (M(modelops.serving.fleet_check)); None when it did not run. ``endpoint`` is what the
    host asks for (``image``, ``instances``)."""
    result = _dict(result)
    if not result or result.get("skipped"):
        return None
    endpoint = _dict(endpoint)
    previous = _dict(result.get("previous"))
    ok = result.get("verdict") in ENDPOINT_PREFLIGHT_OK and not result.get("failed")
    return {
        "ok": ok,
        # No reason: the module stopped at its argument spec (a missing or mistyped host variable).
        "reason": None if ok else (result.get("reason") or "invalid_input"),
        "message": result.get("message") or result.get("msg") or "",
        "target_image": endpoint.get("image") or _dict(result.get("current")).get("image"),
        # What serves before the change, in a Deployment's terms: the config is the revision, instances are replicas.
        "deployment": {"image": previous.get("image"), "revision": previous.get("revision"),
                       "replicas": {"desired": _int(endpoint.get("instances"))}},
        "started_at": None, "checked_at": _number(at),
    }


def _where(endpoint):
    endpoint = _dict(endpoint)
    return {"name": endpoint.get("name"), "region": endpoint.get("region")}


def _skipped(entry, planned_wave):
    skipped = _dict(entry.get("skipped"))
    return {
        "cluster": str(entry.get("cluster") or ""), "platform": entry.get("platform"),
        "endpoint": _where(entry.get("endpoint")), "wave": _int(entry.get("wave")), "planned_wave": planned_wave,
        "verdict": SKIPPED, "stage": None, "reason": skipped.get("reason") or SKIPPED,
        "message": " ".join(str(skipped.get("message") or "skipped").split()), "from": None, "to": None,
        "target_image": None, "rolled_back_to": None, "durations": {}, "timeline": [], "diagnostics": [],
        "floor": None, "desired": None, "started_at": None, "ended_at": None, "failed_at": None, "preflight_at": None,
        "changed": False, "resumed": False, "bake": None,
    }


def cluster_record(entry, planned_wave=None):
    """One host's line of the report, from the playbook's entry for it (see the module's ``clusters``): a
    cluster's, or a SageMaker endpoint's (``platform: sagemaker``)."""
    entry = _dict(entry)
    if entry.get("skipped"):
        return _skipped(entry, planned_wave)
    if entry.get("platform") == SAGEMAKER:
        entry = dict(entry, preflight=endpoint_preflight(entry.get("preflight"), entry.get("recorded_at"),
                                                         entry.get("endpoint")))
    record = _host_record(entry, planned_wave)
    record["platform"] = entry.get("platform") or "kubernetes"
    record["endpoint"] = _where(entry.get("endpoint")) if record["platform"] == SAGEMAKER else None
    return record


def _host_record(entry, planned_wave):
    cluster = str(entry.get("cluster") or "")
    preflight = _dict(entry.get("preflight"))
    change = _dict(entry.get("change") if "change" in entry else entry.get("result"))
    bake = _dict(entry.get("bake"))
    error = _dict(entry.get("error"))
    wave = _int(entry.get("wave"), planned_wave)
    if not preflight and not _ran(change) and not error:
        return _not_started(dict(entry, wave=None), planned_wave if planned_wave is not None else wave,
                            entry.get("message") or "not started")
    if preflight and not preflight.get("ok", True):
        record = _not_started(entry, planned_wave, "")
        record.update(wave=wave, verdict="failed", stage="preflight", reason=preflight.get("reason") or "preflight",
                      message=preflight.get("message") or "preflight failed", failed_at=_number(preflight.get("checked_at")),
                      started_at=_number(preflight.get("started_at")), ended_at=_number(preflight.get("checked_at")))
        return record
    if not _ran(change) and not error:
        refused_by = [c for c in entry.get("wave_failed") or [] if c != cluster]
        record = _not_started(entry, planned_wave, "not changed: the preflight of %s failed in this wave, so nothing "
                                                   "in it was changed" % ", ".join(refused_by) if refused_by else
                              entry.get("message") or "not changed")
        record.update(wave=wave, reason="wave_refused" if refused_by else NOT_STARTED)
        return record
    return _changed_record(entry, cluster, wave, planned_wave, preflight, change, bake, error)


def _changed_record(entry, cluster, wave, planned_wave, preflight, change, bake, error):
    deployment = _dict(preflight.get("deployment"))
    previous, current = _dict(change.get("previous")), _dict(change.get("current"))
    started = (change_started_at(change) or _number(entry.get("started_at"))
               or _number(preflight.get("checked_at")))
    durations = _durations(change)
    verdict = change.get("verdict") or ("failed" if change.get("failed") or change.get("unreachable") else "unknown")
    reason = change.get("reason") or ("error" if change.get("failed") else "")
    message = change.get("message") or change.get("msg") or ""
    stage = "change"
    if change.get("unreachable"):
        verdict, reason, stage = "failed", "unreachable", "change"
        message = "unreachable, so model_rollout did not run on it: %s" % message
    ended = started + durations["total"] if started is not None and "total" in durations else None
    failed_at = _failure_moment(started, durations, change.get("timeline")) if verdict not in OK_VERDICTS else None
    target_image = entry.get("target_image") or preflight.get("target_image")
    bake_timeline = _timeline(bake.get("timeline"), started or 0.0, target_image) if bake else []
    if bake and not bake.get("ok", True) and verdict in OK_VERDICTS:
        verdict, stage, reason = "failed", "bake", bake.get("reason") or "bake"
        message = bake.get("message") or "failed during the bake"
        failed_at = _number(bake.get("checked_at"))
    if error:
        verdict, stage, reason = "failed", "error", "error"
        message = "task '%s' failed: %s" % (error.get("task") or "?", error.get("message") or "")
        failed_at = _number(error.get("at"), failed_at)
    if bake:
        ended = _number(bake.get("checked_at"), ended)
    return {
        "cluster": cluster, "wave": wave, "planned_wave": planned_wave, "verdict": verdict, "stage": stage,
        "reason": reason, "message": message,
        "from": {"image": previous.get("image") or deployment.get("image"),
                 "revision": previous.get("revision") or deployment.get("revision")},
        "to": {"image": current.get("image"), "revision": current.get("revision")},
        "target_image": entry.get("target_image") or preflight.get("target_image"),
        "rolled_back_to": change.get("rolled_back_to"),
        "durations": durations,
        "timeline": _timeline(change.get("timeline"), platform=entry.get("platform")),
        "diagnostics": change.get("diagnostics") or [],
        "floor": deployment.get("floor"),
        "desired": _dict(deployment.get("replicas")).get("desired"),
        "started_at": started, "ended_at": ended, "failed_at": failed_at,
        "preflight_at": _number(preflight.get("started_at")),
        "changed": bool(change.get("changed")), "resumed": bool(change.get("resumed")),
        "bake": {"ok": bool(bake.get("ok", True)), "reason": bake.get("reason"), "timeline": bake_timeline}
        if bake else None,
    }


def _failure_moment(started, durations, timeline):
    """Epoch seconds when the rollout was judged failed: the end of its wait, or its first rollback point."""
    if started is None:
        return None
    moments = []
    waited = sum(durations.get(k, 0.0) for k in ("change", "rollout", "gate"))
    if waited:
        moments.append(waited)
    rollback = [_number(p.get("t")) for p in timeline or [] if _dict(p).get("phase") == "rollback"]
    rollback = [t for t in rollback if t is not None]
    if rollback:
        moments.append(min(rollback))
    if not moments:
        moments.append(durations.get("total", 0.0))
    return round(started + min(moments), 3)


def outcome(records):
    """``failed`` when a cluster failed, ``succeeded`` when every cluster completed, else ``incomplete``."""
    verdicts = [r["verdict"] for r in records]
    if any(v not in NOT_FAILED for v in verdicts):
        return "failed"
    if verdicts and all(v in OK_VERDICTS + (SKIPPED,) for v in verdicts):
        return "succeeded"
    return "incomplete"


def _planned(fleet, spec):
    try:
        return fleet_waves.planned(fleet, fleet_waves.parse(spec))
    except (fleet_waves.WaveError, TypeError, ValueError):
        return {}


def _unseen(name, endpoints):
    """The entry of a host the run has not reached: a cluster, or an endpoint named in ``endpoints``."""
    if name in endpoints:
        return {"cluster": name, "platform": SAGEMAKER, "endpoint": {"name": endpoints[name]}}
    return {"cluster": name}


def build_report(entries, run=None, fleet=None, endpoints=None):
    """The whole report: run metadata, outcome, one record per host of ``fleet`` sorted by wave.
    ``endpoints`` maps the hosts that are SageMaker endpoints to their endpoint names."""
    run = _dict(run)
    fleet = [str(f) for f in fleet or []]
    endpoints = _dict(endpoints)
    by_name = dict((str(_dict(e).get("cluster")), e) for e in entries or [])
    names = fleet + sorted(n for n in by_name if n not in fleet)
    plan = _planned(names, run.get("waves"))
    records = [cluster_record(by_name.get(n) or _unseen(n, endpoints), plan.get(n)) for n in names]
    stopped = [r for r in records if r["verdict"] not in NOT_FAILED]
    last_wave = max([r["wave"] for r in records if r["wave"] is not None] or [None], key=lambda w: w or 0)
    for r in records:
        if r["verdict"] == NOT_STARTED and r["stage"] is None and r["reason"] == NOT_STARTED:
            r["message"] = _why_not_started(r, stopped, last_wave)
    records.sort(key=lambda r: (_wave_key(r), r["cluster"]))
    for r in records:
        r["stop_message"] = stop_message(r, run.get("kind") or "rollout")
    failed = [r for r in records if r["verdict"] not in NOT_FAILED]
    starts = [t for r in records for t in (r["preflight_at"], r["started_at"], r["failed_at"]) if t is not None]
    targets = set(r["target_image"] for r in records if r["target_image"])
    return {
        "kind": run.get("kind") or "rollout",
        "run_id": run.get("run_id"),
        "playbook": run.get("playbook"),
        # One image for the run, unless clusters had images of their own.
        "image": run.get("image") if not targets - {run.get("image")} else None,
        "waves_spec": run.get("waves"),
        "awx": run.get("awx") or {},
        "outcome": outcome(records),
        "failed_clusters": [dict((k, r[k]) for k in ("cluster", "wave", "stage", "verdict", "reason", "message"))
                            for r in failed],
        "started_at": min(starts) if starts else None,
        "waves": _waves(records),
        "clusters": records,
    }


def _sentence(text):
    text = " ".join(str(text or "").split())
    return text if not text or text[-1] in ".!?" else text + "."


def stop_message(record, kind="rollout"):
    """What the failed cluster's host says when it stops the run; None for a cluster that did not fail."""
    if record["verdict"] in NOT_FAILED:
        return None
    name, stage, reason = record["cluster"], record["stage"], record["reason"]
    if stage == "preflight":
        return "%s: preflight failed (%s), nothing in this wave was changed and no later wave starts: %s" % (
            name, reason, _sentence(record["message"]))
    if stage == "bake":
        return "%s: the bake after its %s failed (%s): %s No later wave starts." % (
            name, kind, reason, _sentence(record["message"]))
    if stage == "error":
        return "%s: %s No later wave starts." % (name, _sentence(record["message"]))
    back = record.get("rolled_back_to") or {}
    rolled = " Rolled back to revision %s (%s)." % (back.get("revision"), back.get("image")) if back else ""
    return "%s: %s of %s ended %s (%s): %s%s No later wave starts." % (
        name, kind, record.get("target_image") or "?", record["verdict"], reason, _sentence(record["message"]), rolled)


def _wave_key(record):
    wave = record["wave"] if record["wave"] is not None else record["planned_wave"]
    return (wave is None, wave or 0)


def _why_not_started(record, stopped, last_wave=None):
    planned = record.get("planned_wave")
    where = " (planned for wave %s)" % planned if planned is not None else ""
    if stopped:
        return "not started%s: the run stopped when %s failed" % (
            where, ", ".join("%s (%s, %s)" % (r["cluster"], r["stage"], r["reason"]) for r in stopped))
    # The report is written once per wave: a run killed inside a later wave leaves this record as it was,
    # so the message must not claim the cluster is untouched, only that no verdict reached the report.
    if last_wave is None:
        return "not started yet%s" % where
    return ("no verdict yet%s: this report was written after wave %s; if the run is no longer going, it stopped "
            "before this cluster's verdict and it may have changed (playbooks/status.yml shows what it serves)"
            % (where, last_wave))


def _waves(records):
    """Each wave's clusters, start (epoch seconds) and state: done, failed, not_started or partly_done."""
    grouped = {}
    for r in records:
        number = r["wave"] if r["wave"] is not None else r["planned_wave"]
        if number is not None:
            grouped.setdefault(number, []).append(r)
    out = []
    for number in sorted(grouped):
        members = grouped[number]
        verdicts = [r["verdict"] for r in members]
        if any(v not in NOT_FAILED for v in verdicts):
            state = "failed"
        elif all(v in OK_VERDICTS + (SKIPPED,) for v in verdicts):
            state = "done"
        elif all(v == NOT_STARTED for v in verdicts):
            state = NOT_STARTED
        else:
            state = "partly_done"
        starts = [t for r in members for t in (r["preflight_at"], r["started_at"], r["failed_at"]) if t is not None]
        out.append({"wave": number, "clusters": [r["cluster"] for r in members], "state": state,
                    "started_at": min(starts) if starts else None})
    return out


def file_stem(run_id, kind="rollout", awx=None):
    """``rollout-<run id>``, plus the AWX job id when AWX runs it, so slices never overwrite each other."""
    stem = "%s-%s" % (kind or "rollout", run_id or "run")
    job = _dict(awx).get("job_id")
    if job not in (None, ""):
        stem += "-job%s" % job
    return FILE_SAFE.sub("_", stem)


def headline(report):
    """One line: what the run did and how it ended, naming the failed cluster, its stage and cause."""
    done = [r for r in report["clusters"] if r["verdict"] in OK_VERDICTS]
    image = report.get("image") or ("each cluster's own image" if report.get("kind") == "rollout"
                                    else "each cluster's previous image")
    skipped = [r for r in report["clusters"] if r["verdict"] == SKIPPED]
    noun = "clusters and endpoints" if any(r.get("platform") == SAGEMAKER for r in report["clusters"]) else "clusters"
    text = "%s of %s: %s, %d of %d %s done" % (report.get("kind"), image, report["outcome"], len(done),
                                               len(report["clusters"]) - len(skipped), noun)
    if skipped:
        text += ", %d skipped (%s)" % (len(skipped), ", ".join(r["cluster"] for r in skipped))
    for f in report["failed_clusters"][:1]:
        text += "; %s failed at %s (%s)" % (f["cluster"], f["stage"], f["reason"])
    return text


def summary_lines(report):
    """One line per cluster, for a person reading the task output."""
    lines = []
    for r in report["clusters"]:
        wave = r["wave"] if r["wave"] is not None else r["planned_wave"]
        if r["verdict"] in (NOT_STARTED, SKIPPED):
            lines.append("%s (wave %s): %s" % (r["cluster"], "-" if wave is None else wave, r["message"]))
            continue
        line = "%s (wave %s): %s -> %s: %s (%s)" % (
            r["cluster"], wave, (r["from"] or {}).get("image") or "?",
            r.get("target_image") or (r["to"] or {}).get("image") or "?", r["verdict"], r["reason"])
        if r["verdict"] not in OK_VERDICTS:
            line += " at %s: %s" % (r["stage"], _sentence(r["message"]))
        if r.get("rolled_back_to"):
            line += " Serving %s again (revision %s)." % (r["rolled_back_to"].get("image"),
                                                          r["rolled_back_to"].get("revision"))
        lines.append(line)
    return lines
