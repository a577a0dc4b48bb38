"""An EKS token webhook on loopback: kube-apiserver asks it who a bearer token belongs to.

``python -m testground.eks_authenticator --port P --cert C --key K --config FILE`` serves HTTPS on
127.0.0.1:P. kube-apiserver is started with ``--authentication-token-webhook-config-file`` pointing
here (``Cluster(eks=...)``) and sends every bearer token it cannot place otherwise as a TokenReview
(authentication.k8s.io/v1) to ``POST /authenticate``.

A token is accepted only as EKS accepts one (aws-iam-authenticator's rules): ``k8s-aws-v1.`` and the
base64url of a presigned STS ``GetCallerIdentity`` GET (``Action``/``Version`` and the SigV4 query
parameters, nothing else) for the STS endpoint in use; ``host`` and ``x-k8s-aws-id`` among the
signed headers; a SigV4 signature that is right for a known access key's secret with the header
``x-k8s-aws-id`` set to *this* cluster's name (the authenticator sets it itself when it sends the
request on, so a token signed for another cluster fails the signature); an ``X-Amz-Date`` no further
in the future than the clock skew and no older than the token lifetime (EKS: 15 minutes, whatever
``X-Amz-Expires`` says; configurable down to seconds here). STS itself would check the signature;
moto does not check presigned URLs (docs/eks.md), so the check is made here, with the independent
SigV4 implementation of ``testground/sigv4.py``.

An accepted token maps to a user as an EKS access entry does: the username is the IAM principal's
ARN, the groups are the access entry's Kubernetes groups (``access_entries`` in the config; the
test ground binds them with RBAC, see docs/testing.md). A rejected token gets ``authenticated:
false`` and the reason; the apiserver answers the request 401.

Every review is written down per token (a digest of it, never the token): ``GET /reviews`` returns
``{"tokens": {digest: {accepted, rejected, reasons, signed_at}}, "reviews": [...]}``, so a test can
prove that tokens were renewed and that expired ones were refused. ``POST /settings`` changes
``lifetime_seconds`` / ``skew_seconds`` at run time, ``POST /reset`` empties the record.
"""

import argparse
import base64
import datetime
import hashlib
import json
import threading
import time
from urllib.parse import parse_qsl, urlsplit

from testground import sigv4
from testground.webhook import JsonHandler, serve_tls

TOKEN_PREFIX = "k8s-aws-v1."
CLUSTER_ID_HEADER = "x-k8s-aws-id"
# What aws-iam-authenticator allows: 15 minutes after X-Amz-Date, and 5 minutes of clock skew.
EKS_LIFETIME_SECONDS = 15 * 60
EKS_SKEW_SECONDS = 5 * 60
STS_ACTION = "GetCallerIdentity"
STS_VERSION = "2011-06-15"
SIGV4_PARAMS = {"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders",
                "X-Amz-Signature", "X-Amz-Security-Token"}
ALLOWED_PARAMS = SIGV4_PARAMS | {"Action", "Version"}
REQUIRED_PARAMS = ALLOWED_PARAMS - {"X-Amz-Security-Token"}
# The Kubernetes group of an access entry with AmazonEKSClusterAdminPolicy, as the test ground binds it.
ADMIN_GROUP = "modelops:cluster-admins"


class Rejected(Exception):
    """The token is not a valid, unexpired EKS token for this cluster; the message says why."""


