#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: model_rollout_info
short_description: Rollout state and revision history of model server Deployments
version_added: 0.1.0
description:
  - For one Deployment, or all Deployments matching a label selector, reports the current verdict by
    C(kubectl rollout status) rules, the images, whether a rollout lock is held and by whom, what the last
    change recorded for rollback, and the revision history (ReplicaSets with revision, images, creation
    time and replicas).
  - Reads only; safe in check mode.
author:
  - modelops.serving maintainers (@modelops)
options:
  name:
    description: Name of one Deployment. Omit to list by O(label_selectors).
    type: str
  namespace:
    description: Namespace to look in.
    type: str
    default: default
  label_selectors:
    description: Label selectors (ANDed), such as C(app.kubernetes.io/part-of=llm), when O(name) is not given.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - modelops.serving.eks_connection
requirements:
  - kubernetes >= 24.2.0
  - PyYAML >= 3.11
"""

EXAMPLES = r"""
- name: Where is the LLM server, and what could it roll back to?
  modelops.serving.model_rollout_info:
    name: llm
    namespace: serving
  register: info

- name: Every model server of a team
  modelops.serving.model_rollout_info:
    namespace: serving
    label_selectors:
      - team=search
"""

RETURN = r"""
deployments:
  description: One entry per Deployment, sorted by name.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Deployment name.
      type: str
    namespace:
      description: Deployment namespace.
      type: str
    image:
      description: Image of the first container.
      type: str
    images:
      description: Image per container name.
      type: dict
    revision:
      description: Current revision (C(deployment.kubernetes.io/revision)).
      type: str
    complete:
      description: Whether the rollout is complete by C(kubectl rollout status) rules.
      type: bool
    verdict:
      description: C(complete), C(in_progress), C(failed) (progress deadline exceeded) or C(paused).
      type: str
    reason:
      description: Reason word of the verdict, such as C(updating) or C(progress_deadline_exceeded).
      type: str
    message:
      description: kubectl's wording of the state.
      type: str
    replicas:
      description: Desired, updated, ready, available and unavailable counts.
      type: dict
    strategy:
      description: Strategy type, maxSurge, maxUnavailable, minReadySeconds, progressDeadlineSeconds, paused.
      type: dict
    lock:
      description: The rollout Lease holder and renew time, or null when no rollout holds the lock.
      type: dict
    recorded_previous:
      description: Revision and image the last model_rollout change recorded for rollback, or null.
      type: dict
    history:
      description: ReplicaSets owned by the Deployment, oldest revision first.
      type: list
      elements: dict
      sample: [{"revision": "1", "replicaset": "llm-5d9", "images": {"server": "repo/llm:v1"},
                "created": "2026-11-25T09:00:00Z", "replicas": 0, "ready": 0, "change_cause": null}]
"""

import copy

from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule
from ansible_collections.modelops.serving.plugins.module_utils.rollout.info import describe_deployments
from ansible_collections.modelops.serving.plugins.module_utils.rollout.connect import ConnectError, host_of, kube_api
from ansible_collections.modelops.serving.plugins.module_utils.eks.client import EKS_ARG_SPEC
from ansible_collections.modelops.serving.plugins.module_utils.rollout.kube import KubeError, explain
from ansible_collections.modelops.serving.plugins.module_utils.rollout.settings import MUTUALLY_EXCLUSIVE


def main():
    spec = copy.deepcopy(AUTH_ARG_SPEC)
    spec.update(
        name=dict(type="str"),
        namespace=dict(type="str", default="default"),
        label_selectors=dict(type="list", elements="str", default=[]),
        eks=dict(type="dict", options=copy.deepcopy(EKS_ARG_SPEC)),
    )
    module = AnsibleK8SModule(argument_spec=spec, supports_check_mode=True, mutually_exclusive=MUTUALLY_EXCLUSIVE)
    api = None
    try:
        api = kube_api(module)
        deployments = describe_deployments(api, module.params["namespace"], module.params.get("name"),
                                           module.params.get("label_selectors"))
    except ConnectError as exc:
        module.fail_json(msg=str(exc))
    except KubeError as exc:
        module.fail_json(msg=explain(exc, host_of(module, api)))
    module.exit_json(changed=False, deployments=deployments)


if __name__ == "__main__":
    main()
