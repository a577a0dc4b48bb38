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


@pytest.mark.parametrize("url", ["https://sts.amazonaws.com/?a=1", "https://sts.amazonaws.com/?a=12",
                                 "https://sts.amazonaws.com/?a=123", "https://sts.amazonaws.com/?a=1234",
                                 "https://sts.eu-west-1.amazonaws.com/?X-Amz-Date=20261201T000000Z&b=\u00e9"])
def test_a_token_decodes_to_the_url_it_was_made_from_whatever_its_padding(url):
    """base64url without padding, as the authenticator reads it; the body may end in any base64 letter."""
    token = eks_token.encode_token(url)
    assert "=" not in token
    assert eks_token.decode_token(token) == url


@pytest.mark.parametrize("extra", range(8))
def test_every_length_of_url_decodes(extra):
    url = "https://h/" + "a" * extra  # base64 bodies of 14 to 24 letters: every remainder a token can have
    assert eks_token.decode_token(eks_token.encode_token(url)) == url


def test_a_token_whose_base64_ends_in_x_keeps_it():
    url = "https://sts.amazonaws.com/?q=W"  # base64url of this ends in "X"
    body = eks_token.encode_token(url)[len("k8s-aws-v1."):]
    assert body.endswith("X") and len(body) % 4 != 1
    assert eks_token.decode_token(eks_token.encode_token(url)) == url


def test_a_string_that_is_no_eks_token_says_so():
    with pytest.raises(ValueError) as err:
        eks_token.decode_token("Bearer abc")
    assert str(err.value) == "not an EKS token: missing 'k8s-aws-v1.' prefix"


def test_a_session_without_a_region_is_a_clear_error():
    bare = boto3.session.Session(aws_access_key_id="AKIAUNITTEST00000001", aws_secret_access_key=SECRET)
    with pytest.raises(eks_token.EksAuthError) as err:
        eks_token.get_token(bare, "c1")
    assert err.value.message == ("An AWS region is required: set region (or AWS_REGION/AWS_DEFAULT_REGION) "
                                 "to the EKS cluster's region.")


def test_a_session_without_credentials_is_a_clear_error():
    with pytest.raises(eks_token.EksAuthError) as err:
        eks_token.get_token(boto3.session.Session(region_name="us-east-1"), "c1")
    assert err.value.message == eks_token.aws.NO_CREDENTIALS


def test_credentials_lost_before_signing_are_a_clear_error():
    """A session handed in whose credentials are gone when the URL is signed: the same message, no traceback."""
    with pytest.raises(eks_token.EksAuthError) as err:
        eks_token._presigned_caller_identity_url(boto3.session.Session(region_name="us-east-1"), {}, "c1")
    assert err.value.message == eks_token.aws.NO_CREDENTIALS


def test_a_session_signs_in_its_region_for_the_endpoint_given_beside_it():
    token, _expires = eks_token.get_token(session("ap-south-1"), "c1", endpoint_url="http://127.0.0.1:4566")
    url = eks_token.decode_token(token)
    q = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert url.startswith("http://127.0.0.1:4566/?")
    assert q["X-Amz-Credential"].split("/")[2] == "ap-south-1"


def test_assume_role_gets_the_eks_session_name_unless_one_is_given(monkeypatch):
    """CloudTrail shows who signed: the role session is named for the collection's EKS access by default."""
    assumed = []

    def assume_role(sess, kwargs, role_arn, session_name):
        assumed.append((role_arn, session_name))
        return sess

    monkeypatch.setattr(eks_token.aws, "_assume_role", assume_role)
    params = dict(access_key="AKIAUNITTEST00000001", secret_key=SECRET, region="us-east-1",
                  assume_role_arn="arn:aws:iam::123456789012:role/deployer")
    eks_token.get_token(params, "c1")
    eks_token.get_token(dict(params, role_session_name=""), "c1")
    eks_token.get_token(dict(params, role_session_name="release-42"), "c1")
    assert assumed == [("arn:aws:iam::123456789012:role/deployer", "modelops-serving-eks")] * 2 + [
        ("arn:aws:iam::123456789012:role/deployer", "release-42")]
    assert "role_session_name" not in params  # the caller's dict is left as it was


