# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The AWS suboptions (region ... role_session_name) are those of module_utils/eks/aws.py AWS_OPTIONS.
    # Doc fragments cannot share nested suboptions, so gates.py documents gates.cloudwatch with the same
    # text; tests/unit/plugins/module_utils/rollout/test_settings.py keeps the two identical.
    DOCUMENTATION = r"""
options:
  eks:
    description:
      - Connect to an EKS cluster by name instead of a kubeconfig. The module describes the cluster and signs
        its own bearer token with boto3 (as C(aws eks get-token) does; no aws CLI needed), and signs a new one
        before the old expires, so waits longer than the 15 minute token lifetime keep working.
      - When the cluster answers a request with 401 Unauthorized although the token should still be valid (the
        server's clock or token lifetime is not the module's), the module signs a fresh token and sends that
        request once more, as kubectl's exec credential plugins do. A fresh token refused too ends the run with
        C(reason=api_error), naming the likely causes (credentials, cluster name, access entry); it is never
        retried in a loop.
      - AWS credentials come from these options, or the usual C(AWS_*) environment variables, profiles and
        instance roles; the CloudWatch gate of model_rollout takes the same options and retries the same way.
    type: dict
    suboptions:
      cluster_name:
        description: Name of the EKS cluster.
        type: str
        required: true
      region:
        description: AWS region. Defaults to C(AWS_REGION) or C(AWS_DEFAULT_REGION).
        type: str
        aliases: [aws_region]
      profile:
        description: Named profile of the AWS shared configuration. Defaults to C(AWS_PROFILE).
        type: str
        aliases: [aws_profile]
      access_key:
        description:
          - AWS access key ID. Not logged (C(no_log)), like the secret key and the session token.
          - Without keys or a profile, boto3 finds credentials as usual (C(AWS_ACCESS_KEY_ID) and friends, shared
            files, instance or pod roles).
        type: str
        aliases: [aws_access_key_id]
      secret_key:
        description: AWS secret access key.
        type: str
        aliases: [aws_secret_access_key]
      session_token:
        description: AWS session token for temporary credentials.
        type: str
        aliases: [aws_session_token]
      endpoint_url:
        description:
          - AWS API endpoint, for a private endpoint or a local emulator. Defaults to C(AWS_URL) or C(AWS_ENDPOINT_URL).
        type: str
        aliases: [aws_endpoint_url]
      assume_role_arn:
        description: Assume this IAM role (STS AssumeRole) before any other call.
        type: str
      role_session_name:
        description: Session name for the assumed role.
        type: str
        default: modelops-serving
"""
