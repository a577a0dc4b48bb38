# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  eks:
    description:
      - Connect to an EKS cluster by name instead of a kubeconfig. The module describes the cluster and signs
        its own bearer token with boto3 (as C(aws eks get-token) does; no aws CLI needed), and signs a new one
        before the old expires, so waits longer than the 15 minute token lifetime keep working.
      - AWS credentials come from these options, or the usual C(AWS_*) environment variables, profiles and
        instance roles.
    type: dict
    suboptions:
      cluster_name:
        description: Name of the EKS cluster.
        type: str
        required: true
      region:
        description: AWS region of the cluster.
        type: str
        aliases: [aws_region]
      profile:
        description: AWS profile to use.
        type: str
        aliases: [aws_profile]
      access_key:
        description: AWS access key id.
        type: str
        aliases: [aws_access_key_id]
      secret_key:
        description: AWS secret access key.
        type: str
        aliases: [aws_secret_access_key]
      session_token:
        description: AWS session token.
        type: str
        aliases: [aws_session_token]
      endpoint_url:
        description: Alternative AWS API endpoint (for example a local emulator).
        type: str
        aliases: [aws_endpoint_url]
      assume_role_arn:
        description: Assume this IAM role before describing the cluster and signing tokens.
        type: str
      role_session_name:
        description: Session name for O(eks.assume_role_arn).
        type: str
        default: modelops-serving
"""