class FakeEks:
    """An EKS client whose describe_cluster raises what the test says (botocore errors that are no ClientError)."""

    class meta:  # noqa: N801 (the botocore attribute name)
        region_name = "us-east-1"

    def __init__(self, exc):
        self.exc = exc
        self.calls = []

    def describe_cluster(self, **kwargs):
        self.calls.append(kwargs)
        raise self.exc


@pytest.mark.parametrize("code", ["AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException"])
def test_a_refusal_names_the_operation_and_the_cluster_and_is_not_retried(code):
    client, stub = stubbed_eks()
    stub.add_client_error("describe_cluster", service_error_code=code, service_message="no", http_status_code=403)
    with stub, pytest.raises(eks_token.EksAuthError) as err:
        eks_token.describe_cluster(client, "c1")  # the default retry: a refusal must not wait
    assert err.value.message == ("AWS refused eks:DescribeCluster on 'c1': An error occurred (%s) when calling "
                                 "the DescribeCluster operation: no" % code)
    assert isinstance(err.value.__cause__, eks_token.botocore.exceptions.ClientError)


def test_throttling_after_retries_is_the_whole_message():
    client, stub = stubbed_eks()
    for _attempt in range(3):
        stub.add_client_error("describe_cluster", service_error_code="ThrottlingException", service_message="slow",
                              http_status_code=429)
    with stub, pytest.raises(eks_token.EksAuthError) as err:
        eks_token.describe_cluster(client, "c1", retry=FAST)
    assert err.value.message == ("AWS kept throttling eks:DescribeCluster on 'c1' after retries: An error occurred "
                                 "(ThrottlingException) when calling the DescribeCluster operation: slow")


def test_another_aws_error_is_named_with_the_cluster():
    client, stub = stubbed_eks()
    stub.add_client_error("describe_cluster", service_error_code="InvalidParameterException", service_message="bad",
                          http_status_code=400)
    with stub, pytest.raises(eks_token.EksAuthError) as err:
        eks_token.describe_cluster(client, "c1")
    assert err.value.message == ("Unable to describe EKS cluster 'c1': An error occurred (InvalidParameterException) "
                                 "when calling the DescribeCluster operation: bad")


def test_an_unreachable_eks_api_names_the_region():
    exc = eks_token.botocore.exceptions.EndpointConnectionError(endpoint_url="https://eks.us-east-1.amazonaws.com/")
    fake = FakeEks(exc)
    with pytest.raises(eks_token.EksAuthError) as err:
        eks_token.describe_cluster(fake, "c1")
    assert err.value.message == ("Cannot reach the EKS API in region us-east-1: Could not connect to the endpoint "
                                 "URL: \"https://eks.us-east-1.amazonaws.com/\"")
    assert err.value.__cause__ is exc
    assert fake.calls == [{"name": "c1"}]


def test_another_botocore_failure_is_named_with_the_cluster():
    fake = FakeEks(eks_token.botocore.exceptions.NoCredentialsError())
    with pytest.raises(eks_token.EksAuthError) as err:
        eks_token.describe_cluster(fake, "c1")
    assert err.value.message == "Unable to describe EKS cluster 'c1': Unable to locate credentials"


class ClusterSession(boto3.session.Session):
    """A session whose EKS client answers DescribeCluster with ``cluster`` (and records how it was made)."""

    def __init__(self, cluster, region="us-east-1"):
        super().__init__(aws_access_key_id="AKIAUNITTEST00000001", aws_secret_access_key=SECRET, region_name=region)
        self.cluster = cluster
        self.made = []

    def client(self, service_name, **kwargs):  # pylint: disable=arguments-differ
        made = super().client(service_name, **kwargs)
        self.made.append((service_name, made.meta.region_name, made.meta.endpoint_url))
        if service_name == "eks":
            stub = Stubber(made)
            stub.add_response("describe_cluster", {"cluster": self.cluster}, {"name": self.cluster["name"]})
            stub.activate()
        return made


