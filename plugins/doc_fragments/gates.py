# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    # Model-aware gates of modelops.serving.model_rollout (argument spec: module_utils/rollout/gates.py).
    DOCUMENTATION = r"""
options:
  gates:
    description:
      - Model-aware gates, run after Kubernetes calls the rollout complete. A failed gate fails the rollout with
        its own RV(reason) and O(on_failure) applies (by default the recorded template is rolled back and waited for).
      - In order, each stopping at the first failure. Readiness per O(gates.runtime) on every new pod (or
        O(gates.sample) of them) through the API server's pod port-forward (the path of C(kubectl port-forward),
        so no network access to the pods is needed), or once against O(gates.url). Then O(gates.smoke) inference on
        the same pods. Then the metric gates (O(gates.prometheus), O(gates.cloudwatch)). Then the bake window
        O(gates.bake_seconds), in which any restart, readiness loss or deletion of a new pod, or a failed re-check
        every O(gates.bake_interval) seconds, fails the rollout.
      - Failure messages name the pod, the check, what was expected and what came back. A pod that cannot be
        reached (nothing listens on the port, the pod is gone, port-forward not allowed) fails with reason
        C(gate_unreachable) and the kubelet's or API server's own words.
      - Reasons are C(model_not_ready), C(smoke_failed), C(gate_check_failed) (custom), C(gate_unreachable),
        C(gate_no_pods), C(bake_restart), C(bake_not_ready), C(prometheus_threshold), C(prometheus_error),
        C(prometheus_no_data), C(cloudwatch_alarm) and C(cloudwatch_error).
      - The result key C(gates) lists every check with C(name), C(pod), C(ok), C(seconds), C(expected), C(got),
        C(checks) (how many times it ran, bake rounds included) and C(attempts); C(durations.gate) is their total.
      - The model_server role's presets carry these settings per runtime (C(model_server_result.gate)); they may
        be passed here as they are.
      - The account needs C(create) on C(pods/portforward) in the namespace (see docs/rbac.md). See docs/gates.md.
    type: dict
    suboptions:
      runtime:
        description:
          - The model server, which decides the readiness checks and the default port and paths.
          - C(triton), C(kserve_v2), C(mlserver) (Open Inference Protocol) ask C(/v2/health/ready) and
            C(/v2/models/<model>[/versions/<model_version>]/ready).
          - C(torchserve) asks C(/ping) on O(gates.port) and the management API's C(/models/<model>[/<model_version>])
            on O(gates.management_port) for a worker in state C(READY).
          - C(tfserving) asks C(/v1/models/<model>[/versions/<model_version>]) for the version (any, if none is
            named) in state C(AVAILABLE).
          - C(vllm) asks C(/health), then C(/v1/models) for O(gates.model) among the served models.
          - C(custom) asks O(gates.path) for O(gates.expect_status) and, optionally, O(gates.json_path).
        type: str
        required: true
        choices: [triton, kserve_v2, mlserver, torchserve, tfserving, vllm, custom]
      model:
        description:
          - Name of the model the server must serve. Required for C(torchserve) and C(tfserving); without it,
            the V2 runtimes check only the server and C(vllm) accepts any served model.
        type: str
      model_version:
        description: Version of the model that must be ready, for runtimes that version models.
        type: str
      port:
        description:
          - Container port to reach through the port-forward. Defaults per runtime, C(8000) (triton, vllm),
            C(8080) (kserve_v2, mlserver, torchserve inference API, custom), C(8501) (tfserving).
        type: int
      management_port:
        description: TorchServe's management API port (pod port, or the port on the host of O(gates.url)).
        type: int
        default: 8081
      scheme:
        description: C(https) speaks TLS to the pod inside the port-forward.
        type: str
        choices: [http, https]
        default: http
      validate_certs:
        description:
          - Verify the server certificate for C(scheme=https) through the port-forward (the host name is not
            compared, since pods rarely have certificates in their own name) and for O(gates.url).
          - The certificate must chain to the default trust store of the host that runs the module; the
            environment variables C(SSL_CERT_FILE) and C(SSL_CERT_DIR) point it elsewhere, for example at a
            private CA's bundle. A certificate that does not verify fails with C(gate_unreachable).
        type: bool
        default: false
      url:
        description:
          - Base URL to check instead of port-forwarding to each pod, for example a Service or an ingress.
            The checks then run once, not per pod, and O(gates.sample) does not apply.
        type: str
      health_path:
        description:
          - Replaces the runtime's server health path. An empty string skips the server check.
        type: str
      model_path:
        description:
          - Replaces the runtime's model status path. An empty string skips the model check.
        type: str
      path:
        description: Path that O(gates.runtime=custom) asks. Defaults to O(gates.health_path).
        type: str
      expect_status:
        description: HTTP status the custom check (and an O(gates.json_path) expectation) must see.
        type: int
        default: 200
      json_path:
        description:
          - A value that must exist in the JSON answer of the custom check (for other runtimes, of the last
            readiness check), such as C($.status) or C(data[0].id); C([*]) collects a list.
          - For runtimes other than C(custom) it is one more check, C(expectation), which fails with
            C(model_not_ready).
          - A path that cannot be read (C($.outputs[0)) is an input error, as for O(gates.smoke.json_path), before
            anything is written.
        type: str
      expect:
        description: The value at O(gates.json_path) must equal this (numbers within float rounding).
        type: raw
      sample:
        description:
          - How many of the new pods to gate, a whole number or a percentage of them (rounded up, at least one).
            Pods are taken in name order.
        type: raw
        default: 100%
      timeout:
        description: Seconds each request may take, port-forward included.
        type: float
        default: 10
      retries:
        description:
          - Extra attempts of a readiness check that fails, O(gates.interval) seconds apart, for servers that
            need a few seconds after Kubernetes calls them Ready. Smoke inference gets the same attempts.
        type: int
        default: 3
      interval:
        description: Seconds between attempts.
        type: float
        default: 2
      smoke:
        description: One inference request sent to each gated pod, judged by status and an optional JSON path.
        type: dict
        suboptions:
          body:
            description: Request body; a dict or list is sent as JSON, a string as it is.
            type: raw
          body_file:
            description: Read the body from this file on the host that runs the module (bytes, as they are).
            type: path
          path:
            description:
              - Inference path. Defaults to the runtime's own, C(/v2/models/<model>[/versions/<v>]/infer),
                C(/predictions/<model>[/<v>]), C(/v1/models/<model>[/versions/<v>]:predict) or C(/v1/completions).
            type: str
          content_type:
            description: Content-Type of the body.
            type: str
            default: application/json
          expect_status:
            description: HTTP status the answer must have.
            type: int
            default: 200
          json_path:
            description: A value that must exist in the JSON answer, such as C($.outputs[0].data).
            type: str
          expect:
            description: The value at O(gates.smoke.json_path) must equal this (numbers within float rounding).
            type: raw
          timeout:
            description: Seconds the inference may take. Defaults to O(gates.timeout).
            type: float
      bake_seconds:
        description:
          - After the gates pass, keep watching the new pods this long. Any restart, readiness loss or deletion,
            and any failed re-check, fails the rollout. C(0) skips the bake (metric gates then run once).
        type: int
        default: 0
      bake_interval:
        description: Seconds between re-checks of readiness and metric gates during the bake.
        type: float
        default: 10
      prometheus:
        description:
          - A PromQL instant query evaluated after the readiness gates and every O(gates.bake_interval) during the
            bake. The gate holds while every sample satisfies C(value <comparison> threshold), for example an error
            ratio of the new version C(le) C(0.05). NaN samples count as no data.
        type: dict
        suboptions:
          url:
            description: Base URL of the Prometheus server (its C(/api/v1/query) is asked).
            type: str
            required: true
          query:
            description: The PromQL expression; it must return an instant vector or a scalar.
            type: str
            required: true
          threshold:
            description: The number each sample is compared with.
            type: float
            required: true
          comparison:
            description: How a sample must compare with O(gates.prometheus.threshold) for the gate to hold.
            type: str
            choices: [lt, le, gt, ge, eq, ne]
            default: le
          fail_on_empty:
            description: Fail when the query returns no data (by default no data holds).
            type: bool
            default: false
          headers:
            description: Extra request headers, for example C(Authorization).
            type: dict
          validate_certs:
            description: Verify the server certificate of an https URL.
            type: bool
            default: true
          timeout:
            description: Seconds the query may take.
            type: float
            default: 10
      cloudwatch:
        description:
          - CloudWatch alarms checked after the readiness gates and every O(gates.bake_interval) during the bake.
            Any named alarm in state C(ALARM) fails the rollout, as SageMaker's auto-rollback does; a name that
            does not exist fails too. Needs C(cloudwatch:DescribeAlarms) and boto3.
          - Credentials and region come from these options or the standard AWS environment variables, shared
            files and instance or pod roles, as boto3 finds them. The client is built, and throttling retried, by
            the same code as the O(eks) connection (C(module_utils/eks/aws.py)).
        type: dict
        suboptions:
          alarm_names:
            description: Names of metric or composite alarms.
            type: list
            elements: str
            required: true
          region:
            description: AWS region. Defaults to C(AWS_REGION) or C(AWS_DEFAULT_REGION).
            type: str
            aliases: [aws_region]
          profile:
            description: Named profile of the AWS shared configuration. Defaults to C(AWS_PROFILE).
            type: str
            aliases: [aws_profile]
          access_key:
            description:
              - AWS access key ID. Not logged (C(no_log)), like the secret key and the session token.
              - Without keys or a profile, boto3 finds credentials as usual (C(AWS_ACCESS_KEY_ID) and friends, shared
                files, instance or pod roles).
            type: str
            aliases: [aws_access_key_id]
          secret_key:
            description: AWS secret access key.
            type: str
            aliases: [aws_secret_access_key]
          session_token:
            description: AWS session token for temporary credentials.
            type: str
            aliases: [aws_session_token]
          endpoint_url:
            description:
              - AWS API endpoint, for a private endpoint or a local emulator. Defaults to C(AWS_URL) or C(AWS_ENDPOINT_URL).
            type: str
            aliases: [aws_endpoint_url]
          assume_role_arn:
            description: Assume this IAM role (STS AssumeRole) before any other call.
            type: str
          role_session_name:
            description: Session name for the assumed role.
            type: str
            default: modelops-serving
"""
