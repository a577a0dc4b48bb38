#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: rollout_report
short_description: Write the fleet rollout report, a JSON file and a timeline picture
version_added: 0.1.0
description:
  - Turns the per-cluster results of M(modelops.serving.model_rollout) collected by a fleet playbook into
    one report, C(<dir>/<kind>-<run_id>[-job<awx job id>].json), and a picture next to it (C(.png)) with one row
    per cluster showing updated and ready replicas over time, the start of each wave, failures and
    rollbacks.
  - Clusters a failed wave kept from starting are listed with verdict C(not_started).
  - Runs on the controller (C(delegate_to=localhost) in a play on the clusters, or a play on localhost). Rewriting the same report after every wave is
    intended; the files are replaced atomically.
  - The picture needs matplotlib; without it the JSON is still written and a warning says so.
author:
  - modelops.serving maintainers (@modelops)
options:
  dest:
    description: Directory for the report files; created when missing.
    type: path
    required: true
  run_id:
    description: Identifier of the run, usually its UTC start time such as C(20260101T120000Z).
    type: str
    required: true
  kind:
    description: What the run did; the first word of the file names.
    type: str
    default: rollout
    choices: [rollout, rollback]
  image:
    description: The image the run rolled out, for the title and the JSON.
    type: str
  waves:
    description: The wave specification the run used, as given.
    type: raw
  playbook:
    description: Name of the playbook, for the JSON.
    type: str
  awx:
    description:
      - AWX job facts (C(job_id), C(workflow_job_id), C(job_template_name), ...). With C(job_id) the file
        names carry it, so the slices of a sliced job never overwrite each other's report.
    type: dict
    default: {}
  clusters:
    description:
      - One entry per cluster of the run, including those not reached.
      - Each has C(cluster), C(wave), C(started_at) (epoch seconds when its change began), C(target_image)
        and C(result) (the registered model_rollout result; omit for a cluster that was not started).
    type: list
    elements: dict
    required: true
  fleet:
    description: Names of every cluster of the run; those without an entry in O(clusters) are reported as C(not_started).
    type: list
    elements: str
    default: []
  picture:
    description: Also draw the PNG.
    type: bool
    default: true
requirements:
  - matplotlib >= 3.5 (for the picture)
notes:
  - Supports check mode; the report describes what happened and is written in check mode too.
"""

EXAMPLES = r"""
- name: Write the rollout report
  modelops.serving.rollout_report:
    dest: "{{ rollout_report_dir }}"
    run_id: "{{ rollout_run_id }}"
    image: registry.example.com/team/llm:v2
    waves: [1, "50%", "100%"]
    clusters:
      - cluster: prod-eu-1
        wave: 1
        started_at: 1767268800.5
        target_image: registry.example.com/team/llm:v2
        result: "{{ rollout_result }}"
      - cluster: prod-us-1
        wave: 2
  delegate_to: localhost
  run_once: true
  register: report

- name: Hand the report to AWX
  ansible.builtin.set_stats:
    data:
      rollout_report: "{{ report.report }}"
    per_host: false
    aggregate: false
"""

RETURN = r"""
json_path:
  description: Path of the JSON report.
  returned: always
  type: str
  sample: /var/tmp/rollout-reports/rollout-20260101T120000Z.json
picture_path:
  description: Path of the PNG, or null when it was not drawn.
  returned: always
  type: str
  sample: /var/tmp/rollout-reports/rollout-20260101T120000Z.png
outcome:
  description: C(succeeded) (every cluster complete or unchanged), C(failed) (a cluster failed or was rolled back) or C(incomplete).
  returned: always
  type: str
  sample: failed
summary:
  description: One line per cluster.
  returned: always
  type: list
  elements: str
  sample: ["c1 (wave 1): repo/llm:v1 -> repo/llm:v1: rolled_back (crash_loop): pod llm-7f9 ..."]
report:
  description: The report as written to the JSON file.
  returned: always
  type: dict
  contains:
    outcome:
      description: As RV(outcome).
      type: str
    failed_clusters:
      description: Cluster, verdict, reason and message of each failed cluster.
      type: list
    waves:
      description: Wave number, clusters and start time (epoch seconds) of each wave that started.
      type: list
    clusters:
      description:
        - Per cluster C(cluster), C(wave), C(verdict), C(reason), C(message), C(from) and C(to) (image and
          revision), C(rolled_back_to), C(durations), C(timeline), C(started_at), C(changed), C(resumed).
      type: list
"""

import json
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.modelops.serving.plugins.module_utils.report import model, picture


def _write_atomically(path, text):
    fd, tmp = tempfile.mkstemp(prefix=".report-", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _draw_atomically(report, path):
    fd, tmp = tempfile.mkstemp(prefix=".report-", suffix=".png", dir=os.path.dirname(path))
    os.close(fd)
    try:
        drawn = picture.draw(report, tmp)
        if drawn:
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        return drawn
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            dest=dict(type="path", required=True),
            run_id=dict(type="str", required=True),
            kind=dict(type="str", default="rollout", choices=["rollout", "rollback"]),
            image=dict(type="str"),
            waves=dict(type="raw"),
            playbook=dict(type="str"),
            awx=dict(type="dict", default={}),
            clusters=dict(type="list", elements="dict", required=True),
            fleet=dict(type="list", elements="str", default=[]),
            picture=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    p = module.params
    run = dict(kind=p["kind"], run_id=p["run_id"], playbook=p["playbook"], image=p["image"], waves=p["waves"],
               awx=p["awx"])
    report = model.build_report(p["clusters"], run=run, fleet=p["fleet"])
    stem = os.path.join(p["dest"], model.file_stem(p["run_id"], p["kind"], p["awx"]))
    json_path, picture_path = stem + ".json", stem + ".png"
    try:
        os.makedirs(p["dest"], exist_ok=True)
        _write_atomically(json_path, json.dumps(report, indent=2, sort_keys=True) + "\n")
        drawn = p["picture"] and _draw_atomically(report, picture_path)
    except (OSError, ValueError) as exc:
        module.fail_json(msg="cannot write the rollout report to %s: %s" % (p["dest"], exc),
                         json_path=json_path, picture_path=None, outcome=report["outcome"],
                         summary=model.summary_lines(report), report=report)
    if p["picture"] and not drawn:
        module.warn("matplotlib is not installed: wrote %s without the picture" % json_path)
    module.exit_json(changed=True, json_path=json_path, picture_path=picture_path if drawn else None,
                     outcome=report["outcome"], summary=model.summary_lines(report), report=report)


if __name__ == "__main__":
    main()