def test_cluster_connection_gives_endpoint_ca_token_and_the_cluster():
    cluster = dict(CLUSTER["cluster"], tags={"team": "ml"})
    sess = ClusterSession(cluster)
    conn = eks_token.cluster_connection(sess, "c1", endpoint_url="http://127.0.0.1:4566")

    assert sess.made == [("eks", "us-east-1", "http://127.0.0.1:4566"), ("sts", "us-east-1", "http://127.0.0.1:4566")]
    token, expires_at = conn.pop("token"), conn.pop("expires_at")
    assert conn == {"host": "https://abc.gr7.us-east-1.eks.amazonaws.com", "ca_data": "Q0E=",
                    "cluster": {"name": "c1", "arn": "arn:aws:eks:us-east-1:123456789012:cluster/c1",
                                "version": "1.31", "status": "ACTIVE", "tags": {"team": "ml"}}}
    url = eks_token.decode_token(token)
    assert signature_valid(url, {"x-k8s-aws-id": "c1"}, SECRET)
    assert expires_at == eks_token.signed_at(url) + datetime.timedelta(minutes=14)


def test_a_cluster_without_tags_or_ca_has_empty_tags_and_no_ca():
    cluster = {k: v for k, v in CLUSTER["cluster"].items() if k != "certificateAuthority"}
    conn = eks_token.cluster_connection(ClusterSession(cluster), "c1")
    assert conn["ca_data"] is None
    assert conn["cluster"]["tags"] == {}


@pytest.mark.parametrize("status, words", [("CREATING", "is CREATING"), (None, "is not ready")])
def test_a_cluster_without_an_endpoint_yet_says_so_and_signs_nothing(status, words):
    cluster = {k: v for k, v in CLUSTER["cluster"].items() if k not in ("endpoint", "status")}
    if status:
        cluster["status"] = status
    sess = ClusterSession(cluster)
    with pytest.raises(eks_token.EksAuthError) as err:
        eks_token.cluster_connection(sess, "c1")
    assert err.value.message == "EKS cluster 'c1' %s and has no API endpoint yet" % words
    assert [m[0] for m in sess.made] == ["eks"]


def test_cluster_connection_from_module_params_uses_their_region_and_endpoint(monkeypatch):
    made = []

    def session_from_args(args):
        made.append(dict(args))
        return ClusterSession(CLUSTER["cluster"], region=args["region"]), {"endpoint_url": args["endpoint_url"]}

    monkeypatch.setattr(eks_token.aws, "session", session_from_args)
    params = dict(access_key="AKIAUNITTEST00000001", secret_key=SECRET, region="eu-west-1",
                  endpoint_url="http://127.0.0.1:4566")
    conn = eks_token.cluster_connection(params, "c1")
    assert made == [dict(params, role_session_name="modelops-serving-eks")]
    q = parse_qs(urlsplit(eks_token.decode_token(conn["token"])).query)
    assert q["X-Amz-Credential"][0].split("/")[2] == "eu-west-1"


def test_kubeconfig_is_one_context_named_for_the_cluster_arn_that_the_kubernetes_client_loads():
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config

    conn = dict(host="https://h.example", ca_data=base64_pem(), token="k8s-aws-v1.abc", expires_at=None,
                cluster=dict(name="c1", arn="arn:c1"))
    cfg = eks_token.kubeconfig(conn)
    assert cfg == {
        "apiVersion": "v1", "kind": "Config", "preferences": {}, "current-context": "arn:c1",
        "clusters": [{"name": "arn:c1", "cluster": {"server": "https://h.example",
                                                    "certificate-authority-data": conn["ca_data"]}}],
        "contexts": [{"name": "arn:c1", "context": {"cluster": "arn:c1", "user": "arn:c1"}}],
        "users": [{"name": "arn:c1", "user": {"token": "k8s-aws-v1.abc"}}],
    }
    loaded = k8s_client.Configuration()
    k8s_config.load_kube_config_from_dict(cfg, client_configuration=loaded)
    assert loaded.host == "https://h.example"
    assert list(loaded.api_key.values()) == ["Bearer k8s-aws-v1.abc"]
    with open(loaded.ssl_ca_cert, "rb") as f:
        assert f.read() == b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_kubeconfig_names_its_context_as_asked_or_for_the_cluster_name_without_an_arn():
    conn = dict(host="https://h", ca_data="Q0E=", token="t", expires_at=None, cluster=dict(name="c1", arn=None))
    assert eks_token.kubeconfig(conn)["current-context"] == "c1"
    named = eks_token.kubeconfig(conn, context_name="prod")
    assert (named["current-context"], named["clusters"][0]["name"], named["users"][0]["name"]) == ("prod",) * 3


def base64_pem():
    import base64

    pem = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    return base64.b64encode(pem).decode()
