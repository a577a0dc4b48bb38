"""Role model_server: what its templates render for each preset and option, and its input checks.

Manifests are rendered the way the role renders them: ansible's templar over the role's
defaults and vars (tasks only choose which variables are set). The input checks run the role
with ansible-playbook against an unreachable API server: a check that passes would reach the
API and fail differently, so each test also proves nothing was attempted.
"""

import os
import subprocess
import sys

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from testground.collection import REPO_ROOT, ansible_env

ROLE = os.path.join(REPO_ROOT, "roles", "model_server")

PRESETS = {
    # preset: (ports by name, readiness (path, port), liveness (path or None for TCP, port), startup path, gate)
    "triton": ({"http": 8000, "grpc": 8001, "metrics": 8002}, ("/v2/health/ready", "http"),
               ("/v2/health/live", "http"), "/v2/health/ready", (8000, "/v2/models/resnet/ready")),
    "torchserve": ({"http": 8080, "management": 8081, "metrics": 8082}, ("/ping", "http"), ("/ping", "http"),
                   "/ping", (8080, "/models/resnet")),
    "tfserving": ({"grpc": 8500, "http": 8501}, ("/v1/models/resnet", "http"), (None, "grpc"),
                  "/v1/models/resnet", (8501, "/v1/models/resnet")),
    "vllm": ({"http": 8000}, ("/v1/models", "http"), ("/health", "http"), "/health", (8000, "/v1/models")),
    "kserve_v2": ({"http": 8080, "grpc": 8081, "metrics": 8082}, ("/v2/health/ready", "http"),
                  ("/v2/health/live", "http"), "/v2/health/ready", (8080, "/v2/models/resnet/ready")),
    "custom": ({"http": 8080}, ("/ready", "http"), ("/healthz", "http"), "/ready", (8080, "")),
}


def _load(path):
    return DataLoader().load_from_file(path, trusted_as_template=True) or {}


def role_vars(**overrides):
    variables = {}
    for name in sorted(os.listdir(os.path.join(ROLE, "defaults", "main"))):
        variables.update(_load(os.path.join(ROLE, "defaults", "main", name)))
    variables.update(_load(os.path.join(ROLE, "vars", "main.yml")))
    variables.update({"role_path": ROLE, "model_server_image": "registry.example.com/team/model:v1",
                      "model_server_model_name": "resnet"})
    variables.update(overrides)
    return variables


def templar(**overrides):
    return Templar(loader=DataLoader(), variables=role_vars(**overrides))


def render(template, **overrides):
    with open(os.path.join(ROLE, "templates", template)) as f:
        text = f.read()
    return yaml.safe_load(templar(**overrides).template(trust_as_template(text)))


def value(name, **overrides):
    return templar(**overrides).template(trust_as_template("{{ %s }}" % name))


def container(deployment):
    (c,) = deployment["spec"]["template"]["spec"]["containers"]
    return c


