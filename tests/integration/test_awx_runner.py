"""The fleet playbooks as AWX runs them: ansible-runner with an inventory, survey answers as extra
vars, credentials as K8S_AUTH_* environment variables, and results in the artifacts directory."""

import glob
import json
import os
import subprocess
import sys
import tempfile

import pytest

from tests.integration.fleet_site import CLUSTERS, INVENTORY, PREFIX, Site
from testground.cluster import Fleet
from testground.collection import REPO_ROOT, ansible_env


@pytest.fixture(scope="module")
def fleet():
    f = Fleet([PREFIX + c for c in CLUSTERS], cpu_nodes=1, gpu_nodes=0)
    f.start()
    yield f
    f.stop()


def runner_env(fleet):
    env = ansible_env()
    env.update({
        # What the kubeconfig credential type injects (see docs/awx.md).
        "K8S_AUTH_KUBECONFIG": fleet.kubeconfig,
        "TESTGROUND_CONTEXT_PREFIX": PREFIX,
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
    })
    return {k: env[k] for k in ("K8S_AUTH_KUBECONFIG", "TESTGROUND_CONTEXT_PREFIX", "ANSIBLE_COLLECTIONS_PATH",
                                "PATH", "ANSIBLE_PYTHON_INTERPRETER")}


def stats_artifact(private_data_dir, ident):
    """custom stats (set_stats) as AWX stores them: artifact_data of the playbook_on_stats event."""
    for path in glob.glob(os.path.join(private_data_dir, "artifacts", ident, "job_events", "*.json")):
        with open(path) as f:
            event = json.load(f)
        if event.get("event") == "playbook_on_stats":
            return event["event_data"].get("artifact_data") or {}
    raise AssertionError("no playbook_on_stats event in the artifacts")


def test_rollout_through_ansible_runner_puts_the_report_in_the_artifacts(fleet):
    import ansible_runner

    site = Site(fleet)
    private = tempfile.mkdtemp(prefix="runner-")
    survey = {  # as an AWX survey sends them: text fields are strings
        "model_server_image": "repo/llm:v2", "model_server_name": site.name,
        "model_server_namespace": site.namespace, "model_server_container_name": "server",
        "rollout_waves": "1, 2", "rollout_bake_seconds": 0, "model_server_on_failure": "rollback",
        "rollout_target": "all",
        # AWX adds these to every job
        "awx_job_id": 4242, "awx_job_template_name": "Fleet rollout",
        "rollout_report_dir": os.path.join(private, "reports"),
    }
    r = ansible_runner.run(private_data_dir=private, project_dir=REPO_ROOT, playbook="playbooks/rollout.yml",
                           inventory=INVENTORY, extravars=survey, envvars=runner_env(fleet), ident="job4242",
                           quiet=True)
    assert r.status == "successful", "".join(r.stdout.read() if hasattr(r.stdout, "read") else "")
    assert r.stats["failures"] == {}
    for c in CLUSTERS:
        assert site.complete(c, "repo/llm:v2"), c
    report = stats_artifact(private, "job4242")["rollout_report"]
    assert report["outcome"] == "succeeded"
    assert report["awx"]["job_id"] == 4242
    assert report["json_path"].endswith("-job4242.json") and os.path.exists(report["json_path"])
    assert report["picture_path"] and os.path.exists(report["picture_path"])
    assert [c["verdict"] for c in report["clusters"]] == ["complete"] * 3
    with open(report["json_path"]) as f:
        assert json.load(f)["clusters"] == report["clusters"]


def test_status_through_ansible_runner(fleet):
    import ansible_runner

    site = Site(fleet)
    private = tempfile.mkdtemp(prefix="runner-")
    r = ansible_runner.run(private_data_dir=private, project_dir=REPO_ROOT, playbook="playbooks/status.yml",
                           inventory=INVENTORY, extravars={"model_server_name": site.name,
                                                           "model_server_namespace": site.namespace,
                                                           "model_server_container_name": "server"},
                           envvars=runner_env(fleet), ident="status", quiet=True)
    assert r.status == "successful"
    table = stats_artifact(private, "status")["rollout_status"]
    assert [(t["cluster"], t["image"], t["complete"]) for t in table] == [(c, "repo/llm:v1", True) for c in CLUSTERS]


def test_ansible_builder_accepts_the_execution_environment():
    context = tempfile.mkdtemp(prefix="ee-")
    builder = os.path.join(os.path.dirname(sys.executable), "ansible-builder")
    proc = subprocess.run([builder, "create", "-f", "execution-environment.yml", "--context", context],
                          cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(os.path.join(context, "Dockerfile")) as f:
        containerfile = f.read()
    assert "ansible-galaxy collection install --no-deps -p /usr/share/ansible/collections /tmp/modelops.serving" in containerfile
    collection = os.path.join(context, "_build", "modelops.serving")
    for path in ("galaxy.yml", "meta/runtime.yml", "meta/execution-environment.yml",
                 "plugins/modules/rollout_report.py", "playbooks/rollout.yml", "roles/model_server"):
        assert os.path.exists(os.path.join(collection, path)), path
