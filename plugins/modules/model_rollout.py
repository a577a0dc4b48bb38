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
  - On failure, rolls back to the exact pod template that served before the change (its ReplicaSet's
    pod-template-hash and revision are recorded on the Deployment, so a later run still knows it), restoring the
    annotations as C(kubectl rollout undo) does, and waits for that too; or pauses the Deployment; or only reports.
  - One rollout per Deployment at a time, through a C(coordination.k8s.io) Lease naming its holder, renewed in
    every phase of the run (waits, canary pauses, blue/green windows, gates and bakes).
  - Waits as the Deployment controller measures progress - a rollout that keeps progressing is never cut off, however
    long it takes; one that stops fails at its C(progressDeadlineSeconds) with the cause named. A person pausing the
    Deployment, or a controller that does not act, ends the run with nothing more written.
  - Idempotent. When the Deployment already runs the requested template and its rollout is complete, however it
    was scaled since (pods Pending after a scale-up are no rollout), nothing is written. When the template was
    written by an earlier run of this module that did not finish, the wait resumes. A rollout someone else started
    is superseded, with the last complete template as the rollback target (see the user guide).
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
      - Progress lines, messages, the change-cause annotation and the task's echoed arguments show the names only,
        never the values. A value set here is still visible on the Deployment to whoever may read it, so pass
        credentials (such as C(HF_TOKEN)) with C(valueFrom.secretKeyRef) to a Secret in the Deployment's own
        manifest, never here.
    type: dict
  env_absent:
    description:
      - Names of environment variables to remove from the container (a strategic merge entry with C($patch) set to
        C(delete) per name, so the variable goes whoever set it; a merge of O(env) alone never removes one). A name also in O(env) is
        kept. Names not on the container are ignored.
      - The C(model_server) role passes the names removed from C(model_server_env) here.
    type: list
    elements: str
    version_added: 0.2.0
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
  allow_zero_replicas:
    description:
      - A Deployment scaled to 0 replicas runs no pod, so a change to it cannot be judged or gated, and C(complete)
        would claim what nobody saw. By default such a change is refused before anything is written, as
        C(playbooks/rollout.yml)'s preflight refuses it.
      - C(true) writes the template anyway (for example for a workload an event-driven autoscaler scales to zero); the
        verdict is C(complete) and the message says that no pod runs the new template and nothing was gated.
    type: bool
    default: false
    version_added: 0.2.0
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
      - An explicit overall cap, in seconds, on reaching the new version's verdict, counted from the start of the run
        (rollout, canary steps and pauses, green, gates, bake and rollback window). When it passes first, the rollout
        fails with RV(reason=timeout) and O(on_failure) applies.
      - Off by default, and rarely needed. Without it the wait follows the controller's own measure, time without
        progress - C(progressDeadlineSeconds) after the last progress the controller saw, which is when it reports
        C(ProgressDeadlineExceeded) - so a slow rollout that keeps progressing (a 40 minute GPU rollout of a big model)
        completes, and one that stops fails at the progress deadline.
      - A rollback is never cut short by this cap (a rollback stopped half way leaves the Deployment between
        versions); it is judged by the progress deadline alone.
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
      - Lifetime of the rollout Lease. The run renews it every third of this in every phase, and stops (reason
        C(lock_lost)) when it could not renew it for two thirds of it, before anyone else may take it.
      - Expiry is judged from this machine's own clock, as client-go's leader election does. A Lease whose renewal
        time looks recent is held; one that looks expired is watched for its own duration and taken over only if
        nobody renews it meanwhile, so a holder whose clock is off never loses a live Lease (a run after a crashed one
        waits up to this long before taking over).
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
  - websocket-client, as the kubernetes client installs it (for O(gates) through the pod port-forward)
  - PyYAML >= 3.11
notes:
  - Check mode runs the change as a server-side dry run and reports the revision, image and strategy
    before and after without writing anything. With C(--diff) the same appears as a diff.
  - The account needs the RBAC in C(docs/rbac.md) (get/list/watch/patch Deployments, list/watch ReplicaSets and
    Pods, list Events, get pod logs, and create/get/update/delete Leases).
  - Every exit ends in a result with the same keys and a RV(reason) from the list below, whatever failed; the
    task fails for the verdicts C(failed), C(rolled_back) and C(paused).
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
    - C(complete), C(unchanged) (already live and complete), C(pending) (check mode, a change would be made),
      C(rolled_back) (the new template failed and the previous one is serving again), C(paused) (the Deployment is
      paused - by a person during the run, before it, or by O(on_failure=pause) - and nothing was written after), or
      C(failed).
  returned: always
  type: str
  sample: rolled_back
