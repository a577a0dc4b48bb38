"""Role eks_cluster: its argument specs match its defaults, and bad variables stop both entry points
before any AWS call.

The runs point the AWS clients at a port where nothing listens: a run that got past the checks
fails on its first AWS task, so each bad-value test also proves that no AWS call was attempted.
"""

import os
import subprocess
import sys

import pytest
import yaml

from testground.collection import REPO_ROOT, ansible_env

ROLE = os.path.join(REPO_ROOT, "roles", "eks_cluster")
FIRST_AWS_TASK = {"main": "EKS | Network - VPC", "teardown": "EKS | Find the VPC"}


def specs():
    with open(os.path.join(ROLE, "meta", "argument_specs.yml")) as f:
        return yaml.safe_load(f)["argument_specs"]


def defaults():
    with open(os.path.join(ROLE, "defaults", "main.yml")) as f:
        return yaml.safe_load(f)


def test_both_entry_points_have_a_spec():
    assert sorted(specs()) == ["main", "teardown"]
    tasks = sorted(os.listdir(os.path.join(ROLE, "tasks")))
    assert tasks == ["main.yml", "teardown.yml", "validate.yml"]


@pytest.mark.parametrize("entry_point", ["main", "teardown"])
def test_every_option_is_documented_typed_and_its_default_is_the_role_default(entry_point):
    options = specs()[entry_point]["options"]
    values = defaults()
    for name, spec in options.items():
        assert name.startswith("eks_cluster_"), name
        assert spec.get("type") and spec.get("description"), name
        if "default" in spec:
            assert spec["default"] == values[name], name


def test_every_default_is_an_option_of_main():
    assert sorted(set(defaults()) - set(specs()["main"]["options"])) == []


def test_no_default_names_a_cluster_or_a_region():
    # A teardown that falls back to a default name could delete a cluster nobody meant.
    for entry_point in ("main", "teardown"):
        options = specs()[entry_point]["options"]
        assert options["eks_cluster_name"]["required"] and options["eks_cluster_region"]["required"]
    assert "eks_cluster_name" not in defaults() and "eks_cluster_region" not in defaults()


def test_the_gpu_node_group_matches_the_model_server_gpu_defaults():
    with open(os.path.join(REPO_ROOT, "roles", "model_server", "defaults", "main", "main.yml")) as f:
        model_server = yaml.safe_load(f)
    gpu = [g for g in defaults()["eks_cluster_node_groups"] if g["ami_type"].endswith("_NVIDIA")]
    assert len(gpu) == 1
    for key, value in model_server["model_server_gpu_node_selector"].items():
        assert gpu[0]["labels"][key] == value
    (toleration,) = model_server["model_server_gpu_tolerations"]
    assert [t["key"] for t in gpu[0]["taints"]] == [toleration["key"]]
    assert gpu[0]["taints"][0]["effect"] == toleration["effect"]


PLAY = """
- name: Run the role
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Run one entry point
      ansible.builtin.include_role:
        name: modelops.serving.eks_cluster
        tasks_from: {entry_point}
"""


def run_role(tmp_path, entry_point, extra):
    play = tmp_path / "play.yml"
    play.write_text(PLAY.format(entry_point=entry_point))
    values = {"eks_cluster_name": "serving-unit", "eks_cluster_region": "eu-west-1"}
    values.update(extra)
    values = {k: v for k, v in values.items() if v is not None}
    extra_file = tmp_path / "extra.yml"
    extra_file.write_text(yaml.safe_dump(values))
    env = ansible_env()
    env.update({"ANSIBLE_NOCOLOR": "1", "AWS_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "AKIAUNITTEST",
                "AWS_SECRET_ACCESS_KEY": "unit-test", "AWS_MAX_ATTEMPTS": "1", "AWS_RETRY_MODE": "standard"})
    out = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", "-c", "local",
         "-e", "ansible_python_interpreter=" + sys.executable, "-e", "@" + str(extra_file), str(play)],
        capture_output=True, text=True, timeout=180, env=env, cwd=str(tmp_path), check=False,
    )
    return out.returncode, out.stdout + out.stderr


ONE_ZONE = [{"cidr": "10.42.0.0/19", "zone": "a"}, {"cidr": "10.42.32.0/19", "zone": "a"}]
GROUP = {"name": "cpu", "instance_types": ["m6i.xlarge"], "ami_type": "AL2023_x86_64_STANDARD",
         "min_size": 1, "max_size": 4, "desired_size": 2}


@pytest.mark.parametrize(
    "entry_point, extra, message",
    [
        ("main", {"eks_cluster_name": None}, "eks_cluster_name"),
        ("teardown", {"eks_cluster_region": None}, "eks_cluster_region"),
        ("teardown", {"eks_cluster_name": "bad name!"}, "eks_cluster_name must be 1 to 100 letters"),
        ("main", {"eks_cluster_region": "Europe"}, "eks_cluster_region must be an AWS region"),
        ("main", {"eks_cluster_subnets": ONE_ZONE}, "at least two availability zones"),
        ("main", {"eks_cluster_node_groups": [dict(GROUP, desired_size=9)]}, "node group 'cpu' needs"),
        ("main", {"eks_cluster_node_groups": [dict(GROUP, taints=[{"key": "k", "effect": "Sometimes"}])]},
         "effect must be one of"),
        ("main", {"eks_cluster_node_groups": [{"name": "cpu"}]}, "instance_types"),
        ("teardown", {"eks_cluster_wait_timeout": "soon"}, "eks_cluster_wait_timeout"),
    ],
    ids=["main-no-name", "teardown-no-region", "bad-name", "bad-region", "one-zone", "desired-above-max",
         "bad-taint-effect", "group-without-sizes", "timeout-not-int"],
)
def test_bad_values_fail_before_any_aws_call(tmp_path, entry_point, extra, message):
    rc, output = run_role(tmp_path, entry_point, extra)
    assert rc != 0
    assert message in " ".join(output.split()), output[-3000:]
    assert FIRST_AWS_TASK[entry_point] not in output


@pytest.mark.parametrize("entry_point", ["main", "teardown"])
def test_good_values_reach_aws(tmp_path, entry_point):
    """The counterpart: valid variables pass every check and fail only on the unreachable endpoint."""
    rc, output = run_role(tmp_path, entry_point, {})
    assert rc != 0
    assert FIRST_AWS_TASK[entry_point] in output
    assert "invalid variables" not in output and "Validation of arguments failed" not in output
