# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A Kubernetes client for an EKS cluster whose token renews itself during long waits.

EKS bearer tokens live 15 minutes; a GPU rollout with a slow model load can
take longer. The client's configuration gets a refresh hook: every request
(each list, and each watch as it reconnects) asks for the token, and the hook
signs a new one shortly before the old one expires. An open watch stream is
not cut when its token expires; EKS checks the token when a request starts.

That schedule is the client's guess of the server's lifetime. When the server
refuses a token before then (401: a clock ahead of ours, a shorter lifetime,
a revoked session), the request that got the 401 has a fresh token signed and
is sent once more, as client-go's exec credential plugins do; a second 401
for the same request is the answer (``KubeApi.call``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import atexit
import base64
import copy
import datetime
import os
import tempfile
import threading

from ansible_collections.modelops.serving.plugins.module_utils.eks import aws
from ansible_collections.modelops.serving.plugins.module_utils.eks import token as eks_token

# Sign a new token this long before the old one expires.
REFRESH_MARGIN = datetime.timedelta(seconds=120)

# model_rollout's ``eks`` option: the cluster, and the AWS connection every AWS call shares.
EKS_ARG_SPEC = dict(cluster_name=dict(type="str", required=True), **copy.deepcopy(aws.AWS_OPTIONS))


def _utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


class TokenRenewer:
    """Keeps ``configuration.api_key`` fresh; safe to call from several watch threads."""

    def __init__(self, eks_args, token, expires_at, sign=None, now=None):
        self.token = token
        self.expires_at = expires_at
        self.sign = sign or (lambda: eks_token.get_token(eks_args, eks_args["cluster_name"]))
        self.now = now or _utcnow
        self.renewals = 0
        # Renewals because the server refused a token (401), a subset of ``renewals``.
        self.resigned = 0
        self._lock = threading.Lock()

    def __call__(self, configuration):
        with self._lock:
            if self.now() >= self.expires_at - REFRESH_MARGIN:
                self._sign()
            configuration.api_key["authorization"] = self.token

    def _sign(self):
        self.token, self.expires_at = self.sign()
        self.renewals += 1

    def refused(self, sent):
        """The server answered 401 to a request that carried ``sent`` ("Bearer <token>"): sign anew.

        Returns whether sending the request again can help: a new token was signed now, or another
        request had already replaced the refused one. Requests refused together sign once.
        """
        if not sent:
            return False
        with self._lock:
            # The header as the client builds it from api_key_prefix and api_key (eks_api_client).
            if sent == "Bearer " + self.token:
                self._sign()
                self.resigned += 1
            return True


def _remove(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def eks_api_client(eks_args):
    """(ApiClient, TokenRenewer) for the EKS cluster named in ``eks_args``."""
    import kubernetes

    conn = eks_token.cluster_connection(eks_args, eks_args["cluster_name"])
    configuration = kubernetes.client.Configuration()
    configuration.host = conn["host"]
    if conn.get("ca_data"):
        handle, path = tempfile.mkstemp(prefix="eks-ca-", suffix=".crt")
        with os.fdopen(handle, "wb") as f:
            f.write(base64.b64decode(conn["ca_data"]))
        # Read by every new TLS connection (the API client's and the gates' port-forwards) until the
        # module exits; then it goes, so runs do not pile CA files up on a controller or execution node.
        atexit.register(_remove, path)
        configuration.ssl_ca_cert = path
    configuration.api_key = {"authorization": conn["token"]}
    configuration.api_key_prefix = {"authorization": "Bearer"}
    renewer = TokenRenewer(eks_args, conn["token"], conn["expires_at"])
    configuration.refresh_api_key_hook = renewer
    return kubernetes.client.ApiClient(configuration), renewer
