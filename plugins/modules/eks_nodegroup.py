#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: eks_nodegroup
short_description: Manage EKS managed node groups, taints and labels included
version_added: 0.1.0
description:
  - Creates, updates (scaling, labels, taints, tags) and deletes an EKS managed node group, and
    waits until it is C(ACTIVE) or gone.
  - Written for this collection because C(community.aws.eks_nodegroup) (10.0.0) fails on our path,
    the GPU node group. Updating taints crashes (it indexes a list with a string), a taint without
    a value never compares equal so every run tries that update, label value changes go unseen,
    tag updates call the client with C(aws_retry) on a client without retries and with the wrong
    parameter name, the AMI type choices lack the C(AL2023_*) types, and changes to fields EKS
    cannot update in place are ignored silently. See docs/eks.md.
  - Fields EKS cannot change in place (node role, subnets, instance types, AMI type, capacity
    type, disk size) fail with a message naming the field instead of being ignored.
  - Every AWS call retries with jittered backoff on throttling.
author:
  - modelops.serving maintainers (@modelops)
options:
  name:
    description: Name of the node group.
    required: true
    type: str
  cluster_name:
    description: Name of the EKS cluster.
    required: true
    type: str
  state:
    description: Whether the node group should exist.
    type: str
    choices: [present, absent]
    default: present
  node_role:
    description: ARN of the IAM role of the nodes. Required to create.
    type: str
  subnets:
    description: IDs of the subnets for the nodes. Required to create.
    type: list
    elements: str
  scaling_config:
    description: Size of the node group.
    type: dict
    default: {min_size: 1, max_size: 2, desired_size: 1}
    suboptions:
      min_size:
        description: Minimum number of nodes.
        type: int
        default: 1
      max_size:
        description: Maximum number of nodes.
        type: int
        default: 2
      desired_size:
        description: Number of nodes to run now.
        type: int
        default: 1
  instance_types:
    description: EC2 instance types of the nodes, for example C(g5.xlarge) for a GPU group.
    type: list
    elements: str
  ami_type:
    description:
      - AMI type, for example C(AL2023_x86_64_STANDARD), C(AL2023_x86_64_NVIDIA), C(AL2_x86_64_GPU),
        C(BOTTLEROCKET_x86_64_NVIDIA). Passed to EKS as is, so new types work without a module update.
    type: str
  capacity_type:
    description: C(ON_DEMAND) or C(SPOT).
    type: str
    choices: [ON_DEMAND, SPOT]
  disk_size:
    description: Root volume size in GiB.
    type: int
  release_version:
    description: AMI release version to create the group with.
    type: str
  max_unavailable:
    description: Nodes that may be unavailable at once while EKS updates the group.
    type: int
  labels:
    description: Kubernetes labels of the nodes. Labels not listed are removed.
    type: dict
    default: {}
  taints:
    description: Kubernetes taints of the nodes. Taints not listed are removed.
    type: list
    elements: dict
    default: []
    suboptions:
      key:
        description: Taint key, for example C(nvidia.com/gpu).
        type: str
        required: true
      value:
        description: Taint value.
        type: str
      effect:
        description: Taint effect; Kubernetes spelling (C(NoSchedule)) or EKS spelling (C(NO_SCHEDULE)).
        type: str
        required: true
        choices: [NO_SCHEDULE, NO_EXECUTE, PREFER_NO_SCHEDULE, NoSchedule, NoExecute, PreferNoSchedule]
  tags:
    description: AWS tags of the node group.
    type: dict
    aliases: [resource_tags]
  purge_tags:
    description: Remove tags not listed in I(tags). Ignored when I(tags) is not set.
    type: bool
    default: true
  wait:
    description: Wait until the node group is C(ACTIVE) (or deleted).
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait.
    type: int
    default: 1800
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
notes:
  - Supports check mode; the result then says what would be created or updated.
