"""The gate options a user sets besides the runtime: ``scheme: https`` with ``validate_certs``, and the
top-level ``json_path`` / ``expect`` for every runtime.

TLS is spoken for real: the pod's server is a ``PodServer`` serving HTTPS on loopback with a
certificate of a CA made for the test, and the forwarded stream is a plain TCP connection to it
(what the API server's port-forward carries, without the API server; the integration test
``test_gates.py::test_a_pod_serving_tls_is_gated_over_https`` goes through the API server).
"""

import socket

import pytest

from ansible_collections.modelops.serving.plugins.module_utils.rollout import gates, portforward, runtimes
from ansible_collections.modelops.serving.plugins.module_utils.rollout.portforward import PortForwardError, Response
from testground.certs import make_serving_pair
from testground.modelserver.pods import PodServer
from tests.unit.plugins.module_utils.rollout.test_gates import cfg, pod, run

READY = "/v2/models/tiny/versions/1/ready"


class SocketStream:
    """A pod's port as one TCP connection on loopback, with PodPortForward's interface."""

    def __init__(self, api, namespace, pod_name, port, timeout=10.0):
        self.port = port
        self.timeout = timeout
        self.where = "port %d of pod %s/%s" % (port, namespace, pod_name)
        self.sock = None

    def open(self):
        self.sock = socket.create_connection(("127.0.0.1", self.port), self.timeout)
        return self

    def send(self, data):
        self.sock.sendall(data)

    def recv(self):
        return self.sock.recv(65536)

    def close(self):
        if self.sock is not None:
            self.sock.close()


@pytest.fixture
def tls_pair(tmp_path):
    # Issued for a name that is not the pod's: the host name is not compared, only the issuer.
    return make_serving_pair(str(tmp_path), "model-server", sans=("model-server.internal",))


@pytest.fixture
def servers(monkeypatch, tls_pair):
    monkeypatch.setattr(portforward, "PodPortForward", SocketStream)
    started = {"tls": PodServer("m-a", tls=tls_pair).start(), "plain": PodServer("m-b").start()}
    yield started
    for server in started.values():
        server.stop()


def ask(server, scheme, validate_certs):
    return portforward.pod_request(None, "serving", server.name, server.port, "GET", READY, timeout=5,
                                   scheme=scheme, validate_certs=validate_certs)


def test_https_reaches_a_pod_serving_tls_without_checking_its_certificate_by_default(servers):
    answer = ask(servers["tls"], "https", validate_certs=False)
    assert (answer.status, answer.json()) == (200, {"name": "tiny", "ready": True})
    assert servers["tls"].requests == [("GET", READY)]


def test_validate_certs_refuses_a_certificate_the_controller_does_not_trust(servers, monkeypatch, tmp_path):
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "no-such-bundle.pem"))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    with pytest.raises(PortForwardError) as err:
        ask(servers["tls"], "https", validate_certs=True)
    assert str(err.value).startswith("TLS with port %d of pod serving/m-a failed: [SSL: CERTIFICATE_VERIFY_FAILED] "
                                     "certificate verify failed" % servers["tls"].port), str(err.value)
    assert servers["tls"].requests == []  # nothing was sent to a server that could not prove itself


def test_validate_certs_trusts_the_ca_of_the_controllers_default_store(servers, monkeypatch, tls_pair):
    """The store is OpenSSL's default, which SSL_CERT_FILE / SSL_CERT_DIR point elsewhere (docs/gates.md)."""
    monkeypatch.setenv("SSL_CERT_FILE", tls_pair["ca_crt"])
    answer = ask(servers["tls"], "https", validate_certs=True)
    assert answer.status == 200
    assert servers["tls"].requests == [("GET", READY)]


def test_http_to_a_pod_serving_tls_is_unreachable_in_words(servers):
    with pytest.raises(PortForwardError) as err:
        ask(servers["tls"], "http", validate_certs=False)
    assert str(err.value).startswith("port %d of pod serving/m-a broke off GET %s: " % (servers["tls"].port, READY))


def test_https_to_a_pod_serving_plain_http_is_a_tls_failure_in_words(servers):
    with pytest.raises(PortForwardError) as err:
        ask(servers["plain"], "https", validate_certs=False)
    assert str(err.value).startswith("TLS with port %d of pod serving/m-b failed: " % servers["plain"].port)


@pytest.fixture
def recorded(monkeypatch):
    """pod_request answering the V2 readiness of model tiny, recording every call's options."""
    calls = []

    def fake(api, namespace, name, port, method, path, **kw):
        calls.append(dict(kw, pod=name, port=port, path=path))
        return Response(200, b'{"name": "tiny", "ready": true}')

    monkeypatch.setattr(gates, "pod_request", fake)
    return calls


def v2(**kw):
    return cfg(runtime="mlserver", model="tiny", model_version="1", retries=0, **kw)


