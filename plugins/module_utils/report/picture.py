# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rollout report as a picture: one row per cluster, which version served over time.

Each row stacks the ready pods of the image that served before the run (grey) and of the
run's target image (green), solid while the run watched and faint after (the state last
seen), with the desired count and the capacity floor the rollout allows (desired -
maxUnavailable). A failure is a red line at its moment with its stage and cause; a rollback
is shaded and the row says which image and revision serve again; a bake is shaded purple.
Clusters that never started say why and which wave they were planned for.

``rows(report)`` decides what each row shows (pure, tested); ``draw`` only renders it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import textwrap

try:
    # Imported with the module: the report's action plugin is loaded once per run in Ansible's own
    # process, so every wave's worker has matplotlib already.
    import matplotlib

    matplotlib.use("Agg")  # no display on a controller or in an execution environment
    import matplotlib.pyplot as plt

    HAS_MATPLOTLIB = True
except ImportError:  # the JSON report does not need it
    HAS_MATPLOTLIB = False

OK = ("complete", "unchanged", "pending")
# Neither done nor failed: never started, or a host the run leaves alone on purpose (an endpoint in a rollback).
IDLE = ("not_started", "skipped")
VERDICT_COLOURS = {"complete": "#2e7d32", "unchanged": "#607d8b", "pending": "#607d8b", "not_started": "#757575",
                   "skipped": "#757575"}
FAILED_COLOUR = "#c62828"
PREVIOUS_COLOUR = "#90a4ae"
TARGET_COLOUR = "#43a047"
FLOOR_COLOUR = "#ef6c00"
BAKE_COLOUR = "#6a1b9a"
WAVE_COLOUR = "#6a1b9a"
MESSAGE_CHARS = 170
MESSAGE_LINES = 2


def _x(report, epoch):
    return None if epoch is None or report.get("started_at") is None else round(epoch - report["started_at"], 3)


def _points(report, record):
    """Timeline points on the run's time axis: the change's, then the bake's."""
    base = _x(report, record.get("started_at")) or 0.0
    points = [dict(p, x=round(base + p["t"], 3)) for p in record.get("timeline") or []]
    return points + [dict(p, x=round(base + p["t"], 3)) for p in ((record.get("bake") or {}).get("timeline") or [])]


def _known(points):
    """The points up to the first whose split of ready pods per image is not known (after another hand
    changed the image during a bake, pods are of three images)."""
    known = []
    for p in points:
        if p.get("ready_previous") is None and p.get("ready_target") is None and known:
            break
        known.append(p)
    return known


def _end_of_run(report):
    end = 1.0
    for r in report["clusters"]:
        for epoch in (r.get("ended_at"), r.get("failed_at")):
            x = _x(report, epoch)
            if x is not None:
                end = max(end, x)
        for p in _points(report, r):
            end = max(end, p["x"])
    return round(end * 1.04, 3)


def _wave(record):
    return record["wave"] if record.get("wave") is not None else record.get("planned_wave")


def _name(record):
    endpoint = record.get("endpoint") or {}
    if record.get("platform") != "sagemaker":
        return record["cluster"]
    where = " ".join(str(endpoint[k]) for k in ("name", "region") if endpoint.get(k))
    return "%s (SageMaker endpoint%s)" % (record["cluster"], " " + where if where else "")


def title(record):
    wave = _wave(record)
    text = "%s   wave %s   %s" % (_name(record), "-" if wave is None else wave, record["verdict"])
    if record["verdict"] not in OK + IDLE:
        text += " at %s: %s" % (record.get("stage"), record.get("reason"))
    before = (record.get("from") or {}).get("image")
    after = record.get("target_image") or (record.get("to") or {}).get("image")
    if before or after:
        text += "      %s \u2192 %s" % (before or "?", after or "?")
    return text


def cause(record):
    """The lines under a row's title: why it failed or did not start, and what serves again after a rollback."""
    if record["verdict"] in OK:
        return []
    text = " ".join(str(record.get("message") or "").split())
    back = record.get("rolled_back_to") or {}
    if back:
        text += "  \u21b6 serving %s again (revision %s)" % (back.get("image"), back.get("revision"))
    lines = textwrap.wrap(text, MESSAGE_CHARS)
    if len(lines) > MESSAGE_LINES:
        lines = lines[:MESSAGE_LINES]
        lines[-1] = lines[-1][:MESSAGE_CHARS - 1] + "\u2026"
    return lines


