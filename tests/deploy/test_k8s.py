"""deploy/k8s: the kustomization renders to manifests that pass the Kubernetes schemas (strict:
no unknown fields), and wire the stack as docker-compose.yml does: only the gateway exposed,
backends behind headless Services with a GPU each, /healthz probes, PVC-backed caches; each
backend scaled on its queue depth (HPA, the prometheus-adapter rule and the scrape config of
monitoring/ agreeing with each other and with the metric the services export) and kept by a
PodDisruptionBudget.

The rendering is this file's own (``render``): the kustomization uses only ``resources`` and
``namespace``, whose meaning is simple and fixed, so no kubectl or kustomize binary is needed, and a
kustomization that starts using anything else fails here until ``render`` applies it too."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from common.metrics import QUEUE_DEPTH
from tests.deploy.deployment import (
    ASR,
    ASR_MODELS,
    BACKENDS,
    GATEWAY,
    ROOT,
    SERVICES,
    TTS,
    TTS_CACHE,
    TTS_VOICES,
    Service,
)

K8S = ROOT / "deploy" / "k8s"
MONITORING = K8S / "monitoring"
KUBERNETES_VERSION = "1.31"  # the oldest release the manifests must still fit
CLUSTER_SCOPED = {"Namespace"}
QUEUE_METRIC = QUEUE_DEPTH.describe()[0].name  # as the backends export it
# Who may scrape the backends besides the gateway: Prometheus pods in the monitoring namespace.
PROMETHEUS = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
}


def render(folder: Path) -> list[dict[str, Any]]:
    """What ``kustomize build`` makes of a kustomization that only lists resources and a namespace
    (the only features this one uses; anything else fails here rather than being ignored)."""
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    unsupported = set(kustomization) - {"apiVersion", "kind", "namespace", "resources"}
    assert not unsupported, f"render() does not apply {unsupported}"
    documents = []
    for resource in kustomization["resources"]:
        for document in yaml.safe_load_all((folder / resource).read_text()):
            if document["kind"] not in CLUSTER_SCOPED:
                document["metadata"]["namespace"] = kustomization["namespace"]
            documents.append(document)
    return documents


@pytest.fixture(scope="module")
def manifests() -> list[dict[str, Any]]:
    return render(K8S)


def find(manifests: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [doc for doc in manifests if doc["kind"] == kind and doc["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}"
    return matches[0]


def test_manifests_pass_the_kubernetes_schemas(manifests: list[dict[str, Any]]) -> None:
    for document in manifests:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_the_kustomization_lists_every_manifest_once_and_each_resource_is_unique(
    manifests: list[dict[str, Any]],
) -> None:
    """What kustomize checks before it renders: every listed file exists, none is listed twice, and
    no two resources share kind, namespace and name. And no manifest in the folder is forgotten."""
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(path.name for path in K8S.glob("*.yaml") if path.name != "kustomization.yaml")
    ids = [(doc["kind"], doc["metadata"].get("namespace"), doc["metadata"]["name"]) for doc in manifests]
    assert len(ids) == len(set(ids)), ids
    assert {namespace for _, namespace, _ in ids} == {"speech-stack", None}  # None: the Namespace itself


def _container(manifests: list[dict[str, Any]], service: Service) -> dict[str, Any]:
    deployment = find(manifests, "Deployment", service.name)
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def test_each_service_runs_its_image_on_its_port(manifests: list[dict[str, Any]], compose: dict[str, Any]) -> None:
    for service in SERVICES:
        container = _container(manifests, service)
        # The images docker compose builds (retagged for a registry with `kustomize edit set image`).
        assert container["image"] == compose["services"][service.name]["image"]
        assert container["ports"] == [{"name": "http", "containerPort": service.port}]


def test_gateway_pods_run_as_non_root(manifests: list[dict[str, Any]]) -> None:
    """As its image does (a numeric USER, so the kubelet can check it)."""
    pod = find(manifests, "Deployment", GATEWAY.name)["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    user = [i.args for i in GATEWAY.instructions() if i.keyword == "USER"]
    assert user and user[-1].split(":")[0].isdigit() and user[-1].split(":")[0] != "0"


def test_services_select_their_pods_and_only_the_gateway_is_exposed(manifests: list[dict[str, Any]]) -> None:
    for service in SERVICES:
        k8s_service = find(manifests, "Service", service.name)
        assert k8s_service["spec"].get("type", "ClusterIP") == "ClusterIP"
        pod_labels = find(manifests, "Deployment", service.name)["spec"]["template"]["metadata"]["labels"]
        assert k8s_service["spec"]["selector"].items() <= pod_labels.items()
        assert [port["targetPort"] for port in k8s_service["spec"]["ports"]] == ["http"]
    ingress_backends = [
        path["backend"]["service"]["name"]
        for ingress in manifests
        if ingress["kind"] == "Ingress"
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    ]
    assert ingress_backends == ["gateway"]
    services = [doc for doc in manifests if doc["kind"] == "Service"]
    assert {doc["spec"].get("type", "ClusterIP") for doc in services} == {"ClusterIP"}


def test_backend_services_are_headless_so_the_gateway_sees_every_replica(manifests: list[dict[str, Any]]) -> None:
    """A headless Service's name resolves to each ready pod (no virtual IP balancing connections),
    which is what the gateway's replica set follows."""
    for backend in BACKENDS:
        assert find(manifests, "Service", backend.name)["spec"]["clusterIP"] == "None"
    assert "clusterIP" not in find(manifests, "Service", GATEWAY.name)["spec"]  # the Ingress' one address


