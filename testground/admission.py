"""A small validating admission webhook on loopback, for tests of pods the API refuses to create.

``python -m testground.admission --port P --cert C --key K`` serves HTTPS on 127.0.0.1:P and
answers AdmissionReview v1 requests for pods: a pod with a container image tagged ``:denied`` is
refused with ``DENY_MESSAGE`` (HTTP 403 in the review), every other pod is allowed. The cluster
registers it with a ValidatingWebhookConfiguration (``Cluster.admission()``) that only namespaces
labelled ``NAMESPACE_LABEL`` go through, with ``failurePolicy: Ignore``, so other tests never wait
on it.
"""

import argparse

from testground.webhook import JsonHandler, serve_tls

WEBHOOK_NAME = "deny.testground.modelops.serving"
NAMESPACE_LABEL = "testground.modelops.serving/admission"
DENIED_TAG = ":denied"
DENY_MESSAGE = "image tag :denied is refused by the test ground's admission policy"


def review_response(review):
    """The AdmissionReview answer for one request: allowed unless a container image is tagged :denied."""
    request = review.get("request") or {}
    pod = request.get("object") or {}
    spec = pod.get("spec") or {}
    images = [c.get("image") or "" for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])]
    denied = any(image.endswith(DENIED_TAG) for image in images)
    response = {"uid": request.get("uid"), "allowed": not denied}
    if denied:
        response["status"] = {"code": 403, "reason": "Forbidden", "message": DENY_MESSAGE}
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}


class Handler(JsonHandler):
    name = "admission"

    def do_GET(self):  # noqa: N802 - the http.server interface
        # The launcher's readiness probe.
        self._send(200, {"ok": True})

    def do_POST(self):  # noqa: N802 - the http.server interface
        review = self.read_json()
        if review is not None:
            self._send(200, review_response(review))


def serve(port, cert, key):
    serve_tls(port, cert, key, Handler)


def webhook_configuration(port, ca_bundle_b64):
    """The ValidatingWebhookConfiguration that makes the apiserver call this server for pod creates."""
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": "testground-deny"},
        "webhooks": [{
            "name": WEBHOOK_NAME,
            "clientConfig": {"url": "https://127.0.0.1:%d/deny" % port, "caBundle": ca_bundle_b64},
            "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]}],
            "namespaceSelector": {"matchLabels": {NAMESPACE_LABEL: "deny"}},
            "failurePolicy": "Ignore",
            "sideEffects": "None",
            "admissionReviewVersions": ["v1"],
            "timeoutSeconds": 5,
        }],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    args = parser.parse_args(argv)
    serve(args.port, args.cert, args.key)


if __name__ == "__main__":
    main()