reason:
  description:
    - Machine-readable reason, one of the following (with the verdicts it comes with). Reasons that judge the new
      template let O(on_failure) act; the others (from C(rollback_failed) on) are about the world, and the run wrote
      nothing more to the Deployment after them.
    - C(complete) (complete) - the new template rolled out (and passed its gates).
    - C(up_to_date) (unchanged) - the Deployment already runs the requested template.
    - C(check_mode) (pending) - check mode, the change a run would make.
    - C(image_pull) (failed, rolled_back, paused) - a new pod cannot pull its image.
    - C(config) (failed, rolled_back, paused) - a new container cannot be created (missing Secret or ConfigMap, bad
      command).
    - C(crash_loop) (failed, rolled_back, paused) - a new container keeps crashing.
    - C(unschedulable) (failed, rolled_back, paused) - a new pod found no node for unschedulable_seconds.
    - C(create_refused) (failed, rolled_back, paused) - the API refused to create the new pods (ResourceQuota,
      LimitRange, an admission webhook, Pod Security); the message is the API's.
    - C(ready_flapping) (failed, rolled_back, paused) - a new pod kept dropping out of Ready.
    - C(not_ready) (failed, rolled_back, paused) - a new pod stayed Running but not Ready for not_ready_seconds.
    - C(progress_deadline_exceeded) (failed, rolled_back, paused) - the controller's own verdict, no progress for
      progressDeadlineSeconds.
    - C(timeout) (failed, rolled_back, paused) - the overall cap set with the timeout option passed first.
    - C(model_not_ready) (failed, rolled_back, paused) - gate, the server or the model did not report ready.
    - C(smoke_failed) (failed, rolled_back, paused) - gate, the smoke inference did not get the expected answer.
    - C(gate_check_failed) (failed, rolled_back, paused) - gate, the custom check did not get the expected answer.
    - C(gate_unreachable) (failed, rolled_back, paused) - gate, a new pod could not be reached through the port-
      forward.
    - C(gate_no_pods) (failed, rolled_back, paused) - gate, no Ready pod of the new ReplicaSet to ask.
    - C(prometheus_threshold) (failed, rolled_back, paused) - gate, a Prometheus sample crossed its threshold.
    - C(prometheus_error) (failed, rolled_back, paused) - gate, Prometheus did not answer the query.
    - C(prometheus_no_data) (failed, rolled_back, paused) - gate, the query returned no data and fail_on_empty is set.
    - C(cloudwatch_alarm) (failed, rolled_back, paused) - gate, a CloudWatch alarm is in ALARM.
    - C(cloudwatch_error) (failed, rolled_back, paused) - gate, the CloudWatch alarms could not be read, or one does
      not exist.
    - C(bake_restart) (failed, rolled_back, paused) - hold or bake, a new pod restarted.
    - C(bake_not_ready) (failed, rolled_back, paused) - hold or bake, a new pod lost Ready or was deleted.
    - C(bake_unavailable) (failed, rolled_back, paused) - hold or bake, the Deployment lost availability.
    - C(rollback_failed) (failed) - the rollback itself did not complete; look at once.
    - C(paused) (paused) - the Deployment is paused (by a person, or before this run); nothing more was written.
    - C(superseded) (failed) - another hand (kubectl, a GitOps controller, a person) changed the pod template
      during the run; its template stands and nothing more was written.
    - C(controller_stalled) (failed) - kube-controller-manager did not act on the Deployment; nothing more was
      written.
    - C(lock_lost) (failed) - this run lost its Lease; its canary or green was removed, nothing more was written.
    - C(lock_held) (failed) - another run holds the rollout Lease; nothing was written.
    - C(deployment_deleted) (failed) - the Deployment was deleted during the run.
    - C(invalid_input) (failed) - the request or the connection options are invalid; nothing was written.
    - C(api_error) (failed) - the Kubernetes API failed or refused a request.
    - C(internal_error) (failed) - an unexpected error in model_rollout; the message says what was left.
  returned: always
  type: str
  sample: crash_loop
