# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place the rollout modules get their Kubernetes client from.

Either kubernetes.core's client (auth options, K8S_AUTH_* variables,
kubeconfig, in-cluster), or, with the ``eks`` option, an EKS client that signs
its own tokens with boto3 and renews them during long waits.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.exceptions import CoreException
from ansible_collections.modelops.serving.plugins.module_utils.rollout.errors import InputError
from ansible_collections.modelops.serving.plugins.module_utils.rollout.kube import (
    CONNECTION_ERRORS,
    KubeApi,
    KubeError,
)


class ConnectError(InputError):
    """No client could be built; the message says why and what to set."""


def kube_api(module):
    """KubeApi for the module's connection options."""
    eks = module.params.get("eks")
    if eks:
        from ansible_collections.modelops.serving.plugins.module_utils.eks.client import eks_api_client
        from ansible_collections.modelops.serving.plugins.module_utils.eks.token import EksAuthError

        try:
            api_client, renewer = eks_api_client(eks)
        except EksAuthError as exc:
            raise ConnectError(str(exc))
        api = KubeApi(api_client)
        api.token_renewer = renewer
        return api
    try:
        client = get_api_client(module=module)
    except CoreException as exc:
        raise ConnectError("cannot build a Kubernetes client: %s" % exc)
    except CONNECTION_ERRORS as exc:
        raise KubeError(str(getattr(exc, "reason", None) or exc))
    return KubeApi(client.client.client)


def host_of(module, api=None):
    if api is not None:
        return api.host
    eks = module.params.get("eks") or {}
    return module.params.get("host") or eks.get("cluster_name") or "(the configured cluster)"
