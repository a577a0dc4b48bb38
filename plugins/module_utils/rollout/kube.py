# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Thin JSON access to the Kubernetes API on top of kubernetes.core's client.

The client (auth options, K8S_AUTH_* variables, kubeconfig, in-cluster) comes
from kubernetes.core; this module only speaks raw JSON through it, so the
rollout logic works on plain dicts shaped exactly like the API's objects and
pays no model (de)serialisation per watch event.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

from urllib.parse import quote, urlencode

try:
    import urllib3

    CONNECTION_ERRORS = (urllib3.exceptions.HTTPError, OSError)
except ImportError:  # the kubernetes client brings urllib3; its absence is reported by requires()
    urllib3 = None
    CONNECTION_ERRORS = (OSError,)


class KubeError(Exception):
    """An API call failed; ``status`` is the HTTP status (0 when the server was not reached)."""

    def __init__(self, message, status=0, reason=None, body=None):
        super(KubeError, self).__init__(message)
        self.status = status
        self.reason = reason
        self.body = body
        # A 401 that came back also for a freshly signed EKS token (KubeApi.call).
        self.resigned = False

    @property
    def not_found(self):
        return self.status == 404

    @property
    def conflict(self):
        return self.status == 409

    @property
    def gone(self):
        return self.status == 410


def _body_message(data, reason):
    """The apiserver's own message from a Status body, else the HTTP reason."""
    try:
        return json.loads(data).get("message") or reason
    except (TypeError, ValueError, AttributeError):
        return reason or "HTTP error"


def explain(error, host):
    """One sentence a user can act on, for errors that are about access, not about the object."""
    if error.status == 0:
        return "cannot reach the Kubernetes API at %s: %s" % (host, error)
    if error.status == 401 and getattr(error, "resigned", False):
        return ("the Kubernetes API at %s rejected the EKS token (401 Unauthorized), also a freshly signed one: "
                "check that the AWS credentials (access key and secret key) are right, that cluster_name names "
                "this cluster, and that the IAM principal has an access entry (or aws-auth mapping) on it (%s)"
                % (host, error))
    if error.status == 401:
        return "the Kubernetes API at %s rejected the credentials (401 Unauthorized): check the token, " \
               "client certificate or kubeconfig user" % host
    if error.status == 403:
        terminating = namespace_terminating(str(error))
        if terminating:
            return ("namespace %s is being deleted (it is terminating): the API creates nothing in it any more, "
                    "whatever the permissions (%s). Run against a namespace that is not being deleted, or wait until "
                    "it is gone and create it again" % (terminating, error))
        return "not allowed (403 Forbidden): %s. See docs/rbac.md for the minimal Role model_rollout needs" % error
    return str(error)


_TERMINATING = re.compile(r"unable to create new content in namespace (\S+) because it is being terminated")


def namespace_terminating(message):
    """The namespace named by the API's refusal to create in a terminating namespace, or None."""
    match = _TERMINATING.search(message or "")
    return match.group(1) if match else None


