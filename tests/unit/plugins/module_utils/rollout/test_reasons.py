"""The REASONS registry, the RETURN documentation and the result builder agree."""

import re

import pytest
import yaml

from ansible_collections.modelops.serving.plugins.module_utils.rollout import reasons
from ansible_collections.modelops.serving.plugins.module_utils.rollout.errors import InputError, LockHeld, LockLost
from ansible_collections.modelops.serving.plugins.module_utils.rollout.kube import KubeError
from ansible_collections.modelops.serving.plugins.module_utils.rollout.result import Result
from ansible_collections.modelops.serving.plugins.module_utils.rollout.spec import SpecError
from ansible_collections.modelops.serving.plugins.modules import model_rollout


def returned():
    return yaml.safe_load(model_rollout.RETURN)


def documented(key):
    text = " ".join(returned()[key]["description"])
    return set(re.findall(r"C\((\w+)\)", text))


def test_every_registered_reason_is_documented_and_every_documented_one_is_registered():
    entries = returned()["reason"]["description"][1:]
    names = [re.match(r"C\((\w+)\)", e).group(1) for e in entries]
    assert names == list(reasons.REASONS)


def test_each_documented_reason_names_its_verdicts():
    for entry in returned()["reason"]["description"][1:]:
        name, verdicts = re.match(r"C\((\w+)\) \(([^)]*)\)", entry).groups()
        assert tuple(v.strip() for v in verdicts.split(",")) == reasons.REASONS[name].verdicts


def test_every_verdict_is_documented():
    assert documented("verdict") == set(reasons.VERDICTS)


def test_the_reasons_that_once_went_undocumented_are_registered():
    for name in ("check_mode", "paused", "deployment_deleted", "gate_no_pods", "prometheus_error",
                 "prometheus_no_data", "cloudwatch_error"):
        assert name in reasons.REASONS


def test_a_verdict_and_reason_that_do_not_belong_together_are_refused():
    with pytest.raises(ValueError):
        reasons.check("complete", "crash_loop")
    with pytest.raises(ValueError):
        reasons.check("failed", "no_such_reason")
    assert reasons.check("rolled_back", "crash_loop")


@pytest.mark.parametrize("exc, reason", [
    (InputError("bad"), "invalid_input"), (SpecError("bad"), "invalid_input"), (LockHeld("held"), "lock_held"),
    (LockLost("lost"), "lock_lost"), (KubeError("refused"), "api_error"), (KubeError("x", status=403), "api_error"),
    (ZeroDivisionError("x"), "internal_error"), (KeyError("spec"), "internal_error"),
])
def test_the_builder_turns_any_exception_into_the_contract(exc, reason):
    result = Result("serving", "llm")
    try:
        raise exc
    except Exception as caught:  # as the runner catches it
        result.fail(caught, "rollout", host="https://k8s:6443", left="canary removed")
    built = result.build(total=1.0)
    assert built["reason"] == reason and built["verdict"] == "failed"
    assert built["message"].endswith("; canary removed")
    for key in ("changed", "previous", "current", "rolled_back_to", "diagnostics", "timeline", "durations"):
        assert key in built
    if reason == "internal_error":
        assert "during rollout) at test_reasons.py:" in built["message"]


def test_a_path_that_forgot_its_verdict_still_ends_in_the_contract():
    built = Result("serving", "llm").build()
    assert (built["verdict"], built["reason"]) == ("failed", "internal_error")
