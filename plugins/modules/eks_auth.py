#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: eks_auth
short_description: Endpoint, CA data and a bearer token for an EKS cluster, without the aws CLI
version_added: 0.1.0
description:
  - Describes an EKS cluster and builds a short-lived bearer token for its Kubernetes API the way
    C(aws eks get-token) does - a presigned STS C(GetCallerIdentity) URL whose signature covers
    the C(x-k8s-aws-id) header naming the cluster, base64url-encoded and prefixed C(k8s-aws-v1.).
  - Uses boto3 only; neither the aws CLI nor aws-iam-authenticator is needed.
  - The token is valid for 15 minutes from signing; I(expires_at) says when to fetch a new one.
    C(modelops.serving.model_rollout) refreshes tokens itself during long waits through
    the same code (C(plugins/module_utils/eks/token.py)).
  - The successful result of this module is marked C(no_log) by its action plugin, so Ansible
    censors it in every output, C(-vvv) included, while the registered variable keeps the real
    values. Error results stay readable; they never contain the token.
    Tasks that pass the token on should use C(no_log) options (as C(api_key) of kubernetes.core
    is) or set C(no_log) on the task.
  - Optionally writes a kubeconfig with a token user, created with mode C(0600).
author:
  - modelops.serving maintainers (@modelops)
options:
  name:
    description: Name of the EKS cluster.
    required: true
    type: str
    aliases: [cluster_name]
  assume_role_arn:
    description:
      - ARN of an IAM role to assume (STS AssumeRole) with the given credentials before
        describing the cluster and signing the token; the token then authenticates as that role.
    type: str
  role_session_name:
    description: Session name for I(assume_role_arn).
    type: str
    default: modelops-serving-eks
  kubeconfig:
    description:
      - Path of a kubeconfig file to write with the cluster, a context and a token user.
      - The file is replaced atomically and created with mode C(0600).
      - Writing only a fresher token is not reported as a change.
    type: path
  context_name:
    description: Name of the cluster, context and user entries in I(kubeconfig). Defaults to the cluster ARN.
    type: str
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
notes:
  - Needs C(eks:DescribeCluster) on the cluster. The token carries the caller's identity, which
    the cluster must map to Kubernetes permissions (EKS access entries or C(aws-auth)); see
    docs/eks.md for the policies and docs/rbac.md for the Kubernetes Roles to bind.
  - Supports check mode; the kubeconfig is not written in check mode.
"""

EXAMPLES = r"""
- name: Connect to the canary cluster
  modelops.serving.eks_auth:
    name: serving-canary
    region: eu-west-1
  register: eks

- name: Use the token (the k8s module keeps api_key out of logs)
  kubernetes.core.k8s_info:
    host: "{{ eks.endpoint }}"
    api_key: "{{ eks.token }}"
    ca_cert: "{{ ca_file }}"
    kind: Deployment
    namespace: serving

- name: Write a kubeconfig for kubectl, as an assumed deployer role
  modelops.serving.eks_auth:
    name: serving-prod-1
    region: us-east-1
    assume_role_arn: arn:aws:iam::123456789012:role/model-deployer
    kubeconfig: "{{ playbook_dir }}/.kube/serving-prod-1"
"""

RETURN = r"""
endpoint:
  description: HTTPS URL of the cluster's Kubernetes API.
  returned: success
  type: str
  sample: https://0123456789ABCDEF.gr7.us-east-1.eks.amazonaws.com
ca_data:
  description: Base64-encoded PEM CA bundle of the cluster, as in kubeconfig C(certificate-authority-data).
  returned: success
  type: str
token:
  description:
    - Bearer token for the Kubernetes API (C(k8s-aws-v1.) + base64url of a presigned STS URL).
    - A credential. The module result is censored in output; keep it out of logs downstream.
  returned: success
  type: str
expires_at:
  description: When to stop using the token (UTC, ISO 8601); 14 minutes after signing, as the CLI reports.
  returned: success
  type: str
  sample: "2025-11-25T10:14:00+00:00"
cluster:
  description: The cluster described.
  returned: success
  type: dict
  contains:
    name:
      description: Cluster name.
      type: str
      returned: success
    arn:
      description: Cluster ARN.
      type: str
      returned: success
    version:
      description: Kubernetes version.
      type: str
      returned: success
      sample: "1.31"
    status:
      description: Cluster status.
      type: str
      returned: success
      sample: ACTIVE
    tags:
      description: Cluster tags.
      type: dict
      returned: success
kubeconfig:
  description: Path of the kubeconfig written, when I(kubeconfig) was set.
  returned: when I(kubeconfig) is set
  type: str
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.modelops.serving.plugins.module_utils.eks import kubeconfig as kubeconfig_file
from ansible_collections.modelops.serving.plugins.module_utils.eks.token import EksAuthError
from ansible_collections.modelops.serving.plugins.module_utils.eks.token import cluster_connection
from ansible_collections.modelops.serving.plugins.module_utils.eks.token import kubeconfig


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            name=dict(type="str", required=True, aliases=["cluster_name"]),
            assume_role_arn=dict(type="str"),
            role_session_name=dict(type="str", default="modelops-serving-eks"),
            kubeconfig=dict(type="path"),
            context_name=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    try:
        conn = cluster_connection(module.params, module.params["name"])
    except EksAuthError as e:
        module.fail_json(msg=e.message)

    result = dict(
        changed=False,
        endpoint=conn["host"],
        ca_data=conn["ca_data"],
        token=conn["token"],
        expires_at=conn["expires_at"].isoformat(),
        cluster=conn["cluster"],
    )
    path = module.params["kubeconfig"]
    if path:
        config = kubeconfig(conn, module.params["context_name"])
        result["changed"] = kubeconfig_file.needs_change(path, config)
        if not module.check_mode:
            try:
                kubeconfig_file.write(path, config)
            except (IOError, OSError) as e:
                module.fail_json(msg="Unable to write kubeconfig %s: %s" % (path, e))
        result["kubeconfig"] = path
    module.exit_json(**result)


if __name__ == "__main__":
    main()
