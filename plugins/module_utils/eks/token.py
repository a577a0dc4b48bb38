# -*- coding: utf-8 -*-
# Copyright (c) modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""EKS bearer tokens and cluster connection data, without the aws CLI.

Public API (used by ``eks_auth`` and by ``model_rollout`` to refresh tokens in long waits):

``get_token(session_or_client_args, cluster_name) -> (token, expires_at)``
    ``token`` is ``k8s-aws-v1.`` + base64url (no padding) of a presigned STS
    GetCallerIdentity GET URL whose SigV4 signature covers the ``x-k8s-aws-id: <cluster>``
    header, exactly as ``aws eks get-token`` and aws-iam-authenticator build it.
    ``expires_at`` is a timezone-aware UTC ``datetime``: signing time + 14 minutes. The EKS
    authenticator accepts a token for 15 minutes after its X-Amz-Date whatever X-Amz-Expires
    says (60 s here, as the CLI sends); like the CLI we report one minute less so callers
    refresh before the server refuses. The token is a credential: never log it.

``cluster_connection(session_or_client_args, cluster_name) -> dict``
    Describes the cluster (with retries on throttling) and returns
    ``{host, ca_data, token, expires_at, cluster: {name, arn, version, status, tags}}``;
    ``host`` is the https API endpoint, ``ca_data`` the base64 PEM bundle as EKS returns it.

``session_or_client_args`` is either a ``boto3.session.Session`` (region taken from it) or a
dict with amazon.aws option names, for instance a module's ``params``: ``access_key``,
``secret_key``, ``session_token``, ``profile``, ``region``, ``endpoint_url``,
``validate_certs``, ``aws_ca_bundle``, ``aws_config``, and optionally ``assume_role_arn`` /
``role_session_name`` (STS AssumeRole before anything else). With a Session, pass endpoint and
TLS settings as keyword arguments ``endpoint_url=``, ``verify=``.

Failures raise ``EksAuthError`` with a message meant for the operator (missing credentials,
no region, unknown profile, cluster not found, access denied, throttled after retries).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import datetime

from urllib.parse import parse_qs, urlsplit

try:
    import boto3
    import botocore
    import botocore.exceptions
except ImportError:
    pass  # callers check HAS_BOTO3 through AnsibleAWSModule / AWSInventoryBase

from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.modelops.serving.plugins.module_utils.eks import aws
from ansible_collections.modelops.serving.plugins.module_utils.eks.aws import RETRYABLE_EXTRA_CODES

TOKEN_PREFIX = "k8s-aws-v1."
CLUSTER_ID_HEADER = "x-k8s-aws-id"
# What `aws eks get-token` puts in X-Amz-Expires; the server side applies its own 15 minutes.
URL_EXPIRES_SECONDS = 60
TOKEN_LIFETIME = datetime.timedelta(minutes=14)

# One error class for every AWS failure, whichever module_utils raised it.
EksAuthError = aws.AwsError
aws_retry = aws.retry
_NO_CREDENTIALS = aws.NO_CREDENTIALS


def resolve(session_or_client_args, **client_kwargs):
    """Return ``(session, client_kwargs)`` with the region and credentials checked up front.

    Every client is made from that session, so it signs in the session's region with the
    credentials checked here.
    """
    if isinstance(session_or_client_args, boto3.session.Session):
        session = session_or_client_args
        kwargs = dict(client_kwargs)
        if not session.region_name:
            raise EksAuthError(
                "An AWS region is required: set region (or AWS_REGION/AWS_DEFAULT_REGION) to the EKS cluster's region."
            )
        if session.get_credentials() is None:
            raise EksAuthError(_NO_CREDENTIALS)
        return session, kwargs
    args = dict(session_or_client_args)
    if not args.get("role_session_name"):
        args["role_session_name"] = "modelops-serving-eks"
    session, kwargs = aws.session(args)
    kwargs.update(client_kwargs)
    return session, kwargs