class KubeApi:
    """JSON over a kubernetes.client.ApiClient (as built by kubernetes.core)."""

    def __init__(self, api_client, field_manager="modelops.serving"):
        self.api_client = api_client
        self.field_manager = field_manager
        self.requests = 0
        # An EKS TokenRenewer (eks/client.py) when the client signs its own tokens, else None.
        self.token_renewer = None

    @property
    def host(self):
        return self.api_client.configuration.host

    # -- raw calls ---------------------------------------------------------------------------
    def _headers(self, content_type):
        """Auth and default headers, the way the configured client would send them."""
        headers = dict(getattr(self.api_client, "default_headers", {}) or {})
        headers["Accept"] = "application/json"
        headers["Content-Type"] = content_type
        config = self.api_client.configuration
        # The client's own auth settings call the refresh hook of kubeconfig exec plugins and
        # expiring tokens, and know which key this client release keeps the token under (kubeconfig
        # and in-cluster tokens moved from "authorization" to "BearerToken" in newer releases).
        token = ((config.auth_settings() or {}).get("BearerToken") or {}).get("value")
        if token:
            headers["Authorization"] = token
        elif getattr(config, "username", None) and getattr(config, "password", None):
            headers["Authorization"] = config.get_basic_auth_token()
        return headers

    def call(self, method, path, query=None, body=None, content_type="application/json", timeout=30, stream=False):
        """One HTTP request through the client's connection pool (TLS, proxy and certificates as configured).

        The generated API methods changed shape across kubernetes client releases; the pool and the
        configuration did not, so the collection works with any supported client version.
        """
        self.requests += 1
        url = self.host + path
        if query:
            url += "?" + urlencode(list(query.items()))
        payload = None
        if body is not None:
            payload = json.dumps(body).encode("utf-8")
        if isinstance(timeout, tuple):
            timeout = urllib3.Timeout(connect=timeout[0], read=timeout[1])
        else:
            timeout = urllib3.Timeout(connect=min(timeout, 10), read=timeout)
        resp, sent = self._send(method, url, payload, content_type, timeout)
        resigned = resp.status == 401 and self._resign_after_401(sent)
        if resigned:
            # Read the refusal out first: a connection given back with its body unread breaks the next request on it.
            resp.data  # noqa: B018 pylint: disable=pointless-statement
            resp.release_conn()
            resp, sent = self._send(method, url, payload, content_type, timeout)
        if not 200 <= resp.status <= 299:
            data = resp.data
            resp.release_conn()
            error = KubeError(_body_message(data, resp.reason), status=resp.status, reason=resp.reason, body=data)
            error.resigned = resigned
            raise error
        if stream:
            return resp
        try:
            data = resp.data
        except CONNECTION_ERRORS as exc:
            raise KubeError(str(exc) or exc.__class__.__name__)
        finally:
            resp.release_conn()
        return json.loads(data) if data else {}

    def _send(self, method, url, payload, content_type, timeout):
        """(response, the Authorization header it carried)."""
        headers = self._headers(content_type)
        try:
            resp = self.api_client.rest_client.pool_manager.request(
                method, url, body=payload, headers=headers, timeout=timeout, preload_content=False, retries=False)
        except CONNECTION_ERRORS as exc:
            raise KubeError(str(exc) or exc.__class__.__name__)
        return resp, headers.get("Authorization")

    def _resign_after_401(self, sent):
        """Whether a request refused with 401 goes once more: only with a freshly signed EKS token.

        A token of our own signing can be refused before the time we expected (the server's clock or
        lifetime is not ours); any other credential would be refused again, so it is not retried.
        """
        if self.token_renewer is None:
            return False
        try:
            return self.token_renewer.refused(sent)
        except Exception as exc:  # signing asks AWS; when that fails the 401 stands, and says why
            error = KubeError("no new token could be signed: %s" % exc, status=401, reason="Unauthorized")
            error.resigned = True
            raise error

    def get(self, path, query=None):
        return self.call("GET", path, query=query)

    def patch(self, path, body, patch_type="strategic", dry_run=False, query=None):
        types = {
            "strategic": "application/strategic-merge-patch+json",
            "merge": "application/merge-patch+json",
            "json": "application/json-patch+json",
            "apply": "application/apply-patch+yaml",
        }
        q = {"fieldManager": self.field_manager}
        if dry_run:
            q["dryRun"] = "All"
        q.update(query or {})
        return self.call("PATCH", path, query=q, body=body, content_type=types[patch_type])

    def create(self, path, body, dry_run=False):
        q = {"fieldManager": self.field_manager}
        if dry_run:
            q["dryRun"] = "All"
        return self.call("POST", path, query=q, body=body)

    def put(self, path, body):
        return self.call("PUT", path, query={"fieldManager": self.field_manager}, body=body)

    def delete(self, path, preconditions=None):
        body = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if preconditions:
            body["preconditions"] = preconditions
        return self.call("DELETE", path, body=body)

    def watch(self, path, query, timeout_seconds=300):
        """Yield watch events (dicts with type and object) until the server ends the watch."""
        q = dict(query)
        q.update({"watch": "true", "allowWatchBookmarks": "true", "timeoutSeconds": str(timeout_seconds)})
        resp = self.call("GET", path, query=q, timeout=(10, timeout_seconds + 30), stream=True)
        try:
            buf = b""
            for chunk in resp.stream(4096, decode_content=True):
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip():
                        yield json.loads(line)
        except CONNECTION_ERRORS as exc:
            raise KubeError("watch of %s broke: %s" % (path, exc))
        finally:
            resp.release_conn()

    # -- paths -------------------------------------------------------------------------------
    @staticmethod
    def path(group_version, plural, namespace=None, name=None, sub=None):
        base = "/api/v1" if group_version == "v1" else "/apis/" + group_version
        parts = [base]
        if namespace:
            parts += ["namespaces", quote(namespace, safe="")]
        parts.append(plural)
        if name:
            parts.append(quote(name, safe=""))
        if sub:
            parts.append(sub)
        return "/".join(parts)

    def deployment_path(self, namespace, name=None):
        return self.path("apps/v1", "deployments", namespace, name)


def label_selector(match_labels, match_expressions=None):
    """A Deployment's selector as the string the list API takes."""
    parts = ["%s=%s" % (k, v) for k, v in sorted((match_labels or {}).items())]
    for expr in match_expressions or []:
        op = expr.get("operator")
        values = ",".join(expr.get("values") or [])
        if op == "In":
            parts.append("%s in (%s)" % (expr["key"], values))
        elif op == "NotIn":
            parts.append("%s notin (%s)" % (expr["key"], values))
        elif op == "Exists":
            parts.append(expr["key"])
        elif op == "DoesNotExist":
            parts.append("!" + expr["key"])
    return ",".join(parts)


def query_string(params):
    return urlencode(sorted(params.items()))
