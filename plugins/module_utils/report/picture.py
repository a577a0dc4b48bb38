# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rollout report as a picture: one row per cluster, updated and ready replicas over time."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

try:
    import matplotlib
    matplotlib.use("Agg")  # no display on a controller or in an execution environment
    import matplotlib.pyplot as plt
    HAS_MATPLOTLIB = True
except ImportError:  # the JSON report does not need it
    HAS_MATPLOTLIB = False

VERDICT_COLOURS = {
    "complete": "#2e7d32",
    "unchanged": "#607d8b",
    "rolled_back": "#c62828",
    "failed": "#c62828",
    "not_started": "#9e9e9e",
}


def _offset(report, record):
    if record.get("started_at") is None or report.get("started_at") is None:
        return 0.0
    return record["started_at"] - report["started_at"]


def _steps(points, key):
    xs, ys = [], []
    for p in points:
        if p.get(key) is None:
            continue
        xs.append(p["x"])
        ys.append(p[key])
    return xs, ys


def _end_of_run(report):
    end = 1.0
    for r in report["clusters"]:
        base = _offset(report, r)
        total = (r.get("durations") or {}).get("total")
        if r["timeline"]:
            end = max(end, base + r["timeline"][-1]["t"])
        if total:
            end = max(end, base + total)
    return end


def _draw_row(ax, report, record, end):
    base = _offset(report, record)
    colour = VERDICT_COLOURS.get(record["verdict"], "#ef6c00")
    title = "%s  (wave %s)  %s" % (record["cluster"], "-" if record.get("wave") is None else record["wave"], record["verdict"])
    if record["verdict"] not in ("complete", "unchanged", "not_started"):
        title += ": %s" % record.get("reason")
    ax.set_title(title, loc="left", fontsize=9, color=colour)
    ax.set_ylabel("replicas", fontsize=8)
    ax.grid(True, alpha=0.3)
    if record["verdict"] == "not_started":
        ax.text(0.5, 0.5, "not started", transform=ax.transAxes, ha="center", va="center", color=colour)
        ax.set_yticks([])
        return
    points = [dict(p, x=base + p["t"]) for p in record["timeline"]]
    if not points:
        ax.text(0.5, 0.5, "no change needed" if record["verdict"] == "unchanged" else "no timeline",
                transform=ax.transAxes, ha="center", va="center", color=colour)
    for key, style in (("desired", dict(color="#9e9e9e", linestyle="--", label="desired")),
                       ("updated", dict(color="#1565c0", label="updated")),
                       ("ready", dict(color="#2e7d32", label="ready"))):
        xs, ys = _steps(points, key)
        if xs:
            ax.step(xs, ys, where="post", linewidth=1.5, **style)
    rollback = [p["x"] for p in points if p.get("phase") == "rollback"]
    if rollback:
        ax.axvspan(min(rollback), max(rollback[-1], min(rollback) + 0.5), color="#c62828", alpha=0.12,
                   label="rollback")
    if record["verdict"] not in ("complete", "unchanged"):
        fail_x = min(rollback) if rollback else (points[-1]["x"] if points else base)
        ax.axvline(fail_x, color="#c62828", linewidth=2)
        ax.annotate(record.get("reason") or record["verdict"], xy=(fail_x, 0), xytext=(3, 3),
                    textcoords="offset points", color="#c62828", fontsize=8)
    top = max([p.get("desired") or 0 for p in points] + [p.get("updated") or 0 for p in points] + [1])
    ax.set_ylim(-0.2, top + 0.5)
    ax.set_xlim(0, end * 1.05)


def draw(report, path):
    """Write the PNG; return False when matplotlib is missing (the JSON report still exists)."""
    if not HAS_MATPLOTLIB:
        return False
    records = report["clusters"]
    rows = max(len(records), 1)
    fig, axes = plt.subplots(rows, 1, sharex=True, squeeze=False, figsize=(10, 1.0 + 1.6 * rows))
    end = _end_of_run(report)
    for ax, record in zip(axes[:, 0], records):
        _draw_row(ax, report, record, end)
        for wave in report.get("waves") or []:
            x = wave["started_at"] - (report.get("started_at") or wave["started_at"])
            ax.axvline(x, color="#6a1b9a", linestyle=":", linewidth=1)
    for wave in report.get("waves") or []:
        x = wave["started_at"] - (report.get("started_at") or wave["started_at"])
        for ax in axes[:, 0]:
            ax.annotate("wave %s" % wave["wave"], xy=(x, 0.02), xycoords=("data", "axes fraction"),
                        xytext=(3, 0), textcoords="offset points", color="#6a1b9a", fontsize=7)
    handles, labels = [], []
    for ax in axes[:, 0]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    if handles:
        fig.legend(handles, labels, loc="upper right", fontsize=8, ncol=len(labels))
    axes[-1, 0].set_xlabel("seconds since the first change")
    fig.suptitle("%s %s -> %s: %s" % (report.get("kind"), report.get("run_id"), report.get("image"),
                                      report.get("outcome")), x=0.01, ha="left", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True
