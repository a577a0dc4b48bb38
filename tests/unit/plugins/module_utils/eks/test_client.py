"""EKS tokens renew themselves during long waits."""

import datetime

import pytest

from ansible_collections.modelops.serving.plugins.module_utils.eks.client import REFRESH_MARGIN, TokenRenewer

T0 = datetime.datetime(2026, 11, 25, 9, 0, tzinfo=datetime.timezone.utc)


class Clock:
    def __init__(self):
        self.now = T0

    def __call__(self):
        return self.now


class Config:
    def __init__(self):
        self.api_key = {}


def test_token_is_reused_until_shortly_before_expiry_then_renewed():
    clock = Clock()
    signed = []

    def sign():
        signed.append(clock.now)
        return "token-%d" % len(signed), clock.now + datetime.timedelta(minutes=14)

    renewer = TokenRenewer({"cluster_name": "prod"}, "token-0", T0 + datetime.timedelta(minutes=14),
                           sign=sign, now=clock)
    config = Config()
    renewer(config)
    assert config.api_key["authorization"] == "token-0" and signed == []
    clock.now = T0 + datetime.timedelta(minutes=14) - REFRESH_MARGIN - datetime.timedelta(seconds=1)
    renewer(config)
    assert config.api_key["authorization"] == "token-0"
    clock.now += datetime.timedelta(seconds=1)
    renewer(config)
    assert config.api_key["authorization"] == "token-1" and renewer.renewals == 1
    # A 40 minute wait renews about every 12 minutes, never serving an expired token.
    for minute in range(40):
        clock.now = T0 + datetime.timedelta(minutes=14, seconds=60 * minute)
        renewer(config)
        assert renewer.expires_at - clock.now > datetime.timedelta(0)
    assert 3 <= renewer.renewals <= 5


