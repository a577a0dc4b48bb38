"""What the AWX controller does for a job, done here with ansible-runner: build the job's private data
directory (project, inventory, survey answers and AWX's own variables as extra vars, credentials
injected by their credential types), ``transmit`` it to an execution node, and ``process`` what the
node streams back into the job's artifacts.

Credential injection follows AWX: a custom credential type's injectors (``file``, ``env``,
``extra_vars``) are Jinja templates over the credential's inputs, with ``tower.filename.<name>``
naming the injected file as the job sees it on the node; the built-in *OpenShift or Kubernetes API
Bearer Token* type sets K8S_AUTH_HOST, K8S_AUTH_API_KEY and K8S_AUTH_VERIFY_SSL, and with a CA
certificate writes it to a file named by K8S_AUTH_SSL_CA_CERT.
"""

import json
import os
import shutil
import tempfile
import threading

import jinja2
import yaml

from testground.collection import REPO_ROOT
from testground.execution_node import submit

CONFIGURE = os.path.join(REPO_ROOT, "awx", "configure.yml")


def shipped_configuration():
    """The job templates, workflow and credential type that awx/configure.yml creates."""
    with open(CONFIGURE) as f:
        [play] = yaml.safe_load(f)
    tasks = dict((next(k for k in t if k.startswith("awx.awx.")), t) for t in play["tasks"])
    templates = dict((item["name"], item) for item in tasks["awx.awx.job_template"]["loop"])
    credential_type = tasks["awx.awx.credential_type"]["awx.awx.credential_type"]
    workflow = tasks["awx.awx.workflow_job_template"]["awx.awx.workflow_job_template"]
    return {"templates": templates, "credential_type": credential_type, "workflow": workflow,
            "vars": play.get("vars") or {}}


def _render(template, context):
    # configure.yml escapes the injector's own braces from Ansible: {{ '{{' }} x {{ '}}' }}
    text = jinja2.Environment().from_string(template).render(**{}) if "{{ '{{' }}" in template else template
    return jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(text).render(**context)


class Credential:
    """A credential of a type with AWX injectors, and its inputs."""

    def __init__(self, injectors, inputs):
        self.injectors = injectors or {}
        self.inputs = inputs

    def inject(self, job):
        files = {}
        for key, template in (self.injectors.get("file") or {}).items():
            files[key.split(".", 1)[1] if "." in key else None] = job.write_env_file(_render(template, self.inputs))
        # One unnamed file is tower.filename; named ones (template.<name>) are tower.filename.<name>.
        filename = files[None] if list(files) == [None] else files
        context = dict(self.inputs, tower={"filename": filename})
        for var, template in (self.injectors.get("env") or {}).items():
            job.envvars[var] = _render(template, context)
        for var, template in (self.injectors.get("extra_vars") or {}).items():
            job.extravars[var] = _render(template, context)


class BearerTokenCredential:
    """AWX's built-in OpenShift or Kubernetes API Bearer Token credential type."""

    def __init__(self, host, bearer_token, verify_ssl=True, ssl_ca_cert=None):
        self.host, self.token, self.verify, self.ca = host, bearer_token, verify_ssl, ssl_ca_cert

    def inject(self, job):
        job.envvars["K8S_AUTH_HOST"] = self.host
        job.envvars["K8S_AUTH_API_KEY"] = self.token
        if self.verify and self.ca:
            job.envvars["K8S_AUTH_VERIFY_SSL"] = "True"
            job.envvars["K8S_AUTH_SSL_CA_CERT"] = job.write_env_file(self.ca)
        else:
            job.envvars["K8S_AUTH_VERIFY_SSL"] = "False"


