#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: sagemaker_endpoint_rollout
short_description: Ship a new model version to a SageMaker real-time endpoint and drive it to a verdict
version_added: 0.2.0
description:
  - Makes an immutable, versioned SageMaker Model and EndpointConfig from O(model) and O(variants), named from a
    hash of their content (the same input always gives the same names), then calls C(CreateEndpoint) the first
    time or C(UpdateEndpoint) with the deployment guardrails of O(deployment) (blue/green with all-at-once,
    canary or linear traffic shifting, or rolling batches, and auto-rollback CloudWatch alarms).
  - Waits for SageMaker and judges the result the way a person would, in the result contract of
    M(modelops.serving.model_rollout). C(complete) only when the endpoint is C(InService) on the new config.
    C(rolled_back) when SageMaker rolled back (a C(RollingBack) status was seen, or the endpoint is back in
    service on the old config), naming the alarm that fired. C(failed) with SageMaker's C(FailureReason) on
    C(Failed) or C(UpdateRollbackFailed). boto3's C(endpoint_in_service) waiter reports success in the rollback
    case; this module fails the task.
  - Polls C(DescribeEndpoint) adaptively (1 s after a change, slowing to O(poll_max_interval_seconds)), retries
    throttled calls with jittered backoff, and prints live progress lines when run on the controller.
  - Idempotent. An endpoint already C(InService) on the wanted config, or on an equivalent one made by anyone
    (same variants, same container image, model data, environment and role), is left alone with no call that
    writes. An update already in progress, started by anyone, is waited for (or refused, see O(on_in_progress)),
    never stacked; when it is this run's own target (an earlier run started it), the wait resumes.
  - Everything is validated before the first write, with a message that says what to fix. That covers the role ARN,
    the instance type format, the DeploymentConfig ranges and rules of the API, that the rollback alarms exist and
    are not in ALARM already, and that guardrails keep the live variant names.
  - Superseded configs and models this module made for the endpoint may be deleted after a C(complete) verdict,
    keeping the newest O(keep_versions).
author:
  - modelops.serving maintainers (@modelops)
