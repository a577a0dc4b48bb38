"""The benchmark's peers phase at smoke size: every scenario ran with both contenders, and the causes are named.

Timings are never asserted. What is asserted is the shape docs/benchmarks.md is written from:
model_rollout and its peer (Argo Rollouts, or Flagger for blue/green) each have a run of every
scenario with a verdict and its figures, read from the bench's own watches, and model_rollout's
failure verdicts name their cause.

The peers are built from the Go module proxy (``python -m testground.peers``, tens of minutes on
2 cores, once per release), far longer than the everyday test run may grow, so building them is
opt-in: where they are not built this module skips and says how to build them.
"""

import json
import os

import pytest

from bench import run
from testground.modelserver.metrics import PROMETHEUS
from testground.peers import build

MISSING = build.missing()
pytestmark = pytest.mark.skipif(
    bool(MISSING), reason="peer controllers not built (%s); build them once with `python -m testground.peers`"
    % "; ".join("%s: %s" % (k, ", ".join(v)) for k, v in sorted(MISSING.items())))

CANARY = "peer-canary-4"
FAILURE = "peer-failure-pullfail"
SLOW = "peer-slow-6"
BLUE_GREEN = "peer-bluegreen-metric"
BLUE_GREEN_ARGO = "peer-bluegreen-analysis"


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench-peers")
    assert run.main(["--smoke", "--phases", "peers", "--out", str(out), "--name", "peers", "--no-plots"]) == 0
    with open(os.path.join(str(out), "peers.json")) as f:
        data = json.load(f)
    with open(os.path.join(str(out), "peers.md")) as f:
        data["markdown"] = f.read()
    return data


def runs(smoke, scenario):
    return {r["contender"]: r for r in smoke["runs"] if r["scenario"] == scenario}


def test_every_scenario_has_both_contenders(smoke):
    expected = {CANARY: {"model_rollout", "argo-rollouts"}, FAILURE: {"model_rollout", "argo-rollouts"},
                SLOW: {"model_rollout", "argo-rollouts"}}
    if os.path.exists(PROMETHEUS):
        expected[BLUE_GREEN] = {"model_rollout", "flagger"}
        expected[BLUE_GREEN_ARGO] = {"model_rollout", "argo-rollouts"}
    for scenario, names in expected.items():
        assert set(runs(smoke, scenario)) == names, (scenario, smoke["meta"]["notes"])
        assert set(smoke["summary"][scenario]) == names


def test_good_rollouts_complete_for_both_with_their_figures(smoke):
    for scenario in (CANARY, SLOW):
        for name, r in runs(smoke, scenario).items():
            assert r["verdict"] == "complete", r
            for key in ("complete_s", "verdict_latency_s", "first_new_pod_s", "cpu_s", "floor", "zero_ready_s"):
                assert isinstance(r[key], (int, float)), (name, key, r.get(key))
            assert r["requests"] > 0, r
        # Argo's resident controller did the work: its own requests are in the count.
        assert runs(smoke, scenario)["argo-rollouts"]["requests_by_agent"].get("rollouts-controller", 0) > 0


def test_a_bad_image_fails_for_both_and_ours_names_the_cause(smoke):
    by = runs(smoke, FAILURE)
    ours = by["model_rollout"]
    assert ours["verdict"] == "rolled_back" and ours["reason"] == "image_pull", ours
    assert ours["reason_named"] is True
    argo = by["argo-rollouts"]
    assert argo["verdict"] == "failed", argo
    assert isinstance(argo["reason_named"], bool)
    for r in by.values():
        for key in ("failure_verdict_s", "abort_s", "back_to_full_s", "floor"):
            assert isinstance(r[key], (int, float)), (r["contender"], key, r.get(key))


@pytest.mark.skipif(not os.path.exists(PROMETHEUS), reason="Debian package prometheus is not installed")
@pytest.mark.parametrize("scenario, peer", [(BLUE_GREEN, "flagger"), (BLUE_GREEN_ARGO, "argo-rollouts")])
def test_a_failing_metric_stops_blue_green_for_both(smoke, scenario, peer):
    by = runs(smoke, scenario)
    ours = by["model_rollout"]
    assert ours["verdict"] == "rolled_back" and ours["reason"] == "prometheus_threshold", ours
    assert ours["reason_named"] is True
    assert by[peer]["verdict"] == "failed", by[peer]
    for r in by.values():
        assert isinstance(r["back_to_full_s"], (int, float)), r
        assert r["floor"] == r["expected_floor"], r  # blue kept serving in both


def test_table_has_the_peers_section_with_versions(smoke):
    assert "## Against the peers" in smoke["markdown"]
    assert "| canary-4 | model_rollout |" in smoke["markdown"]
    assert "| failure-pullfail | argo-rollouts |" in smoke["markdown"]
    assert smoke["meta"]["peers"]["versions"]["argo-rollouts"].startswith("v")
    assert set(smoke["meta"]["peers"]["idle_cpu_s_per_min"]) >= {"rollouts-controller"}