def token_digest(token):
    """How the record names a token: never the token itself, which is a credential."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()[:16]


def decode(token):
    """The presigned URL inside an EKS token."""
    if not token.startswith(TOKEN_PREFIX):
        raise Rejected("not an EKS token (no %s prefix)" % TOKEN_PREFIX)
    body = token[len(TOKEN_PREFIX):]
    try:
        return base64.b64decode(body + "=" * (-len(body) % 4), altchars=b"-_", validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        raise Rejected("the token is not base64url of a URL")


def _query(url, sts_endpoint):
    parts = urlsplit(url)
    want = urlsplit(sts_endpoint)
    if (parts.scheme, parts.netloc) != (want.scheme, want.netloc) or parts.path not in ("", "/") or parts.fragment:
        raise Rejected("the presigned request is not for the STS endpoint in use (%s://%s/)" % (want.scheme, want.netloc))
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    names = [pair[0] for pair in pairs]
    if len(set(names)) != len(names):
        raise Rejected("a query parameter of the presigned request is repeated")
    unknown = sorted(set(names) - ALLOWED_PARAMS)
    if unknown:
        raise Rejected("the presigned request has parameters STS GetCallerIdentity tokens never carry: %s"
                       % ", ".join(unknown))
    missing = sorted(REQUIRED_PARAMS - set(names))
    if missing:
        raise Rejected("the presigned request lacks %s" % ", ".join(missing))
    query = dict(pairs)
    if (query["Action"], query["Version"]) != (STS_ACTION, STS_VERSION):
        raise Rejected("the presigned request is %s (version %s), not %s %s"
                       % (query["Action"], query["Version"], STS_ACTION, STS_VERSION))
    return query


def signed_at(query):
    try:
        return datetime.datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        raise Rejected("X-Amz-Date %r is not a SigV4 date" % query["X-Amz-Date"])


def _check_time(when, now, lifetime, skew):
    age = (now - when).total_seconds()
    if age < -skew:
        raise Rejected("the token is signed %.0fs in the future (more than the %ss of clock skew allowed)" % (-age, skew))
    if age > lifetime:
        raise Rejected("the token expired: signed %.0fs ago, tokens are valid for %ss" % (age, lifetime))


def _principal(query, access_keys):
    if query["X-Amz-Algorithm"] != "AWS4-HMAC-SHA256":
        raise Rejected("the presigned request is not signed with AWS4-HMAC-SHA256")
    scope = query["X-Amz-Credential"].split("/")
    if len(scope) != 5 or scope[3] != "sts" or scope[4] != "aws4_request" or scope[1] != query["X-Amz-Date"][:8]:
        raise Rejected("the credential scope %r is not an STS scope of the signing day" % "/".join(scope[1:]))
    principal = access_keys.get(scope[0])
    if principal is None:
        raise Rejected("the access key that signed the token is not known to IAM")
    signed = query["X-Amz-SignedHeaders"].split(";")
    for header in ("host", CLUSTER_ID_HEADER):
        if header not in signed:
            raise Rejected("the signature does not cover the %s header" % header)
    return principal


def verify(token, config, now):
    """The access entry's user for ``token``, or Rejected.

    ``config``: ``cluster_id``, ``sts_endpoint``, ``access_keys`` {access key id: {secret_key, arn}},
    ``access_entries`` {arn: [groups]}, ``lifetime_seconds``, ``skew_seconds``.
    """
    url = decode(token)
    query = _query(url, config["sts_endpoint"])
    when = signed_at(query)
    principal = _principal(query, config["access_keys"])
    if not sigv4.signature_valid(url, {CLUSTER_ID_HEADER: config["cluster_id"]}, principal["secret_key"]):
        raise Rejected("the signature does not match: signed with another secret key, or for another cluster than %s"
                       % config["cluster_id"])
    _check_time(when, now, config.get("lifetime_seconds", EKS_LIFETIME_SECONDS), config.get("skew_seconds", EKS_SKEW_SECONDS))
    groups = (config.get("access_entries") or {}).get(principal["arn"])
    if groups is None:
        raise Rejected("the IAM principal %s has no access entry for cluster %s" % (principal["arn"], config["cluster_id"]))
    account = principal["arn"].split(":")[4]
    return {
        "username": principal["arn"],
        "uid": "aws-iam-authenticator:%s:%s" % (account, query["X-Amz-Credential"].split("/")[0]),
        "groups": list(groups),
        "extra": {"arn": [principal["arn"]], "accessKeyId": [query["X-Amz-Credential"].split("/")[0]]},
    }, when


def review_response(review, config, now):
    """(TokenReview answer, what the record keeps of it)."""
    token = ((review.get("spec") or {}).get("token")) or ""
    try:
        user, when = verify(token, config, now)
        status = {"authenticated": True, "user": user}
        kept = {"accepted": True, "reason": None, "signed_at": when.isoformat()}
    except Rejected as exc:
        status = {"authenticated": False, "error": str(exc)}
        kept = {"accepted": False, "reason": str(exc), "signed_at": None}
    kept["token"] = token_digest(token)
    answer = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "status": status}
    return answer, kept


class Record:
    """Every review, per token digest; safe across the server's threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reviews = []

    def add(self, kept):
        with self.lock:
            self.reviews.append(dict(kept, t=time.time()))

    def clear(self):
        with self.lock:
            self.reviews = []

    def summary(self):
        with self.lock:
            reviews = list(self.reviews)
        tokens = {}
        for r in reviews:
            entry = tokens.setdefault(r["token"], {"accepted": 0, "rejected": 0, "reasons": {}, "signed_at": None})
            if r["accepted"]:
                entry["accepted"] += 1
                entry["signed_at"] = r["signed_at"]
            else:
                entry["rejected"] += 1
                entry["reasons"][r["reason"]] = entry["reasons"].get(r["reason"], 0) + 1
        return {"tokens": tokens, "reviews": reviews}


