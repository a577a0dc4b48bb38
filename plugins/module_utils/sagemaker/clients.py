# -*- coding: utf-8 -*-
# Copyright (c) modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The SageMaker modules' AWS clients, built through eks/aws.py so a bad connection is an error.

amazon.aws's ``AnsibleAWSModule.client()`` ends the module itself (``fail_json``) when a profile
is missing or no credentials are found, which would skip our result contract. Building the
session here raises ``aws.AwsError`` instead, which the modules turn into their own result.
Calls keep amazon.aws's ``aws_retry=True`` form through its retrying wrapper.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper

from ansible_collections.modelops.serving.plugins.module_utils.eks import aws

AwsError = aws.AwsError


def clients(params, *services):
    """One retrying client per service, from a module's top-level AWS options; raises AwsError."""
    sess, kwargs = aws.session(params)
    policy = aws.retry()
    return [RetryingBotoClientWrapper(sess.client(service, region_name=sess.region_name, **kwargs), policy)
            for service in services]