message:
  description: One line for a person, naming the pod, container and Kubernetes reason on failure.
  returned: always
  type: str
previous:
  description:
    - Revision and image of what served before this run, the template a rollback goes back to. During someone
      else's unfinished rollout, the last complete template, not the half-done one.
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
    - When the API refused to create the new pods (RV(reason=create_refused)), first an entry for the object that
      says so, with C(kind), C(name), C(reason) (such as C(FailedCreate)), the API's C(message) and its
      C(last_events).
  returned: always
  type: list
  elements: dict
timeline:
  description:
    - One point per change of a watched Deployment's status while waiting, with seconds since start (C(t)),
      C(phase) (such as C(rollout), C(rollback), C(canary step 1), C(green), C(bake), C(rollback window)),
      C(desired), C(updated), C(ready), C(available), C(unavailable), C(total).
  returned: always
  type: list
  elements: dict
durations:
  description:
    - Seconds spent by phase; each second lands in at most one of C(change), C(rollout), C(gate) and C(rollback).
    - C(change) is the writes toward the new version (the patch, each canary step's scale, the Service switch,
      the cleanup after success).
    - C(rollout) is every wait for the new version (the rolling update, each canary step and its pause, green
      coming up, the blue/green window).
    - C(gate) is the gate checks and the bake.
    - C(rollback) is the answer to a failure (diagnostics, the rollback or the pause, a failed canary or green
      removed and the Service switched back, and the wait for it).
    - C(total) is the whole run, including reading, planning, the Lease and the preflight.
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
  description:
    - True when this run found its target already written by an earlier run of this module that did not finish,
      and waited for that rollout. False for a rollout to the same template that someone else started.
  returned: always
  type: bool
rollback_failure:
  description: With RV(reason=rollback_failed), the reason and message of the rollback's own failure.
  returned: when the rollback failed
  type: dict
diff:
  description: Revision, image and strategy before and after (check mode).
  returned: when check mode would change something
  type: dict
api:
  description:
    - API requests made (C(requests)), watch reconnections (C(watch_disconnects)), and per watched Deployment and kind
      the lists, watches and reconnects (C(watches)).
  returned: always
  type: dict
lock:
  description: The Lease used as the rollout lock and this run's holder identity; null when the run took no Lease.
  returned: always
  type: dict
"""

from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule
from ansible_collections.modelops.serving.plugins.module_utils.rollout import runner, settings
from ansible_collections.modelops.serving.plugins.module_utils.rollout.connect import host_of, kube_api
from ansible_collections.modelops.serving.plugins.module_utils.rollout.gates import build_gates
from ansible_collections.modelops.serving.plugins.module_utils.rollout.progress import ProgressFile
from ansible_collections.modelops.serving.plugins.module_utils.rollout.result import Result

# The verdicts that fail the task. A rollback that worked still means the new version did not
# ship: a fleet rollout must stop at this cluster.
FAILING = ("failed", "rolled_back", "paused")


def rollout(module, progress):
    """The result of one run; errors before the run (settings, gates, connection) end in the same contract."""
    params = module.params
    api = None
    phase = "settings"
    try:
        run_settings = settings.Settings(dict(params))
        gates = build_gates(run_settings.gates)
        phase = "connect"
        api = kube_api(module)
    except Exception as exc:  # every error ends in the result contract
        result = Result(params.get("namespace"), params.get("name"), params.get("container"))
        result.fail(exc, phase, host=host_of(module, api))
        return result.build()
    return runner.run(api, run_settings, check_mode=module.check_mode, progress=progress.write, gates=gates)


def main():
    module = AnsibleK8SModule(argument_spec=settings.argument_spec(AUTH_ARG_SPEC), supports_check_mode=True,
                              mutually_exclusive=settings.MUTUALLY_EXCLUSIVE)
    progress = ProgressFile(module.params.get("progress_file"))
    try:
        result = rollout(module, progress)
    finally:
        progress.close()
    if result["verdict"] in FAILING:
        module.fail_json(msg=result["message"], **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
