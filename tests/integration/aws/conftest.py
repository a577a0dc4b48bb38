"""A local AWS API emulator (moto in server mode) for the EKS tests.

One ``moto_server`` process per session on 127.0.0.1 and a free port; every test gets the
emulator reset to empty. Clients are real boto3 / amazon.aws clients pointed at it through
``endpoint_url`` / ``AWS_URL``; nothing leaves loopback.
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from testground.collection import ansible_env

ACCESS_KEY = "AKIAMODELOPSTEST0001"
SECRET_KEY = "modelops-serving-test-secret-key-00000001"
REGION = "us-east-1"


def pytest_configure(config):
    config.addinivalue_line("markers", "aws: needs the local AWS emulator (moto server)")


def pytest_collection_modifyitems(items):
    for item in items:
        if os.sep + os.path.join("integration", "aws") + os.sep in str(item.fspath):
            item.add_marker(pytest.mark.aws)


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_serving(url, proc, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("moto_server exited with %s" % proc.returncode)
        try:
            with urllib.request.urlopen(url + "/moto-api/data.json", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("moto_server did not answer on %s within %ss" % (url, timeout))


@pytest.fixture(scope="session")
def moto_url(tmp_path_factory):
    """URL of a moto server started for this session; stopped (and reaped) at the end."""
    moto_server = os.path.join(os.path.dirname(sys.executable), "moto_server")
    log = tmp_path_factory.mktemp("moto") / "moto_server.log"
    port = _free_port()
    url = "http://127.0.0.1:%d" % port
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [moto_server, "-H", "127.0.0.1", "-p", str(port)],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            # AWS managed policies (AmazonEKSClusterPolicy, ...) exist only when loaded.
            env=dict(os.environ, MOTO_IAM_LOAD_MANAGED_POLICIES="true"),
        )
    try:
        _wait_until_serving(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def moto_reset(url):
    req = urllib.request.Request(url + "/moto-api/reset", method="POST", data=b"")
    urllib.request.urlopen(req, timeout=10).read()


def moto_state(url):
    """Everything the emulator holds, as moto's own data API reports it."""
    with urllib.request.urlopen(url + "/moto-api/data.json", timeout=10) as r:
        return json.load(r)


@pytest.fixture
def aws(moto_url, monkeypatch):
    """An emptied emulator and an environment that points every AWS client at it."""
    moto_reset(moto_url)
    env = {
        "AWS_URL": moto_url,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        # Never fall through to the instance metadata service (that would leave loopback).
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }
    for k in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)

    class Aws:
        url = moto_url
        region = REGION
        access_key = ACCESS_KEY
        secret_key = SECRET_KEY

        @staticmethod
        def client(service, region=REGION):
            import boto3

            return boto3.client(service, region_name=region, endpoint_url=moto_url,
                                aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)

        @staticmethod
        def state():
            return moto_state(moto_url)

        @staticmethod
        def env(**extra):
            e = ansible_env(dict(os.environ))
            e.update({k: str(v) for k, v in extra.items()})
            e.setdefault("ANSIBLE_NOCOLOR", "1")
            e.setdefault("ANSIBLE_FORCE_COLOR", "0")
            return e

    return Aws
