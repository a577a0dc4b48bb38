"""The fleet playbooks as AWX runs them: each job's private data directory built on the controller
with its survey answers, AWX's variables and injected credentials, ``ansible-runner transmit`` to an
execution node on loopback (its own private data directory and environment), ``ansible-runner
worker`` there, ``ansible-runner process`` back on the controller: events, artifacts, the set_stats
report and the exit status as AWX would store them.
"""

import json
import os
import subprocess
import sys
import tempfile

import pytest
import yaml

from tests.helpers.kube import wait_for
from tests.integration.awx_controller import BearerTokenCredential, Credential, Job, shipped_configuration
from tests.integration.fleet_site import CLUSTERS, PREFIX, Site, start_fleet
from testground.collection import REPO_ROOT, collections_dir
from testground.execution_node import ExecutionNode

AWX = shipped_configuration()
TEMPLATES = AWX["templates"]


@pytest.fixture(scope="module")
def fleet():
    f = start_fleet()
    yield f
    f.stop()


@pytest.fixture(scope="module")
def node():
    workdir = tempfile.mkdtemp(prefix="execution-node-")
    os.makedirs(os.path.join(workdir, "home"))
    # What an execution environment carries: ansible-runner, ansible-core, the collections; no
    # credentials and nothing of the controller's environment.
    n = ExecutionNode(workdir, environment={
        "PATH": os.path.dirname(sys.executable) + ":/usr/bin:/bin", "HOME": os.path.join(workdir, "home"),
        "LANG": "C.UTF-8", "ANSIBLE_COLLECTIONS_PATH": collections_dir(), "ANSIBLE_NOCOLOR": "1",
    }).start()
    yield n
    n.stop()


def survey(site, **answers):
    """The rollout survey's answers as AWX sends them: text fields are strings."""
    with open(os.path.join(REPO_ROOT, "awx", "surveys", "rollout.json")) as f:
        spec = json.load(f)["spec"]
    values = dict((q["variable"], q["default"]) for q in spec)
    values.update({"model_server_name": site.name, "model_server_namespace": site.namespace,
                   "model_server_container_name": "server", "rollout_waves": "1, 2", "rollout_bake_seconds": 0})
    values.update(answers)
    return values