def _note(record):
    serving = (record.get("from") or {}).get("image")
    still = "; it still serves %s" % serving if serving else ""
    if record["verdict"] == "skipped":
        return textwrap.shorten(record.get("message") or "skipped", MESSAGE_CHARS)
    if record["verdict"] == "not_started":
        if record.get("reason") == "wave_refused":
            return "not changed: its wave (%s) stopped at the preflight%s" % (record.get("wave"), still)
        planned = record.get("planned_wave")
        return "not started" + (" (planned for wave %s)" % planned if planned is not None else "")
    if record.get("stage") == "preflight":
        return "preflight failed (%s): nothing on this %s or in its wave was changed%s" % (
            record.get("reason"), "endpoint" if record.get("platform") == "sagemaker" else "cluster", still)
    if not record.get("timeline"):
        if record["verdict"] == "unchanged":
            served = (record.get("to") or {}).get("image") or record.get("target_image")
            return "no change needed: it already served %s" % served
        if record.get("reason") == "unreachable":
            return "model_rollout did not run here: nothing on this cluster was changed%s" % still
        return "no timeline of the change"
    return None


def row(report, record, end):
    """What one cluster's row shows; x values are seconds since the report's start."""
    every = _points(report, record)
    points = _known(every)
    known = _x(report, record.get("ended_at"))
    if points and len(points) < len(every):
        known = every[len(points)]["x"]  # from then on, pods are not of these two images only
    elif points:
        known = max(known if known is not None else points[-1]["x"], points[-1]["x"])
    top = max([record.get("desired") or 0, 1] + [max(p.get("desired") or 0, p.get("updated") or 0, p.get("total") or 0,
                                                     (p.get("ready_previous") or 0) + (p.get("ready_target") or 0))
                                                 for p in points])
    rollback = [p["x"] for p in every if p.get("phase") == "rollback"]
    bake = [p["x"] for p in every if p.get("phase") == "bake"]
    failed = record["verdict"] not in OK + IDLE
    return {
        "cluster": record["cluster"],
        "unit": "instances" if record.get("platform") == "sagemaker" else "pods",
        "started": record["verdict"] not in IDLE,
        "title": title(record),
        "cause": cause(record),
        "colour": VERDICT_COLOURS.get(record["verdict"], FAILED_COLOUR),
        "note": _note(record),
        "points": [{"x": p["x"], "previous": p.get("ready_previous") or 0, "target": p.get("ready_target") or 0,
                    "desired": p.get("desired")} for p in points] if record["verdict"] not in IDLE else [],
        "known_until": known,
        # The last state seen, drawn faint to the end of the run; not when the last look saw another image.
        "last_seen": bool(points) and len(points) == len(every),
        "end": end,
        "top": top,
        "floor": record.get("floor") if points and record.get("desired") else None,
        "failure": {"x": _x(report, record.get("failed_at")),
                    "label": "%s: %s" % (record.get("stage"), record.get("reason"))}
        if failed and record.get("failed_at") is not None else None,
        "rollback": (min(rollback), max(rollback + [min(rollback) + 0.3])) if rollback else None,
        "bake": (min(bake), max(known or max(bake), min(bake) + 0.3)) if bake else None,
    }


def rows(report):
    """Every row of the picture, in the report's order, and the waves' start lines."""
    end = _end_of_run(report)
    return {
        "end": end,
        "rows": [row(report, r, end) for r in report["clusters"]],
        "waves": [{"wave": w["wave"], "x": _x(report, w.get("started_at"))} for w in report.get("waves") or []
                  if w.get("started_at") is not None],
    }


# -- rendering ---------------------------------------------------------------------------------
def _header(ax, spec):
    lines = spec["cause"]
    ax.annotate(spec["title"], xy=(0, 1), xycoords="axes fraction", xytext=(0, 4 + 10 * len(lines)),
                textcoords="offset points", fontsize=9, color=spec["colour"], fontweight="bold", va="bottom")
    if lines:
        ax.annotate("\n".join(lines), xy=(0, 1), xycoords="axes fraction", xytext=(0, 3), textcoords="offset points",
                    fontsize=7.5, color=FAILED_COLOUR if spec["failure"] else "#424242", va="bottom")


