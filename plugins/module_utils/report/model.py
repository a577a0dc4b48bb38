# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet rollout report as data: one record per cluster, from what model_rollout returned.

Pure functions: dicts in, dicts out. The module writes the files; the picture is drawn from the
same report, so the JSON and the PNG cannot disagree.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# A cluster that a failed wave kept from starting has no result; it is still listed, so the
# report shows the whole fleet and not only the part that ran.
NOT_STARTED = "not_started"
OK_VERDICTS = ("complete", "unchanged")
FILE_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def _dict(value):
    return value if isinstance(value, dict) else {}


def _number(value, default=None):
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def cluster_record(entry):
    """One cluster's line of the report, from the playbook's per-cluster entry.

    ``entry`` has ``cluster``, ``wave``, ``started_at`` (epoch seconds when the change began) and
    ``result`` (the registered model_rollout result, possibly a failed one), or no ``result`` when
    the cluster was not reached.
    """
    entry = _dict(entry)
    result = _dict(entry.get("result"))
    cluster = str(entry.get("cluster") or "")
    if not result:
        return {
            "cluster": cluster, "wave": entry.get("wave"), "verdict": NOT_STARTED,
            "reason": entry.get("reason") or NOT_STARTED,
            "message": entry.get("message") or "not started: an earlier wave failed or the run stopped before this cluster",
            "from": None, "to": None, "rolled_back_to": None, "durations": {}, "timeline": [],
            "started_at": None, "changed": False, "resumed": False,
        }
    previous = _dict(result.get("previous"))
    current = _dict(result.get("current"))
    verdict = result.get("verdict") or ("failed" if result.get("failed") else "unknown")
    message = result.get("message") or result.get("msg") or ""
    timeline = []
    for point in result.get("timeline") or []:
        point = _dict(point)
        t = _number(point.get("t"))
        if t is None:
            continue
        timeline.append({
            "t": round(t, 3),
            "phase": point.get("phase") or "rollout",
            "desired": point.get("desired"),
            "updated": point.get("updated"),
            "ready": point.get("ready"),
            "available": point.get("available"),
            "unavailable": point.get("unavailable"),
        })
    durations = dict((k, round(v, 3)) for k, v in ((k, _number(v)) for k, v in _dict(result.get("durations")).items())
                     if v is not None)
    return {
        "cluster": cluster,
        "wave": entry.get("wave"),
        "verdict": verdict,
        "reason": result.get("reason") or ("error" if result.get("failed") else ""),
        "message": message,
        "from": {"image": previous.get("image"), "revision": previous.get("revision")},
        "to": {"image": current.get("image"), "revision": current.get("revision")},
        "target_image": entry.get("target_image"),
        "rolled_back_to": result.get("rolled_back_to"),
        "durations": durations,
        "timeline": timeline,
        "started_at": _number(entry.get("started_at")),
        "changed": bool(result.get("changed")),
        "resumed": bool(result.get("resumed")),
    }


def outcome(records):
    """``succeeded`` when every cluster completed, ``failed`` when one failed, else ``incomplete``."""
    verdicts = [r["verdict"] for r in records]
    if any(v not in OK_VERDICTS and v != NOT_STARTED for v in verdicts):
        return "failed"
    if verdicts and all(v in OK_VERDICTS for v in verdicts):
        return "succeeded"
    return "incomplete"


def build_report(entries, run=None, fleet=None):
    """The whole report: run metadata, outcome, clusters sorted by wave then name.

    ``fleet`` names every cluster of the run; those without an entry are listed as not started.
    """
    run = _dict(run)
    records = [cluster_record(e) for e in entries or []]
    seen = set(r["cluster"] for r in records)
    records.extend(cluster_record({"cluster": name}) for name in fleet or [] if name not in seen)
    records.sort(key=lambda r: (r["wave"] is None, _number(r["wave"], 0), r["cluster"]))
    failed = [r for r in records if r["verdict"] not in OK_VERDICTS and r["verdict"] != NOT_STARTED]
    starts = [r["started_at"] for r in records if r["started_at"] is not None]
    waves = {}
    for r in records:
        if r["wave"] is None or r["started_at"] is None:
            continue
        w = waves.setdefault(str(r["wave"]), {"wave": r["wave"], "clusters": [], "started_at": r["started_at"]})
        w["clusters"].append(r["cluster"])
        w["started_at"] = min(w["started_at"], r["started_at"])
    return {
        "kind": run.get("kind") or "rollout",
        "run_id": run.get("run_id"),
        "playbook": run.get("playbook"),
        "image": run.get("image"),
        "waves_spec": run.get("waves"),
        "awx": run.get("awx") or {},
        "outcome": outcome(records),
        "failed_clusters": [{"cluster": r["cluster"], "verdict": r["verdict"], "reason": r["reason"],
                             "message": r["message"]} for r in failed],
        "started_at": min(starts) if starts else None,
        "waves": sorted(waves.values(), key=lambda w: w["started_at"]),
        "clusters": records,
    }


def file_stem(run_id, kind="rollout", awx=None):
    """``rollout-<run id>``, plus the AWX job id when AWX runs it, so slices never overwrite each other."""
    stem = "%s-%s" % (kind or "rollout", run_id or "run")
    job = _dict(awx).get("job_id")
    if job not in (None, ""):
        stem += "-job%s" % job
    return FILE_SAFE.sub("_", stem)


def summary_lines(report):
    """One line per cluster, for a person reading the task output."""
    lines = []
    for r in report["clusters"]:
        if r["verdict"] == NOT_STARTED:
            lines.append("%s (wave %s): not started" % (r["cluster"], "-" if r["wave"] is None else r["wave"]))
            continue
        lines.append("%s (wave %s): %s -> %s: %s (%s)%s" % (
            r["cluster"], r["wave"], (r["from"] or {}).get("image"), (r["to"] or {}).get("image"),
            r["verdict"], r["reason"], "" if r["verdict"] in OK_VERDICTS else ": " + r["message"]))
    return lines
