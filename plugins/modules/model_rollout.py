#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: model_rollout
short_description: Roll a model server Deployment to a new image and drive it to a verdict
version_added: 0.1.0
description:
  - Changes the image (and optionally env vars and args that name the model version) of one container
    of a Kubernetes Deployment, and the rolling-update knobs, then waits for the rollout the way
    C(kubectl rollout status) judges it, with watches instead of polling.
  - Fails fast with the root cause (image pull errors, crash loops, unschedulable pods such as
    C(Insufficient nvidia.com/gpu), readiness flapping, progress deadline) instead of waiting for the
    whole progress deadline.
  - On failure, rolls back to the exact pod template it replaced (recorded on the Deployment before the
    change, so a later run still knows it) and waits for that too; or pauses the Deployment; or only reports.
  - One rollout per Deployment at a time, through a C(coordination.k8s.io) Lease naming its holder.
  - Idempotent. When the Deployment already runs the requested template and its rollout is complete,
    nothing is written. When the template was written by an earlier run that did not finish, the wait resumes.
  - Never touches C(replicas), so a HorizontalPodAutoscaler keeps its count.
  - The change is a strategic merge patch with field manager C(modelops.serving); see the user guide
    for why it is not a server-side apply.
author:
  - modelops.serving maintainers (@modelops)
options:
  name:
    description: Name of the Deployment.
    type: str
    required: true
  namespace:
    description: Namespace of the Deployment.
    type: str
    default: default
  container:
    description:
      - Name of the container to change. May be omitted when the pod template has exactly one container.
    type: str
  image:
    description:
      - The new image reference, for example C(registry.example.com/team/llm:v2).
      - Omit to change only env, args or strategy knobs.
    type: str
  env:
    description:
      - Environment variables to set on the container (merged by name; others are left alone), for example
        the model version as C(MODEL_VERSION=2).
    type: dict
  args:
    description: Arguments of the container, replacing the current list.
    type: list
    elements: str
  max_surge:
    description: C(maxSurge) of the RollingUpdate strategy, a whole number or a percentage such as C(25%).
    type: raw
  max_unavailable:
    description: C(maxUnavailable) of the RollingUpdate strategy, a whole number or a percentage.
    type: raw
  min_ready_seconds:
    description: C(minReadySeconds) of the Deployment.
    type: int
  progress_deadline_seconds:
    description:
      - C(progressDeadlineSeconds) of the Deployment. Size it for the model's load time.
    type: int
  on_failure:
    description:
      - What to do when the rollout fails.
      - C(rollback) restores the recorded pod template and waits for it.
      - C(pause) pauses the Deployment so a person can inspect it.
      - C(fail) reports the failure and leaves the Deployment as it is.
    type: str
    choices: [rollback, pause, fail]
    default: rollback
  strategy:
    description:
      - C(rolling) changes the Deployment in place with the Kubernetes rolling update.
      - C(canary) runs the new template in a second Deployment C(<name>-canary) behind the same Service, grown in
        O(canary_steps) (percentages of the stable replica count) while the stable Deployment keeps all its replicas;
        each step is waited for, gated and held for O(canary_pause_seconds); then the stable Deployment rolls and the
        canary goes away. Any failed step removes the canary and leaves the stable Deployment untouched.
        Traffic share is replica share (no mesh); see docs/strategies.md.
      - C(blue_green) brings up a full C(<name>-green) Deployment, gates it while O(service) still selects the current
        pods, switches the Service selector in one write, holds for O(rollback_window_seconds) (a failure switches back
        in one write), then rolls the original Deployment to the new template, moves the Service back to it and deletes
        green, so the Deployment's name never changes.
    type: str
    choices: [rolling, canary, blue_green]
    default: rolling
  canary_steps:
    description: Canary sizes as percentages of the stable replica count, increasing (at least one pod per step).
    type: list
    elements: int
    default: [10, 25, 50]
  canary_pause_seconds:
    description: Hold each canary step this long, watching its pods for restarts and readiness loss.
    type: int
    default: 0
  service:
    description: The Service whose selector O(strategy=blue_green) switches. Required for blue_green.
    type: str
  rollback_window_seconds:
    description:
      - With O(strategy=blue_green), how long to watch green after the switch while blue stays scaled,
        switching back in one write on a restart or readiness loss.
    type: int
    default: 0
  timeout:
    description:
      - Upper bound in seconds on each wait (rollout, rollback). Defaults to the Deployment's
        C(progressDeadlineSeconds) plus 30 seconds.
    type: int
  crash_loop_restarts:
    description:
      - A new pod in C(CrashLoopBackOff) with at least this many restarts fails the rollout.
    type: int
    default: 2
  fail_on_image_pull:
    description: Fail as soon as a new pod reports C(ErrImagePull) or C(ImagePullBackOff).
    type: bool
    default: true
  unschedulable_seconds:
    description:
      - A new pod that stays unschedulable (for example C(Insufficient nvidia.com/gpu)) this long fails the
        rollout. Give a cluster autoscaler time to add a node by raising it; C(0) fails at once.
    type: int
    default: 30
  ready_flap_transitions:
    description: A new pod whose readiness drops from Ready this many times fails the rollout.
    type: int
    default: 3
  not_ready_seconds:
    description:
      - A new pod that is Running but not Ready this long fails the rollout (a server that starts but never
        serves). Off by default, because model load times vary too much to guess; set it just above your
        slowest load, or rely on O(progress_deadline_seconds).
    type: int
  log_lines:
    description: Lines of container log to include per failing pod in RV(diagnostics) (0 for none).
    type: int
    default: 20
  lock_ttl_seconds:
    description:
      - Lifetime of the rollout Lease. The run renews it while it waits; a Lease whose holder stopped
        renewing this long ago may be taken over.
    type: int
    default: 120
  lock_identity:
    description: Holder identity written to the Lease. Defaults to user@host/pid plus a random suffix.
    type: str
  progress_file:
    description:
      - Append one line per progress step (updated, ready, available replicas) to this file while waiting.
        The collection's action plugin uses it to show live progress; set it yourself to follow a run with C(tail -f).
    type: path
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - modelops.serving.gates
  - modelops.serving.eks_connection
