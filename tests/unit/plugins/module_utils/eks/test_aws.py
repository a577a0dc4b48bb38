"""eks/aws.py's session: every failure to load credentials is an AwsError named for the operator."""

import pytest

from ansible_collections.modelops.serving.plugins.module_utils.eks import aws


@pytest.fixture
def config(tmp_path, monkeypatch):
    path = tmp_path / "aws-config"
    path.write_text("[profile broken]\ncredential_process = /nonexistent/credential-helper\n"
                    "[profile refusing]\ncredential_process = /bin/false\n"
                    "[profile fine]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = secret\n")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(path))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(path))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.mark.parametrize("profile", ["broken", "refusing"])
def test_a_credential_process_that_fails_or_cannot_start_is_an_aws_error(config, profile):
    with pytest.raises(aws.AwsError, match="The AWS credentials could not be loaded"):
        aws.session({"profile": profile, "region": "us-east-1"})


def test_a_profile_with_keys_gives_a_session(config):
    sess, _kwargs = aws.session({"profile": "fine", "region": "us-east-1"})
    assert sess.get_credentials().access_key == "AKIDEXAMPLE"
