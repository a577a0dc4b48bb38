"""The peers phase's own judgement: when an app is settled, what the table compares, how the build patches."""

import pytest

from bench import peers, peers_report
from testground.peers import build


def pod(name, image, ready, terminating=False):
    meta = {"name": name}
    if terminating:
        meta["deletionTimestamp"] = "2026-12-01T00:00:00Z"
    return {"metadata": meta, "spec": {"containers": [{"image": image}]},
            "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def endpoints(n):
    return {"metadata": {"name": "slice"}, "endpoints": [{"conditions": {"ready": True}}] * n}


@pytest.fixture
def obs():
    return peers.PeerObserver(None, "app", "app=app")


def test_settled_needs_every_live_pod_on_the_image_ready_and_the_endpoints(obs):
    obs._on_pod("ADDED", pod("a", "v1", True), 1.0)
    obs._on_pod("ADDED", pod("b", "v1", True), 1.1)
    assert not obs.settled_now("v1", 2)  # no endpoints yet
    obs._on_slice("ADDED", endpoints(2), 1.2)
    assert obs.settled_now("v1", 2)
    obs._on_pod("ADDED", pod("c", "v2", False), 2.0)  # a canary pod beside them
    assert not obs.settled_now("v1", 2)
    obs._on_pod("MODIFIED", pod("c", "v2", False, terminating=True), 3.0)
    assert obs.settled_now("v1", 2)  # a terminating pod no longer counts
    assert obs.first_created(1.5, "v2") == 2.0
    assert obs.first_terminating(0, "v2") == 3.0
    assert obs.first_settled(2.0, "v1", 2) == 3.0
    assert obs.first_settled(0, "v1", 2) == 1.2


def test_a_phase_is_found_only_after_the_given_time(obs):
    obs._on_custom("MODIFIED", {"status": {"phase": "Healthy"}}, 1.0)
    obs._on_custom("MODIFIED", {"status": {"phase": "Progressing"}}, 2.0)
    obs._on_custom("MODIFIED", {"status": {"phase": "Failed", "conditions": [{"message": "analysis failed"}]}}, 3.0)
    assert obs.first_phase(1.5, ("Healthy", "Failed")) == (3.0, "Failed", "analysis failed")
    assert obs.first_phase(4.0, ("Failed",)) == (None, None, None)
    assert obs.phase() == "Failed"


def test_each_figure_is_a_ratio_to_the_peer_of_the_same_scenario():
    records = [
        {"scenario": "peer-failure-crash", "contender": "model_rollout", "failure_verdict_s": 4.0, "reason_named": True},
        {"scenario": "peer-failure-crash", "contender": "argo-rollouts", "failure_verdict_s": 20.0,
         "reason_named": False},
        {"scenario": "peer-slow-20", "contender": "model_rollout", "verdict_latency_s": 0.2},
        {"scenario": "peer-slow-20", "contender": "argo-rollouts", "verdict_latency_s": 0.4},
        {"scenario": "rollout-3", "contender": "kubectl", "wall_s": 1.0},
    ]
    summ = peers_report.summarize(records)
    assert set(summ) == {"peer-failure-crash", "peer-slow-20"}
    ours = summ["peer-failure-crash"]["model_rollout"]
    assert ours["peer"] == "argo-rollouts"
    assert ours["ratio"]["failure_verdict_s"] == 0.2
    assert ours["reason_named"] == 1 and summ["peer-failure-crash"]["argo-rollouts"]["reason_named"] == 0
    assert summ["peer-slow-20"]["model_rollout"]["ratio"]["verdict_latency_s"] == 0.5
    table = "\n".join(peers_report.markdown({}, summ))
    assert "| failure-crash | model_rollout | 1 |" in table and "(0.20×)" in table


def test_the_loopback_rewrite_changes_exactly_the_listen_address(tmp_path):
    peer = build.Peer("p", "example.com/p", "v1", "local", {}, [], [("srv.go", '"0.0.0.0:%d"', '"127.0.0.1:%d"')])
    (tmp_path / "srv.go").write_text('const addr = "0.0.0.0:%d"\n')
    build._listen_on_loopback(peer, str(tmp_path))
    assert (tmp_path / "srv.go").read_text() == 'const addr = "127.0.0.1:%d"\n'


def test_a_release_without_the_listen_literal_fails_the_build_by_name(tmp_path):
    peer = build.Peer("p", "example.com/p", "v2", "local", {}, [], [("srv.go", '"0.0.0.0:%d"', '"127.0.0.1:%d"')])
    (tmp_path / "srv.go").write_text('const addr = ":%d"\n')
    with pytest.raises(build.BuildError, match="p v2: expected the listen address .* once in srv.go, found it 0"):
        build._listen_on_loopback(peer, str(tmp_path))


def test_each_peer_has_a_cache_of_its_own_keyed_by_release_and_toolchain():
    roots = {p.root for p in build.PEERS.values()}
    assert len(roots) == 2
    argo = build.peer("argo-rollouts")
    assert argo.version in argo.root and argo.toolchain in argo.root
    assert argo.env()["GOTOOLCHAIN"] == argo.toolchain