def test_scheme_and_validate_certs_reach_every_request_to_every_pod(recorded):
    outcome, _entries, _ctx = run(v2(scheme="https", validate_certs=True), [pod("m-a"), pod("m-b")])
    assert outcome.ok, outcome.message
    assert [(c["pod"], c["path"], c["scheme"], c["validate_certs"]) for c in recorded] == [
        ("m-a", "/v2/health/ready", "https", True), ("m-a", READY, "https", True),
        ("m-b", "/v2/health/ready", "https", True), ("m-b", READY, "https", True)]


def test_pods_are_asked_in_plain_http_without_certificate_checks_by_default(recorded):
    outcome, _entries, _ctx = run(v2(), [pod("m-a")])
    assert outcome.ok, outcome.message
    assert {(c["scheme"], c["validate_certs"]) for c in recorded} == {("http", False)}


# -- json_path / expect at the top level, for the runtimes that are not custom ----------------------
@pytest.mark.parametrize("runtime, model, last_path, last_port", [
    ("mlserver", "tiny", READY, runtimes.SERVING),
    ("triton", "tiny", READY, runtimes.SERVING),
    ("kserve_v2", "tiny", READY, runtimes.SERVING),
    ("torchserve", "tiny", "/models/tiny/1", runtimes.MANAGEMENT),
    ("tfserving", "tiny", "/v1/models/tiny/versions/1", runtimes.SERVING),
    ("vllm", "tiny", "/v1/models", runtimes.SERVING),
])
def test_json_path_adds_an_expectation_on_the_last_readiness_answer(runtime, model, last_path, last_port):
    checks = runtimes.readiness_checks(cfg(runtime=runtime, model=model, model_version="1", json_path="$.name",
                                           expect="tiny"))
    last = checks[-1]
    assert (last.name, last.path, last.port, last.method) == ("expectation", last_path, last_port, "GET")
    # Added after the runtime's own checks, which stay as they were.
    plain = runtimes.readiness_checks(cfg(runtime=runtime, model=model, model_version="1"))
    assert [(c.name, c.path, c.port) for c in checks[:-1]] == [(c.name, c.path, c.port) for c in plain]
    assert last.judge(200, b'{"name": "tiny"}') == (True, 'HTTP 200, $.name == "tiny"', 'HTTP 200, $.name = "tiny"')
    assert last.judge(200, b'{"name": "other"}') == (False, 'HTTP 200, $.name == "tiny"',
                                                       'HTTP 200, $.name = "other"')


def test_the_expectation_follows_the_health_check_when_the_model_check_is_skipped():
    checks = runtimes.readiness_checks(cfg(runtime="mlserver", model="tiny", model_path="", json_path="$.ready"))
    assert [(c.name, c.path) for c in checks] == [("server_ready", "/v2/health/ready"),
                                                  ("expectation", "/v2/health/ready")]
    # Without expect the value must only be there.
    assert checks[1].judge(200, b'{"ready": true}')[0]
    ok, expected, got = checks[1].judge(200, b"{}")
    assert not ok and expected == "HTTP 200, $.ready present" and got.startswith("HTTP 200, ")


def test_no_readiness_check_means_no_expectation_either():
    checks = runtimes.readiness_checks(cfg(runtime="mlserver", model="tiny", health_path="", model_path="",
                                           json_path="$.ready", expect=True))
    assert checks == []


def test_the_expectation_holds_to_expect_status():
    check = runtimes.readiness_checks(cfg(runtime="vllm", model="tiny", json_path="$.object", expect="list",
                                          expect_status=203))[-1]
    assert check.judge(203, b'{"object": "list"}')[0]
    assert check.judge(200, b'{"object": "list"}')[:2] == (False, 'HTTP 203, $.object == "list"')


def test_an_answer_that_misses_the_expectation_fails_the_gate_naming_path_value_and_pod(recorded):
    outcome, entries, _ctx = run(v2(json_path="$.name", expect="resnet"), [pod("m-a")])
    assert not outcome.ok and outcome.reason == "model_not_ready"
    assert outcome.message == ('gate expectation failed on pod serving/m-a: GET %s expected HTTP 200, '
                               '$.name == "resnet", got HTTP 200, $.name = "tiny"' % READY)
    assert [(e["name"], e["ok"]) for e in entries] == [("server_ready", True), ("model_ready", True),
                                                       ("expectation", False)]


def test_an_answer_that_meets_the_expectation_passes_and_is_reported(recorded):
    outcome, entries, _ctx = run(v2(json_path="$.ready", expect=True), [pod("m-a")])
    assert outcome.ok, outcome.message
    assert [(e["name"], e["ok"], e["got"]) for e in entries][-1] == ("expectation", True, "HTTP 200, $.ready = true")
