"""EKS tokens renew themselves during long waits."""

import datetime

from ansible_collections.modelops.serving.plugins.module_utils.eks.client import REFRESH_MARGIN, TokenRenewer

T0 = datetime.datetime(2026, 11, 25, 9, 0, tzinfo=datetime.timezone.utc)


class Clock:
    def __init__(self):
        self.now = T0

    def __call__(self):
        return self.now


class Config:
    def __init__(self):
        self.api_key = {}


def test_token_is_reused_until_shortly_before_expiry_then_renewed():
    clock = Clock()
    signed = []

    def sign():
        signed.append(clock.now)
        return "token-%d" % len(signed), clock.now + datetime.timedelta(minutes=14)

    renewer = TokenRenewer({"cluster_name": "prod"}, "token-0", T0 + datetime.timedelta(minutes=14),
                           sign=sign, now=clock)
    config = Config()
    renewer(config)
    assert config.api_key["authorization"] == "token-0" and signed == []
    clock.now = T0 + datetime.timedelta(minutes=14) - REFRESH_MARGIN - datetime.timedelta(seconds=1)
    renewer(config)
    assert config.api_key["authorization"] == "token-0"
    clock.now += datetime.timedelta(seconds=1)
    renewer(config)
    assert config.api_key["authorization"] == "token-1" and renewer.renewals == 1
    # A 40 minute wait renews about every 12 minutes, never serving an expired token.
    for minute in range(40):
        clock.now = T0 + datetime.timedelta(minutes=14, seconds=60 * minute)
        renewer(config)
        assert renewer.expires_at - clock.now > datetime.timedelta(0)
    assert 3 <= renewer.renewals <= 5
