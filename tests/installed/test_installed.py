"""The installed collection, as a user runs it, on the oldest and the newest versions we claim.

Each test runs ansible commands of the claim's venv from a work directory outside the checkout,
against the collection installed from the tarball, and asserts what the cluster holds afterwards.
The account is the ServiceAccount docs/rbac.md sets up, so the page's Roles are proven enough.
"""

import json
import os
import re

import pytest
import yaml

from tests.helpers.kube import deployment_manifest, service_manifest, wait_for
from tests.installed import harness
from testground.collection import REPO_ROOT

REGISTRY = "registry.example.com/team/"


def apps(cluster):
    from kubernetes import client

    return client.AppsV1Api(cluster.api())


def core(cluster):
    from kubernetes import client

    return client.CoreV1Api(cluster.api())


def complete(cluster, namespace, name, image):
    d = apps(cluster).read_namespaced_deployment(name, namespace)
    s = d.status
    return (d.spec.template.spec.containers[0].image == image and (s.observed_generation or 0) >= d.metadata.generation
            and s.updated_replicas == d.spec.replicas == (s.available_replicas or 0) == (s.replicas or 0))


def deploy(cluster, namespace, name, image):
    if not any(d.metadata.name == name for d in apps(cluster).list_namespaced_deployment(namespace).items):
        apps(cluster).create_namespaced_deployment(namespace, deployment_manifest(name, image))
        core(cluster).create_namespaced_service(namespace, service_manifest(name))
    wait_for(lambda: complete(cluster, namespace, name, image), 120, "%s on %s" % (name, image))


def image_of(cluster, namespace, name):
    return apps(cluster).read_namespaced_deployment(name, namespace).spec.template.spec.containers[0].image


def write(installed, name, data):
    path = os.path.join(installed.work, name)
    with open(path, "w") as f:
        yaml.safe_dump(data, f, sort_keys=False)
    return path


# Plugin directories ansible-doc documents, and how it names their type. The rest hold code that
# other plugins use (documented through them: an action plugin through its module).
DOC_TYPES = {"modules": "module", "inventory": "inventory", "filter": "filter", "test": "test", "lookup": "lookup",
             "callback": "callback", "connection": "connection", "become": "become", "cache": "cache",
             "vars": "vars", "strategy": "strategy", "shell": "shell"}
NOT_DOCUMENTED = {"action", "module_utils", "doc_fragments", "plugin_utils"}
# Filter and test plugins are documented per filter, in a YAML file beside the code.
DOCS_IN_YAML = {"filter", "test"}


def plugin_names(root, kind):
    directory = os.path.join(root, "plugins", kind)
    ext = ".yml" if kind in DOCS_IN_YAML else ".py"
    return sorted(n[:-len(ext)] for n in os.listdir(directory) if n.endswith(ext) and n != "__init__.py")


def plugin_kinds(root):
    kinds = sorted(d for d in os.listdir(os.path.join(root, "plugins")) if not d.startswith(("_", ".")))
    unknown = set(kinds) - set(DOC_TYPES) - NOT_DOCUMENTED
    assert not unknown, "plugins/%s: say in DOC_TYPES or NOT_DOCUMENTED whether ansible-doc documents it" % unknown
    return [k for k in kinds if k in DOC_TYPES]


# -- what was installed -------------------------------------------------------------------------
def test_the_claimed_versions_run(installed):
    core_version, kubernetes_version = installed.venv.versions()[:2]
    pins = dict(line.split("==") for line in installed.venv.requirements if "==" in line)
    assert core_version == pins["ansible-core"] and kubernetes_version == pins["kubernetes"]


def test_the_installed_files_are_the_ones_the_tarball_lists(installed):
    listed = installed.galaxy("collection", "list", "-p", installed.collections, "--format", "json").stdout
    found = json.loads(listed)
    where = os.path.join(installed.collections, "ansible_collections")
    assert found[where]["modelops.serving"]["version"] == galaxy_version()
    assert sorted(found[where]) == ["amazon.aws", "community.aws", "kubernetes.core", "modelops.serving"]
    out = installed.galaxy("collection", "verify", "--offline", "-p", installed.collections, "modelops.serving")
    assert ("Successfully verified that checksums for 'modelops.serving:%s' are internally consistent" % galaxy_version()
            in out.stdout), out.stdout


def galaxy_version():
    with open(os.path.join(REPO_ROOT, "galaxy.yml")) as f:
        return yaml.safe_load(f)["version"]


