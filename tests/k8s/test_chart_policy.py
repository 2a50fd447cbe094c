"""What a platform team's admission policies would demand of every rendered workload."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import CHART, CI_VALUES, Render, by_kind, ours

CASES = [pytest.param((), id="defaults")] + [
    pytest.param((path,), id=path.stem) for path in CI_VALUES
]


def pod_specs(objects: list[dict]) -> list[tuple[str, dict]]:
    """(kind/name, pod spec) of every workload and bare pod."""
    found = []
    for obj in objects:
        name = f"{obj['kind']}/{obj['metadata']['name']}"
        spec = obj.get("spec", {})
        if obj["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
            found.append((name, spec["template"]["spec"]))
        elif obj["kind"] == "CronJob":
            found.append((name, spec["jobTemplate"]["spec"]["template"]["spec"]))
        elif obj["kind"] == "Pod":
            found.append((name, spec))
    return found


def containers(spec: dict) -> list[dict]:
    return spec.get("initContainers", []) + spec["containers"]


@pytest.mark.parametrize("values", CASES)
def test_every_container_is_locked_down(render: Render, values: tuple[Path, ...]) -> None:
    workloads = pod_specs(ours(render(*values)))
    assert workloads
    for name, spec in workloads:
        pod_security = spec.get("securityContext", {})
        assert pod_security.get("runAsNonRoot") is True, name
        assert pod_security.get("seccompProfile", {}).get("type") == "RuntimeDefault", name
        assert spec.get("automountServiceAccountToken") is False, name
        for container in containers(spec):
            where = f"{name} container {container['name']}"
            security = container.get("securityContext", {})
            assert security.get("readOnlyRootFilesystem") is True, where
            assert security.get("allowPrivilegeEscalation") is False, where
            assert security.get("privileged", False) is False, where
            assert security.get("capabilities", {}).get("drop") == ["ALL"], where
            assert not security.get("capabilities", {}).get("add"), where
            resources = container.get("resources", {})
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(kind, {})), f"{where}: {kind}"
            image = container["image"]
            assert ":" in image.rsplit("/", 1)[-1], f"{where}: {image} has no tag"
            assert not image.split("@")[0].endswith(":latest"), f"{where}: {image}"


@pytest.mark.parametrize("values", CASES)
def test_long_running_containers_have_probes(render: Render, values: tuple[Path, ...]) -> None:
    """Deployments' containers (not jobs, init containers or the test hook, which end)."""
    for deployment in by_kind(ours(render(*values)), "Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            where = f"{deployment['metadata']['name']}/{container['name']}"
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                assert probe in container, f"{where} lacks {probe}"


def server(objects: list[dict]) -> dict:
    (deployment,) = [
        d
        for d in by_kind(objects, "Deployment")
        if d["metadata"]["labels"].get("app.kubernetes.io/component") == "server"
    ]
    return deployment


def test_service_probes_and_drain(render: Render) -> None:
    deployment = server(render())
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 120  # bundle load, warm-up
    assert pod["terminationGracePeriodSeconds"] > 5  # longer than the preStop delay
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert {"checksum/config", "checksum/secret"} <= set(annotations)


def test_a_changed_setting_rolls_the_pods(render: Render) -> None:
    before = server(render())["spec"]["template"]["metadata"]["annotations"]
    after = server(render(extra=("--set", "settings.max_batch_size=8")))
    assert (
        after["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
        != (before["checksum/config"])
    )


def test_bundle_is_mounted_read_only_from_a_read_only_many_claim(render: Render) -> None:
    objects = render()
    pod = server(objects)["spec"]["template"]["spec"]
    (models,) = [v for v in pod["volumes"] if v["name"] == "models"]
    assert models["persistentVolumeClaim"]["readOnly"] is True
    (mount,) = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "models"]
    assert mount["readOnly"] is True
    (claim,) = [
        c
        for c in by_kind(objects, "PersistentVolumeClaim")
        if c["metadata"]["name"].endswith("-models")
    ]
    assert claim["spec"]["accessModes"] == ["ReadOnlyMany"]


def test_gpu_values_request_gpus_and_the_gpu_image(render: Render) -> None:
    objects = render(CHART / "ci" / "gpu-triton-values.yaml")
    pod = server(objects)["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert "sguardo-serve-gpu:" in container["image"]
    assert pod["tolerations"][0]["key"] == "nvidia.com/gpu"
    (triton,) = [
        d for d in by_kind(objects, "Deployment") if d["metadata"]["name"].endswith("-triton")
    ]
    tpod = triton["spec"]["template"]["spec"]
    assert tpod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    # Triton's model repository is written from the same bundle by the service's CLI.
    assert tpod["initContainers"][0]["command"][:3] == ["sguardo", "bundle", "triton-repo"]
    config = next(c for c in by_kind(objects, "ConfigMap") if c["metadata"]["name"] == "sguardo")
    assert config["data"]["SGUARDO_ENCODER_BACKEND"] == "triton"
    assert config["data"]["SGUARDO_TRITON_URL"] == "sguardo-triton:8001"


def test_ha_values_scale_on_cpu_and_queue_depth(render: Render) -> None:
    objects = render(CHART / "ci" / "external-qdrant-ha-values.yaml")
    (hpa,) = by_kind(objects, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    metrics = {m["type"]: m for m in hpa["spec"]["metrics"]}
    assert metrics["Resource"]["resource"]["name"] == "cpu"
    assert metrics["Pods"]["pods"]["metric"]["name"] == "sguardo_queue_depth"
    deployment = server(objects)
    assert "replicas" not in deployment["spec"]  # the HPA owns it
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert "@sha256:" in deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    (ingress,) = by_kind(objects, "Ingress")
    assert ingress["spec"]["tls"][0]["secretName"] == "sguardo-tls"
    assert not by_kind(objects, "Secret")  # existingSecret
    (pdb,) = by_kind(objects, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1


def test_network_policy_allows_only_dns_qdrant_and_triton(render: Render) -> None:
    (policy,) = by_kind(render(CHART / "ci" / "gpu-triton-values.yaml"), "NetworkPolicy")
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    egress = policy["spec"]["egress"]
    dns, qdrant, triton = egress
    assert {p["port"] for p in dns["ports"]} == {53} and "to" not in dns
    assert qdrant["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "qdrant"
    assert {p["port"] for p in qdrant["ports"]} == {6333, 6334}
    labels = triton["to"][0]["podSelector"]["matchLabels"]
    assert labels["app.kubernetes.io/component"] == "triton"


def test_embedded_store_recreates_instead_of_rolling(render: Render) -> None:
    """Two processes must never open the embedded store at once."""
    assert server(render())["spec"]["strategy"] == {"type": "Recreate"}


def test_retraining_cronjob(render: Render) -> None:
    objects = render(CHART / "ci" / "retraining-values.yaml")
    (cron,) = by_kind(objects, "CronJob")
    spec = cron["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["schedule"] == "30 1 * * *"
    assert spec["successfulJobsHistoryLimit"] >= 1 and spec["failedJobsHistoryLimit"] >= 1
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["sguardo", "pipeline", "nightly"]
    assert container["args"] == ["--config", "/etc/sguardo/pipeline/config.yaml"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert {"registry", "data", "originals"} <= set(mounts)
    assert not mounts["registry"].get("readOnly")  # it promotes bundles
    claims = {
        v["name"]: v["persistentVolumeClaim"]["claimName"]
        for v in pod["volumes"]
        if "persistentVolumeClaim" in v
    }
    assert claims["registry"] == "sguardo-models"


def test_dashboards_carry_the_grafana_sidecar_label(render: Render) -> None:
    dashboards = [
        c for c in by_kind(render(), "ConfigMap") if "grafana_dashboard" in c["metadata"]["labels"]
    ]
    shipped = sorted((CHART / "files" / "dashboards").glob("*.json"))
    assert shipped and len(dashboards) == len(shipped)
    assert all(c["metadata"]["labels"]["grafana_dashboard"] == "1" for c in dashboards)
    disabled = render(extra=("--set", "metrics.dashboard.enabled=false"))
    assert [c["metadata"]["name"] for c in by_kind(disabled, "ConfigMap")] == ["sguardo"]


def test_helm_test_hook_calls_readyz(render: Render) -> None:
    (pod,) = [
        o
        for o in by_kind(render(), "Pod")
        if o["metadata"]["annotations"].get("helm.sh/hook") == "test"
    ]
    assert "/readyz" in pod["spec"]["containers"][0]["command"][-1]