# -- presets ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_preset_ports_and_probes(preset):
    ports, (ready_path, ready_port), (live_path, live_port), startup_path, _gate = PRESETS[preset]
    c = container(render("deployment.yaml.j2", model_server_preset=preset))

    assert {p["name"]: p["containerPort"] for p in c["ports"]} == ports
    assert all(p["protocol"] == "TCP" for p in c["ports"])
    assert c["readinessProbe"]["httpGet"] == {"path": ready_path, "port": ready_port}
    if live_path is None:
        assert c["livenessProbe"]["tcpSocket"] == {"port": live_port}
        assert "httpGet" not in c["livenessProbe"]
    else:
        assert c["livenessProbe"]["httpGet"] == {"path": live_path, "port": live_port}
    assert c["startupProbe"]["httpGet"]["path"] == startup_path
    # Every probe names a port the container declares.
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        action = c[probe].get("httpGet") or c[probe]["tcpSocket"]
        assert action["port"] in ports


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_preset_service_ports_follow_the_container(preset):
    service = render("service.yaml.j2", model_server_preset=preset)
    assert [(p["name"], p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [
        (name, port, name) for name, port in PRESETS[preset][0].items()
    ]
    assert service["spec"]["selector"] == {"app.kubernetes.io/name": "model-server",
                                           "app.kubernetes.io/component": "model-server"}


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_preset_gate_settings(preset):
    port, model_path = PRESETS[preset][4]
    gate = value("__model_server_gate", model_server_preset=preset)
    assert gate["runtime"] == preset
    assert gate["port"] == port
    assert gate["model_path"] == model_path
    assert gate["model"] == "resnet"
    assert "{model}" not in gate["health_path"]
    if preset == "torchserve":
        # /ping is on the inference port; the model's status on the management API.
        assert gate["management_port"] == 8081


def test_startup_probe_is_sized_for_the_model_load():
    c = container(render("deployment.yaml.j2", model_server_preset="triton", model_server_model_load_seconds=1200))
    startup = c["startupProbe"]
    # Liveness only starts once the startup probe passed, so a 20-minute load is never killed.
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 1200
    assert startup["failureThreshold"] == 120
    assert c["livenessProbe"]["failureThreshold"] == 3


def test_startup_probe_rounds_up_partial_periods():
    c = container(render("deployment.yaml.j2", model_server_model_load_seconds=95))
    assert c["startupProbe"]["failureThreshold"] == 10


def test_override_changes_one_probe_field_and_keeps_the_rest():
    overrides = {"readiness": {"path": "/v2/models/resnet/ready", "period_seconds": 2}}
    c = container(render("deployment.yaml.j2", model_server_preset="triton", model_server_preset_overrides=overrides))
    assert c["readinessProbe"]["httpGet"] == {"path": "/v2/models/resnet/ready", "port": "http"}
    assert c["readinessProbe"]["periodSeconds"] == 2
    assert c["readinessProbe"]["timeoutSeconds"] == 2
    assert c["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"


def test_override_replaces_the_port_list_whole():
    overrides = {"ports": [{"name": "http", "containerPort": 9000}]}
    c = container(render("deployment.yaml.j2", model_server_preset="triton", model_server_preset_overrides=overrides))
    assert c["ports"] == [{"name": "http", "containerPort": 9000, "protocol": "TCP"}]
    service = render("service.yaml.j2", model_server_preset="triton", model_server_preset_overrides=overrides)
    assert [p["port"] for p in service["spec"]["ports"]] == [9000]


def test_override_of_the_gate():
    gate = value("__model_server_gate", model_server_preset="vllm",
                 model_server_preset_overrides={"gate": {"model_path": "/v1/models/{model}"}})
    assert gate["model_path"] == "/v1/models/resnet"
    assert gate["health_path"] == "/health"


# -- Deployment shape --------------------------------------------------------------------------------


def test_seed_defaults():
    d = render("deployment.yaml.j2")
    spec = d["spec"]
    assert spec["replicas"] == 3
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}}
    assert spec["minReadySeconds"] == 10
    # max(600, 1.5 x 600 s load + 10 s minReady + 120 s)
    assert spec["progressDeadlineSeconds"] == 1030
    assert spec["selector"]["matchLabels"] == {"app.kubernetes.io/name": "model-server",
                                               "app.kubernetes.io/component": "model-server"}
    assert spec["template"]["metadata"]["labels"]["app.kubernetes.io/name"] == "model-server"
    assert container(d)["image"] == "registry.example.com/team/model:v1"


def test_progress_deadline_grows_with_the_model_load_and_can_be_set():
    assert render("deployment.yaml.j2", model_server_model_load_seconds=60)["spec"]["progressDeadlineSeconds"] == 600
    assert render("deployment.yaml.j2", model_server_model_load_seconds=1800)["spec"]["progressDeadlineSeconds"] == 2830
    assert render("deployment.yaml.j2", model_server_progress_deadline_seconds=777)["spec"]["progressDeadlineSeconds"] == 777


def test_graceful_drain():
    d = render("deployment.yaml.j2", model_server_prestop_sleep_seconds=20,
               model_server_termination_grace_period_seconds=90)
    assert container(d)["lifecycle"] == {"preStop": {"sleep": {"seconds": 20}}}
    assert d["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 90


def test_no_prestop_hook_when_sleep_is_zero():
    assert "lifecycle" not in container(render("deployment.yaml.j2", model_server_prestop_sleep_seconds=0))


def test_topology_spread_across_nodes_per_revision():
    pod = render("deployment.yaml.j2")["spec"]["template"]["spec"]
    (spread,) = pod["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    assert spread["maxSkew"] == 1
    # ScheduleAnyway and per-revision matching: spreading never blocks a surge pod.
    assert spread["whenUnsatisfiable"] == "ScheduleAnyway"
    assert spread["matchLabelKeys"] == ["pod-template-hash"]
    assert "topologySpreadConstraints" not in render("deployment.yaml.j2", model_server_topology_spread=False)[
        "spec"]["template"]["spec"]


def test_cpu_model_server_has_no_gpu_settings():
    d = render("deployment.yaml.j2")
    pod = d["spec"]["template"]["spec"]
    assert "nvidia.com/gpu" not in container(d)["resources"].get("limits", {})
    assert "tolerations" not in pod
    assert "nodeSelector" not in pod


def test_gpu_model_server():
    d = render("deployment.yaml.j2", model_server_gpu_count=2, model_server_node_selector={"pool": "inference"})
    pod = d["spec"]["template"]["spec"]
    assert container(d)["resources"]["limits"] == {"memory": "2Gi", "nvidia.com/gpu": 2}
    assert container(d)["resources"]["requests"] == {"cpu": "1", "memory": "2Gi"}
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert pod["nodeSelector"] == {"pool": "inference", "nvidia.com/gpu.present": "true"}


def test_surge_zero_decision_reaches_the_strategy():
    d = render("deployment.yaml.j2", __model_server_max_surge=0, __model_server_max_unavailable=1)
    assert d["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}


def test_hpa_leaves_replicas_out_of_the_deployment():
    d = render("deployment.yaml.j2", model_server_hpa_enabled=True)
    assert "replicas" not in d["spec"]
    hpa = render("hpa.yaml.j2", model_server_hpa_enabled=True, model_server_hpa_min_replicas=2,
                 model_server_hpa_max_replicas=8)
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "model-server"}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 8)


def test_pdb_never_blocks_drains():
    pdb = render("pdb.yaml.j2")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert "minAvailable" not in pdb["spec"]
    assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


def test_env_args_command_and_pull_secrets():
    c_pod = render("deployment.yaml.j2", model_server_env={"MODEL": "llama", "WORKERS": "2"},
                   model_server_args=["--port", "8000"], model_server_command=["serve"],
                   model_server_image_pull_secrets=["regcred"])
    c = container(c_pod)
    assert c["env"] == [{"name": "MODEL", "value": "llama"}, {"name": "WORKERS", "value": "2"}]
    assert c["args"] == ["--port", "8000"]
    assert c["command"] == ["serve"]
    assert c_pod["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": "regcred"}]


LIVE = {"metadata": {"name": "model-server"}, "spec": {"replicas": 3}}
LIVE_CONTAINER = {"name": "model-server", "image": "registry.example.com/team/model:v0",
                  "env": [{"name": "MODEL", "value": "old"}], "args": ["--old"]}


def test_existing_deployment_keeps_its_model_version_for_model_rollout():
    """The apply must not roll pods behind model_rollout's back: it carries the live version."""
    overrides = dict(__model_server_live=LIVE, __model_server_live_container=LIVE_CONTAINER,
                     model_server_env={"MODEL": "new"}, model_server_args=["--new"])
    c = container(render("deployment.yaml.j2", **overrides))
    assert c["image"] == "registry.example.com/team/model:v0"
    assert c["env"] == [{"name": "MODEL", "value": "old"}]
    assert c["args"] == ["--old"]
    assert value("__model_server_version_pending", **overrides) is True


def test_new_deployment_carries_the_requested_version():
    c = container(render("deployment.yaml.j2"))
    assert c["image"] == "registry.example.com/team/model:v1"
    assert value("__model_server_version_pending") is False


def test_same_version_is_not_pending():
    live = dict(LIVE_CONTAINER, image="registry.example.com/team/model:v1", env=[], args=[])
    assert value("__model_server_version_pending", __model_server_live=LIVE,
                 __model_server_live_container=live) is False


def test_auth_passes_only_what_is_set():
    assert value("__model_server_auth") == {}
    auth = value("__model_server_auth", model_server_kubeconfig="/k", model_server_context="c",
                 model_server_validate_certs=False)
    assert auth == {"kubeconfig": "/k", "context": "c", "validate_certs": False}


# -- documentation matches the defaults -------------------------------------------------------------


def test_every_default_is_documented_and_typed():
    with open(os.path.join(ROLE, "meta", "argument_specs.yml")) as f:
        options = yaml.safe_load(f)["argument_specs"]["main"]["options"]
    defaults = {}
    for name in sorted(os.listdir(os.path.join(ROLE, "defaults", "main"))):
        with open(os.path.join(ROLE, "defaults", "main", name)) as f:
            defaults.update(yaml.safe_load(f))
    assert sorted(set(defaults) - set(options)) == []
    for name, spec in options.items():
        assert name.startswith("model_server_")
        assert spec.get("type"), name
        assert spec.get("description"), name
        if "default" in spec:
            assert spec["default"] == defaults[name], name


# -- input checks, before the cluster is touched -----------------------------------------------------

PLAY = """
- name: Run the role
  hosts: localhost
  gather_facts: false
  roles:
    - role: modelops.serving.model_server
"""


def run_role(tmp_path, extra):
    play = tmp_path / "play.yml"
    play.write_text(PLAY)
    values = {"model_server_image": "registry.example.com/team/model:v1",
              # Nothing listens here: a run that got past the checks fails with a connection error.
              "model_server_host": "https://127.0.0.1:9", "model_server_validate_certs": False}
    values.update(extra)
    values = {k: v for k, v in values.items() if v is not None}
    extra_file = tmp_path / "extra.yml"
    extra_file.write_text(yaml.safe_dump(values))
    env = ansible_env()
    env["ANSIBLE_NOCOLOR"] = "1"
    out = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", "-c", "local",
         "-e", "ansible_python_interpreter=" + sys.executable, "-e", "@" + str(extra_file), str(play)],
        capture_output=True, text=True, timeout=120, env=env, cwd=str(tmp_path), check=False,
    )
    return out.returncode, out.stdout + out.stderr


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"model_server_replicas": -1}, "model_server_replicas must be 0 or more, got -1"),
        ({"model_server_replicas": "three"}, "model_server_replicas"),
        ({"model_server_preset": "onnx"}, "model_server_preset must be one of"),
        ({"model_server_image": None}, "model_server_image"),
        ({"model_server_gpu_count": [1]}, "model_server_gpu_count"),
        ({"model_server_max_surge": 0, "model_server_max_unavailable": 0}, "cannot both be 0"),
        ({"model_server_env": {"WORKERS": 2}}, "model_server_env values must be strings"),
        ({"model_server_preset": "tfserving", "model_server_model_name": ""}, "model_server_model_name must be set"),
    ],
    ids=["negative-replicas", "replicas-not-int", "unknown-preset", "no-image", "gpu-count-list",
         "no-progress-possible", "env-not-string", "tfserving-without-model"],
)
def test_bad_values_fail_before_the_cluster_is_touched(tmp_path, extra, message):
    rc, output = run_role(tmp_path, extra)
    assert rc != 0
    flat = " ".join(output.split())
    assert message in flat, output[-3000:]
    # The first task that talks to the API server never ran.
    assert "Read the Deployment" not in output


def test_good_values_reach_the_cluster(tmp_path):
    """The counterpart: valid variables pass every check and fail only on the unreachable API."""
    rc, output = run_role(tmp_path, {"model_server_preset": "tfserving", "model_server_model_name": "resnet"})
    assert rc != 0
    assert "Read the Deployment" in output
    assert "invalid variables" not in output and "Validation of arguments failed" not in output