"""

EXAMPLES = r"""
- name: GPU node group for model servers
  modelops.serving.eks_nodegroup:
    name: gpu
    cluster_name: serving-prod-1
    node_role: "{{ node_role.iam_role.arn }}"
    subnets: "{{ subnet_ids }}"
    instance_types: [g5.xlarge]
    ami_type: AL2023_x86_64_NVIDIA
    scaling_config: {min_size: 1, max_size: 4, desired_size: 2}
    labels:
      modelops.serving/accelerator: nvidia
    taints:
      - key: nvidia.com/gpu
        value: "true"
        effect: NoSchedule

- name: Remove it
  modelops.serving.eks_nodegroup:
    name: gpu
    cluster_name: serving-prod-1
    state: absent
"""

RETURN = r"""
nodegroup:
  description: The node group as DescribeNodegroup returns it, keys in snake_case (tags and labels as given).
  returned: when the node group exists (or would, in check mode)
  type: dict
  sample: {nodegroup_name: gpu, status: ACTIVE, ami_type: AL2023_x86_64_NVIDIA,
           taints: [{key: nvidia.com/gpu, value: "true", effect: NO_SCHEDULE}]}
updates:
  description: What was (in check mode, would be) done, e.g. C(create), C(config) with the API parameters, C(tags), C(delete).
  returned: always
  type: list
  elements: dict
