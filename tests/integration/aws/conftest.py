"""The test ground's AWS emulator for the EKS and SageMaker tests.

One emulator process (``testground.aws.AwsEmulator``: moto in server mode with the SageMaker
deployment model) per session on 127.0.0.1 and a free port; every test gets it reset to empty.
Clients are real boto3 / amazon.aws clients pointed at it through ``endpoint_url`` / ``AWS_URL``;
nothing leaves loopback.
"""

import os

import pytest

from testground.aws import ACCESS_KEY, FOREIGN_AWS_VARIABLES, REGION, SECRET_KEY
from testground.collection import ansible_env

__all__ = ["ACCESS_KEY", "REGION", "SECRET_KEY", "aws", "moto_url"]


def pytest_configure(config):
    config.addinivalue_line("markers", "aws: needs the local AWS emulator (moto server)")


def pytest_collection_modifyitems(items):
    for item in items:
        if os.sep + os.path.join("integration", "aws") + os.sep in str(item.fspath):
            item.add_marker(pytest.mark.aws)


@pytest.fixture(scope="session")
def moto_url(aws_emulator):
    """URL of the session's emulator (``aws_emulator`` is in tests/integration/conftest.py)."""
    return aws_emulator.url


@pytest.fixture
def aws(aws_emulator, monkeypatch):
    """An emptied emulator and an environment that points every AWS client at it."""
    aws_emulator.reset()
    for k in FOREIGN_AWS_VARIABLES:
        monkeypatch.delenv(k, raising=False)
    for k, v in aws_emulator.environ().items():
        monkeypatch.setenv(k, v)

    class Aws:
        url = aws_emulator.url
        region = REGION
        access_key = ACCESS_KEY
        secret_key = SECRET_KEY
        emulator = aws_emulator

        @staticmethod
        def client(service, region=REGION):
            return aws_emulator.client(service, region)

        @staticmethod
        def state():
            return aws_emulator.state()

        @staticmethod
        def env(**extra):
            e = ansible_env(dict(os.environ))
            e.update({k: str(v) for k, v in extra.items()})
            e.setdefault("ANSIBLE_NOCOLOR", "1")
            e.setdefault("ANSIBLE_FORCE_COLOR", "0")
            return e

    return Aws