# -- ansible-doc of every plugin and role ---------------------------------------------------------
def test_ansible_doc_renders_every_plugin(installed):
    kinds = plugin_kinds(installed.path)
    assert kinds == plugin_kinds(REPO_ROOT) and "modules" in kinds
    for kind in kinds:
        names = plugin_names(installed.path, kind)
        assert names == plugin_names(REPO_ROOT, kind), "the tarball lacks a %s plugin of the checkout" % kind
        fqcns = ["modelops.serving." + n for n in names]
        docs = json.loads(installed.doc("--json", "-t", DOC_TYPES[kind], *fqcns).stdout)
        assert sorted(docs) == sorted(fqcns), kind
        for fqcn in fqcns:
            assert docs[fqcn]["doc"]["short_description"], fqcn
        text = installed.doc("-t", DOC_TYPES[kind], *fqcns)
        for fqcn in fqcns:
            assert fqcn in text.stdout
        assert "ERROR" not in text.stdout + text.stderr and "WARNING" not in text.stderr, text.stderr


def test_ansible_doc_renders_every_role_entry_point(installed):
    roles = sorted(os.listdir(os.path.join(installed.path, "roles")))
    assert roles == sorted(os.listdir(os.path.join(REPO_ROOT, "roles")))
    fqcns = ["modelops.serving." + r for r in roles]
    docs = json.loads(installed.doc("--json", "-t", "role", *fqcns).stdout)
    for role in roles:
        with open(os.path.join(installed.path, "roles", role, "meta", "argument_specs.yml")) as f:
            entry_points = sorted(yaml.safe_load(f)["argument_specs"])
        assert sorted(docs["modelops.serving." + role]["entry_points"]) == entry_points
    listing = installed.doc("-t", "role", "-l", "modelops.serving").stdout
    for fqcn in fqcns:
        assert fqcn in listing


# -- docs/rbac.md, followed as written ------------------------------------------------------------
def test_the_rbac_page_answers_as_it_says(installed, account):
    blocks = harness.marked_blocks(os.path.join(installed.path, "docs", "rbac.md"))
    lines = [line for line in blocks["rbac-can-i"].splitlines() if "auth can-i" in line]
    assert len(lines) >= 6
    for line in lines:
        command, expected = re.match(r"^(.*?)\s+#\s*(yes|no)\s*$", line).groups()
        proc = installed.shell(command, cwd=account["workdir"], check=False, NS=account["namespace"],
                               SA=account["name"])
        assert proc.stdout.strip() == expected, (line, proc.stdout, proc.stderr)


# -- the README's task ----------------------------------------------------------------------------
def readme_play(installed):
    """The play of the README's "Use it on real clusters" section, from the installed README."""
    with open(os.path.join(installed.path, "README.md")) as f:
        text = f.read()
    section = text.split("## Use it on real clusters", 1)[1]
    return yaml.safe_load(section.split("```yaml\n", 1)[1].split("\n```", 1)[0])


def run_readme_task(installed, cluster, account, result_name):
    play = readme_play(installed)
    (task,) = play[0]["tasks"]
    args = task["modelops.serving.model_rollout"]
    # Only where to connect and which namespace are the user's own; the rest stays as written.
    assert {"context", "namespace", "name", "container", "image"} <= set(args)
    args.update({"context": account["context"], "namespace": account["namespace"]})
    task["register"] = "readme_result"
    play[0]["tasks"].append({"name": "Keep the result", "ansible.builtin.copy": {
        "content": "{{ readme_result | to_json }}", "dest": os.path.join(installed.work, result_name)}})
    installed.playbook(write(installed, "readme.yml", play), K8S_AUTH_KUBECONFIG=account["kubeconfig"])
    with open(os.path.join(installed.work, result_name)) as f:
        return args, json.load(f)


def test_the_readme_task_rolls_out_and_a_rerun_changes_nothing(installed, cluster, account):
    ns = account["namespace"]
    deploy(cluster, ns, "llm", REGISTRY + "llm:v1")
    args, result = run_readme_task(installed, cluster, account, "readme-1.json")
    assert result["verdict"] == "complete" and result["changed"] is True, result
    assert result["previous"]["image"] == REGISTRY + "llm:v1" and result["current"]["image"] == args["image"]
    assert complete(cluster, ns, "llm", args["image"])
    d = apps(cluster).read_namespaced_deployment("llm", ns)
    (container,) = d.spec.template.spec.containers
    assert {e.name: e.value for e in container.env or []} == args["env"]
    assert d.spec.progress_deadline_seconds == args["progress_deadline_seconds"]

    _args, again = run_readme_task(installed, cluster, account, "readme-2.json")
    assert again["verdict"] == "unchanged" and again["changed"] is False, again
    assert apps(cluster).read_namespaced_deployment("llm", ns).metadata.resource_version == d.metadata.resource_version