"""

import time

try:
    import botocore
except ImportError:
    pass  # AnsibleAWSModule reports a missing botocore

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.modelops.serving.plugins.module_utils.eks import nodegroup as ng
from ansible_collections.modelops.serving.plugins.module_utils.eks.token import aws_retry

K8S_EFFECTS = dict(NoSchedule="NO_SCHEDULE", NoExecute="NO_EXECUTE", PreferNoSchedule="PREFER_NO_SCHEDULE")
FAILED_STATES = ("CREATE_FAILED", "DELETE_FAILED", "DEGRADED")


def describe(client, module, cluster, name):
    try:
        return client.describe_nodegroup(clusterName=cluster, nodegroupName=name, aws_retry=True)["nodegroup"]
    except is_boto3_error_code("ResourceNotFoundException"):
        return None
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg="Unable to describe node group %s of cluster %s" % (name, cluster))


def wait_for(client, module, cluster, name, gone):
    deadline = time.monotonic() + module.params["wait_timeout"]
    while True:
        current = describe(client, module, cluster, name)
        if gone and current is None:
            return None
        if current is not None and not gone and current["status"] == "ACTIVE":
            return current
        if current is not None and current["status"] in FAILED_STATES:
            issues = (current.get("health") or {}).get("issues") or []
            module.fail_json(
                msg="Node group %s of cluster %s is %s: %s"
                % (name, cluster, current["status"], "; ".join(i.get("message", "") for i in issues) or "no details"),
                nodegroup=camel_dict_to_snake_dict(current, ignore_list=["tags", "labels"]),
            )
        if time.monotonic() >= deadline:
            module.fail_json(
                msg="Timed out after %ss waiting for node group %s of cluster %s to be %s (last status: %s)"
                % (module.params["wait_timeout"], name, cluster, "deleted" if gone else "ACTIVE",
                   current["status"] if current else "gone")
            )
        time.sleep(10)


def create(client, module, want):
    params = dict(want)
    if not params["tags"]:
        params.pop("tags")
    if module.check_mode:
        return dict(want, status="CREATING")
    try:
        client.create_nodegroup(aws_retry=True, **params)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
        module.fail_json_aws(e, msg="Unable to create node group %s in cluster %s" % (want["nodegroupName"], want["clusterName"]))
    if module.params["wait"]:
        return wait_for(client, module, want["clusterName"], want["nodegroupName"], gone=False)
    return describe(client, module, want["clusterName"], want["nodegroupName"])


def update(client, module, current, want):
    updates = []
    conflicts = ng.immutable_conflicts(current, want)
    if conflicts:
        module.fail_json(
            msg="EKS cannot change these fields of node group %s in place (recreate it, or use a new name): %s"
            % (want["nodegroupName"], "; ".join("%s is %r, wanted %r" % c for c in conflicts)),
            conflicts=[dict(option=c[0], current=c[1], wanted=c[2]) for c in conflicts],
        )
    config = ng.config_update(current, want)
    if config:
        updates.append(dict(action="config", **config))
        if not module.check_mode:
            try:
                client.update_nodegroup_config(
                    clusterName=want["clusterName"], nodegroupName=want["nodegroupName"], aws_retry=True, **config
                )
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
                module.fail_json_aws(e, msg="Unable to update node group %s" % want["nodegroupName"])
    if module.params["tags"] is not None:
        updates.extend(update_tags(client, module, current, want))
    if updates and not module.check_mode and module.params["wait"]:
        return updates, wait_for(client, module, want["clusterName"], want["nodegroupName"], gone=False)
    if updates and not module.check_mode:
        return updates, describe(client, module, want["clusterName"], want["nodegroupName"])
    return updates, current


def update_tags(client, module, current, want):
    to_set, to_remove = ng.tag_update(current.get("tags"), want["tags"], module.params["purge_tags"])
    if not (to_set or to_remove):
        return []
    if not module.check_mode:
        try:
            if to_remove:
                client.untag_resource(resourceArn=current["nodegroupArn"], tagKeys=to_remove, aws_retry=True)
            if to_set:
                client.tag_resource(resourceArn=current["nodegroupArn"], tags=to_set, aws_retry=True)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            module.fail_json_aws(e, msg="Unable to tag node group %s" % want["nodegroupName"])
    return [dict(action="tags", set=to_set, remove=to_remove)]


def delete(client, module, cluster, name):
    current = describe(client, module, cluster, name)
    if current is None:
        return False, []
    if current["status"] != "DELETING" and not module.check_mode:
        try:
            client.delete_nodegroup(clusterName=cluster, nodegroupName=name, aws_retry=True)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            module.fail_json_aws(e, msg="Unable to delete node group %s of cluster %s" % (name, cluster))
    if module.params["wait"] and not module.check_mode:
        wait_for(client, module, cluster, name, gone=True)
    return True, [dict(action="delete")]


def module_params_for_api(params):
    out = dict(params)
    out["taints"] = [dict(t, effect=K8S_EFFECTS.get(t["effect"], t["effect"])) for t in params["taints"] or []]
    return out


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            cluster_name=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            node_role=dict(type="str"),
            subnets=dict(type="list", elements="str"),
            scaling_config=dict(
                type="dict",
                default=dict(min_size=1, max_size=2, desired_size=1),
                options=dict(
                    min_size=dict(type="int", default=1),
                    max_size=dict(type="int", default=2),
                    desired_size=dict(type="int", default=1),
                ),
            ),
            instance_types=dict(type="list", elements="str"),
            ami_type=dict(type="str"),
            capacity_type=dict(type="str", choices=["ON_DEMAND", "SPOT"]),
            disk_size=dict(type="int"),
            release_version=dict(type="str"),
            max_unavailable=dict(type="int"),
            labels=dict(type="dict", default={}),
            taints=dict(
                type="list",
                elements="dict",
                default=[],
                options=dict(
                    key=dict(type="str", required=True, no_log=False),
                    value=dict(type="str"),
                    effect=dict(type="str", required=True, choices=["NO_SCHEDULE", "NO_EXECUTE", "PREFER_NO_SCHEDULE"] + list(K8S_EFFECTS)),
                ),
            ),
            tags=dict(type="dict", aliases=["resource_tags"]),
            purge_tags=dict(type="bool", default=True),
            wait=dict(type="bool", default=True),
            wait_timeout=dict(type="int", default=1800),
        ),
        required_if=[("state", "present", ("node_role", "subnets"))],
        supports_check_mode=True,
    )
    client = module.client("eks", retry_decorator=aws_retry())
    cluster, name = module.params["cluster_name"], module.params["name"]

    if module.params["state"] == "absent":
        changed, updates = delete(client, module, cluster, name)
        module.exit_json(changed=changed, updates=updates)

    want = ng.desired(module_params_for_api(module.params))
    current = describe(client, module, cluster, name)
    if current is None:
        result, updates = create(client, module, want), [dict(action="create")]
    else:
        updates, result = update(client, module, current, want)
    module.exit_json(
        changed=bool(updates),
        updates=updates,
        nodegroup=camel_dict_to_snake_dict(result or {}, ignore_list=["tags", "labels"]),
    )


if __name__ == "__main__":
    main()