requirements:
  - kubernetes >= 24.2.0
  - PyYAML >= 3.11
notes:
  - Check mode runs the change as a server-side dry run and reports the revision, image and strategy
    before and after without writing anything. With C(--diff) the same appears as a diff.
  - The account needs the RBAC in C(docs/rbac.md) (get/list/watch/patch Deployments, list/watch ReplicaSets and
    Pods, list Events, get pod logs, and create/get/update/delete Leases).
"""

EXAMPLES = r"""
- name: Roll the LLM server to v2, fail fast, roll back on failure
  modelops.serving.model_rollout:
    name: llm
    namespace: serving
    container: server
    image: registry.example.com/team/llm:v2
    env:
      MODEL_VERSION: "2"
    max_surge: 1
    max_unavailable: 0
    progress_deadline_seconds: 900
  register: rollout

- name: Show what happened
  ansible.builtin.debug:
    msg: "{{ rollout.verdict }}: {{ rollout.previous.image }} -> {{ rollout.current.image }} ({{ rollout.reason }})"

- name: GPU server with no spare GPU for a surge pod, one pod at a time, pause on failure for a person to look
  modelops.serving.model_rollout:
    kubeconfig: ~/.kube/config
    context: prod-us-east-1
    name: triton
    namespace: models
    image: nvcr.io/nvidia/tritonserver:24.08-py3
    max_surge: 0
    max_unavailable: 1
    on_failure: pause
"""

RETURN = r"""
changed:
  description: Whether this run wrote to the Deployment.
  returned: always
  type: bool
verdict:
  description:
    - C(complete), C(failed), C(rolled_back) (the rollout failed and the previous template is serving again),
      C(unchanged) (already live and complete), or C(pending) (check mode, a change would be made).
  returned: always
  type: str
  sample: rolled_back
