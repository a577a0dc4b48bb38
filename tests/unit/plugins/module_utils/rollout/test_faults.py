"""Every exception class, forced at every phase of every strategy: a full result, never a traceback.

Each scenario runs once cleanly to learn the phases it goes through; then, for every phase and
every exception class, it runs again with the exception raised (a) as the phase begins and (b) by
the first API call made in that phase. Whatever happens, the run returns the result contract with a
registered reason, leaves no canary or green behind without saying so, and never writes to the
Deployment before its change phase.
"""

import pytest

from ansible_collections.modelops.serving.plugins.module_utils.rollout import gates
from ansible_collections.modelops.serving.plugins.module_utils.rollout.errors import InputError, LockHeld, LockLost
from ansible_collections.modelops.serving.plugins.module_utils.rollout.kube import KubeError
from ansible_collections.modelops.serving.plugins.module_utils.rollout.portforward import PortForwardError, Response
from ansible_collections.modelops.serving.plugins.module_utils.rollout.result import duration_of
from ansible_collections.modelops.serving.plugins.module_utils.rollout.spec import SpecError
from tests.unit.plugins.module_utils.rollout.fake import World, assert_contract

EXCEPTIONS = [
    lambda: KubeError("connection refused"),
    lambda: KubeError("conflict", status=409),
    lambda: KubeError("forbidden", status=403),
    lambda: KubeError("gone", status=404),
    lambda: KubeError("invalid", status=422),
    lambda: KubeError("etcd timeout", status=500),
    lambda: LockLost("lost"),
    lambda: LockHeld("held"),
    lambda: InputError("bad"),
    lambda: SpecError("bad spec"),
    lambda: PortForwardError("no route"),
    lambda: ValueError("boom"),
    lambda: KeyError("spec"),
    lambda: TypeError("NoneType"),
    lambda: RuntimeError("surprise"),
    lambda: AttributeError("no attribute"),
]
EXCEPTION_IDS = ["kube0", "kube409", "kube403", "kube404", "kube422", "kube500", "lock_lost", "lock_held", "input",
                 "spec", "portforward", "value", "key", "type", "runtime", "attribute"]


def ready_answer(*_args, **_kwargs):
    return Response(200, b'{"ready": true}')


def gate_settings():
    return gates.build_gates({"runtime": "mlserver", "model": None, "model_version": None, "port": None,
                              "management_port": 8081, "scheme": "http", "validate_certs": False, "url": None,
                              "health_path": None, "model_path": None, "path": None, "expect_status": 200,
                              "json_path": None, "expect": None, "sample": "100%", "timeout": 1.0, "retries": 1,
                              "interval": 1.0, "smoke": None, "bake_seconds": 3, "bake_interval": 1.0,
                              "prometheus": None, "cloudwatch": None})


SCENARIOS = {
    "rolling": dict(image="repo/model:v2"),
    "rolling_gated": dict(image="repo/model:v2", gated=True),
    "rolling_crash": dict(image="repo/model:crash"),
    "rolling_pause": dict(image="repo/model:crash", on_failure="pause"),
    "canary": dict(image="repo/model:v2", strategy="canary", canary_steps=[50], canary_pause_seconds=3),
    "canary_crash": dict(image="repo/model:crash", strategy="canary", canary_steps=[50]),
    "blue_green": dict(image="repo/model:v2", strategy="blue_green", service="llm", rollback_window_seconds=3),
    "blue_green_crash": dict(image="repo/model:crash", strategy="blue_green", service="llm"),
}


def run(name, observer=None, faults=()):
    params = dict(SCENARIOS[name])
    gated = params.pop("gated", False)
    world = World()
    for fault in faults:
        world.api.fail(**fault)

    def observe(phase):
        world.observe(phase)
        if observer:
            observer(phase)

    # Every gate request gets a ready answer.
    real, gates.pod_request = gates.pod_request, ready_answer
    try:
        result = world.run(gates=gate_settings() if gated else None, observer=observe, **params)
    finally:
        gates.pod_request = real
    return world, result


def phases_of(name):
    world, result = run(name)
    assert result["verdict"] in ("complete", "rolled_back", "paused"), result
    return sorted(set(world.phases))


CASES = [(name, phase) for name in SCENARIOS for phase in phases_of(name)]


def check(world, result, leftovers=True):
    assert_contract(result)
    deployment_writes = [w for w in world.api.writes if w[1].endswith("/deployments/llm")]
    early = ("read", "plan", "lock", "preflight")
    assert not [w for w in deployment_writes if w[2] in early], deployment_writes
    for leftover in ("llm-canary", "llm-green") if leftovers else ():
        if world.api.obj("deployments", "serving", leftover) is not None:
            assert leftover in result["message"], result["message"]


@pytest.mark.parametrize("make", EXCEPTIONS, ids=EXCEPTION_IDS)
@pytest.mark.parametrize("name, phase", CASES, ids=["%s-%s" % c for c in CASES])
def test_an_exception_as_a_phase_begins_ends_in_the_full_result(name, phase, make):
    def observer(entered):
        if entered == phase:
            raise make()

    world, result = run(name, observer=observer)
    check(world, result)
    assert result["verdict"] in ("failed", "paused")


@pytest.mark.parametrize("make", EXCEPTIONS[:6], ids=EXCEPTION_IDS[:6])
@pytest.mark.parametrize("name, phase", CASES, ids=["%s-%s" % c for c in CASES])
def test_an_api_error_inside_a_phase_ends_in_the_full_result(name, phase, make):
    world, result = run(name, faults=[dict(exc=make(), phase=phase, times=1)])
    check(world, result)


@pytest.mark.parametrize("make", EXCEPTIONS[:6], ids=EXCEPTION_IDS[:6])
@pytest.mark.parametrize("name, phase", CASES, ids=["%s-%s" % c for c in CASES])
def test_an_api_that_keeps_failing_in_a_phase_ends_in_the_full_result(name, phase, make):
    world, result = run(name, faults=[dict(exc=make(), phase=phase, times=10 ** 6)])
    # An API that answers 404 to every request says the canary is gone; there is no asking it otherwise.
    check(world, result, leftovers=result["reason"] != "complete" or "404" not in repr(make()) and "gone" not in str(make()))


# Phases whose time counts in durations.total only (documented under durations in model_rollout).
UNTIMED = {"read", "plan", "lock", "preflight", "preview"}


@pytest.mark.parametrize("name, phase", CASES, ids=["%s-%s" % c for c in CASES])
def test_every_phase_lands_in_a_duration_or_is_counted_in_total_only(name, phase):
    assert (duration_of(phase) is not None) != (phase in UNTIMED), phase