def _config(manifests: list[dict[str, Any]], service: Service) -> dict[str, str]:
    container = _container(manifests, service)
    names = [source["configMapRef"]["name"] for source in container.get("envFrom", [])]
    data: dict[str, str] = {}
    for name in names:
        data.update(find(manifests, "ConfigMap", name)["data"])
    return data


def test_gateway_reaches_the_backends_through_their_services(manifests: list[dict[str, Any]]) -> None:
    config = _config(manifests, GATEWAY)
    for backend, setting in ((ASR, "ASR_BASE_URL"), (TTS, "TTS_BASE_URL")):
        url = urlsplit(config[setting])
        k8s_service = find(manifests, "Service", backend.name)
        assert url.hostname == k8s_service["metadata"]["name"]  # same namespace: the short DNS name
        assert url.port in [port["port"] for port in k8s_service["spec"]["ports"]]


LICENCE = {"COQUI_TOS_AGREED"}  # read by Coqui itself, not a setting of ours


def test_config_uses_real_setting_names(manifests: list[dict[str, Any]]) -> None:
    for service in SERVICES:
        config = {name: value for name, value in _config(manifests, service).items() if name not in LICENCE}
        unknown = set(config) - set(service.setting_names())
        assert not unknown, f"{service.name}: {unknown} are not settings of the service"
        service.settings_class()(**{name.lower(): value for name, value in config.items()})


def test_xtts_licence_is_accepted_by_the_manifests(manifests: list[dict[str, Any]]) -> None:
    assert _config(manifests, TTS)["COQUI_TOS_AGREED"] == "1"


