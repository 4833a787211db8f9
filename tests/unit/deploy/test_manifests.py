"""deploy/: both overlays render, validate against Kubernetes 1.29, and keep their promises.

Every workload (whatever a later change adds) must run as a non-root user on a
read-only root filesystem with no privilege escalation, no capabilities, the
RuntimeDefault seccomp profile, requests and limits; every process has its
probes, autoscaler, disruption budget, migration Job and a configuration that
names only real HAVEN_* settings, with every secret taken from a Secret.
"""

from __future__ import annotations

import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from haven_files.settings import FilesSettings
from haven_gateway.settings import GatewaySettings
from haven_identity.settings import IdentitySettings
from haven_incidents.settings import IncidentsSettings
from haven_notifications.settings import NotificationsSettings
from haven_runtime.config import HavenSettings

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent
KUBERNETES_VERSION = "1.29.0"
OVERLAYS = ("dev", "production")
SERVICES = ("identity", "incidents", "notifications", "files")
PROCESSES = (*SERVICES, "gateway")
SETTINGS: dict[str, type[HavenSettings]] = {
    "identity": IdentitySettings,
    "incidents": IncidentsSettings,
    "notifications": NotificationsSettings,
    "files": FilesSettings,
    "gateway": GatewaySettings,
}
# Custom resources of the operators deploy/ relies on; kubernetes-validate has
# no schema for them, so they are checked by this test's own assertions.
CRD_GROUPS = ("postgresql.cnpg.io/", "monitoring.coreos.com/", "jetstream.nats.io/")
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod")
# A variable whose name says it holds a secret must come from a Secret.
SECRET_NAME = re.compile(r"KEY|PASSWORD|DATABASE_URL|SECRET", re.IGNORECASE)


def env_name(field: str) -> str:
    return "HAVEN_" + field.upper()


def fields_of(settings: type[HavenSettings]) -> set[str]:
    return {env_name(name) for name in settings.model_fields}


def required_of(settings: type[HavenSettings]) -> set[str]:
    return {env_name(n) for n, f in settings.model_fields.items() if f.is_required()}


