"""KubeApi sends the credentials the kubernetes client was configured with, whichever key the
client release keeps them under (a kubeconfig token user is "BearerToken" in kubernetes 37,
"authorization" in 24; kubernetes.core's api_key option and the EKS client set "authorization")."""

import yaml
from kubernetes import client, config

from ansible_collections.modelops.serving.plugins.module_utils.rollout.kube import KubeApi


def kubeconfig_with_token(tmp_path, token):
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "sa",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443", "insecure-skip-tls-verify": True}}],
        "users": [{"name": "sa", "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "c", "user": "sa", "namespace": "serving"}}],
    }))
    return str(path)


def test_a_kubeconfig_token_user_is_sent(tmp_path):
    configuration = client.Configuration()
    config.load_kube_config(config_file=kubeconfig_with_token(tmp_path, "sa-token-123"),
                            client_configuration=configuration)
    headers = KubeApi(client.ApiClient(configuration))._headers("application/json")
    assert headers["Authorization"] == "Bearer sa-token-123"


def test_an_api_key_as_kubernetes_core_sets_it_is_sent():
    configuration = client.Configuration()
    configuration.host = "https://127.0.0.1:6443"
    configuration.api_key = {"authorization": "Bearer api-key-456"}
    headers = KubeApi(client.ApiClient(configuration))._headers("application/json")
    assert headers["Authorization"] == "Bearer api-key-456"


def test_a_refresh_hook_runs_before_the_token_is_read():
    configuration = client.Configuration()
    configuration.api_key = {"authorization": "old"}
    configuration.api_key_prefix = {"authorization": "Bearer"}

    def renew(cfg):
        cfg.api_key["authorization"] = "renewed"

    configuration.refresh_api_key_hook = renew
    assert KubeApi(client.ApiClient(configuration))._headers("application/json")["Authorization"] == "Bearer renewed"


def test_no_credentials_send_no_authorization():
    headers = KubeApi(client.ApiClient(client.Configuration()))._headers("application/json")
    assert "Authorization" not in headers
