"""EKS tokens renew themselves during long waits."""

import datetime

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