def _stack(ax, spec):
    points = spec["points"]
    known = spec["known_until"]
    # Solid while the run watched; the last state faint after, up to the end of the run.
    parts = [(points, known, 0.85, True)]
    if spec["last_seen"]:
        parts.append((points[-1:], max(spec["end"], known), 0.3, False))
    for part, stop, alpha, labelled in parts:
        xs = [p["x"] for p in part] + [stop]
        if not labelled:
            xs[0] = known
        previous = [p["previous"] for p in part] + [part[-1]["previous"]]
        stacked = [p["previous"] + p["target"] for p in part] + [part[-1]["previous"] + part[-1]["target"]]
        ax.fill_between(xs, 0, previous, step="post", color=PREVIOUS_COLOUR, alpha=alpha, linewidth=0,
                        label="ready pods (instances), image before the run" if labelled else None)
        ax.fill_between(xs, previous, stacked, step="post", color=TARGET_COLOUR, alpha=alpha, linewidth=0,
                        label="ready pods (instances), target image of the run" if labelled else None)
    desired = [p["desired"] for p in points if p["desired"] is not None]
    if desired:
        ax.step([p["x"] for p in points] + [known], [p["desired"] or desired[0] for p in points] + [desired[-1]],
                where="post", color="#424242", linestyle="--", linewidth=1, label="desired")


def _draw_row(ax, spec):
    _header(ax, spec)
    ax.grid(True, alpha=0.25)
    ax.set_ylim(0, spec["top"] + 1.4)
    ax.set_ylabel(spec.get("unit") or "pods", fontsize=8)
    if spec["points"]:
        _stack(ax, spec)
        if spec["floor"] is not None:
            ax.hlines(spec["floor"], spec["points"][0]["x"], spec["known_until"], colors=FLOOR_COLOUR, linestyles=":",
                      linewidth=1.5, label="floor (desired - maxUnavailable)")
    if spec["rollback"]:
        ax.axvspan(*spec["rollback"], color=FAILED_COLOUR, alpha=0.10, label="rollback")
    if spec["bake"]:
        ax.axvspan(*spec["bake"], color=BAKE_COLOUR, alpha=0.08, label="bake")
    if spec["failure"]:
        x = spec["failure"]["x"]
        ax.axvline(x, color=FAILED_COLOUR, linewidth=2, label="failure (stage: cause)")
        right = x > 0.8 * spec["end"]
        ax.text(x, spec["top"] + 0.7, (spec["failure"]["label"] + " ") if right else (" " + spec["failure"]["label"]),
                color=FAILED_COLOUR, fontsize=8, fontweight="bold", va="center", ha="right" if right else "left")
    if spec["note"]:
        ax.text(0.01, 0.5, spec["note"], transform=ax.transAxes, ha="left", va="center", color=spec["colour"],
                fontsize=9, bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8})
    if not spec["points"]:
        ax.set_yticks([])


def draw(report, path, headline=""):
    """Write the PNG; return False when matplotlib is missing (the JSON report still exists)."""
    if not HAS_MATPLOTLIB:
        return False
    plan = rows(report)
    specs = plan["rows"] or [row(report, {"cluster": "", "verdict": "not_started", "message": "no cluster"}, 1.0)]
    height = 1.4 + sum(2.0 + 0.15 * len(s["cause"]) for s in specs)
    fig, grid = plt.subplots(len(specs), 1, sharex=True, squeeze=False, figsize=(12, height))
    axes = list(grid[:, 0])
    for ax, spec in zip(axes, specs):
        _draw_row(ax, spec)
        ax.set_xlim(0, plan["end"])
    for wave in plan["waves"]:
        for ax in axes:
            ax.axvline(wave["x"], color=WAVE_COLOUR, linestyle=":", linewidth=1)
        # Named once, on the top row, as a moment: on every row "wave 1" read as the wave of that row's cluster.
        right = wave["x"] > 0.85 * plan["end"]
        axes[0].annotate("wave %s starts" % wave["wave"], xy=(wave["x"], 0.97), xycoords=("data", "axes fraction"),
                         xytext=(-2 if right else 2, 0), textcoords="offset points", color=WAVE_COLOUR, fontsize=7,
                         va="top", ha="right" if right else "left")
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    if handles:
        fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 1 - 0.3 / height), fontsize=8, ncol=4,
                   frameon=False)
    axes[-1].set_xlabel("seconds since the run's first check")
    fig.suptitle("%s  (run %s)" % (headline or report.get("outcome"), report.get("run_id")), x=0.01, ha="left",
                 fontsize=11, color=FAILED_COLOUR if report.get("outcome") == "failed" else "#212121")
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.8 / height))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True