reason:
  description:
    - Machine-readable reason, such as C(complete), C(image_pull), C(crash_loop), C(unschedulable),
      C(ready_flapping), C(not_ready), C(config), C(progress_deadline_exceeded), C(timeout), C(rollback_failed),
      C(up_to_date), C(invalid_input), C(api_error); from gates C(gate_check_failed), C(model_not_ready), C(smoke_failed),
      C(gate_unreachable), C(prometheus_threshold), C(cloudwatch_alarm); from holds and bakes C(bake_restart),
      C(bake_not_ready), C(bake_unavailable).
  returned: always
  type: str
  sample: crash_loop
message:
  description: One line for a person, naming the pod, container and Kubernetes reason on failure.
  returned: always
  type: str
previous:
  description: Revision and image before this run.
  returned: always
  type: dict
  sample: {"revision": "3", "image": "repo/llm:v1"}
current:
  description: Revision, image and strategy at the end of this run.
  returned: always
  type: dict
  sample: {"revision": "5", "image": "repo/llm:v1", "strategy": {"max_surge": 1, "max_unavailable": 1}}
rolled_back_to:
  description:
    - After a rollback, the revision now serving (Kubernetes numbers a restored ReplicaSet anew), the revision
      number it had before (C(original_revision)), and its image. Null otherwise.
  returned: always
  type: dict
  sample: {"revision": "5", "original_revision": "3", "image": "repo/llm:v1"}
diagnostics:
  description:
    - On failure, the new ReplicaSet's pods with phase, readiness, waiting reason and message, restarts,
      recent events and a log tail.
  returned: always
  type: list
  elements: dict
timeline:
  description:
    - One point per change of the Deployment's status while waiting, with seconds since start (C(t)),
      C(phase) (rollout or rollback), C(desired), C(updated), C(ready), C(available), C(unavailable).
  returned: always
  type: list
  elements: dict
durations:
  description: Seconds spent in C(change), C(rollout), C(gate), C(rollback) and C(total).
  returned: always
  type: dict
gates:
  description:
    - Every gate check run, with C(name) (such as C(server_ready), C(model_ready), C(smoke), C(bake), C(prometheus),
      C(cloudwatch)), C(pod), C(ok), C(seconds), C(expected) and C(got). Empty without O(gates).
  returned: always
  type: list
  elements: dict
canary:
  description: With O(strategy=canary), one entry per step run (C(percent), C(canary_replicas), C(stable_replicas), C(ok), C(seconds)).
  returned: when O(strategy=canary) made or resumed a canary
  type: dict
blue_green:
  description: With O(strategy=blue_green), C(switch_seconds) (the one selector write) and C(switch_back_seconds) after a rollback.
  returned: when O(strategy=blue_green) made or resumed a green Deployment
  type: dict
resumed:
  description: True when this run found its target already written and waited for that rollout.
  returned: always
  type: bool
diff:
  description: Revision, image and strategy before and after (check mode).
  returned: when check mode would change something
  type: dict
api:
  description: API requests made, watch reconnections, and per-watch list/watch counts.
  returned: always
  type: dict
lock:
  description: The Lease used as the rollout lock and this run's holder identity.
  returned: when a change or a wait was made
  type: dict
