"""The peers: Argo Rollouts and Flagger, built from the Go module proxy and run against test-ground clusters.

``build`` builds them once per release into a cache of their own (on demand: only the
benchmark's ``peers`` phase and its smoke test ask); ``controllers`` installs their CRDs from
the release's source and runs each controller as a local process with the cluster's kubeconfig.
"""
