"""modelops.serving.eks_nodegroup against the AWS emulator: updates in place, check mode, and the failure paths.

What is asserted is what EKS holds afterwards (DescribeNodegroup through a real boto3 client), not only
what the module says.
"""

import json
import os
import subprocess
import sys
import textwrap

PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
CLUSTER = "serving-ng"
ROLE = "arn:aws:iam::123456789012:role/serving-ng-node"


def nodegroup_task(tmp_path, aws, args, check=False):
    """One eks_nodegroup task through ansible-playbook; (rc, the task's result)."""
    play = tmp_path / "ng.yml"
    play.write_text(textwrap.dedent("""\
        - hosts: localhost
          gather_facts: false
          tasks:
            - name: Node group
              modelops.serving.eks_nodegroup: %s
        """) % json.dumps(dict(args, cluster_name=CLUSTER, region=aws.region)))
    cmd = [PLAYBOOK, str(play)] + (["--check"] if check else [])
    p = subprocess.run(cmd, env=aws.env(ANSIBLE_STDOUT_CALLBACK="ansible.posix.json"), capture_output=True,
                       text=True, timeout=300, check=False)
    out = json.loads(p.stdout)
    [result] = [t["hosts"]["localhost"] for play in out["plays"] for t in play["tasks"]]
    return p.returncode, result


def gpu_group(**over):
    args = {"name": "gpu", "node_role": ROLE, "subnets": ["subnet-a", "subnet-b"], "instance_types": ["g5.xlarge"],
            "ami_type": "AL2023_x86_64_NVIDIA", "scaling_config": {"min_size": 1, "max_size": 2, "desired_size": 1},
            "labels": {"pool": "gpu"}, "taints": [{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}],
            "wait_timeout": 120}
    args.update(over)
    return args


def described(aws, name="gpu"):
    return aws.client("eks").describe_nodegroup(clusterName=CLUSTER, nodegroupName=name)["nodegroup"]


def make_cluster(aws):
    aws.client("eks").create_cluster(name=CLUSTER, roleArn="arn:aws:iam::123456789012:role/eks",
                                     resourcesVpcConfig={"subnetIds": ["subnet-a", "subnet-b"]})


def test_a_node_group_is_scaled_and_relabelled_in_place_and_check_mode_changes_nothing(aws, tmp_path):
    make_cluster(aws)
    rc, first = nodegroup_task(tmp_path, aws, gpu_group())
    assert rc == 0 and first["changed"] is True, first
    created = described(aws)
    assert created["scalingConfig"] == {"minSize": 1, "maxSize": 2, "desiredSize": 1}

    wanted = gpu_group(scaling_config={"min_size": 2, "max_size": 6, "desired_size": 3}, labels={"pool": "gpu-large"},
                       taints=[])
    # Check mode says what would change and changes nothing EKS holds.
    rc, dry = nodegroup_task(tmp_path, aws, wanted, check=True)
    assert rc == 0 and dry["changed"] is True, dry
    assert described(aws)["scalingConfig"] == created["scalingConfig"]
    assert described(aws)["labels"] == created["labels"]

    rc, updated = nodegroup_task(tmp_path, aws, wanted)
    assert rc == 0 and updated["changed"] is True, updated
    now = described(aws)
    assert now["scalingConfig"] == {"minSize": 2, "maxSize": 6, "desiredSize": 3}
    assert now["labels"] == {"pool": "gpu-large"}
    assert now["taints"] == []
    assert now["nodegroupArn"] == created["nodegroupArn"] and now["status"] == "ACTIVE"

    # The same request again: nothing to do, nothing written.
    rc, again = nodegroup_task(tmp_path, aws, wanted)
    assert rc == 0 and again["changed"] is False, again
    assert described(aws)["modifiedAt"] == now["modifiedAt"]


def test_a_field_eks_cannot_change_in_place_fails_naming_it_and_changes_nothing(aws, tmp_path):
    make_cluster(aws)
    assert nodegroup_task(tmp_path, aws, gpu_group())[0] == 0
    before = described(aws)
    rc, result = nodegroup_task(tmp_path, aws, gpu_group(instance_types=["g6.xlarge"],
                                                         scaling_config={"min_size": 1, "max_size": 4,
                                                                         "desired_size": 1}))
    assert rc != 0 and result["failed"] is True
    assert "EKS cannot change these fields of node group gpu in place" in result["msg"]
    assert "g6.xlarge" in result["msg"] and "g5.xlarge" in result["msg"]
    # Nothing of the request was applied, not even the part EKS could have changed.
    after = described(aws)
    assert after["instanceTypes"] == ["g5.xlarge"] and after["scalingConfig"] == before["scalingConfig"]


def test_a_node_group_of_a_cluster_that_does_not_exist_is_a_clear_error(aws, tmp_path):
    rc, result = nodegroup_task(tmp_path, aws, gpu_group())
    assert rc != 0 and result["failed"] is True
    assert "Traceback" not in json.dumps(result)
    assert "gpu" in result["msg"] and CLUSTER in result["msg"]
    assert aws.client("eks").list_clusters()["clusters"] == []
