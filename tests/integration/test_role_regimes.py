"""The model_server role's waits through model_rollout's engine, and model_server_env as the whole env."""

import os
import subprocess
import sys
import tempfile

import yaml

from tests.integration.conftest import wait_for
from testground.collection import ansible_env


def _play(tg, namespace, **role_vars):
    """ansible-playbook with the role on the test ground; (exit code, output)."""
    values = {
        "model_server_kubeconfig": tg.kubeconfig, "model_server_context": tg.context,
        "model_server_namespace": namespace, "model_server_create_namespace": False,
        "model_server_name": "llm", "model_server_preset": "custom", "model_server_image": "repo/model:v1",
        "model_server_replicas": 2, "model_server_min_ready_seconds": 0, "model_server_prestop_sleep_seconds": 0,
        "model_server_termination_grace_period_seconds": 5, "model_server_model_load_seconds": 60,
        "model_server_pdb_enabled": False, "model_server_wait_timeout": 300,
    }
    values.update(role_vars)
    play = [{"name": "the role", "hosts": "localhost", "gather_facts": False, "vars": values,
             "tasks": [{"name": "deploy", "ansible.builtin.include_role": {"name": "modelops.serving.model_server"}}]}]
    workdir = tempfile.mkdtemp(prefix="role-")
    path = os.path.join(workdir, "play.yml")
    with open(path, "w") as f:
        yaml.safe_dump(play, f)
    env = ansible_env()
    env["ANSIBLE_PYTHON_INTERPRETER"] = sys.executable
    out = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", path], env=env,
                         capture_output=True, text=True, timeout=900, check=False)
    return out.returncode, out.stdout + out.stderr


def _container(k8s, namespace):
    return k8s.apps.read_namespaced_deployment("llm", namespace).spec.template.spec.containers[0]


def test_a_first_deployment_with_no_cpu_room_fails_fast_with_the_cause(tg, k8s, namespace):
    # 40 cores a pod: no CPU node (32 cores) takes one.
    rc, out = _play(tg, namespace, model_server_resources={"requests": {"cpu": "40"}},
                    model_server_wait_timeout=600)
    assert rc != 0, out
    assert "did not roll out: failed (unschedulable)" in out, out
    assert "Insufficient cpu" in out and "nothing to roll back to" in out
    # Nothing was written after the verdict: the Deployment stays as the role applied it.
    assert _container(k8s, namespace).image == "repo/model:v1"


def test_a_key_removed_from_model_server_env_leaves_the_pods(tg, k8s, namespace):
    rc, out = _play(tg, namespace, model_server_env={"MODEL_VERSION": "1", "OLD_FLAG": "on"})
    assert rc == 0, out
    rc, out = _play(tg, namespace, model_server_env={"MODEL_VERSION": "2"})
    assert rc == 0, out
    env = {e.name: e.value for e in _container(k8s, namespace).env or []}
    assert env == {"MODEL_VERSION": "2"}
    wait_for(lambda: all({e.name for e in p.spec.containers[0].env or []} == {"MODEL_VERSION"}
                         for p in k8s.core.list_namespaced_pod(namespace, label_selector="app.kubernetes.io/name=llm")
                         .items if not p.metadata.deletion_timestamp), 60, "no pod with OLD_FLAG")
    # And a re-run changes nothing.
    before = k8s.apps.read_namespaced_deployment("llm", namespace).metadata.resource_version
    rc, out = _play(tg, namespace, model_server_env={"MODEL_VERSION": "2"})
    assert rc == 0, out
    assert k8s.apps.read_namespaced_deployment("llm", namespace).metadata.resource_version == before