options:
  name:
    description: Name of the SageMaker endpoint. Created when it does not exist.
    type: str
    required: true
  model:
    description: The model version to serve, one container (SageMaker C(PrimaryContainer)).
    type: dict
    required: true
    suboptions:
      image:
        description: Container image of the inference server, for example C(123456789012.dkr.ecr.us-east-1.amazonaws.com/llm:v2).
        type: str
        required: true
      model_data_url:
        description: S3 (or https) URL of the model artifacts, for example C(s3://models/llm/v2/model.tar.gz).
        type: str
      environment:
        description: Environment variables of the container, for example the model version. Shown in results and diffs.
        type: dict
        default: {}
      secret_environment:
        description:
          - Environment variables that are secrets (tokens, keys). Passed to SageMaker like O(model.environment) but
            never shown in results, diffs or logs; their values still count in the version's content hash.
        type: dict
        default: {}
      execution_role_arn:
        description:
          - ARN of the IAM role SageMaker assumes to pull the image and the model data. Required.
        type: str
        aliases: [role_arn]
      enable_network_isolation:
        description: Run the container without network access.
        type: bool
        default: false
  variants:
    description: The production variants of the endpoint config, all serving O(model).
    type: list
    elements: dict
    required: true
    suboptions:
      variant_name:
        description: Name of the variant. Keep it across versions (deployment guardrails need the same names).
        type: str
        default: AllTraffic
      instance_type:
        description: ML instance type, C(ml.<family>.<size>), for example C(ml.g5.xlarge). Not with O(variants[].serverless).
        type: str
      instance_count:
        description: Number of instances.
        type: int
        default: 1
      weight:
        description: Variant weight (share of traffic among the variants).
        type: float
        default: 1.0
      serverless:
        description: Serverless inference instead of instances.
        type: dict
        suboptions:
          memory_size_mb:
            description: Memory, one of 1024, 2048, 3072, 4096, 5120, 6144.
            type: int
            required: true
          max_concurrency:
            description: Maximum concurrent invocations, 1 to 200.
            type: int
            required: true
          provisioned_concurrency:
            description: Provisioned concurrency, at most O(variants[].serverless.max_concurrency).
            type: int
      container_startup_health_check_timeout_seconds:
        description: Seconds SageMaker waits for the container's C(/ping) to pass (60 to 3600). Size it for the model's load time.
        type: int
      model_data_download_timeout_seconds:
        description: Seconds SageMaker allows to download the model data (60 to 3600).
        type: int
  deployment:
    description:
      - The deployment guardrails of C(UpdateEndpoint) (its C(DeploymentConfig)). Not used when the endpoint is
        created. Without it SageMaker does a blue/green update with all-at-once traffic shifting and no alarms.
      - Sizes are a whole number of instances (C(1)) or a percentage of the variant's instances (C('25%')).
      - See docs/sagemaker.md for choosing between blue/green and rolling for GPU instance pools.
    type: dict
    suboptions:
      strategy:
        description:
          - C(blue_green) provisions a full new fleet beside the old one and shifts traffic to it (needs twice the
            instances while it runs).
          - C(rolling) replaces the fleet in batches of O(deployment.maximum_batch_size) (needs one batch of extra
            instances); not for serverless or multi-variant endpoints.
        type: str
        choices: [blue_green, rolling]
        default: blue_green
      traffic:
        description: How blue/green shifts traffic to the new fleet.
        type: str
        choices: [all_at_once, canary, linear]
        default: all_at_once
      canary_size:
        description: With O(deployment.traffic=canary), the first step's size, at most 50% of the instances.
        type: raw
      linear_step_size:
        description: With O(deployment.traffic=linear), each step's size, 10% to 50% of the instances.
        type: raw
      maximum_batch_size:
        description: With O(deployment.strategy=rolling), instances replaced per batch, 5% to 50% of the instances.
        type: raw
      rollback_maximum_batch_size:
        description: With O(deployment.strategy=rolling), batch size of a rollback; all at once when not set.
        type: raw
      wait_interval_seconds:
        description:
          - Baking period after each traffic step (blue/green) or batch (rolling), 0 to 3600 seconds, during which
            SageMaker watches O(deployment.rollback_alarms). Required for canary, linear and rolling.
        type: int
      termination_wait_seconds:
        description: Blue/green only. Seconds the old fleet is kept after all traffic has moved (0 to 3600).
        type: int
      maximum_execution_timeout_seconds:
        description: Upper bound of the whole deployment (600 to 28800), larger than the waits it contains; SageMaker rolls back when it is exceeded.
        type: int
      rollback_alarms:
        description:
          - CloudWatch alarm names (1 to 10) SageMaker watches; any of them in ALARM during a bake rolls the
            deployment back. They must exist, and not be in ALARM already.
        type: list
        elements: str
        default: []
  on_in_progress:
    description:
      - What to do when the endpoint is already being created or updated by someone else.
      - C(wait) waits until that finishes, then decides again (it may then find nothing to do).
      - C(refuse) fails at once and writes nothing.
      - Either way nothing is stacked on a running update; an update toward this run's own target is always resumed.
    type: str
    choices: [wait, refuse]
    default: wait
  wait_timeout:
    description:
      - Upper bound in seconds on the wait for a verdict. Defaults to O(deployment.maximum_execution_timeout_seconds)
        (or 3600) plus 600 seconds for a rollback. On timeout the verdict is C(failed) (C(timeout)) and a re-run
        resumes the wait.
    type: int
  poll_max_interval_seconds:
    description: Longest pause between two C(DescribeEndpoint) calls while waiting (the first after a change is 1 second).
    type: float
    default: 5.0
  keep_versions:
    description:
      - After a C(complete) verdict, delete the endpoint configs (and their models) this module made for this
        endpoint except the newest O(keep_versions) and the one serving. Only resources tagged by this module for
        this endpoint are deleted. Off by default.
    type: int
  tags:
    description: Tags for the models, endpoint configs and (when created) the endpoint.
    type: dict
    default: {}
  progress_file:
    description:
      - Append one line per observed change while waiting. The collection's action plugin uses it to show live
        progress; set it yourself to follow a run with C(tail -f).
    type: path
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
notes:
  - Check mode validates everything (including the alarms and the live endpoint) and reports the version before
    and after without writing; with C(--diff) the same appears as a diff.
  - The IAM principal needs C(sagemaker:DescribeEndpoint), C(DescribeEndpointConfig), C(DescribeModel),
    C(CreateModel), C(CreateEndpointConfig), C(CreateEndpoint), C(UpdateEndpoint), C(AddTags), C(ListTags),
    C(iam:PassRole) on the execution role, C(cloudwatch:DescribeAlarms); with O(keep_versions) also
    C(ListEndpointConfigs), C(DeleteEndpointConfig), C(DeleteModel).
  - A rollback verdict fails the task, as in M(modelops.serving.model_rollout), because the new version did not ship.
seealso:
  - module: modelops.serving.sagemaker_endpoint_info
  - module: modelops.serving.model_rollout
"""

EXAMPLES = r"""
- name: Ship llm v2 with a canary guarded by two alarms
  modelops.serving.sagemaker_endpoint_rollout:
    name: llm-prod
    region: us-east-1
    model:
      image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/llm:v2
      model_data_url: s3://models/llm/v2/model.tar.gz
      environment:
        MODEL_VERSION: "2"
      secret_environment:
        HF_TOKEN: "{{ vault_hf_token }}"
      execution_role_arn: arn:aws:iam::123456789012:role/sagemaker-execution
    variants:
      - variant_name: AllTraffic
        instance_type: ml.g5.2xlarge
        instance_count: 4
        container_startup_health_check_timeout_seconds: 900
    deployment:
      traffic: canary
      canary_size: 1
      wait_interval_seconds: 600
      termination_wait_seconds: 300
      maximum_execution_timeout_seconds: 7200
      rollback_alarms: [llm-prod-5xx, llm-prod-latency-p99]
    keep_versions: 3
  register: shipped

- name: Show what happened
  ansible.builtin.debug:
    msg: "{{ shipped.verdict }}: {{ shipped.previous.image }} -> {{ shipped.current.image }} ({{ shipped.reason }})"

- name: GPU pool with no room for a second fleet, one instance at a time
  modelops.serving.sagemaker_endpoint_rollout:
    name: triton-prod
    model:
      image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/triton:24.08
      execution_role_arn: arn:aws:iam::123456789012:role/sagemaker-execution
    variants:
      - instance_type: ml.p4d.24xlarge
        instance_count: 4
    deployment:
      strategy: rolling
      maximum_batch_size: 1
      wait_interval_seconds: 300
      rollback_alarms: [triton-prod-5xx]
"""

RETURN = r"""
changed:
  description: Whether this run wrote anything (a model, an endpoint config, the endpoint).
  returned: always
  type: bool
verdict:
  description:
    - C(complete) (InService on the new config), C(rolled_back) (SageMaker restored the old config), C(failed),
      C(unchanged) (already serving an equivalent config), or C(pending) (check mode, a change would be made).
  returned: always
  type: str
  sample: rolled_back
reason:
  description:
    - Machine-readable reason. C(complete), C(up_to_date), C(check_mode); rollbacks C(rollback_alarm) (an
      auto-rollback alarm went to ALARM), C(deployment_failed) (SageMaker gave a FailureReason, such as a failed
      health check), C(rolled_back) (no cause given); failures C(endpoint_failed), C(rollback_failed)
      (C(UpdateRollbackFailed)), C(out_of_service), C(endpoint_deleted), C(superseded) (someone else's config
      serves), C(unknown_status), C(in_progress) (refused or raced), C(timeout), C(invalid_input), C(api_error),
      C(internal_error).
  returned: always
  type: str
  sample: rollback_alarm
message:
  description: One line for a person; on a rollback it names the alarm or SageMaker's FailureReason.
  returned: always
  type: str
previous:
  description: The endpoint config (C(revision)) and container image the endpoint served before this run.
  returned: always
  type: dict
  sample: {"revision": "llm-prod-c-3f2a9c0d1e", "image": "repo/llm:v1"}
current:
  description: The endpoint config and image serving at the end of this run (check mode, the wanted ones).
  returned: always
  type: dict
  sample: {"revision": "llm-prod-c-9b1e77a402", "image": "repo/llm:v2"}
rolled_back_to:
  description: After a rollback, the endpoint config and image serving again; null otherwise.
  returned: always
  type: dict
diagnostics:
  description:
    - On failure or rollback, per variant, the endpoint status and config, SageMaker's C(failure_reason), the
      variant status of the new fleet and the rollback alarms seen in ALARM.
  returned: always
  type: list
  elements: dict
timeline:
  description:
    - One point per observed change while waiting, with seconds since start (C(t)), C(phase) (rollout or rollback),
      C(status), C(desired) and C(updated) (instances of the new fleet), C(ready) (new instances taking traffic or
      baking), C(available) (instances serving), C(variant_status).
  returned: always
  type: list
  elements: dict
durations:
  description: Seconds spent in C(change) (the writes), C(rollout), C(gate) (always 0 here), C(rollback) and C(total).
  returned: always
  type: dict
endpoint:
  description: C(name), C(region), C(arn) and last seen C(status) of the endpoint.
  returned: always
  type: dict
resumed:
  description: True when this run found its own target already being deployed and waited for it.
  returned: always
  type: bool
deployment:
  description: The C(DeploymentConfig) sent (C(config)) and a one-line C(summary).
  returned: always
  type: dict
alarms:
  description: The rollback alarms with the last state read.
  returned: always
  type: list
  elements: dict
cleanup:
  description: Endpoint configs and models deleted by O(keep_versions), and the configs kept.
  returned: always
  type: dict
diff:
  description: The version before and after (check mode); secret environment values show as C((secret)).
  returned: when check mode would change something
  type: dict
api:
  description: AWS API requests this run made, and how many of them wrote.
  returned: always
  type: dict
"""

import copy

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.modelops.serving.plugins.module_utils.rollout.progress import ProgressFile
from ansible_collections.modelops.serving.plugins.module_utils.sagemaker import result as res
from ansible_collections.modelops.serving.plugins.module_utils.sagemaker.clients import AwsError, clients
from ansible_collections.modelops.serving.plugins.module_utils.sagemaker.deployment import DEPLOYMENT_SPEC
from ansible_collections.modelops.serving.plugins.module_utils.sagemaker.rollout import EndpointRollout
from ansible_collections.modelops.serving.plugins.module_utils.sagemaker.spec import MODEL_SPEC, VARIANT_SPEC


def argument_spec():
    return dict(
        name=dict(type="str", required=True),
        model=dict(type="dict", required=True, options=copy.deepcopy(MODEL_SPEC)),
        variants=dict(type="list", elements="dict", required=True, options=copy.deepcopy(VARIANT_SPEC)),
        deployment=dict(type="dict", options=copy.deepcopy(DEPLOYMENT_SPEC)),
        on_in_progress=dict(type="str", choices=["wait", "refuse"], default="wait"),
        wait_timeout=dict(type="int"),
        poll_max_interval_seconds=dict(type="float", default=5.0),
        keep_versions=dict(type="int"),
        tags=dict(type="dict", default={}),
        progress_file=dict(type="path"),
    )


def check_numbers(params):
    for name, minimum in (("wait_timeout", 1), ("poll_max_interval_seconds", 1), ("keep_versions", 1)):
        value = params.get(name)
        if value is not None and value < minimum:
            return "%s must be at least %s (got %s)" % (name, minimum, value)
    return None


def main():
    module = AnsibleAWSModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = dict(module.params)
    region = module.region
    problem = check_numbers(params)
    if not region:
        problem = "no AWS region: set region, or AWS_REGION / AWS_DEFAULT_REGION"
    progress = ProgressFile(params.get("progress_file"))
    rollout = None
    try:
        if problem:
            result = res.finish(dict(res.base(params["name"], region), reason="invalid_input", message=problem),
                                {}, 0, 0)
        else:
            sagemaker, cloudwatch = clients(module.params, "sagemaker", "cloudwatch")
            rollout = EndpointRollout(sagemaker, cloudwatch, params,
                                      check_mode=module.check_mode, progress=progress.write, region=region)
            result = rollout.run()
    except AwsError as exc:
        # A missing profile or no credentials: nothing was called, so nothing changed.
        result = res.finish(dict(res.base(params["name"], region), reason="invalid_input", message=exc.message),
                            {}, 0, 0)
    except Exception as exc:  # pylint: disable=broad-except
        # Never a traceback: whatever broke, the caller gets the contract and a reason.
        partial = rollout.result if rollout is not None else res.base(params["name"], region)
        result = res.finish(dict(partial, verdict="failed", reason="internal_error",
                                 message="internal error (%s: %s); please report it" % (type(exc).__name__, exc)),
                            getattr(rollout, "durations", {}), getattr(rollout, "requests", 0),
                            getattr(rollout, "writes", 0))
    finally:
        progress.close()
    if res.is_failure(result):
        module.fail_json(msg=result["message"], **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
