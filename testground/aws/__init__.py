"""The test ground's AWS: moto in server mode on loopback, with SageMaker deployments added.

``AwsEmulator().start()`` runs ``python -m testground.aws.server`` (moto's own server
application, its SageMaker responses extended by ``testground.aws.sagemaker``, a request log in
front) as one ``testground.process.Process`` on a free 127.0.0.1 port. Clients are real boto3 /
amazon.aws clients pointed at ``url`` through ``endpoint_url`` / ``AWS_URL``; nothing in the
process under test is patched, and nothing leaves loopback.

What the SageMaker additions model, and what they do not, is in ``testground/aws/README.md``.
"""

import json
import os
import sys
import tempfile
import urllib.request

from testground.process import Process, free_port

ACCESS_KEY = "AKIAMODELOPSTEST0001"
SECRET_KEY = "modelops-serving-test-secret-key-00000001"
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
# The IAM user the emulator's access key belongs to, as the test ground's EKS token webhook names it.
PRINCIPAL_ARN = "arn:aws:iam::%s:user/modelops-deployer" % ACCOUNT
EKS_ROLE_ARN = "arn:aws:iam::%s:role/eks-cluster" % ACCOUNT


class AwsEmulator:
    """One emulator process; ``reset()`` empties it between tests."""

    def __init__(self, workdir=None, settings=None):
        self.workdir = workdir or tempfile.mkdtemp(prefix="aws-emulator-")
        self.port = None
        self.process = None
        self.initial_settings = settings

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self, timeout=60):
        self.port = free_port()
        argv = [sys.executable, "-m", "testground.aws.server", "--port", str(self.port)]
        if self.initial_settings:
            argv += ["--settings", json.dumps(self.initial_settings)]
        repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([repo] + [p for p in [os.environ.get("PYTHONPATH")] if p]),
                   # AWS managed policies (AmazonEKSClusterPolicy, ...) exist only when loaded.
                   MOTO_IAM_LOAD_MANAGED_POLICIES="true")
        self.process = Process("aws-emulator", argv, os.path.join(self.workdir, "aws-emulator.log"), env=env,
                               cwd=repo).start()
        self.process.wait_until(lambda: self._get("/testground-api/health").get("ok"), timeout, "the AWS emulator")
        return self

    def stop(self):
        if self.process is not None:
            self.process.stop()

    # -- control ----------------------------------------------------------------------------
    def _get(self, path):
        with urllib.request.urlopen(self.url + path, timeout=10) as r:
            return json.load(r)

    def _post(self, path, body=None):
        data = json.dumps(body or {}).encode()
        req = urllib.request.Request(self.url + path, data=data, method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)

    def reset(self):
        """Every backend empty, the request log empty, SageMaker settings back to their defaults."""
        return self._post("/testground-api/reset")

    def settings(self, **changes):
        """Change SageMaker step durations or failure switches (see testground.aws.sagemaker.Settings)."""
        return self._post("/testground-api/sagemaker/settings", changes) if changes else \
            self._get("/testground-api/sagemaker/settings")

    def requests(self, since=0):
        """(entries, last sequence number): the API requests the emulator answered after ``since``."""
        answer = self._get("/testground-api/requests?since=%d" % since)
        return answer["requests"], answer["last"]

    def mark(self):
        """The request log's current sequence number, to read what happens after it."""
        return self.requests(since=1 << 62)[1]

    def endpoint_events(self, since=0.0):
        """Every SageMaker endpoint status change after wall time ``since``: {t, endpoint, status, config}."""
        return self._get("/testground-api/sagemaker/events?since=%f" % since)["events"]

    def assign_eks_endpoints(self, assignments):
        """Give EKS clusters a test-ground endpoint and CA: {name: {endpoint, ca_data[, region]}} (aws/eks.py)."""
        return self._post("/testground-api/eks/endpoints", assignments)

    def create_eks_clusters(self, clusters, region=REGION, tags=None):
        """An EKS cluster in the emulator for each test-ground cluster, its endpoint and CA those of that cluster.

        ``clusters``: test-ground ``Cluster`` objects (their ``eks_cluster_id`` names the EKS cluster);
        ``tags``: {name: tags}. Created with CreateCluster as provisioning would, then assigned.
        """
        eks = self.client("eks", region)
        for c in clusters:
            eks.create_cluster(name=c.eks_cluster_id, roleArn=EKS_ROLE_ARN, resourcesVpcConfig={"subnetIds": ["subnet-1"]},
                               tags=(tags or {}).get(c.eks_cluster_id) or {})
        return self.assign_eks_endpoints(dict((c.eks_cluster_id, dict(endpoint=c.server, ca_data=c.ca_data(), region=region))
                                              for c in clusters))

    def eks_authenticator_config(self, cluster_id, lifetime_seconds=None):
        """What the test ground's EKS token webhook needs to verify tokens signed with this emulator's key.

        ``cluster_id`` None: each test-ground cluster's own name (``Cluster(eks=...)``).
        """
        config = {
            "cluster_id": cluster_id,
            "sts_endpoint": self.url,
            "access_keys": {ACCESS_KEY: {"secret_key": SECRET_KEY, "arn": PRINCIPAL_ARN}},
        }
        if lifetime_seconds is not None:
            config["lifetime_seconds"] = lifetime_seconds
        return config

    def writes(self, since=0):
        return [e for e in self.requests(since)[0] if e["write"]]

    def state(self):
        """Everything moto holds, as moto's own data API reports it."""
        return self._get("/moto-api/data.json")

    # -- clients ----------------------------------------------------------------------------
    def client(self, service, region=REGION, **kwargs):
        import boto3

        return boto3.client(service, region_name=region, endpoint_url=self.url,
                            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, **kwargs)

    def environ(self, region=REGION):
        """Environment variables that point every AWS client (boto3, amazon.aws, the aws CLI) here."""
        return {
            "AWS_URL": self.url,
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            # Never fall through to the instance metadata service (that would leave loopback).
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        }


# Variables that would send a client elsewhere than the emulator, removed from test environments.
FOREIGN_AWS_VARIABLES = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
