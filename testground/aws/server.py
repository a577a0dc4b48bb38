"""The AWS emulator's process: moto in server mode, with the test ground's additions.

  python -m testground.aws.server --port 5000 [--host 127.0.0.1]

Runs moto's own WSGI application with (1) the SageMaker deployment model of
``testground.aws.sagemaker`` put into moto's SageMaker responses, and (2) a request log in
front of it. The log holds every AWS API request the emulator answered (service, action,
status, and whether the action writes), so a test can prove that a run wrote nothing.

Control paths beside moto's ``/moto-api/``:

  GET  /testground-api/requests?since=N    the log from sequence number N on
  POST /testground-api/reset               empty every backend, the log and the settings
  GET  /testground-api/sagemaker/settings  step durations and failure switches
  POST /testground-api/sagemaker/settings  change some of them (JSON object)
  GET  /testground-api/sagemaker/events?since=T   every endpoint status change after wall time T
  POST /testground-api/eks/endpoints       give EKS clusters a test-ground API endpoint and CA
                                           (``testground.aws.eks``)
"""

import argparse
import io
import json
import re
import signal
import sys
import threading
import time
from urllib.parse import parse_qs

# Read-only actions; anything else that reaches a backend counts as a write.
READ_ACTION = re.compile(r"^(Describe|List|Get|Search|BatchGet|Head|Query|Scan|Lookup|Filter)")
_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")


def _json(start_response, body, status="200 OK"):
    data = json.dumps(body, default=str).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def _body(environ):
    """The request body, read once and put back for moto."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    data = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(data)
    return data


def describe_request(environ, body):
    """(service, region, action) of one AWS API request, however its protocol names the action."""
    service = region = None
    match = _CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION") or "")
    if match:
        region, service = match.group(1), match.group(2)
    target = environ.get("HTTP_X_AMZ_TARGET")
    path = environ.get("PATH_INFO", "")
    if target:
        action = target.rsplit(".", 1)[-1]
    elif "/operation/" in path:  # smithy RPC v2 (CloudWatch): /service/<svc>/operation/<Action>
        action = path.rsplit("/", 1)[-1]
    else:
        form = parse_qs(body.decode("utf-8", "replace")) if body and b"=" in body[:200] else {}
        query = parse_qs(environ.get("QUERY_STRING", ""))
        action = (form.get("Action") or query.get("Action") or [None])[0]
        if action is None:  # REST protocols (EKS, S3): the method and path are the action
            action = "%s %s" % (environ.get("REQUEST_METHOD"), path)
    return service, region, action


def is_write(action, method):
    if " " in action:
        return method not in ("GET", "HEAD")
    return not READ_ACTION.match(action)


class RequestLog:
    def __init__(self):
        self.lock = threading.Lock()
        self.entries = []
        self.seq = 0

    def add(self, **entry):
        with self.lock:
            self.seq += 1
            entry["seq"] = self.seq
            self.entries.append(entry)
            return entry

    def since(self, seq):
        with self.lock:
            return [e for e in self.entries if e["seq"] > seq], self.seq

    def clear(self):
        with self.lock:
            self.entries = []


class Emulator:
    """WSGI application: the control paths, the request log, then moto."""

    def __init__(self, moto_app, sagemaker, eks):
        self.moto_app = moto_app
        self.sagemaker = sagemaker
        self.eks = eks
        self.log = RequestLog()

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/testground-api/"):
            return self.control(environ, start_response, path[len("/testground-api/"):])
        if path.startswith("/moto-api/") or path == "/favicon.ico":
            if path == "/moto-api/reset":
                self.sagemaker.reset()
                self.eks.reset()
                self.log.clear()
            return self.moto_app(environ, start_response)
        body = _body(environ)
        service, region, action = describe_request(environ, body)
        status_holder = {}

        def recording_start_response(status, headers, exc_info=None):
            status_holder["status"] = int(status.split(" ", 1)[0])
            return start_response(status, headers, exc_info)

        started = time.time()
        result = self.moto_app(environ, recording_start_response)
        self.log.add(t=started, service=service, region=region, action=action,
                     method=environ.get("REQUEST_METHOD"), status=status_holder.get("status"),
                     write=is_write(action, environ.get("REQUEST_METHOD")),
                     agent=(environ.get("HTTP_USER_AGENT") or "")[:1000])
        return result

    def control(self, environ, start_response, what):
        method = environ.get("REQUEST_METHOD")
        try:
            if what == "requests":
                since = int((parse_qs(environ.get("QUERY_STRING", "")).get("since") or ["0"])[0])
                entries, last = self.log.since(since)
                return _json(start_response, {"requests": entries, "last": last})
            if what == "reset" and method == "POST":
                from moto.moto_api._internal import moto_api_backend
                moto_api_backend.reset()
                self.sagemaker.reset()
                self.eks.reset()
                self.log.clear()
                return _json(start_response, {"reset": True})
            if what == "sagemaker/settings":
                if method == "POST":
                    changes = json.loads(_body(environ) or b"{}")
                    return _json(start_response, self.sagemaker.SETTINGS.update(changes))
                return _json(start_response, dict(self.sagemaker.SETTINGS.values))
            if what == "sagemaker/events":
                since = float((parse_qs(environ.get("QUERY_STRING", "")).get("since") or ["0"])[0])
                events = [e for e in self.sagemaker.DEPLOYMENTS.events if e["t"] > since]
                return _json(start_response, {"events": events})
            if what == "eks/endpoints" and method == "POST":
                return _json(start_response, self.eks.assign(json.loads(_body(environ) or b"{}")))
            if what == "health":
                return _json(start_response, {"ok": True})
        except ValueError as exc:
            return _json(start_response, {"error": str(exc)}, "400 Bad Request")
        return _json(start_response, {"error": "no such control path: %s" % what}, "404 Not Found")


def build_app():
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from testground.aws import eks, sagemaker

    sagemaker.install()
    eks.install()
    return Emulator(DomainDispatcherApplication(create_backend_app), sagemaker, eks)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m testground.aws.server", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--settings", help="initial SageMaker settings as a JSON object")
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the emulator serves on loopback only")
    from werkzeug.serving import run_simple
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    app = build_app()
    if args.settings:
        app.sagemaker.SETTINGS.update(json.loads(args.settings))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