# -- a playbook by its FQCN -----------------------------------------------------------------------
def test_the_fleet_playbook_by_fqcn(installed, cluster, account):
    ns = account["namespace"]
    deploy(cluster, ns, "fleet", REGISTRY + "llm:v1")
    inventory = write(installed, "fleet-inventory.yml", {"all": {"hosts": {"c1": {
        "ansible_connection": "local", "ansible_python_interpreter": installed.venv.bin("python"),
        "model_server_kubeconfig": account["kubeconfig"], "model_server_context": account["context"]}}}})
    reports = os.path.join(installed.root, "reports")
    extra = {"model_server_image": REGISTRY + "llm:v3", "model_server_name": "fleet", "model_server_namespace": ns,
             "model_server_container_name": "server", "rollout_waves": [1], "rollout_bake_seconds": 0,
             "rollout_report_dir": reports}
    installed.playbook("-i", inventory, "modelops.serving.rollout", "-e", json.dumps(extra))
    assert complete(cluster, ns, "fleet", REGISTRY + "llm:v3")
    (report_path,) = [os.path.join(reports, n) for n in os.listdir(reports) if n.endswith(".json")]
    with open(report_path) as f:
        report = json.load(f)
    assert report["outcome"] == "succeeded"
    assert [(c["cluster"], c["verdict"]) for c in report["clusters"]] == [("c1", "complete")]
    assert os.path.getsize(report_path[:-5] + ".png") > 10000


# -- canary and blue/green with the strategies Role ------------------------------------------------
@pytest.mark.parametrize("strategy", ["canary", "blue_green"])
def test_the_strategies_run_with_the_accounts_roles(installed, cluster, account, strategy):
    ns, name = account["namespace"], "s-" + strategy.replace("_", "")
    deploy(cluster, ns, name, REGISTRY + "llm:v1")
    args = {"name": name, "namespace": ns, "container": "server", "image": REGISTRY + "llm:v2",
            "strategy": strategy, "context": account["context"]}
    args.update({"canary_steps": [50], "canary_pause_seconds": 0} if strategy == "canary"
                else {"service": name, "rollback_window_seconds": 0})
    play = [{"name": "Roll with " + strategy, "hosts": "localhost", "connection": "local", "gather_facts": False,
             "tasks": [{"name": "Roll", "modelops.serving.model_rollout": args, "register": "result"},
                       {"name": "Check", "ansible.builtin.assert": {"that": ["result.verdict == 'complete'"]}}]}]
    installed.playbook(write(installed, strategy + ".yml", play), K8S_AUTH_KUBECONFIG=account["kubeconfig"])
    assert complete(cluster, ns, name, REGISTRY + "llm:v2")
    assert sorted(d.metadata.name for d in apps(cluster).list_namespaced_deployment(ns).items
                  if d.metadata.name.startswith(name)) == [name]


# -- the roles from the installed path ------------------------------------------------------------
def role_play(account, **variables):
    values = {"model_server_name": "chat", "model_server_namespace": account["namespace"],
              "model_server_create_namespace": False, "model_server_kubeconfig": account["kubeconfig"],
              "model_server_context": account["context"], "model_server_preset": "kserve_v2", "model_server_model_name": "tiny",
              "model_server_resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
              "model_server_min_ready_seconds": 0, "model_server_prestop_sleep_seconds": 0,
              "model_server_termination_grace_period_seconds": 5}
    values.update(variables)
    return [{"name": "A model server", "hosts": "localhost", "connection": "local", "gather_facts": False,
             "roles": [{"role": "modelops.serving.model_server", "vars": values}]}]


def test_the_model_server_role_deploys_and_rolls_out(installed, cluster, account):
    ns = account["namespace"]
    installed.playbook(write(installed, "role-v1.yml", role_play(account, model_server_image=REGISTRY + "chat:v1")))
    assert complete(cluster, ns, "chat", REGISTRY + "chat:v1")
    service = core(cluster).read_namespaced_service("chat", ns)
    assert [p.port for p in service.spec.ports] == [8080, 8081, 8082]
    from kubernetes import client

    pdb = client.PolicyV1Api(cluster.api()).read_namespaced_pod_disruption_budget("chat", ns)
    assert pdb.spec.max_unavailable == 1
    # A new image of an existing Deployment goes through model_rollout, with the same account.
    out = installed.playbook(write(installed, "role-v2.yml", role_play(account, model_server_image=REGISTRY + "chat:v2")))
    assert "Roll out " + REGISTRY + "chat:v2" in out.stdout
    assert complete(cluster, ns, "chat", REGISTRY + "chat:v2")


def test_the_eks_cluster_role_checks_its_variables_from_the_installed_path(installed):
    proc = installed.playbook("modelops.serving.teardown", check=False)
    assert proc.returncode != 0
    flat = " ".join((proc.stdout + proc.stderr).split())
    assert "missing required arguments: eks_cluster_name, eks_cluster_region" in flat, flat[-2000:]
    assert "EKS | Find the VPC" not in flat