@cache
def render(overlay: str) -> tuple[dict[str, Any], ...]:
    result = subprocess.run(
        [str(BIN / "kubectl"), "kustomize", str(DEPLOY / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def of_kind(docs: tuple[dict[str, Any], ...], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec = workload["spec"]
    if workload["kind"] == "Pod":
        return spec
    if workload["kind"] == "CronJob":
        return spec["jobTemplate"]["spec"]["template"]["spec"]
    return spec["template"]["spec"]


def containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod.get("initContainers", []), *pod["containers"]]


def workloads(overlay: str) -> list[dict[str, Any]]:
    return [d for d in render(overlay) if d["kind"] in WORKLOAD_KINDS]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_validates_against_kubernetes_1_29(overlay: str) -> None:
    checked = 0
    for doc in render(overlay):
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        if doc["apiVersion"].startswith(CRD_GROUPS):
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{overlay}: {name}: {error.message} at {list(error.path)}")
        checked += 1
    assert checked >= 30, "the overlay rendered fewer objects than the five processes need"


def test_a_broken_manifest_fails_validation() -> None:
    """The validation above can fail: a misspelt field is caught."""
    deployment = dict(of_kind(render("dev"), "Deployment")["identity"])
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_workload_runs_locked_down(overlay: str) -> None:
    found = workloads(overlay)
    assert {w["metadata"]["name"] for w in found} >= {
        *PROCESSES,
        *(f"{s}-migrate" for s in SERVICES),
    }
    for workload in found:
        where = f"{overlay}: {workload['kind']}/{workload['metadata']['name']}"
        pod = pod_spec(workload)
        security = pod.get("securityContext", {})
        assert security.get("runAsNonRoot") is True, where
        assert security.get("runAsUser", 0) != 0, where
        assert security.get("seccompProfile", {}).get("type") == "RuntimeDefault", where
        assert pod.get("automountServiceAccountToken") is False, where
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for container in containers(pod):
            at = f"{where} container {container['name']}"
            context = container.get("securityContext", {})
            assert context.get("allowPrivilegeEscalation") is False, at
            assert context.get("readOnlyRootFilesystem") is True, at
            assert context.get("privileged", False) is False, at
            assert context.get("capabilities", {}).get("drop") == ["ALL"], at
            assert not context.get("capabilities", {}).get("add"), at
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(bound, {})), f"{at}: {bound}"
            # A read-only root still needs somewhere to write temporary files.
            tmp = [m for m in container.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
            assert tmp and "emptyDir" in volumes[tmp[0]["name"]], f"{at}: /tmp"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_process_has_probes_autoscaler_budget_and_spread(overlay: str) -> None:
    docs = render(overlay)
    deployments = of_kind(docs, "Deployment")
    autoscalers = of_kind(docs, "HorizontalPodAutoscaler")
    budgets = of_kind(docs, "PodDisruptionBudget")
    services = of_kind(docs, "Service")
    accounts = of_kind(docs, "ServiceAccount")
    config = merged_config(docs)
    grace = float(config["HAVEN_SHUTDOWN_GRACE_SECONDS"])
    assert set(deployments) == set(PROCESSES)
    for name, deployment in deployments.items():
        pod = pod_spec(deployment)
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        (container,) = pod["containers"]
        assert container["command"] == ["python", "-m", f"haven_{name}"]
        assert pod["serviceAccountName"] in accounts
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            if name == "gateway":
                assert container[probe]["httpGet"]["path"] in ("/healthz", "/readyz"), probe
            else:
                # Native gRPC probes on the standard health service.
                grpc_port = next(p for p in container["ports"] if p["name"] == "grpc")
                assert container[probe]["grpc"]["port"] == grpc_port["containerPort"], probe
        if name == "gateway":
            # It starts once the services answer, but one service's outage must
            # not take every gateway out of the load balancer.
            assert container["startupProbe"]["httpGet"]["path"] == "/readyz"
            assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
        # The pod outlives its drain: preStop, the gRPC grace and the workers' grace.
        assert pod["terminationGracePeriodSeconds"] > 5 + 2 * grace
        spread = pod["topologySpreadConstraints"]
        assert any(c["topologyKey"] == "kubernetes.io/hostname" for c in spread)

        hpa = autoscalers[name]
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": name,
        }
        assert {m["resource"]["name"] for m in hpa["spec"]["metrics"]} == {"cpu", "memory"}
        assert "replicas" not in deployment["spec"], "the autoscaler owns the replica count"

        selector = budgets[name]["spec"]["selector"]["matchLabels"]
        assert selector.items() <= labels.items()
        service_selector = services[name]["spec"]["selector"]
        assert service_selector.items() <= labels.items()
        assert "metrics" in {p["name"] for p in services[name]["spec"]["ports"]}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_migrates_in_a_job_before_it_serves(overlay: str) -> None:
    docs = render(overlay)
    jobs = of_kind(docs, "Job")
    deployments = of_kind(docs, "Deployment")
    config = merged_config(docs)
    assert config["HAVEN_MIGRATE_ON_START"] == "false"
    for service in SERVICES:
        job = jobs[f"{service}-migrate"]
        (container,) = pod_spec(job)["containers"]
        assert container["command"] == ["haven", "migrate", service]
        (served,) = pod_spec(deployments[service])["containers"]
        assert container["image"] == served["image"]
        database = {e["name"]: e for e in container["env"]}["HAVEN_DATABASE_URL"]
        served_database = {e["name"]: e for e in served["env"]}["HAVEN_DATABASE_URL"]
        assert database["valueFrom"] == served_database["valueFrom"]


def merged_config(docs: tuple[dict[str, Any], ...]) -> dict[str, str]:
    (common,) = [d for n, d in of_kind(docs, "ConfigMap").items() if n.startswith("haven-config")]
    return common["data"]


def config_maps_of(docs: tuple[dict[str, Any], ...], container: dict[str, Any]) -> dict[str, str]:
    maps = of_kind(docs, "ConfigMap")
    values: dict[str, str] = {}
    for source in container.get("envFrom", []):
        assert "secretRef" not in source, "Secrets are referenced key by key, by name"
        values |= maps[source["configMapRef"]["name"]].get("data", {})
    return values


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_configuration_names_real_settings_and_secrets_come_from_secrets(overlay: str) -> None:
    docs = render(overlay)
    assert not of_kind(docs, "Secret"), "no Secret (and so no secret value) lives in git"
    every_setting = set().union(*(fields_of(s) for s in SETTINGS.values()))
    for name, config_map in of_kind(docs, "ConfigMap").items():
        for key, value in config_map.get("data", {}).items():
            assert key in every_setting, f"{name}: {key} is not a setting any process reads"
            assert not SECRET_NAME.search(key), f"{name}: {key} belongs in a Secret"
            assert value is not None
    for process, settings in SETTINGS.items():
        deployment = of_kind(docs, "Deployment")[process]
        (container,) = pod_spec(deployment)["containers"]
        provided = set(config_maps_of(docs, container))
        for env in container.get("env", []):
            assert env["name"] in fields_of(settings), f"{process}: {env['name']} is not read"
            assert "value" not in env or not SECRET_NAME.search(env["name"]), env["name"]
            if SECRET_NAME.search(env["name"]):
                assert "secretKeyRef" in env["valueFrom"], f"{process}: {env['name']}"
            provided.add(env["name"])
        own = [n for n in of_kind(docs, "ConfigMap") if n.startswith(f"haven-{process}-config")]
        for name in own:
            for key in of_kind(docs, "ConfigMap")[name].get("data", {}):
                assert key in fields_of(settings), f"{name}: {process} does not read {key}"
        missing = required_of(settings) - provided
        assert not missing, f"{process} would not start: {sorted(missing)} not set"


def test_production_is_fenced_in_and_served_over_tls() -> None:
    docs = render("production")
    policies = of_kind(docs, "NetworkPolicy")
    deny = policies["haven-default-deny"]["spec"]
    assert deny["podSelector"] == {"matchLabels": {"app.kubernetes.io/part-of": "haven"}}
    assert set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny
    # Only the gateway takes traffic from outside the namespace (and Prometheus, on 9090).
    for name, policy in policies.items():
        for rule in policy["spec"].get("ingress", []):
            from_outside = any("namespaceSelector" in peer for peer in rule.get("from", []))
            if from_outside and name != "gateway":
                assert [p["port"] for p in rule["ports"]] == [9090], name
    (ingress,) = of_kind(docs, "Ingress").values()
    assert ingress["spec"]["tls"][0]["secretName"]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "gateway"
    assert of_kind(docs, "ServiceMonitor") and of_kind(docs, "PrometheusRule")
    clusters = of_kind(docs, "Cluster")
    assert set(clusters) == {f"haven-{s}-db" for s in SERVICES}
    for cluster in clusters.values():
        assert cluster["spec"]["instances"] >= 3
        assert "barmanObjectStore" in cluster["spec"]["backup"]


def callees(process: str) -> set[str]:
    """The services a process calls: one HAVEN_<SERVICE>_ADDR setting each."""
    return {
        name.removesuffix("_addr")
        for name in SETTINGS[process].model_fields
        if name.endswith("_addr") and name.removesuffix("_addr") in SERVICES
    }


def grpc_port(docs: tuple[dict[str, Any], ...], service: str) -> int:
    (container,) = pod_spec(of_kind(docs, "Deployment")[service])["containers"]
    return next(p["containerPort"] for p in container["ports"] if p["name"] == "grpc")


def allows(rules: list[dict[str, Any]], side: str, peer: str, port: int) -> bool:
    for rule in rules:
        peers = [p.get("podSelector", {}).get("matchLabels", {}) for p in rule.get(side, [])]
        ports = [p["port"] for p in rule.get("ports", [])]
        if {"app.kubernetes.io/name": peer} in peers and port in ports:
            return True
    return False


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_let_every_process_reach_the_services_it_calls(overlay: str) -> None:
    """The call graph comes from the settings, so a new HAVEN_*_ADDR needs its policy."""
    docs = render(overlay)
    policies = of_kind(docs, "NetworkPolicy")
    for caller in PROCESSES:
        for callee in callees(caller):
            port = grpc_port(docs, callee)
            egress = policies[caller]["spec"]["egress"]
            ingress = policies[callee]["spec"]["ingress"]
            assert allows(egress, "to", callee, port), f"{caller} may not call {callee}"
            assert allows(ingress, "from", caller, port), f"{callee} refuses {caller}"
    assert callees("gateway") == set(SERVICES)


def test_every_image_runs_what_make_run_runs() -> None:
    """Each Dockerfile target starts its process as `make run` does, as a numeric non-root user."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert not re.search(r"^HEALTHCHECK", dockerfile, re.MULTILINE)
    targets = dict(
        re.findall(r"^FROM runtime AS (\w+)\n(?:.*\n)*?CMD (\[.*\])$", dockerfile, re.MULTILINE)
    )
    assert set(targets) == set(PROCESSES)
    for process, command in targets.items():
        assert yaml.safe_load(command) == ["python", "-m", f"haven_{process}"]
    users = re.findall(r"^USER (\S+)$", dockerfile, re.MULTILINE)
    assert users and all(u.split(":")[0].isdigit() and u.split(":")[0] != "0" for u in users)


def test_hadolint_passes_on_every_dockerfile() -> None:
    dockerfiles = sorted(p for p in ROOT.glob("**/Dockerfile*") if ".venv" not in p.parts)
    assert dockerfiles
    result = subprocess.run(
        [str(BIN / "hadolint"), *map(str, dockerfiles)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