"""

import copy

from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule
from ansible_collections.modelops.serving.plugins.module_utils.rollout.connect import ConnectError, host_of, kube_api
from ansible_collections.modelops.serving.plugins.module_utils.eks.client import EKS_ARG_SPEC
from ansible_collections.modelops.serving.plugins.module_utils.rollout.gates import GATES_ARG_SPEC, build_gates
from ansible_collections.modelops.serving.plugins.module_utils.rollout.kube import KubeError, explain
from ansible_collections.modelops.serving.plugins.module_utils.rollout.runner import InputError, Rollout, failure_result
from ansible_collections.modelops.serving.plugins.module_utils.rollout.progress import ProgressFile


def argument_spec():
    spec = copy.deepcopy(AUTH_ARG_SPEC)
    spec.update(
        name=dict(type="str", required=True),
        namespace=dict(type="str", default="default"),
        container=dict(type="str"),
        image=dict(type="str"),
        env=dict(type="dict"),
        args=dict(type="list", elements="str"),
        max_surge=dict(type="raw"),
        max_unavailable=dict(type="raw"),
        min_ready_seconds=dict(type="int"),
        progress_deadline_seconds=dict(type="int"),
        on_failure=dict(type="str", default="rollback", choices=["rollback", "pause", "fail"]),
        timeout=dict(type="int"),
        crash_loop_restarts=dict(type="int", default=2),
        fail_on_image_pull=dict(type="bool", default=True),
        unschedulable_seconds=dict(type="int", default=30),
        ready_flap_transitions=dict(type="int", default=3),
        not_ready_seconds=dict(type="int"),
        log_lines=dict(type="int", default=20),
        lock_ttl_seconds=dict(type="int", default=120),
        lock_identity=dict(type="str"),
        progress_file=dict(type="path"),
        strategy=dict(type="str", default="rolling", choices=["rolling", "canary", "blue_green"]),
        canary_steps=dict(type="list", elements="int", default=[10, 25, 50]),
        canary_pause_seconds=dict(type="int", default=0),
        service=dict(type="str"),
        rollback_window_seconds=dict(type="int", default=0),
        eks=dict(type="dict", options=copy.deepcopy(EKS_ARG_SPEC)),
        gates=dict(type="dict", options=copy.deepcopy(GATES_ARG_SPEC)),
    )
    return spec


def check_numbers(params):
    """Numbers that must be positive or non-negative, named in the error."""
    rules = (
        ("min_ready_seconds", 0), ("progress_deadline_seconds", 1), ("timeout", 1), ("crash_loop_restarts", 1),
        ("unschedulable_seconds", 0), ("ready_flap_transitions", 1), ("not_ready_seconds", 1), ("log_lines", 0),
        ("lock_ttl_seconds", 5),
    )
    for name, minimum in rules:
        value = params.get(name)
        if value is not None and value < minimum:
            raise InputError("%s must be at least %d (got %d)" % (name, minimum, value))
    steps = params.get("canary_steps") or []
    if params.get("strategy") == "canary":
        if not steps or any(not 0 < v <= 100 for v in steps) or steps != sorted(set(steps)):
            raise InputError("canary_steps must be increasing percentages between 1 and 100, got %s" % steps)
    if params.get("strategy") == "blue_green" and not params.get("service"):
        raise InputError("strategy blue_green needs service: the Service whose selector switches colours")
    for name in ("canary_pause_seconds", "rollback_window_seconds"):
        if (params.get(name) or 0) < 0:
            raise InputError("%s must not be negative" % name)
    env = params.get("env")
    if env:
        params["env"] = dict((str(k), "" if v is None else str(v)) for k, v in env.items())


def main():
    module = AnsibleK8SModule(argument_spec=argument_spec(), supports_check_mode=True,
                              mutually_exclusive=[("eks", "kubeconfig"), ("eks", "host"), ("eks", "context")])
    params = dict(module.params)
    progress = ProgressFile(params.get("progress_file"))
    rollout = None
    api = None
    try:
        check_numbers(params)
        api = kube_api(module)
        rollout = Rollout(api, params, check_mode=module.check_mode, progress=progress.write,
                          gates=build_gates(params.get("gates"), module))
        result = rollout.run()
    except (InputError, ConnectError) as exc:
        result = failure_result(params, rollout, "invalid_input", str(exc))
    except KubeError as exc:
        result = failure_result(params, rollout, "api_error", explain(exc, host_of(module, api)))
    finally:
        progress.close()
    # A rollback that worked still means the new version did not ship: the task fails, so a
    # fleet rollout stops at this cluster.
    if result["verdict"] in ("failed", "rolled_back"):
        module.fail_json(msg=result["message"], **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