class Handler(JsonHandler):
    name = "eks-authenticator"
    config = None
    record = None

    def do_GET(self):  # noqa: N802 - the http.server interface
        if self.path.startswith("/reviews"):
            self._send(200, self.record.summary())
        elif self.path.startswith("/settings"):
            self._send(200, self._settings())
        else:  # the launcher's readiness probe
            self._send(200, {"ok": True})

    def do_POST(self):  # noqa: N802 - the http.server interface
        body = self.read_json()
        if body is None:
            return
        if self.path.startswith("/authenticate"):
            answer, kept = review_response(body, self.config, datetime.datetime.now(datetime.timezone.utc))
            self.record.add(kept)
            self._send(200, answer)
        elif self.path.startswith("/settings"):
            try:
                self._send(200, self._change(body))
            except ValueError as exc:
                self._send(400, {"error": str(exc)})
        elif self.path.startswith("/reset"):
            self.record.clear()
            self._send(200, {"reset": True})
        else:
            self._send(404, {"error": "no such path: %s" % self.path})

    def _settings(self):
        return {k: self.config.get(k) for k in ("cluster_id", "sts_endpoint", "lifetime_seconds", "skew_seconds")}

    def _change(self, changes):
        for key, value in changes.items():
            if key not in ("lifetime_seconds", "skew_seconds") or not isinstance(value, (int, float)) or value < 0:
                raise ValueError("only lifetime_seconds and skew_seconds (seconds, >= 0) can change, not %r" % key)
            self.config[key] = value
        return self._settings()


def serve(port, cert, key, config):
    serve_tls(port, cert, key, type("ConfiguredHandler", (Handler,), {"config": config, "record": Record()}))


def apiserver_kubeconfig(port, ca_file):
    """The kubeconfig-form file kube-apiserver's --authentication-token-webhook-config-file reads."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "eks-authenticator",
                      "cluster": {"server": "https://127.0.0.1:%d/authenticate" % port, "certificate-authority": ca_file}}],
        "users": [{"name": "kube-apiserver", "user": {}}],
        "contexts": [{"name": "webhook", "context": {"cluster": "eks-authenticator", "user": "kube-apiserver"}}],
        "current-context": "webhook",
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--config", required=True, help="JSON file: cluster_id, sts_endpoint, access_keys, ...")
    args = parser.parse_args(argv)
    with open(args.config) as f:
        config = json.load(f)
    serve(args.port, args.cert, args.key, config)


if __name__ == "__main__":
    main()
