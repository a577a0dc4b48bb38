#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: sagemaker_endpoint_info
short_description: State, serving version and version history of SageMaker endpoints
version_added: 0.2.0
description:
  - For one SageMaker endpoint, or all whose name contains O(name_contains), reports the status (and
    C(FailureReason)), the endpoint config and model image that serve, the variants with instance counts, a
    deployment in progress (C(PendingDeploymentSummary)), the last C(DeploymentConfig), and the versions
    M(modelops.serving.sagemaker_endpoint_rollout) made for it, newest first.
  - Container environment values are not returned unless O(include_environment) is set, since they may hold secrets;
    their names always are.
  - Reads only; safe in check mode.
author:
  - modelops.serving maintainers (@modelops)
options:
  name:
    description: Name of one endpoint. Omit to list by O(name_contains).
    type: str
  name_contains:
    description: With no O(name), report every endpoint whose name contains this string (all when empty).
    type: str
    default: ""
  include_environment:
    description: Return the containers' environment values too.
    type: bool
    default: false
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: What serves llm-prod, and is a deployment running?
  modelops.serving.sagemaker_endpoint_info:
    name: llm-prod
    region: us-east-1
  register: info

- name: Fail when it does not serve v2
  ansible.builtin.assert:
    that: info.endpoints[0].image is search(':v2$')
"""

RETURN = r"""
exists:
  description: With O(name), whether the endpoint exists.
  returned: always
  type: bool
endpoints:
  description:
    - One entry per endpoint, sorted by name, with C(name), C(arn), C(status), C(failure_reason),
      C(endpoint_config), C(image), C(models) (name, image, model_data_url, execution_role_arn, environment_keys,
      environment with O(include_environment)), C(variants) (name, instance_type, current and desired instance
      counts, current_weight), C(config_variants), C(pending) (endpoint_config and variants of a deployment in
      progress, or null), C(in_progress), C(last_deployment_config), C(created), C(modified), and C(versions)
      (endpoint configs this collection made for it, newest first).
  returned: always
  type: list
  elements: dict
  sample:
    - name: llm-prod
      status: InService
      endpoint_config: llm-prod-c-9b1e77a402
      image: repo/llm:v2
      pending: null
"""

try:
    import botocore
except ImportError:
    pass  # AnsibleAWSModule reports a missing botocore

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_message
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.modelops.serving.plugins.module_utils.sagemaker.clients import AwsError, clients
from ansible_collections.modelops.serving.plugins.module_utils.sagemaker import info

AWS_ERRORS = ()
try:
    AWS_ERRORS = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)
except NameError:
    pass


def describe(client, module, operation, **kwargs):
    """A Describe* answer, or None when SageMaker says the resource does not exist."""
    try:
        return getattr(client, operation)(aws_retry=True, **kwargs)
    except is_boto3_error_message("Could not find"):
        return None
    except AWS_ERRORS as e:  # pylint: disable=duplicate-except
        module.fail_json(msg="SageMaker %s failed: %s" % (operation, e))


def list_all(client, module, operation, key, **kwargs):
    items, token = [], None
    while True:
        page = describe(client, module, operation, **(dict(kwargs, NextToken=token) if token else kwargs)) or {}
        items.extend(page.get(key) or [])
        token = page.get("NextToken")
        if not token:
            return items


def report(client, module, described, configs):
    config = None
    if described.get("EndpointConfigName"):
        config = describe(client, module, "describe_endpoint_config", EndpointConfigName=described["EndpointConfigName"])
    models = []
    for variant in (config or {}).get("ProductionVariants") or []:
        view = info.model_view(describe(client, module, "describe_model", ModelName=variant["ModelName"]),
                               module.params["include_environment"])
        if view:
            models.append(view)
    return info.endpoint_view(described, config, models, module.params["include_environment"],
                              info.versions_of(configs, described["EndpointName"]))


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            name=dict(type="str"),
            name_contains=dict(type="str", default=""),
            include_environment=dict(type="bool", default=False),
        ),
        mutually_exclusive=[("name", "name_contains")],
        supports_check_mode=True,
    )
    try:
        client = clients(module.params, "sagemaker")[0]
    except AwsError as exc:
        module.fail_json(msg=exc.message, changed=False, exists=False, endpoints=[])
    name = module.params["name"]
    if name:
        names = [name]
    else:
        contains = module.params["name_contains"]
        listed = list_all(client, module, "list_endpoints", "Endpoints", **({"NameContains": contains} if contains else {}))
        names = sorted(e["EndpointName"] for e in listed)
    endpoints = []
    for endpoint in names:
        described = describe(client, module, "describe_endpoint", EndpointName=endpoint)
        if described is None:
            continue
        configs = list_all(client, module, "list_endpoint_configs", "EndpointConfigs", NameContains=endpoint)
        endpoints.append(report(client, module, described, configs))
    module.exit_json(changed=False, exists=bool(endpoints), endpoints=endpoints)


if __name__ == "__main__":
    main()