def inventory(clusters=tuple(CLUSTERS), contexts=True):
    """An AWX inventory of the clusters: waves as groups, contexts as host variables, no credentials."""
    def host(c):
        return {"model_server_context": PREFIX + c} if contexts else {}
    groups = {"wave_1": [c for c in clusters if c == "tg1"], "wave_2": [c for c in clusters if c != "tg1"]}
    return {"all": {"vars": {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"},
                    "children": dict((g, {"hosts": dict((c, host(c)) for c in members)})
                                     for g, members in groups.items() if members)}}


def kubeconfig_credential(fleet):
    """The 'Kubeconfig file' credential type configure.yml creates, holding the fleet's kubeconfig."""
    with open(fleet.kubeconfig) as f:
        return Credential(AWX["credential_type"]["injectors"], {"kubeconfig": f.read()})


def report_of(job):
    return job.stats()["rollout_report"]


def test_a_rollout_job_on_an_execution_node_streams_its_events_artifacts_and_report_back(fleet, node):
    site = Site(fleet)
    job = Job(node, 4242, TEMPLATES["Fleet rollout"], inventory(), survey(site, model_server_image="repo/llm:v2"),
              credentials=[kubeconfig_credential(fleet)])
    status, rc = job.run()
    assert (status, rc) == ("successful", 0), job.stdout()
    for c in CLUSTERS:
        assert site.complete(c, "repo/llm:v2"), c
    # The kubeconfig reached the job as a file on the node, named by K8S_AUTH_KUBECONFIG.
    assert job.envvars["K8S_AUTH_KUBECONFIG"].startswith(node.job_dir(job.ident) + "/env/")
    events = job.events()
    assert any(e["event"] == "runner_on_ok" and e["event_data"]["task"].startswith("Change |") for e in events)
    assert [e["event"] for e in events][-1] == "playbook_on_stats"
    report = report_of(job)
    assert (report["outcome"], report["awx"]["job_id"]) == ("succeeded", 4242)
    assert [(r["cluster"], r["verdict"], r["wave"]) for r in report["clusters"]] == [
        ("tg1", "complete", 1), ("tg2", "complete", 2), ("tg3", "complete", 2)]
    # Written on the node, where the job ran (gone with it in AWX); the artifact is the lasting copy.
    assert report["json_path"].startswith(node.workdir) and report["json_path"].endswith("-job4242.json")
    with open(report["json_path"]) as f:
        assert json.load(f)["clusters"] == report["clusters"]


def test_a_failure_in_wave_2_ends_the_job_failed_with_the_report_artifact_intact(fleet, node):
    site = Site(fleet)
    # Someone is working on tg2 (kubectl rollout pause) when the job reaches wave 2.
    site.apps["tg2"].patch_namespaced_deployment(site.name, site.namespace, {"spec": {"paused": True}})
    wait_for(lambda: any(c.reason == "DeploymentPaused" for c in site.deployment("tg2").status.conditions or []), 30,
             "the controller to see the pause")
    before = site.versions()
    tg2_before = site.deployment("tg2")
    job = Job(node, 4243, TEMPLATES["Fleet rollout"], inventory(), survey(site, model_server_image="repo/llm:v2"),
              credentials=[kubeconfig_credential(fleet)])
    status, rc = job.run()
    assert (status, rc) == ("failed", 2), job.stdout()
    assert "tg2: preflight failed (paused), nothing in this wave was changed" in job.stdout()
    assert site.complete("tg1", "repo/llm:v2")
    # tg3 untouched: not even a status write. tg2: the controller may still write the pause's status
    # after its condition showed, so what must not move is what a writer of the spec moves.
    assert site.versions()["tg3"] == before["tg3"]
    after = site.deployment("tg2")
    assert after.metadata.generation == tg2_before.metadata.generation
    assert after.spec.template.to_dict() == tg2_before.spec.template.to_dict()
    report = report_of(job)
    assert report["outcome"] == "failed"
    assert [(f["cluster"], f["wave"], f["stage"], f["reason"]) for f in report["failed_clusters"]] == [
        ("tg2", 2, "preflight", "paused")]
    by = dict((r["cluster"], r) for r in report["clusters"])
    assert (by["tg1"]["verdict"], by["tg3"]["verdict"], by["tg3"]["reason"]) == ("complete", "not_started", "wave_refused")
    failed_hosts = [e["event_data"]["host"] for e in job.events() if e["event"] == "runner_on_failed"]
    assert failed_hosts == ["tg2"]


def test_a_bearer_token_credential_job_never_writes_the_token(fleet, node):
    from kubernetes import client

    site = Site(fleet)
    cluster = fleet[PREFIX + "tg2"]
    rbac, core = client.RbacAuthorizationV1Api(cluster.api()), client.CoreV1Api(cluster.api())
    with open(os.path.join(REPO_ROOT, "docs", "rbac", "model-rollout.yml")) as f:
        role = yaml.safe_load(f)
    rbac.create_namespaced_role(site.namespace, role)
    core.create_namespaced_service_account(site.namespace, {"metadata": {"name": "awx"}})
    rbac.create_namespaced_role_binding(site.namespace, {
        "metadata": {"name": "awx"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role["metadata"]["name"]},
        "subjects": [{"kind": "ServiceAccount", "name": "awx", "namespace": site.namespace}]})
    token = core.create_namespaced_service_account_token("awx", site.namespace,
                                                         {"spec": {"expirationSeconds": 3600}}).status.token
    with open(cluster.pki["ca_crt"]) as f:
        credential = BearerTokenCredential(cluster.server, token, verify_ssl=True, ssl_ca_cert=f.read())
    # One API server per bearer-token job: an inventory of that cluster, no connection variables.
    job = Job(node, 4244, TEMPLATES["Fleet rollout"], inventory(["tg2"], contexts=False),
              survey(site, model_server_image="repo/llm:v2", rollout_waves="100%"), credentials=[credential],
              verbosity=3)
    status, rc = job.run()
    assert (status, rc) == ("successful", 0), job.stdout()
    assert site.complete("tg2", "repo/llm:v2")
    assert job.envvars["K8S_AUTH_API_KEY"] == token
    written = job.written_files(os.path.join(node.workdir, "home"))
    assert any("/job_events/" in p for p in written) and any(p.endswith("-job4244.json") for p in written)
    assert any(p.endswith("-job4244.png") for p in written)
    holding = []
    for path in written:
        with open(path, "rb") as f:
            data = f.read()
        if token.encode() in data or token[-24:].encode() in data:
            holding.append(os.path.relpath(path, job.private if path.startswith(job.private) else node.workdir))
    # ansible-runner records the environment it ran the job with in its own "command" artifact, on the
    # node and streamed back (AWX keeps a redacted job_env instead); no event, no report and no other
    # artifact has the token.
    runner_record = os.path.join("artifacts", job.ident, "command")
    assert sorted(holding) == [runner_record, os.path.join("jobs", job.ident, runner_record)], holding


def test_the_shipped_workflow_canary_approval_then_the_rest(fleet, node):
    site = Site(fleet)
    nodes = dict((n["identifier"], n) for n in AWX["workflow"]["workflow_nodes"])
    canary, approve, rest = nodes["canary"], nodes["approve"], nodes["rest"]
    assert approve["unified_job_template"]["type"] == "workflow_approval"
    assert canary["related"]["success_nodes"] == [{"identifier": "approve"}]
    assert approve["related"]["success_nodes"] == [{"identifier": "rest"}]
    workflow_job = {"id": 500, "name": AWX["workflow"]["name"]}
    answers = survey(site, model_server_image="repo/llm:v2")
    before = site.versions()

    first = Job(node, 501, TEMPLATES[canary["unified_job_template"]["name"]], inventory(), answers,
                limit=canary["limit"], credentials=[kubeconfig_credential(fleet)], workflow_job=workflow_job)
    assert first.run() == ("successful", 0), first.stdout()
    # The approver looks at the canary's report artifact: the canary only, complete; the rest untouched.
    looked_at = report_of(first)
    assert [(r["cluster"], r["verdict"]) for r in looked_at["clusters"]] == [("tg1", "complete")]
    assert looked_at["awx"] == {"job_id": 501, "workflow_job_id": 500, "job_template_name": "Fleet rollout"}
    assert [site.versions()[c] for c in ("tg2", "tg3")] == [before["tg2"], before["tg3"]]

    second = Job(node, 502, TEMPLATES[rest["unified_job_template"]["name"]], inventory(), answers,
                 limit=rest["limit"], credentials=[kubeconfig_credential(fleet)], workflow_job=workflow_job)
    assert second.run() == ("successful", 0), second.stdout()
    for c in CLUSTERS:
        assert site.complete(c, "repo/llm:v2"), c
    after = report_of(second)
    assert [(r["cluster"], r["verdict"], r["wave"]) for r in after["clusters"]] == [
        ("tg2", "complete", 1), ("tg3", "complete", 2)]
    assert after["awx"]["workflow_job_id"] == 500 and after["json_path"].endswith("-job502.json")


def test_a_status_job_hands_its_table_to_awx(fleet, node):
    site = Site(fleet)
    job = Job(node, 4245, TEMPLATES["Fleet status"], inventory(),
              {"model_server_name": site.name, "model_server_namespace": site.namespace,
               "model_server_container_name": "server", "rollout_target": "all"},
              limit="wave_2", credentials=[kubeconfig_credential(fleet)])
    assert job.run() == ("successful", 0), job.stdout()
    table = job.stats()["rollout_status"]
    assert [(t["cluster"], t["image"], t["complete"]) for t in table] == [("tg2", "repo/llm:v1", True),
                                                                          ("tg3", "repo/llm:v1", True)]


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
    for path in ("galaxy.yml", "meta/runtime.yml", "meta/execution-environment.yml", "plugins/modules/rollout_report.py",
                 "plugins/modules/fleet_check.py", "playbooks/rollout.yml", "roles/model_server", "roles/fleet"):
        assert os.path.exists(os.path.join(collection, path)), path
