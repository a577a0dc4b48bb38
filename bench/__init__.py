"""Side-by-side benchmarks of modelops.serving.model_rollout, kubectl and kubernetes.core."""