def _presigned_caller_identity_url(session, client_kwargs, cluster_name):
    sts = session.client("sts", **client_kwargs)

    def sign_cluster_header(request, **kwargs):
        request.headers[CLUSTER_ID_HEADER] = cluster_name

    # The header must exist before signing so that it lands in X-Amz-SignedHeaders; the
    # authenticator resends it and STS rejects the URL for any other cluster.
    sts.meta.events.register("before-sign.sts.GetCallerIdentity", sign_cluster_header)
    try:
        return sts.generate_presigned_url(
            "get_caller_identity", ExpiresIn=URL_EXPIRES_SECONDS, HttpMethod="GET"
        )
    except botocore.exceptions.NoCredentialsError as e:
        # resolve() found credentials; a session handed in may still lose them before signing.
        raise EksAuthError(_NO_CREDENTIALS) from e


def signed_at(url):
    """The X-Amz-Date of a presigned URL as an aware UTC datetime."""
    stamp = parse_qs(urlsplit(url).query)["X-Amz-Date"][0]
    return datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)


def encode_token(url):
    return TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def decode_token(token):
    """The presigned URL inside a token (for tests and troubleshooting)."""
    if not token.startswith(TOKEN_PREFIX):
        raise ValueError("not an EKS token: missing %r prefix" % TOKEN_PREFIX)
    body = token[len(TOKEN_PREFIX):]
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()


def get_token(session_or_client_args, cluster_name, **client_kwargs):
    """Return ``(token, expires_at)`` for ``cluster_name``; see the module docstring."""
    session, kwargs = resolve(session_or_client_args, **client_kwargs)
    return _token_for(session, kwargs, cluster_name)


def _token_for(session, kwargs, cluster_name):
    url = _presigned_caller_identity_url(session, kwargs, cluster_name)
    return encode_token(url), signed_at(url) + TOKEN_LIFETIME


def describe_cluster(eks_client, cluster_name, retry=None):
    """``describe_cluster`` with backoff on throttling; EksAuthError with a clear message otherwise."""
    call = (retry or aws_retry())(eks_client.describe_cluster)
    region = eks_client.meta.region_name
    try:
        return call(name=cluster_name)["cluster"]
    except botocore.exceptions.ClientError as e:
        # The retry wrapper has read the same key already: botocore's errors always carry it.
        code = e.response["Error"]["Code"]
        if code == "ResourceNotFoundException":
            raise EksAuthError(
                "EKS cluster %r not found in region %s (check the cluster name and the region)" % (cluster_name, region)
            ) from e
        if code in ("AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException"):
            raise EksAuthError("AWS refused eks:DescribeCluster on %r: %s" % (cluster_name, e)) from e
        if AWSRetry.found(code, RETRYABLE_EXTRA_CODES):
            raise EksAuthError(
                "AWS kept throttling eks:DescribeCluster on %r after retries: %s" % (cluster_name, e)
            ) from e
        raise EksAuthError("Unable to describe EKS cluster %r: %s" % (cluster_name, e)) from e
    except botocore.exceptions.EndpointConnectionError as e:
        raise EksAuthError("Cannot reach the EKS API in region %s: %s" % (region, e)) from e
    except botocore.exceptions.BotoCoreError as e:
        raise EksAuthError("Unable to describe EKS cluster %r: %s" % (cluster_name, e)) from e


def cluster_connection(session_or_client_args, cluster_name, **client_kwargs):
    """Return ``{host, ca_data, token, expires_at, cluster}``; see the module docstring."""
    session, kwargs = resolve(session_or_client_args, **client_kwargs)
    cluster = describe_cluster(session.client("eks", **kwargs), cluster_name)
    host = cluster.get("endpoint")
    if not host:
        raise EksAuthError(
            "EKS cluster %r is %s and has no API endpoint yet" % (cluster_name, cluster.get("status", "not ready"))
        )
    token, expires_at = _token_for(session, kwargs, cluster_name)
    return dict(
        host=host,
        ca_data=(cluster.get("certificateAuthority") or {}).get("data"),
        token=token,
        expires_at=expires_at,
        cluster=dict(
            name=cluster.get("name"),
            arn=cluster.get("arn"),
            version=cluster.get("version"),
            status=cluster.get("status"),
            tags=cluster.get("tags") or {},
        ),
    )


def kubeconfig(connection, context_name=None):
    """A kubeconfig dict with a token user for a ``cluster_connection`` result."""
    name = context_name or connection["cluster"]["arn"] or connection["cluster"]["name"]
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "current-context": name,
        "clusters": [
            {"name": name, "cluster": {"server": connection["host"], "certificate-authority-data": connection["ca_data"]}}
        ],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "users": [{"name": name, "user": {"token": connection["token"]}}],
    }