class Job:
    """One AWX job of a job template, run on an execution node."""

    def __init__(self, node, job_id, template, inventory, survey, limit=None, credentials=(), workflow_job=None,
                 verbosity=0):
        self.node = node
        self.job_id = job_id
        self.ident = "job%s" % job_id
        self.private = tempfile.mkdtemp(prefix="awx-job-%s-" % job_id)
        self.remote = node.job_dir(self.ident)
        self.template = template
        self.limit = limit
        self.verbosity = verbosity
        self.envvars = {}
        self.extravars = dict(survey)
        # What AWX adds to every job (awx_meta_vars); a workflow's jobs share its id.
        self.extravars.update({"awx_job_id": job_id, "tower_job_id": job_id,
                               "awx_job_template_name": template["name"], "awx_job_launch_type": "manual"})
        if workflow_job:
            self.extravars.update({"awx_workflow_job_id": workflow_job["id"],
                                   "awx_workflow_job_name": workflow_job["name"], "awx_job_launch_type": "workflow"})
        os.makedirs(os.path.join(self.private, "env"))
        os.makedirs(os.path.join(self.private, "inventory"))
        # The project, as AWX syncs it: the playbooks (the collection is in the execution environment).
        shutil.copytree(os.path.join(REPO_ROOT, "playbooks"), os.path.join(self.private, "project", "playbooks"))
        with open(os.path.join(self.private, "inventory", "hosts.yml"), "w") as f:
            yaml.safe_dump(inventory, f)
        for credential in credentials:
            credential.inject(self)

    def write_env_file(self, content):
        """A credential file in the job's env/, named by where the job will find it on the node."""
        handle, path = tempfile.mkstemp(dir=os.path.join(self.private, "env"))
        with os.fdopen(handle, "w") as f:
            f.write(content)
        os.chmod(path, 0o600)
        return os.path.join(self.remote, "env", os.path.basename(path))

    def run(self):
        """transmit -> node (worker) -> process; returns (status, rc) and leaves the artifacts here."""
        import ansible_runner

        # No inventory argument: the runner takes the private data directory's inventory/, as AWX's jobs do.
        kwargs = dict(private_data_dir=self.private, playbook=self.template["playbook"], extravars=self.extravars,
                      envvars=self.envvars, ident=self.ident, verbosity=self.verbosity or None)
        if self.limit:
            kwargs["limit"] = self.limit
        to_node_r, to_node_w = os.pipe()
        from_node_r, from_node_w = os.pipe()
        transmitter = threading.Thread(target=_transmit, args=(kwargs, os.fdopen(to_node_w, "wb")), daemon=True)
        relay = threading.Thread(target=submit, args=(self.node.address, self.ident, os.fdopen(to_node_r, "rb"),
                                                      os.fdopen(from_node_w, "wb")), daemon=True)
        transmitter.start()
        relay.start()
        processed = ansible_runner.run(streamer="process", _input=os.fdopen(from_node_r, "rb"),
                                       private_data_dir=self.private, ident=self.ident, quiet=True)
        transmitter.join(30)
        relay.join(30)
        # The worker's exit code travels as an artifact (the processor's own rc stays unset).
        try:
            with open(os.path.join(self.artifacts, "rc")) as f:
                rc = int(f.read().strip())
        except (OSError, ValueError):
            rc = processed.rc
        return processed.status, rc

    @property
    def artifacts(self):
        return os.path.join(self.private, "artifacts", self.ident)

    def events(self):
        folder = os.path.join(self.artifacts, "job_events")
        out = []
        for name in sorted(os.listdir(folder), key=lambda n: int(n.split("-", 1)[0])):
            with open(os.path.join(folder, name)) as f:
                out.append(json.load(f))
        return out

    def stats(self):
        """The job's artifacts as AWX stores them: artifact_data of the playbook_on_stats event."""
        for event in self.events():
            if event.get("event") == "playbook_on_stats":
                return event["event_data"].get("artifact_data") or {}
        raise AssertionError("no playbook_on_stats event in the job's events")

    def stdout(self):
        return "\n".join(e.get("stdout", "") for e in self.events())

    def written_files(self, *more):
        """Every file the job left on either side (and in ``more`` folders), but what AWX put in: env/
        (the injected credentials), project/ and inventory/."""
        found = []
        for root in (self.private, self.remote) + more:
            for folder, _dirs, files in os.walk(root):
                if os.path.relpath(folder, root).split(os.sep)[0] in ("env", "project", "inventory"):
                    continue
                found += [os.path.join(folder, f) for f in files]
        return found


def _transmit(kwargs, stream):
    import ansible_runner

    try:
        ansible_runner.run(streamer="transmit", _output=stream, **kwargs)
    finally:
        stream.close()
