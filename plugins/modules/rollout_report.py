#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: rollout_report
short_description: Write the fleet rollout report, a JSON file and a picture of which version served
version_added: 0.1.0
description:
  - Turns what a fleet run saw of each cluster (its preflight, its M(modelops.serving.model_rollout) result, its
    bake, or an error) into one report, C(<dest>/<kind>-<run_id>[-job<awx job id>].json), and a picture next to it
    (C(.png)).
  - Every cluster of O(fleet) is in the report. For each the JSON says its verdict, at which stage a failure
    happened (C(preflight), C(change), C(bake) or C(error)) and why; clusters that never started say which wave
    they were planned for (computed from O(fleet) and O(waves) the way the play keyword C(serial) cuts them) and why
    they did not start.
  - The picture has one row per cluster, with the ready pods of the image that served before the run and of the run's
    target image over time (stacked), the desired count, the capacity floor (desired - maxUnavailable), the moment
    and cause of a failure, the rollback and the image and revision it went back to, the bake, and where each wave
    started.
  - Runs on the controller as an action, whatever host the task runs for. Rewriting the same report after every
    wave is intended; the files are replaced atomically.
  - The picture needs matplotlib; without it the JSON is still written and a warning says so.
author:
  - modelops.serving maintainers (@modelops)
options:
  dest:
    description: Directory for the report files on the controller; created when missing.
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
    description: The wave sizes the run used, as given (a list or survey text such as C(1, 50%, 100%)).
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
      - One entry per cluster that the run reached (others may be left out; see O(fleet)).
      - Each has C(cluster) and C(wave), and what the run saw of it, each optional. C(preflight) is this cluster's
        outcome from M(modelops.serving.fleet_check) (C(ok), C(reason), C(message), C(deployment), C(target_image),
        C(started_at), C(checked_at)); C(wave_failed) names the clusters whose preflight failed in its wave; C(change)
        is the registered M(modelops.serving.model_rollout) result (C(result) is accepted too; a skipped result means
        it was not changed); C(bake) is its outcome from the bake check; C(error) is C(task), C(message) and C(at)
        (epoch seconds) of a task that failed unexpectedly; C(target_image).
      - The moment a change started comes from the Lease holder identity the fleet role gives model_rollout
        (C(<kind> <run id> <cluster> <UTC time>)), else from C(started_at) (epoch seconds), else from the preflight.
    type: list
    elements: dict
    required: true
  fleet:
    description: Every cluster of the run, in the play's order; those without an entry in O(clusters) are reported as not started.
    type: list
    elements: str
    default: []
  endpoints:
    description:
      - The hosts of O(fleet) that are SageMaker endpoints, each with its endpoint's name, so a host that never started
        is still shown as an endpoint. An entry of O(clusters) with C(platform=sagemaker) says so itself; its
        C(preflight) and C(change) are M(modelops.serving.sagemaker_endpoint_rollout) results (in check mode for the
        preflight), and C(endpoint) has the C(name), C(region), C(image) and C(instances) it asks for.
    type: dict
    default: {}
    version_added: 0.2.0
  picture:
    description: Also draw the PNG.
    type: bool
    default: true
  picture_when:
    description:
      - C(always) draws the PNG with every report; C(final) only once the outcome is final (C(succeeded) or
        C(failed)), after a run's last wave or the wave where it stops. The JSON is written every time.
    type: str
    default: always
    choices: [always, final]
  artifact:
    description:
      - Also hand the report, with C(json_path) and C(picture_path), to the run's custom stats under this name, as
        M(ansible.builtin.set_stats) would (C(per_host=false), C(aggregate=false)), so AWX keeps it as the job's
        artifact. Files in an execution environment go with the job; the artifact stays. Empty hands nothing over.
    type: str
    default: ""
requirements:
  - matplotlib >= 3.5 (for the picture)
notes:
  - Supports check mode; the report describes what happened and is written in check mode too.
seealso:
  - module: modelops.serving.fleet_check
  - module: modelops.serving.model_rollout
"""

EXAMPLES = r"""
- name: Write the report of a rollout of two clusters, one of them rolled out by this play, and hand it to AWX
  modelops.serving.rollout_report:
    dest: "{{ rollout_report_dir }}"
    run_id: "{{ rollout_run_id }}"
    image: registry.example.com/team/llm:v2
    waves: [1, "100%"]
    fleet: [prod-eu-1, prod-us-1]
    clusters:
      - cluster: prod-eu-1
        wave: 1
        started_at: 1767268800.5
        target_image: registry.example.com/team/llm:v2
        change: "{{ rollout_result }}"
    artifact: rollout_report
  run_once: true
  register: report
"""

RETURN = r"""
json_path:
  description: Path of the JSON report.
  returned: always
  type: str
  sample: /var/tmp/rollout-reports/rollout-20260101T120000Z.json
picture_path:
  description: Path of the PNG, or null when it was not drawn (this time).
  returned: always
  type: str
  sample: /var/tmp/rollout-reports/rollout-20260101T120000Z.png
outcome:
  description: C(succeeded) (every cluster complete or unchanged), C(failed) (a cluster failed) or C(incomplete) (some not started yet).
  returned: always
  type: str
  sample: failed
headline:
  description: One line, naming the first failed cluster, its stage and cause.
  returned: always
  type: str
  sample: "rollout of repo/llm:v2: failed, 1 of 3 clusters done; tg2 failed at change (crash_loop)"
summary:
  description: One line per cluster.
  returned: always
  type: list
  elements: str
  sample: ["tg2 (wave 2): repo/llm:v1 -> repo/llm:v1: rolled_back (crash_loop) at change: pod llm-7f9 ..."]
report:
  description: The report as written to the JSON file.
  returned: always
  type: dict
  contains:
    outcome:
      description: As RV(outcome).
      type: str
    failed_clusters:
      description: Cluster, wave, stage, verdict, reason and message of each failed cluster.
      type: list
    waves:
      description: Each wave's number, clusters, C(state) (C(done), C(failed), C(not_started), C(partly_done)) and start (epoch seconds).
      type: list
    clusters:
      description:
        - Per cluster C(cluster), C(wave) (null when it did not start), C(planned_wave), C(verdict) (model_rollout's, or
          C(failed) for a preflight, bake or unexpected failure, or C(not_started)), C(stage), C(reason), C(message),
          C(from) and C(to) (image and revision), C(target_image), C(rolled_back_to), C(durations), C(timeline),
          C(diagnostics), C(floor), C(desired), C(started_at), C(ended_at), C(failed_at) (epoch seconds), C(changed),
          C(resumed), C(bake).
        - Each C(timeline) point has model_rollout's C(t) (seconds since the change started), C(phase), C(desired),
          C(updated), C(ready), C(available), and C(ready_previous) and C(ready_target), the ready pods of the image
          before the run and of its target. The Deployment does not count ready pods per template, so ready pods
          are given to the image that served before first; the target image is never credited with pods it may not
          have had.
      type: list
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.modelops.serving.plugins.module_utils.report import files


def main():
    module = AnsibleModule(argument_spec=files.ARGUMENT_SPEC, supports_check_mode=True)
    try:
        result = files.write(module.params)
    except files.ReportError as exc:
        module.fail_json(msg=str(exc), **exc.result)
    for warning in result.pop("warnings"):
        module.warn(warning)
    module.exit_json(changed=True, **result)


if __name__ == "__main__":
    main()
