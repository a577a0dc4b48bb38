"""Token building, credentials errors and retries of module_utils/eks/token.py, without a network."""

import datetime
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from botocore.stub import Stubber

from ansible_collections.modelops.serving.plugins.module_utils.eks import token as eks_token
from testground.sigv4 import signature_valid

SECRET = "unit-test-secret-key-0000000000000000000"


@pytest.fixture(autouse=True)
def no_ambient_aws(monkeypatch, tmp_path):
    """Nothing from the developer's machine: no env credentials, no config files, no IMDS."""
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
              "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_URL", "AWS_ENDPOINT_URL",
              "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
              "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def session(region="eu-west-1"):
    return boto3.session.Session(aws_access_key_id="AKIAUNITTEST00000001", aws_secret_access_key=SECRET,
                                 region_name=region)


def test_token_is_a_presigned_get_caller_identity_url_with_the_cluster_header_signed():
    token, expires_at = eks_token.get_token(session(), "serving-canary")

    assert token.startswith("k8s-aws-v1.")
    assert "=" not in token  # base64url without padding, as the authenticator expects
    url = eks_token.decode_token(token)
    parts = urlsplit(url)
    q = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert (parts.scheme, parts.netloc) == ("https", "sts.eu-west-1.amazonaws.com")
    assert q["Action"] == "GetCallerIdentity" and q["Version"] == "2011-06-15"
    assert q["X-Amz-Expires"] == "60"
    assert q["X-Amz-SignedHeaders"].split(";") == ["host", "x-k8s-aws-id"]
    assert q["X-Amz-Credential"].split("/")[0] == "AKIAUNITTEST00000001"
    assert q["X-Amz-Credential"].split("/")[2:] == ["eu-west-1", "sts", "aws4_request"]
    signed = datetime.datetime.strptime(q["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    assert expires_at == signed + datetime.timedelta(minutes=14)
    assert abs((signed - datetime.datetime.now(datetime.timezone.utc)).total_seconds()) < 60


def test_signature_verifies_only_for_the_cluster_and_secret_it_was_made_for():
    url = eks_token.decode_token(eks_token.get_token(session(), "serving-canary")[0])

    assert signature_valid(url, {"x-k8s-aws-id": "serving-canary"}, SECRET)
    assert not signature_valid(url, {"x-k8s-aws-id": "serving-prod"}, SECRET)
    assert not signature_valid(url, {"x-k8s-aws-id": "serving-canary"}, SECRET[:-1] + "1")
    assert not signature_valid(url.replace("X-Amz-Expires=60", "X-Amz-Expires=900"),
                               {"x-k8s-aws-id": "serving-canary"}, SECRET)


def test_module_params_with_endpoint_url_sign_for_that_endpoint():
    params = dict(access_key="AKIAUNITTEST00000001", secret_key=SECRET, region="us-east-1",
                  endpoint_url="http://127.0.0.1:4566", validate_certs=True)
    url = eks_token.decode_token(eks_token.get_token(params, "c1")[0])
    assert url.startswith("http://127.0.0.1:4566/?Action=GetCallerIdentity")
    assert signature_valid(url, {"x-k8s-aws-id": "c1"}, SECRET)


def test_missing_credentials_is_a_clear_error():
    with pytest.raises(eks_token.EksAuthError, match="No AWS credentials found"):
        eks_token.get_token(dict(region="us-east-1"), "c1")


def test_missing_region_is_a_clear_error():
    with pytest.raises(eks_token.EksAuthError, match="An AWS region is required"):
        eks_token.get_token(dict(access_key="AKIAUNITTEST00000001", secret_key=SECRET), "c1")


def test_unknown_profile_is_a_clear_error():
    with pytest.raises(eks_token.EksAuthError, match="profile 'nope' not found"):
        eks_token.get_token(dict(profile="nope", region="us-east-1"), "c1")


def test_profile_and_keys_together_are_refused():
    with pytest.raises(eks_token.EksAuthError, match="both a profile and access keys"):
        eks_token.get_token(dict(profile="p", access_key="a", secret_key="b", region="us-east-1"), "c1")


def stubbed_eks():
    client = session("us-east-1").client("eks")
    return client, Stubber(client)


CLUSTER = {"cluster": {"name": "c1", "arn": "arn:aws:eks:us-east-1:123456789012:cluster/c1",
                       "endpoint": "https://abc.gr7.us-east-1.eks.amazonaws.com", "status": "ACTIVE",
                       "version": "1.31", "certificateAuthority": {"data": "Q0E="}}}
FAST = eks_token.aws_retry(retries=3, delay=0.01, max_delay=0.02)


@pytest.mark.parametrize("code", ["ThrottlingException", "Throttling", "TooManyRequestsException"])
def test_describe_cluster_retries_throttling_then_succeeds(code):
    client, stub = stubbed_eks()
    stub.add_client_error("describe_cluster", service_error_code=code, http_status_code=429)
    stub.add_client_error("describe_cluster", service_error_code=code, http_status_code=429)
    stub.add_response("describe_cluster", CLUSTER, {"name": "c1"})
    with stub:
        cluster = eks_token.describe_cluster(client, "c1", retry=FAST)
    stub.assert_no_pending_responses()  # all three calls were made
    assert cluster["endpoint"] == "https://abc.gr7.us-east-1.eks.amazonaws.com"


def test_describe_cluster_gives_up_after_retries_with_a_clear_error():
    client, stub = stubbed_eks()
    for _attempt in range(3):  # amazon.aws's CloudRetry counts attempts: retries=3 is three calls
        stub.add_client_error("describe_cluster", service_error_code="ThrottlingException", http_status_code=429)
    with stub, pytest.raises(eks_token.EksAuthError, match="kept throttling eks:DescribeCluster on 'c1'"):
        eks_token.describe_cluster(client, "c1", retry=FAST)
    stub.assert_no_pending_responses()


def test_not_found_is_not_retried_and_names_cluster_and_region():
    client, stub = stubbed_eks()
    stub.add_client_error("describe_cluster", service_error_code="ResourceNotFoundException", http_status_code=404)
    stub.add_response("describe_cluster", CLUSTER, {"name": "c1"})  # must stay unused
    with stub, pytest.raises(eks_token.EksAuthError) as err:
        eks_token.describe_cluster(client, "c1", retry=FAST)
    assert str(err.value) == ("EKS cluster 'c1' not found in region us-east-1 "
                              "(check the cluster name and the region)")
    with pytest.raises(AssertionError):
        stub.assert_no_pending_responses()


def test_kubeconfig_uses_a_token_user():
    conn = dict(host="https://h", ca_data="Q0E=", token="k8s-aws-v1.abc", expires_at=None,
                cluster=dict(name="c1", arn="arn:c1"))
    cfg = eks_token.kubeconfig(conn)
    assert cfg["current-context"] == "arn:c1"
    assert cfg["clusters"][0]["cluster"] == {"server": "https://h", "certificate-authority-data": "Q0E="}
    assert cfg["users"][0]["user"] == {"token": "k8s-aws-v1.abc"}
