# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write the report's JSON and picture, each replaced atomically, so a reader never sees half a file."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import tempfile

from ansible_collections.modelops.serving.plugins.module_utils.report import model, picture

ARGUMENT_SPEC = dict(
    dest=dict(type="path", required=True),
    run_id=dict(type="str", required=True),
    kind=dict(type="str", default="rollout", choices=["rollout", "rollback"]),
    image=dict(type="str"),
    waves=dict(type="raw"),
    playbook=dict(type="str"),
    awx=dict(type="dict", default={}),
    clusters=dict(type="list", elements="dict", required=True),
    fleet=dict(type="list", elements="str", default=[]),
    endpoints=dict(type="dict", default={}),
    picture=dict(type="bool", default=True),
    picture_when=dict(type="str", default="always", choices=["always", "final"]),
    artifact=dict(type="str", default=""),
)


class ReportError(Exception):
    """The files could not be written; ``result`` still has the report."""

    def __init__(self, message, result):
        super(ReportError, self).__init__(message)
        self.result = result


def _replace(path, write, suffix=""):
    fd, tmp = tempfile.mkstemp(prefix=".report-", suffix=suffix, dir=os.path.dirname(path))
    os.close(fd)
    try:
        done = write(tmp)
        if done is not False:
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        return done
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _write_json(report):
    def write(tmp):
        with open(tmp, "w") as f:
            f.write(json.dumps(report, indent=2, sort_keys=True) + "\n")
    return write


def write(params):
    """The module's result (json_path, picture_path, outcome, headline, summary, report, warnings)."""
    run = dict(kind=params["kind"], run_id=params["run_id"], playbook=params.get("playbook"), image=params.get("image"),
               waves=params.get("waves"), awx=params.get("awx") or {})
    report = model.build_report(params["clusters"], run=run, fleet=params.get("fleet"),
                                endpoints=params.get("endpoints"))
    stem = os.path.join(params["dest"], model.file_stem(params["run_id"], params["kind"], params.get("awx")))
    result = dict(json_path=stem + ".json", picture_path=None, outcome=report["outcome"],
                  headline=model.headline(report), summary=model.summary_lines(report), report=report, warnings=[])
    try:
        os.makedirs(params["dest"], exist_ok=True)
        _replace(result["json_path"], _write_json(report))
        if params.get("picture", True) and (params.get("picture_when") != "final" or report["outcome"] != "incomplete"):
            drawn = _replace(stem + ".png", lambda tmp: picture.draw(report, tmp, result["headline"]), suffix=".png")
            if drawn:
                result["picture_path"] = stem + ".png"
            else:
                result["warnings"].append("matplotlib is not installed: wrote %s without the picture"
                                          % result["json_path"])
    except (OSError, ValueError) as exc:
        raise ReportError("cannot write the rollout report to %s: %s" % (params["dest"], exc), result)
    if params.get("artifact"):
        # What ansible.builtin.set_stats returns: Ansible keeps it as a run's custom stats, AWX as the job's artifact.
        artifact = dict(report, json_path=result["json_path"], picture_path=result["picture_path"])
        result["ansible_stats"] = {"data": {params["artifact"]: artifact}, "per_host": False, "aggregate": False}
    return result
