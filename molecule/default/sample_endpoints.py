"""Sample a Service's ready endpoints until a stop file appears (or a time limit passes).

  python sample_endpoints.py KUBECONFIG CONTEXT NAMESPACE SERVICE STOP_FILE OUT_FILE [SECONDS]

Writes {"samples": [[t, ready], ...], "min_ready": n} to OUT_FILE. Ready means an EndpointSlice
endpoint with condition ready=true: what a Service sends traffic to.
"""

import json
import os
import sys
import time

from kubernetes import client, config


def ready_endpoints(discovery, namespace, service):
    slices = discovery.list_namespaced_endpoint_slice(namespace, label_selector="kubernetes.io/service-name=" + service)
    addresses = set()
    for s in slices.items:
        for ep in s.endpoints or []:
            if ep.conditions and ep.conditions.ready:
                addresses.update(ep.addresses or [])
    return len(addresses)


def main(argv):
    kubeconfig, context, namespace, service, stop_file, out_file = argv[1:7]
    limit = float(argv[7]) if len(argv) > 7 else 300
    discovery = client.DiscoveryV1Api(config.new_client_from_config(config_file=kubeconfig, context=context))
    samples = []
    started = time.monotonic()
    while not os.path.exists(stop_file) and time.monotonic() - started < limit:
        samples.append([round(time.monotonic() - started, 2), ready_endpoints(discovery, namespace, service)])
        time.sleep(0.2)
    with open(out_file, "w") as f:
        json.dump({"samples": samples, "min_ready": min((sample[1] for sample in samples), default=None)}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