def test_the_client_asks_the_renewer_for_its_token_on_every_request(monkeypatch):
    """The renewer is hooked into the API client: a request after the margin carries a new token."""
    import http.server
    import json
    import threading

    from kubernetes import client as k8s_client

    from ansible_collections.modelops.serving.plugins.module_utils.eks import client as eks_client
    from ansible_collections.modelops.serving.plugins.module_utils.eks import token as eks_token

    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the http.server name)
            seen.append(self.headers.get("Authorization"))
            body = json.dumps({"kind": "NamespaceList", "apiVersion": "v1", "metadata": {}, "items": []}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    now = datetime.datetime.now(datetime.timezone.utc)
    monkeypatch.setattr(eks_token, "cluster_connection", lambda args, name: {
        "host": "http://127.0.0.1:%d" % server.server_port, "ca_data": None, "token": "k8s-aws-v1.first",
        "expires_at": now + datetime.timedelta(minutes=14)})
    try:
        api, renewer = eks_client.eks_api_client({"cluster_name": "prod"})
        core = k8s_client.CoreV1Api(api)
        core.list_namespace()
        # The token is about to expire: the next request must sign and send a new one.
        renewer.expires_at = now + REFRESH_MARGIN / 2
        monkeypatch.setattr(eks_token, "get_token", lambda args, name: ("k8s-aws-v1.second",
                                                                        now + datetime.timedelta(minutes=15)))
        core.list_namespace()
    finally:
        server.shutdown()
        server.server_close()
    assert seen == ["Bearer k8s-aws-v1.first", "Bearer k8s-aws-v1.second"]
    assert renewer.renewals == 1


def test_a_refused_token_is_signed_anew_once_and_a_replaced_one_is_not_signed_again():
    signed = []

    def sign():
        signed.append(1)
        return "token-%d" % len(signed), T0 + datetime.timedelta(minutes=14)

    renewer = TokenRenewer({"cluster_name": "prod"}, "token-0", T0 + datetime.timedelta(minutes=14), sign=sign,
                           now=Clock())
    assert renewer.refused("Bearer token-0") is True
    assert renewer.token == "token-1" and renewer.resigned == 1 and renewer.renewals == 1
    # A second request refused with the old token while the first re-signed: resend with the new one.
    assert renewer.refused("Bearer token-0") is True
    assert renewer.token == "token-1" and renewer.resigned == 1
    # A request that carried no token gains nothing by a new one.
    assert renewer.refused(None) is False and renewer.resigned == 1
    # The new token refused in its turn (a server whose lifetime is shorter than ours): signed again, counted.
    assert renewer.refused("Bearer token-1") is True
    assert renewer.token == "token-2" and renewer.resigned == 2 and renewer.renewals == 2
    # Only the header exactly as the client sends it names the current token.
    assert renewer.refused("token-2") is True and renewer.refused("Bearer  token-2") is True
    assert renewer.token == "token-2" and renewer.resigned == 2


class RefusingServer:
    """A Kubernetes-like server on loopback that answers 401 to the tokens it is told to refuse."""

    def __init__(self, refuse):
        import http.server
        import json
        import threading

        self.seen = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            # Keep-alive, as kube-apiserver: the request sent again goes on the connection of the refused one.
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802 (the http.server name)
                token = self.headers.get("Authorization")
                outer.seen.append(token)
                if refuse(token):
                    code, body = 401, {"kind": "Status", "status": "Failure", "message": "Unauthorized",
                                       "reason": "Unauthorized", "code": 401}
                else:
                    code, body = 200, {"kind": "NamespaceList", "apiVersion": "v1", "metadata": {}, "items": []}
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = "http://127.0.0.1:%d" % self.server.server_port

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _kube_api(url, renewer=None, token="k8s-aws-v1.first"):
    from kubernetes import client as k8s_client

    from ansible_collections.modelops.serving.plugins.module_utils.rollout.kube import KubeApi

    configuration = k8s_client.Configuration()
    configuration.host = url
    configuration.api_key = {"authorization": token}
    configuration.api_key_prefix = {"authorization": "Bearer"}
    if renewer is not None:
        configuration.refresh_api_key_hook = renewer
    api = KubeApi(k8s_client.ApiClient(configuration))
    api.token_renewer = renewer
    return api


def _renewer(tokens):
    """A renewer whose schedule sees no need to renew (14 minutes left) and signs ``tokens`` in turn."""
    now = datetime.datetime.now(datetime.timezone.utc)
    queue = list(tokens)
    return TokenRenewer({"cluster_name": "prod"}, "k8s-aws-v1.first", now + datetime.timedelta(minutes=14),
                        sign=lambda: (queue.pop(0), now + datetime.timedelta(minutes=14)))


def test_a_401_to_an_eks_token_signs_a_fresh_token_and_sends_the_request_once_more():
    server = RefusingServer(lambda token: token == "Bearer k8s-aws-v1.first")
    try:
        renewer = _renewer(["k8s-aws-v1.second"])
        api = _kube_api(server.url, renewer)
        assert api.get("/api/v1/namespaces")["kind"] == "NamespaceList"
        # Later requests carry the new token from the start.
        api.get("/api/v1/namespaces")
    finally:
        server.close()
    assert server.seen == ["Bearer k8s-aws-v1.first", "Bearer k8s-aws-v1.second", "Bearer k8s-aws-v1.second"]
    assert renewer.resigned == 1


def test_a_fresh_token_refused_too_is_the_answer_never_a_loop():
    from ansible_collections.modelops.serving.plugins.module_utils.rollout.kube import KubeError, explain

    server = RefusingServer(lambda token: True)
    try:
        renewer = _renewer(["k8s-aws-v1.second", "k8s-aws-v1.third"])
        api = _kube_api(server.url, renewer)
        with pytest.raises(KubeError) as refused:
            api.get("/api/v1/namespaces")
        error = refused.value
    finally:
        server.close()
    assert server.seen == ["Bearer k8s-aws-v1.first", "Bearer k8s-aws-v1.second"]
    assert error.status == 401 and error.resigned is True
    message = explain(error, "https://eks.example")
    assert "rejected the EKS token (401 Unauthorized), also a freshly signed one" in message
    assert "cluster_name" in message and "access entry" in message


def test_a_401_to_a_credential_we_did_not_sign_is_not_retried():
    from ansible_collections.modelops.serving.plugins.module_utils.rollout.kube import KubeError, explain

    server = RefusingServer(lambda token: True)
    try:
        api = _kube_api(server.url, token="sa-token")
        with pytest.raises(KubeError) as refused:
            api.get("/api/v1/namespaces")
        error = refused.value
    finally:
        server.close()
    assert server.seen == ["Bearer sa-token"]
    assert error.status == 401 and error.resigned is False
    assert "check the token, client certificate or kubeconfig user" in explain(error, "https://k8s.example")


def test_a_token_that_cannot_be_signed_after_a_401_is_a_401_saying_why():
    from ansible_collections.modelops.serving.plugins.module_utils.eks.aws import AwsError
    from ansible_collections.modelops.serving.plugins.module_utils.rollout.kube import KubeError, explain

    def sign():
        raise AwsError("No AWS credentials found")

    server = RefusingServer(lambda token: True)
    try:
        now = datetime.datetime.now(datetime.timezone.utc)
        renewer = TokenRenewer({"cluster_name": "prod"}, "k8s-aws-v1.first", now + datetime.timedelta(minutes=14),
                               sign=sign)
        api = _kube_api(server.url, renewer)
        with pytest.raises(KubeError) as refused:
            api.get("/api/v1/namespaces")
        error = refused.value
    finally:
        server.close()
    assert server.seen == ["Bearer k8s-aws-v1.first"]
    assert error.status == 401 and error.resigned is True
    assert "no new token could be signed: No AWS credentials found" in explain(error, "https://eks.example")


def test_the_default_renewer_signs_for_its_cluster_on_the_real_clock(monkeypatch):
    from ansible_collections.modelops.serving.plugins.module_utils.eks import client as eks_client

    signed = []
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=14)

    def get_token(args, name):
        signed.append((args, name))
        return "k8s-aws-v1.new", later

    monkeypatch.setattr(eks_client.eks_token, "get_token", get_token)
    args = {"cluster_name": "prod", "region": "eu-west-1"}
    fresh = TokenRenewer(args, "k8s-aws-v1.fresh", later)
    config = Config()
    fresh(config)
    assert config.api_key["authorization"] == "k8s-aws-v1.fresh" and signed == []
    stale = TokenRenewer(args, "k8s-aws-v1.old", datetime.datetime.now(datetime.timezone.utc) + REFRESH_MARGIN / 2)
    stale(config)
    assert config.api_key["authorization"] == "k8s-aws-v1.new"
    assert signed == [(args, "prod")]


