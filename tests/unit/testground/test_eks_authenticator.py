"""The test ground's EKS token webhook accepts exactly what EKS accepts: tokens signed by the collection's
own signer (module_utils/eks/token.py), for the right cluster, secret, STS endpoint and time."""

import base64
import datetime

import boto3
import pytest

from ansible_collections.modelops.serving.plugins.module_utils.eks import token as eks_token
from testground import eks_authenticator as authn

ACCESS_KEY = "AKIAUNITTEST00000001"
SECRET = "unit-test-secret-key-0000000000000000000"
ARN = "arn:aws:iam::123456789012:user/deployer"
STS = "http://127.0.0.1:5999"


@pytest.fixture(autouse=True)
def no_ambient_aws(monkeypatch, tmp_path):
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_URL",
              "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))


def config(**changes):
    c = {
        "cluster_id": "serving-canary",
        "sts_endpoint": STS,
        "access_keys": {ACCESS_KEY: {"secret_key": SECRET, "arn": ARN}},
        "access_entries": {ARN: [authn.ADMIN_GROUP]},
        "lifetime_seconds": 900,
        "skew_seconds": 300,
    }
    c.update(changes)
    return c


def token(cluster="serving-canary", secret=SECRET, endpoint=STS):
    s = boto3.session.Session(aws_access_key_id=ACCESS_KEY, aws_secret_access_key=secret, region_name="us-east-1")
    return eks_token.get_token(s, cluster, endpoint_url=endpoint)[0]


def signed_time(tok):
    return authn.signed_at(dict(authn.parse_qsl(authn.urlsplit(authn.decode(tok)).query)))


def reject_reason(tok, cfg=None, now=None):
    with pytest.raises(authn.Rejected) as info:
        authn.verify(tok, cfg or config(), now or signed_time(tok))
    return str(info.value)


def test_a_token_of_the_collection_for_this_cluster_is_the_access_entry_user():
    tok = token()
    user, when = authn.verify(tok, config(), signed_time(tok) + datetime.timedelta(seconds=5))
    assert user["username"] == ARN
    assert user["groups"] == [authn.ADMIN_GROUP]
    assert user["uid"] == "aws-iam-authenticator:123456789012:" + ACCESS_KEY
    assert when == signed_time(tok)


def test_a_token_signed_for_another_cluster_fails_the_signature():
    assert "for another cluster than serving-canary" in reject_reason(token(cluster="serving-prod"))


def test_a_token_signed_with_another_secret_fails_the_signature():
    assert "another secret key" in reject_reason(token(secret=SECRET[:-1] + "X"))


def test_a_token_for_another_sts_endpoint_is_refused():
    assert "not for the STS endpoint in use" in reject_reason(token(endpoint="http://127.0.0.1:6000"))


@pytest.mark.parametrize("age, accepted", [(4, True), (5, True), (6, False)])
def test_the_lifetime_counts_from_x_amz_date_whatever_x_amz_expires_says(age, accepted):
    tok = token()
    now = signed_time(tok) + datetime.timedelta(seconds=age)
    cfg = config(lifetime_seconds=5)
    if accepted:
        assert authn.verify(tok, cfg, now)[0]["username"] == ARN
    else:
        assert "the token expired: signed 6s ago, tokens are valid for 5s" == reject_reason(tok, cfg, now)


def test_a_token_from_the_future_beyond_the_skew_is_refused():
    tok = token()
    now = signed_time(tok) - datetime.timedelta(seconds=11)
    assert "in the future" in reject_reason(tok, config(skew_seconds=10), now)
    assert authn.verify(tok, config(skew_seconds=12), now)[0]["username"] == ARN


def test_an_unknown_access_key_and_a_principal_without_access_entry_are_refused():
    assert "not known to IAM" in reject_reason(token(), config(access_keys={}))
    assert "has no access entry" in reject_reason(token(), config(access_entries={}))


def _retoken(url):
    return authn.TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


@pytest.mark.parametrize("edit, words", [
    (lambda u: u.replace("Action=GetCallerIdentity", "Action=GetSessionToken"), "not GetCallerIdentity"),
    (lambda u: u + "&Extra=1", "never carry: Extra"),
    (lambda u: u + "&Action=GetCallerIdentity", "repeated"),
    (lambda u: u.replace("X-Amz-SignedHeaders=host%3Bx-k8s-aws-id", "X-Amz-SignedHeaders=host"), "x-k8s-aws-id header"),
    (lambda u: u.replace("%2Fsts%2Faws4_request", "%2Fs3%2Faws4_request"), "credential scope"),
])
def test_a_presigned_request_that_is_not_get_caller_identity_as_eks_signs_it_is_refused(edit, words):
    url = authn.decode(token())
    changed = edit(url)
    assert changed != url
    assert words in reject_reason(_retoken(changed), now=signed_time(token()))


def test_what_is_not_an_eks_token_is_refused_with_a_reason():
    assert "no k8s-aws-v1. prefix" in reject_reason("eyJhbGciOi.sa-token", now=datetime.datetime.now(datetime.timezone.utc))
    assert "not base64url" in reject_reason("k8s-aws-v1.%%%", now=datetime.datetime.now(datetime.timezone.utc))


def test_the_record_counts_per_token_digest_and_never_keeps_the_token():
    record = authn.Record()
    good, other = token(), token(cluster="serving-prod")
    now = signed_time(good)
    for tok in (good, good, other):
        answer, kept = authn.review_response({"spec": {"token": tok}}, config(), now)
        record.add(kept)
    assert answer["status"]["authenticated"] is False and "another cluster" in answer["status"]["error"]
    summary = record.summary()
    assert summary["tokens"][authn.token_digest(good)]["accepted"] == 2
    assert summary["tokens"][authn.token_digest(other)]["rejected"] == 1
    assert good not in repr(summary) and good[len(authn.TOKEN_PREFIX):][:40] not in repr(summary)
