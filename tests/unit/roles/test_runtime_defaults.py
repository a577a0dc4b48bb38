"""One source of truth for runtime defaults: model_rollout's runtime table (module_utils/rollout/
runtimes.py) says what a gate asks of each model server; the model_server role's presets
(roles/model_server/vars/main.yml) must ask exactly that, for every runtime.
"""

import os

import pytest
import yaml

from ansible_collections.modelops.serving.plugins.module_utils.rollout import runtimes
from testground.collection import REPO_ROOT

MODEL = "resnet"
# Runtimes the role serves through another preset (docs/presets.md: kserve_v2 covers MLServer).
SERVED_BY = {"mlserver": "kserve_v2"}


def presets():
    with open(os.path.join(REPO_ROOT, "roles", "model_server", "vars", "main.yml")) as f:
        return yaml.safe_load(f)["__model_server_presets"]


def rendered_gate(preset):
    """The gate settings the role hands model_rollout: {model} filled in, as vars/main.yml does."""
    gate = dict(presets()[preset]["gate"])
    for key in ("health_path", "model_path"):
        gate[key] = gate[key].replace("{model}", MODEL)
    gate["model"] = MODEL
    return gate


def asked(cfg):
    return [(c.name, c.method, c.path, c.port) for c in runtimes.readiness_checks(cfg)]


def test_every_runtime_of_the_module_has_a_preset():
    names = set(presets())
    for runtime in runtimes.RUNTIMES:
        assert SERVED_BY.get(runtime, runtime) in names, runtime
    assert sorted(p["gate"]["runtime"] for p in presets().values()) == sorted(names)


@pytest.mark.parametrize("runtime", runtimes.RUNTIMES)
def test_preset_gate_states_the_module_defaults(runtime):
    preset = SERVED_BY.get(runtime, runtime)
    gate = presets()[preset]["gate"]
    health, model_path, _smoke = runtimes.default_paths(runtime, "{model}")
    module_v2 = runtime in runtimes.V2_RUNTIMES
    assert (gate["runtime"] in runtimes.V2_RUNTIMES) == module_v2
    assert gate["port"] == runtimes.DEFAULT_PORTS[runtime]
    assert gate.get("management_port", runtimes.DEFAULT_MANAGEMENT_PORT) == runtimes.DEFAULT_MANAGEMENT_PORT
    if runtime == "custom":
        # The module has no paths for a server it does not know; the role's custom preset gates on
        # the readiness path it gives the pods.
        assert (health, model_path) == (None, None)
        assert gate["health_path"] == presets()["custom"]["readiness"]["path"]
        assert gate["model_path"] == ""
    else:
        # An empty path in the role is "no such endpoint", the module's None.
        assert (gate["health_path"] or None, gate["model_path"] or None) == (health, model_path)


@pytest.mark.parametrize("preset", sorted(presets()))
def test_gate_port_is_a_container_port_of_the_preset(preset):
    spec = presets()[preset]
    ports = [p["containerPort"] for p in spec["ports"]]
    assert spec["gate"]["port"] in ports
    if "management_port" in spec["gate"]:
        assert spec["gate"]["management_port"] in ports


@pytest.mark.parametrize("preset", sorted(set(presets()) - {"custom"}))
def test_role_gate_asks_what_the_module_asks_on_its_own(preset):
    runtime = presets()[preset]["gate"]["runtime"]
    assert asked(rendered_gate(preset)) == asked({"runtime": runtime, "model": MODEL})
    assert asked(rendered_gate(preset))