def test_backends_get_a_gpu_probes_and_a_pvc_cache(manifests: list[dict[str, Any]]) -> None:
    # Each backend's cache; the TTS service also keeps custom voices, on a claim of their own.
    mounts = {ASR.name: [ASR_MODELS], TTS.name: [TTS_CACHE, TTS_VOICES]}
    for backend in BACKENDS:
        deployment = find(manifests, "Deployment", backend.name)
        container = _container(manifests, backend)
        assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
        for probe in ("readinessProbe", "livenessProbe"):
            assert container[probe]["httpGet"] == {"path": "/healthz", "port": "http"}, probe
        volumes = {volume["name"]: volume for volume in deployment["spec"]["template"]["spec"]["volumes"]}
        assert [mount["mountPath"] for mount in container["volumeMounts"]] == mounts[backend.name]
        claims = [volumes[mount["name"]]["persistentVolumeClaim"]["claimName"] for mount in container["volumeMounts"]]
        assert len(set(claims)) == len(claims)
        for claim in claims:
            assert "ReadWriteMany" in find(manifests, "PersistentVolumeClaim", claim)["spec"]["accessModes"]
        # uvicorn drains for up to 30 s after SIGTERM.
        assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > 30
    gateway = _container(manifests, GATEWAY)
    assert "nvidia.com/gpu" not in gateway["resources"].get("limits", {})
    assert gateway["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}


@pytest.mark.parametrize(("service", "name"), [(ASR, "HF_TOKEN"), (GATEWAY, "API_KEY")])
def test_secrets_come_from_optional_secrets(manifests: list[dict[str, Any]], service: Service, name: str) -> None:
    assert name in service.setting_names()
    (variable,) = [env for env in _container(manifests, service)["env"] if env["name"] == name]
    reference = variable["valueFrom"]["secretKeyRef"]
    assert reference["key"] == name and reference["optional"] is True


def test_only_gateway_pods_and_prometheus_reach_the_backends(manifests: list[dict[str, Any]]) -> None:
    """Every backend pod is selected by NetworkPolicies whose only ingress is gateway pods, or
    Prometheus pods of the monitoring namespace (both selectors in one item: AND), on its port (a
    pod selected by any policy accepts nothing else)."""
    gateway_labels = find(manifests, "Deployment", GATEWAY.name)["spec"]["template"]["metadata"]["labels"]
    policies = [doc for doc in manifests if doc["kind"] == "NetworkPolicy"]
    for backend in BACKENDS:
        pod_labels = find(manifests, "Deployment", backend.name)["spec"]["template"]["metadata"]["labels"]
        selecting = [p for p in policies if p["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()]
        assert selecting, f"no NetworkPolicy selects {backend.name}"
        for policy in selecting:
            assert policy["spec"]["policyTypes"] == ["Ingress"]
            for rule in policy["spec"]["ingress"]:
                assert rule["ports"] == [{"protocol": "TCP", "port": backend.port}]
                for source in rule["from"]:
                    if set(source) == {"podSelector"}:
                        assert source["podSelector"]["matchLabels"].items() <= gateway_labels.items()
                    else:
                        assert source == PROMETHEUS, f"{policy['metadata']['name']}: {source}"
    # The gateway itself stays reachable (the Ingress controller talks to it).
    assert not [p for p in policies if p["spec"]["podSelector"]["matchLabels"].items() <= gateway_labels.items()]


def test_each_backend_scales_on_its_queue_depth(manifests: list[dict[str, Any]]) -> None:
    for backend in BACKENDS:
        deployment = find(manifests, "Deployment", backend.name)
        assert "replicas" not in deployment["spec"], "the HPA owns the count: `kubectl apply` must not reset it"
        hpa = find(manifests, "HorizontalPodAutoscaler", backend.name)
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": backend.name}
        assert 1 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
        (metric,) = hpa["spec"]["metrics"]
        assert metric["type"] == "Pods"
        assert metric["pods"]["metric"]["name"] == QUEUE_METRIC  # what the backends export
        assert metric["pods"]["target"]["type"] == "AverageValue"  # the only target Pods metrics take
    autoscaled = {doc["metadata"]["name"] for doc in manifests if doc["kind"] == "HorizontalPodAutoscaler"}
    assert autoscaled == {backend.name for backend in BACKENDS}


def test_a_drain_takes_one_backend_replica_at_a_time(manifests: list[dict[str, Any]]) -> None:
    for backend in BACKENDS:
        pdb = find(manifests, "PodDisruptionBudget", backend.name)
        pod_labels = find(manifests, "Deployment", backend.name)["spec"]["template"]["metadata"]["labels"]
        assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
        # maxUnavailable 1: never two at once, and a single replica can still be drained.
        assert pdb["spec"]["maxUnavailable"] == 1 and "minAvailable" not in pdb["spec"]


def _monitoring(name: str) -> dict[str, Any]:
    return yaml.safe_load((MONITORING / name).read_text())


def test_the_adapter_serves_the_metric_the_hpas_read_from_labels_the_scrape_sets() -> None:
    scrape = _monitoring("prometheus-scrape.yaml")["scrape_configs"]
    (backends,) = [job for job in scrape if job["job_name"] == "speech-stack-backends"]
    set_labels = {rule["target_label"] for rule in backends["relabel_configs"] if "target_label" in rule}
    (rule,) = _monitoring("prometheus-adapter-values.yaml")["rules"]["custom"]
    assert rule["name"]["as"] == QUEUE_METRIC and rule["seriesQuery"].startswith(QUEUE_METRIC + "{")
    overrides = rule["resources"]["overrides"]
    assert overrides == {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}
    assert set(overrides) <= set_labels  # each sample says which pod it is


def test_the_scrape_config_authenticates_and_keeps_the_stacks_pods(manifests: list[dict[str, Any]]) -> None:
    jobs = {job["job_name"]: job for job in _monitoring("prometheus-scrape.yaml")["scrape_configs"]}
    expected = {"speech-stack-gateway": [GATEWAY], "speech-stack-backends": list(BACKENDS)}
    assert set(jobs) == set(expected)
    for name, services in expected.items():
        job = jobs[name]
        assert job["authorization"]["type"] == "Bearer" and job["authorization"]["credentials_file"]
        (keep,) = [rule for rule in job["relabel_configs"] if rule.get("action") == "keep"]
        pattern = re.compile(keep["regex"])
        for service in SERVICES:
            pod_labels = find(manifests, "Deployment", service.name)["spec"]["template"]["metadata"]["labels"]
            kept = pattern.fullmatch(f"{pod_labels['app.kubernetes.io/name']};http") is not None
            assert kept == (service in services), (name, service.name)
    assert jobs["speech-stack-backends"]["authorization"]["credentials_file"].endswith("backend-token")


def test_all_three_share_the_backend_token_secret(manifests: list[dict[str, Any]]) -> None:
    for service in SERVICES:
        assert "BACKEND_TOKEN" in service.setting_names()
        (variable,) = [env for env in _container(manifests, service)["env"] if env["name"] == "BACKEND_TOKEN"]
        reference = variable["valueFrom"]["secretKeyRef"]
        # Required: a backend that started without it would answer anyone.
        assert reference == {"name": "backend-token", "key": "BACKEND_TOKEN"}