def test_the_client_trusts_the_clusters_own_ca_over_https(monkeypatch, tmp_path):
    """EKS's certificateAuthority.data (base64 PEM) is what the client verifies the API server with."""
    import base64
    import http.server
    import json
    import os
    import ssl
    import threading

    from kubernetes import client as k8s_client

    from ansible_collections.modelops.serving.plugins.module_utils.eks import client as eks_client
    from testground.certs import make_serving_pair

    pair = make_serving_pair(str(tmp_path), "eks-api")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the http.server name)
            body = json.dumps({"kind": "NamespaceList", "apiVersion": "v1", "metadata": {}, "items": []}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(pair["crt"], pair["key"])
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with open(pair["ca_crt"], "rb") as f:
        ca_pem = f.read()
    asked = []

    def cluster_connection(args, name):
        asked.append((args, name))
        return {"host": "https://127.0.0.1:%d" % server.server_port, "ca_data": base64.b64encode(ca_pem).decode(),
                "token": "k8s-aws-v1.first",
                "expires_at": datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=14)}

    monkeypatch.setattr(eks_client.eks_token, "cluster_connection", cluster_connection)
    removals = []
    monkeypatch.setattr(eks_client.atexit, "register", lambda fn, *a, **kw: removals.append((fn, a, kw)))
    args = {"cluster_name": "prod"}
    try:
        api, _renewer = eks_client.eks_api_client(args)
        assert k8s_client.CoreV1Api(api).list_namespace().items == []
    finally:
        server.shutdown()
        server.server_close()
    assert asked == [(args, "prod")]
    ca_file = api.configuration.ssl_ca_cert
    with open(ca_file, "rb") as f:
        assert f.read() == ca_pem
    assert os.path.basename(ca_file).startswith("eks-ca-") and ca_file.endswith(".crt")
    # It is removed when the process exits, once (a second removal of a gone file is no error).
    assert (eks_client._remove, (ca_file,), {}) in removals
    eks_client._remove(ca_file)
    assert not os.path.exists(ca_file)
    eks_client._remove(ca_file)


def test_a_cluster_without_ca_data_leaves_the_client_on_the_system_trust(monkeypatch):
    from ansible_collections.modelops.serving.plugins.module_utils.eks import client as eks_client

    monkeypatch.setattr(eks_client.eks_token, "cluster_connection", lambda args, name: {
        "host": "https://eks.example", "ca_data": None, "token": "k8s-aws-v1.t",
        "expires_at": datetime.datetime.now(datetime.timezone.utc)})
    api, _renewer = eks_client.eks_api_client({"cluster_name": "prod"})
    assert api.configuration.ssl_ca_cert is None
    assert api.configuration.host == "https://eks.example"
