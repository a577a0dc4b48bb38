# -*- coding: utf-8 -*-
# Copyright (c) modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""AWS access in one place: the option spec, the session, the clients and their retry policy.

Everything in the collection that calls AWS from inside another option (model_rollout's ``eks``
connection, the CloudWatch gate ``gates.cloudwatch``) takes ``AWS_OPTIONS`` and goes through
``session()`` / ``client()`` here, so credentials, region, endpoint (``AWS_URL``, which is how
the tests reach the local AWS emulator), AssumeRole and retries behave the same everywhere.
Modules whose AWS options are top-level use amazon.aws's ``AnsibleAWSModule`` and pass their
params here as they are (``validate_certs``, ``aws_ca_bundle`` and ``aws_config`` are honoured).

Credentials: ``access_key``, ``secret_key`` and ``session_token`` are all ``no_log``. An access
key ID is an identifier rather than a secret, but it names an account and a user in every log
it reaches, so we hide it too, in every option that takes it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

try:
    import boto3
    import botocore
    import botocore.config
    import botocore.exceptions
except ImportError:
    boto3 = None  # callers check HAS_BOTO3 (AnsibleAWSModule) or name the missing library themselves

from ansible.module_utils.basic import env_fallback

from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

HAS_BOTO3 = boto3 is not None

USER_AGENT = "modelops.serving"

# EKS answers throttling with ThrottlingException, STS with Throttling; amazon.aws's default
# list knows the latter only.
RETRYABLE_EXTRA_CODES = ["ThrottlingException", "LimitExceededException"]

# The options of an AWS connection given inside another option (a dict with these suboptions).
AWS_OPTIONS = dict(
    region=dict(type="str", aliases=["aws_region"], fallback=(env_fallback, ["AWS_REGION", "AWS_DEFAULT_REGION"])),
    profile=dict(type="str", aliases=["aws_profile"], fallback=(env_fallback, ["AWS_PROFILE"])),
    access_key=dict(type="str", aliases=["aws_access_key_id"], no_log=True),
    secret_key=dict(type="str", aliases=["aws_secret_access_key"], no_log=True),
    session_token=dict(type="str", aliases=["aws_session_token"], no_log=True),
    endpoint_url=dict(type="str", aliases=["aws_endpoint_url"],
                      fallback=(env_fallback, ["AWS_URL", "AWS_ENDPOINT_URL"])),
    assume_role_arn=dict(type="str"),
    role_session_name=dict(type="str", default="modelops-serving"),
)

NO_CREDENTIALS = (
    "No AWS credentials found: set access_key/secret_key (or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), "
    "a profile (AWS_PROFILE), or run where an instance/container role is available."
)


class AwsError(Exception):
    """An error to show the operator as is (never containing a credential)."""

    def __init__(self, message, exception=None):
        super(AwsError, self).__init__(message)
        self.message = message
        self.exception = exception


def retry(retries=10, delay=3, max_delay=60):
    """The retry decorator every AWS call goes through (jittered exponential backoff on throttling)."""
    return AWSRetry.jittered_backoff(
        retries=retries, delay=delay, max_delay=max_delay, catch_extra_error_codes=RETRYABLE_EXTRA_CODES
    )


def _plain_session(args):
    profile = args.get("profile") or None
    if profile and (args.get("access_key") or args.get("secret_key") or args.get("session_token")):
        raise AwsError("Passing both a profile and access keys is not supported.")
    try:
        return boto3.session.Session(
            profile_name=profile,
            aws_access_key_id=None if profile else (args.get("access_key") or None),
            aws_secret_access_key=None if profile else (args.get("secret_key") or None),
            aws_session_token=None if profile else (args.get("session_token") or None),
            region_name=args.get("region") or None,
        )
    except botocore.exceptions.ProfileNotFound as e:
        raise AwsError("AWS profile %r not found in the AWS config/credentials files" % profile, e)


def client_kwargs(args, timeout=None):
    """Endpoint, TLS and botocore settings for every client built from ``args``."""
    verify = args.get("validate_certs", True)
    if verify and args.get("aws_ca_bundle"):
        verify = args["aws_ca_bundle"]
    settings = dict(user_agent_extra=USER_AGENT, retries={"mode": "standard", "max_attempts": 3})
    if timeout:
        settings.update(connect_timeout=timeout, read_timeout=timeout)
    config = botocore.config.Config(**settings)
    if args.get("aws_config"):
        config = config.merge(botocore.config.Config(**args["aws_config"]))
    return dict(endpoint_url=args.get("endpoint_url") or None, verify=verify, config=config)


def _assume_role(session, kwargs, role_arn, session_name):
    sts = session.client("sts", **kwargs)
    try:
        creds = retry()(sts.assume_role)(RoleArn=role_arn, RoleSessionName=session_name)["Credentials"]
    except botocore.exceptions.NoCredentialsError as e:
        raise AwsError(NO_CREDENTIALS, e)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
        raise AwsError("Unable to assume role %s: %s" % (role_arn, e), e)
    return boto3.session.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=session.region_name,
    )


def session(args, timeout=None):
    """``(session, client_kwargs)`` for ``args`` (AWS_OPTIONS or amazon.aws's module options).

    The region and the credentials are checked here, so a missing one is named before any call.
    """
    if not HAS_BOTO3:
        raise AwsError("the boto3 and botocore Python libraries are required on the host that runs the module")
    args = dict(args)
    sess = _plain_session(args)
    kwargs = client_kwargs(args, timeout=timeout)
    if args.get("assume_role_arn"):
        sess = _assume_role(sess, kwargs, args["assume_role_arn"], args.get("role_session_name") or USER_AGENT)
    if not sess.region_name:
        raise AwsError("An AWS region is required: set region (or AWS_REGION/AWS_DEFAULT_REGION).")
    if _credentials(sess) is None:
        raise AwsError(NO_CREDENTIALS)
    return sess, kwargs


def _credentials(sess):
    # A credential_process that fails (botocore's error) or cannot be started (OSError) is found
    # here, before any call: the operator's to fix, like a missing profile.
    try:
        return sess.get_credentials()
    except (botocore.exceptions.BotoCoreError, OSError) as e:
        raise AwsError("The AWS credentials could not be loaded: %s" % e, e)


def client(args, service, timeout=None):
    """A boto3 client for ``service`` with the collection's endpoint, retry and timeout settings."""
    sess, kwargs = session(args, timeout=timeout)
    return sess.client(service, region_name=sess.region_name, **kwargs)


def error_types():
    """The botocore exceptions a caller should turn into its own failure."""
    if not HAS_BOTO3:
        return ()
    return (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)
