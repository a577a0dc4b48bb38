"""playbooks/provision.yml and playbooks/teardown.yml against the AWS emulator, as a user runs them."""

import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
CLUSTER = "serving-it"


def run(aws, playbook, check=False):
    cmd = [PLAYBOOK, os.path.join(REPO, "playbooks", playbook), "-e", "eks_cluster_name=" + CLUSTER,
           "-e", "eks_cluster_region=" + aws.region,
           "-e", json.dumps({"eks_cluster_tags": {"rollout-wave": "1", "environment": "staging"}})]
    if check:
        cmd.append("--check")
    env = aws.env(ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_DEPRECATION_WARNINGS="false")
    p = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-4000:]
    out = json.loads(p.stdout)
    return out["stats"]["localhost"], out


def task_result(out, name):
    for play in out["plays"]:
        for task in play["tasks"]:
            if task["task"]["name"].endswith(name):
                return task["hosts"]["localhost"]
    raise AssertionError("no task %r in the run" % name)


def our_resources(aws):
    """What of ours the emulator holds, asked through the AWS APIs (default VPC excluded)."""
    ec2, eks, iam = aws.client("ec2"), aws.client("eks"), aws.client("iam")
    tagged = [{"Name": "tag:modelops.serving/cluster", "Values": [CLUSTER]}]
    return {
        "vpcs": [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if not v["IsDefault"]],
        "subnets": [s["SubnetId"] for s in ec2.describe_subnets(Filters=tagged)["Subnets"]],
        "internet_gateways": [g["InternetGatewayId"] for g in ec2.describe_internet_gateways()["InternetGateways"]],
        "route_tables": [r["RouteTableId"] for r in ec2.describe_route_tables(Filters=tagged)["RouteTables"]],
        "security_groups": [g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]
                            if g["GroupName"] != "default"],
        "clusters": eks.list_clusters()["clusters"],
        "roles": [r["RoleName"] for r in iam.list_roles()["Roles"]],
    }


NOTHING = {"vpcs": [], "subnets": [], "internet_gateways": [], "route_tables": [], "security_groups": [],
           "clusters": [], "roles": []}


def test_provision_is_idempotent_checkable_and_torn_down_completely(aws):
    # Check mode on an empty account: says what it would create, creates nothing.
    stats, out = run(aws, "provision.yml", check=True)
    report = task_result(out, "Show the report")["eks_cluster_provision_report"]
    assert stats["changed"] >= 3 and stats["failures"] == 0
    assert report["check_mode"] is True
    assert report["would_also_create"] == ["subnets", "internet gateway", "route table", "security group",
                                           "cluster " + CLUSTER, "node group cpu", "node group gpu"]
    assert our_resources(aws) == NOTHING

    # First run creates it all and reports the endpoint EKS gives.
    stats, out = run(aws, "provision.yml")
    report = task_result(out, "Show the report")["eks_cluster_provision_report"]
    eks, ec2, iam = aws.client("eks"), aws.client("ec2"), aws.client("iam")
    cluster = eks.describe_cluster(name=CLUSTER)["cluster"]
    assert stats["failures"] == 0 and stats["changed"] == 9
    assert report["endpoint"] == cluster["endpoint"] and cluster["endpoint"].startswith("https://")
    assert cluster["status"] == "ACTIVE"
    assert cluster["tags"] == {"modelops.serving/cluster": CLUSTER, "rollout-wave": "1", "environment": "staging"}
    zones = {s["AvailabilityZone"] for s in
             ec2.describe_subnets(SubnetIds=cluster["resourcesVpcConfig"]["subnetIds"])["Subnets"]}
    assert zones == {"us-east-1a", "us-east-1b"}
    assert sorted(eks.list_nodegroups(clusterName=CLUSTER)["nodegroups"]) == ["cpu", "gpu"]
    gpu = eks.describe_nodegroup(clusterName=CLUSTER, nodegroupName="gpu")["nodegroup"]
    assert gpu["status"] == "ACTIVE"
    assert gpu["amiType"] == "AL2023_x86_64_NVIDIA"
    assert gpu["taints"] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}]
    assert gpu["labels"] == {"modelops.serving/pool": "gpu", "nvidia.com/gpu.present": "true"}
    cpu = eks.describe_nodegroup(clusterName=CLUSTER, nodegroupName="cpu")["nodegroup"]
    assert cpu["taints"] == [] and cpu["amiType"] == "AL2023_x86_64_STANDARD"
    assert gpu["nodeRole"] == iam.get_role(RoleName=CLUSTER + "-node")["Role"]["Arn"]
    node_policies = {p["PolicyName"] for p in iam.list_attached_role_policies(RoleName=CLUSTER + "-node")["AttachedPolicies"]}
    assert node_policies == {"AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly"}
    trust = iam.get_role(RoleName=CLUSTER + "-cluster")["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "eks.amazonaws.com"}

    # Second run and check mode on what exists: nothing to do.
    stats, _output = run(aws, "provision.yml")
    assert stats["changed"] == 0 and stats["failures"] == 0
    stats, _output = run(aws, "provision.yml", check=True)
    assert stats["changed"] == 0

    # Teardown leaves nothing of ours, and a second teardown has nothing to do.
    stats, _output = run(aws, "teardown.yml")
    assert stats["failures"] == 0 and stats["changed"] == 8
    assert our_resources(aws) == NOTHING
    stats, _output = run(aws, "teardown.yml")
    assert stats["changed"] == 0
