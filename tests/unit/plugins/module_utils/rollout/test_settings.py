"""Settings are read once from the argument spec, which alone holds the defaults; AWS options are one spec."""

import os
import re

import pytest
import yaml

from ansible_collections.modelops.serving.plugins.doc_fragments import eks_connection
from ansible_collections.modelops.serving.plugins.doc_fragments import gates as gates_doc
from ansible_collections.modelops.serving.plugins.module_utils.eks import aws
from ansible_collections.modelops.serving.plugins.module_utils.eks.client import EKS_ARG_SPEC
from ansible_collections.modelops.serving.plugins.module_utils.rollout import settings
from ansible_collections.modelops.serving.plugins.module_utils.rollout.errors import InputError
from ansible_collections.modelops.serving.plugins.module_utils.rollout.gates import CLOUDWATCH_SPEC

ENGINE = os.path.join(os.path.dirname(settings.__file__))


def make(**params):
    params.setdefault("name", "llm")
    return settings.Settings(settings.with_defaults(params))


def test_defaults_come_from_the_spec():
    s = make()
    assert (s.namespace, s.on_failure, s.lock_ttl_seconds, s.canary_steps, s.log_lines) == (
        "default", "rollback", 120, [10, 25, 50], 20)
    assert s.thresholds.crash_restarts == 2 and s.thresholds.unschedulable_seconds == 30


def test_settings_refuse_params_that_skipped_the_spec():
    with pytest.raises(InputError, match="settings lack"):
        settings.Settings({"name": "llm"})


def test_no_default_is_repeated_in_the_engine():
    """The literal defaults of the spec appear nowhere in the engine's code as a fallback (`or 120`, ...)."""
    offenders = []
    for name in sorted(os.listdir(ENGINE)):
        if not name.endswith(".py") or name == "settings.py":
            continue
        with open(os.path.join(ENGINE, name)) as f:
            text = f.read()
        for pattern in (r"\bor 120\b", r"or \[10, 25, 50\]", r'get\("log_lines", 20\)', r'get\("on_failure", "rollback"\)',
                        r'\.p\.get\(', r"DEADLINE_MARGIN"):
            if re.search(pattern, text):
                offenders.append((name, pattern))
    assert offenders == []


@pytest.mark.parametrize("params, words", [
    ({"timeout": 0}, "timeout must be at least 1"),
    ({"lock_ttl_seconds": 2}, "lock_ttl_seconds must be at least 5"),
    ({"strategy": "canary", "canary_steps": [50, 25]}, "canary_steps must be increasing"),
    ({"strategy": "blue_green"}, "needs service"),
    ({"canary_pause_seconds": -1}, "canary_pause_seconds must be at least 0"),
    ({"lock_ttl_seconds": 10, "gates": {"runtime": "mlserver", "timeout": 10}}, "longer than half of lock_ttl_seconds"),
])
def test_what_the_spec_cannot_say_is_checked_once(params, words):
    with pytest.raises(InputError, match=words):
        make(**params)


def test_env_values_are_strings():
    assert make(env={"MODEL_VERSION": 2, "EMPTY": None}).env == {"MODEL_VERSION": "2", "EMPTY": ""}


def test_aws_options_are_one_spec_for_eks_and_cloudwatch_with_every_credential_no_log():
    for key, rule in aws.AWS_OPTIONS.items():
        assert EKS_ARG_SPEC[key] == rule and CLOUDWATCH_SPEC[key] == rule
    for key in ("access_key", "secret_key", "session_token"):
        assert aws.AWS_OPTIONS[key]["no_log"] is True
    assert aws.AWS_OPTIONS["endpoint_url"]["fallback"][1] == ["AWS_URL", "AWS_ENDPOINT_URL"]


def test_the_aws_options_are_documented_once_for_both_places():
    eks_doc = yaml.safe_load(eks_connection.ModuleDocFragment.DOCUMENTATION)["options"]["eks"]["suboptions"]
    cw_doc = yaml.safe_load(gates_doc.ModuleDocFragment.DOCUMENTATION)["options"]["gates"]["suboptions"][
        "cloudwatch"]["suboptions"]
    for key in aws.AWS_OPTIONS:
        assert eks_doc[key] == cw_doc[key]
    assert set(eks_doc) == set(EKS_ARG_SPEC) and set(cw_doc) == set(CLOUDWATCH_SPEC)


def test_the_cloudwatch_client_gets_the_shared_endpoint_timeouts_and_retries(monkeypatch):
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    client = aws.client({"region": "us-east-1", "access_key": "AKIAUNITTEST00000001", "secret_key": "s",
                         "endpoint_url": "http://127.0.0.1:5000"}, "cloudwatch", timeout=7)
    assert client.meta.endpoint_url == "http://127.0.0.1:5000"
    assert client.meta.config.connect_timeout == 7 and client.meta.config.read_timeout == 7
    assert client.meta.config.retries["mode"] == "standard"
    assert "modelops.serving" in client.meta.config.user_agent_extra
