"""deploy/k8s rendered (base and the example overlay) and checked: Kubernetes JSON schemas, then
the references between objects and the facts each service depends on."""

import kubernetes_validate
import pytest

from tests.ops import kustomize
from tests.ops.deployables import ROOT, SERVICES, all_setting_names, route_paths, setting_env_names

K8S = ROOT / "deploy/k8s"
BASE, OVERLAY = K8S / "base", K8S / "overlays/example"
KUBERNETES_VERSION = "1.30.0"
SERVICE_PARAMS = pytest.mark.parametrize("deployable", SERVICES, ids=[d.name for d in SERVICES])


@pytest.fixture(scope="module", params=["base", "overlay"])
def rendered(request) -> list[dict]:
    return kustomize.render(BASE if request.param == "base" else OVERLAY)


@pytest.fixture(scope="module")
def base() -> dict[tuple[str, str], dict]:
    return {kustomize.key(r): r for r in kustomize.render(BASE)}


@pytest.fixture(scope="module")
def overlay() -> dict[tuple[str, str], dict]:
    return {kustomize.key(r): r for r in kustomize.render(OVERLAY)}


def of_kind(resources: list[dict], kind: str) -> list[dict]:
    return [r for r in resources if r["kind"] == kind]


def pod_spec(deployment: dict) -> dict:
    return deployment["spec"]["template"]["spec"]


def container(deployment: dict) -> dict:
    (only,) = pod_spec(deployment)["containers"]
    return only


def config_data(resources: list[dict]) -> dict[str, str]:
    return {k: v for cm in of_kind(resources, "ConfigMap") for k, v in cm.get("data", {}).items()}


def container_env(resources: list[dict], deployment: dict) -> dict[str, str | None]:
    """Variables the container gets: ConfigMap values by envFrom, then `env` (None: from a Secret)."""
    maps = {cm["metadata"]["name"]: cm.get("data", {}) for cm in of_kind(resources, "ConfigMap")}
    env: dict[str, str | None] = {}
    for source in container(deployment).get("envFrom", []):
        if "configMapRef" in source:
            env.update(maps[source["configMapRef"]["name"]])
    for item in container(deployment).get("env", []):
        env[item["name"]] = item.get("value")
    return env


def test_every_manifest_matches_the_kubernetes_schema(rendered):
    assert rendered
    for resource in rendered:
        try:
            kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{resource['kind']}/{resource['metadata']['name']}: {error.message} at {list(error.path)}")


def test_schema_check_catches_mistakes(base):
    broken = {**base[("Deployment", "chat")]}
    broken["spec"] = {**broken["spec"], "replicas": "two", "strategy": {"tpye": "Recreate"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_the_expected_objects_exist(base):
    for deployable in SERVICES:
        assert ("Deployment", deployable.name) in base
        assert ("Service", deployable.name) in base, "each service has a Service (the gateway's API, metrics)"
    for expected in [("ConfigMap", "mobixai-config"), ("Secret", "mobixai-secrets"),
                     ("HorizontalPodAutoscaler", "llm-worker"), ("PodDisruptionBudget", "llm-worker"),
                     ("PersistentVolumeClaim", "mobixai-media")]:
        assert expected in base


def test_base_has_no_namespace_and_the_overlay_sets_one(base, overlay):
    assert all("namespace" not in r["metadata"] for r in base.values())
    namespaced = [r for r in overlay.values() if r["kind"] != "Namespace"]
    assert {r["metadata"].get("namespace") for r in namespaced} == {"mobixai"}
    assert ("Namespace", "mobixai") in overlay


def test_selectors_match_pod_labels(rendered):
    deployments = of_kind(rendered, "Deployment")
    for deployment in deployments:
        selector = deployment["spec"]["selector"]["matchLabels"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items(), deployment["metadata"]["name"]
    for service in of_kind(rendered, "Service"):
        targets = [d for d in deployments
                   if service["spec"]["selector"].items() <= d["spec"]["template"]["metadata"]["labels"].items()]
        assert len(targets) == 1, f"Service {service['metadata']['name']} selects {len(targets)} Deployments"
        port_names = {p["name"] for p in container(targets[0])["ports"]}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in port_names
    for budget in of_kind(rendered, "PodDisruptionBudget"):
        selected = [d["metadata"]["name"] for d in deployments
                    if budget["spec"]["selector"]["matchLabels"].items()
                    <= d["spec"]["template"]["metadata"]["labels"].items()]
        assert selected == [budget["metadata"]["name"]]


@SERVICE_PARAMS
def test_probes_hit_real_endpoints_on_the_service_port(base, deployable):
    deployment = base[("Deployment", deployable.name)]
    main = container(deployment)
    ports = {p["name"]: p["containerPort"] for p in main["ports"]}
    assert ports == {"http": deployable.port, "metrics": deployable.metrics_port}
    paths = route_paths(deployable)
    assert main["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert main["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        http = main[probe]["httpGet"]
        assert http["port"] == "http"
        assert http["path"] in paths, f"{deployable.name} does not serve {http['path']}"
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    # Metrics are on a port of their own (shared.metrics.serve_metrics), never on the API port.
    assert annotations["prometheus.io/path"] == "/metrics" and "/metrics" not in paths
    assert annotations["prometheus.io/port"] == str(deployable.metrics_port)
    env = container_env(list(base.values()), deployment)
    assert env[deployable.metrics_env] == str(deployable.metrics_port)
    default = deployable.settings_class().model_fields["metrics_port"].default
    assert default == deployable.metrics_port, "the manifests and the service agree without the setting too"


@SERVICE_PARAMS
def test_pods_run_as_the_image_user_and_locked_down(base, deployable):
    deployment = base[("Deployment", deployable.name)]
    pod = pod_spec(deployment)
    image_user = deployable.stages()[-1].last("USER").split(":")[0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert str(pod["securityContext"]["runAsUser"]) == image_user
    main = container(deployment)
    assert main["securityContext"]["allowPrivilegeEscalation"] is False
    assert main["securityContext"]["capabilities"]["drop"] == ["ALL"]
    if main["securityContext"].get("readOnlyRootFilesystem"):
        assert "/tmp" in {m["mountPath"] for m in main.get("volumeMounts", [])}, "Python needs a writable /tmp"
    assert {"requests", "limits"} <= set(main["resources"])
    # Service links would inject CHAT_PORT=tcp://... next to the services' own *_PORT settings.
    assert pod["enableServiceLinks"] is False


def test_references_to_config_maps_and_secrets_resolve(rendered):
    maps = {cm["metadata"]["name"]: set(cm.get("data", {})) for cm in of_kind(rendered, "ConfigMap")}
    secrets = {s["metadata"]["name"]: set(s.get("stringData", {})) | set(s.get("data", {}))
               for s in of_kind(rendered, "Secret")}
    claims = {c["metadata"]["name"] for c in of_kind(rendered, "PersistentVolumeClaim")}
    checked = 0
    for deployment in of_kind(rendered, "Deployment"):
        main = container(deployment)
        for source in main.get("envFrom", []):
            ref = source.get("configMapRef") or source.get("secretRef")
            known = maps if "configMapRef" in source else secrets
            assert ref.get("optional") or ref["name"] in known, ref
        for item in main.get("env", []):
            for kind, known in (("configMapKeyRef", maps), ("secretKeyRef", secrets)):
                ref = item.get("valueFrom", {}).get(kind)
                if ref is None:
                    continue
                checked += 1
                if ref.get("optional") and ref["name"] not in known:
                    continue
                assert ref["name"] in known, f"{item['name']}: no {kind} {ref['name']}"
                assert ref["key"] in known[ref["name"]], f"{item['name']}: {ref['name']} has no key {ref['key']}"
        volumes = {v["name"]: v for v in pod_spec(deployment).get("volumes", [])}
        for mount in main.get("volumeMounts", []):
            volume = volumes[mount["name"]]
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims
    assert checked > 0


@SERVICE_PARAMS
def test_each_service_gets_its_connections_and_port(base, deployable):
    resources = list(base.values())
    env = container_env(resources, base[("Deployment", deployable.name)])
    needed = {"SECRET_KEY", "RABBIT_URL", "REDIS_URL", deployable.host_env, deployable.port_env}
    if deployable.database_env:
        needed.add(deployable.database_env)
    assert sorted(needed - set(env)) == []
    assert env[deployable.host_env] == "0.0.0.0"
    assert env[deployable.port_env] == str(deployable.port)
    assert env["ENVIRONMENT"] == "production"
    read = {name for names in setting_env_names(deployable.settings_class()).values() for name in names}
    assert needed <= read


def test_secrets_hold_the_secret_settings(base):
    for deployment in (d for k, d in base.items() if k[0] == "Deployment"):
        for item in container(deployment).get("env", []):
            if item["name"] in {"SECRET_KEY", "OPENROUTER_API_KEY", "SMS_API_KEY", "MOBIX_ADMIN_PASSWORD"} or \
                    item["name"].endswith("_DATABASE_URL") or item["name"] in {"RABBIT_URL", "REDIS_URL"}:
                assert "secretKeyRef" in item.get("valueFrom", {}), f"{item['name']} must come from a Secret"
    assert not {"SECRET_KEY", "OPENROUTER_API_KEY", "SMS_API_KEY"} & set(config_data(list(base.values())))


def test_config_map_sets_only_known_settings(rendered):
    known = set(all_setting_names())
    assert sorted(set(config_data(rendered)) - known) == [], "a typo, or a setting no service reads"


def test_llm_worker_autoscales_and_drains(base, overlay):
    worker = base[("Deployment", "llm-worker")]
    assert "replicas" not in worker["spec"], "the HorizontalPodAutoscaler owns the replica count"
    assert "replicas" not in overlay[("Deployment", "llm-worker")]["spec"]
    hpa = base[("HorizontalPodAutoscaler", "llm-worker")]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "llm-worker"}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 20)
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
    assert "cpu" in container(worker)["resources"]["requests"], "CPU utilisation needs a CPU request"
    settings = SERVICES[3].settings_class()
    drain = float(config_data(list(base.values())).get(
        "WORKER_GRACEFUL_TIMEOUT_SECONDS", settings.model_fields["graceful_timeout_seconds"].default))
    grace = pod_spec(worker)["terminationGracePeriodSeconds"]
    assert grace >= 300 and grace > drain, "Kubernetes must not kill a worker still finishing replies"
    budget = base[("PodDisruptionBudget", "llm-worker")]
    assert budget["apiVersion"] == "policy/v1"


def test_media_is_mounted_where_gateway_and_workers_look(base):
    resources = list(base.values())
    for name in ("gateway", "llm-worker"):
        deployment = base[("Deployment", name)]
        media_root = container_env(resources, deployment)["MEDIA_ROOT"]
        mounts = {m["mountPath"]: m["name"] for m in container(deployment)["volumeMounts"]}
        volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
        assert volumes[mounts[media_root]]["persistentVolumeClaim"]["claimName"] == "mobixai-media", name
    assert base[("PersistentVolumeClaim", "mobixai-media")]["spec"]["accessModes"] == ["ReadWriteMany"]


def test_overlay_pins_images_and_sets_replicas(overlay):
    for deployable in SERVICES:
        image = container(overlay[("Deployment", deployable.name)])["image"]
        name, tag = kustomize._split_image(image)
        assert name.endswith(f"mobixai/{deployable.name}") and tag and tag != "latest", image
    for name in ("gateway", "chat", "billing"):
        assert overlay[("Deployment", name)]["spec"]["replicas"] >= 2
    assert config_data(list(overlay.values()))["LOG_LEVEL"] == "WARNING", "the overlay patches the ConfigMap"


@pytest.mark.skipif(kustomize.kubectl() is None, reason="kubectl is not installed; nothing to compare with")
@pytest.mark.parametrize("directory", [BASE, OVERLAY], ids=["base", "overlay"])
def test_minimal_renderer_agrees_with_kustomize(directory):
    def by_key(resources):
        return {kustomize.key(r): r for r in resources}

    assert by_key(kustomize.render_minimal(directory)) == by_key(kustomize.render_with_kubectl(directory))


def test_minimal_renderer_refuses_features_it_does_not_know(tmp_path):
    (tmp_path / "kustomization.yaml").write_text("resources: []\nconfigMapGenerator: []\n")
    with pytest.raises(NotImplementedError, match="configMapGenerator"):
        kustomize.render_minimal(tmp_path)


def test_a_job_migrates_every_database_once_per_deploy(base):
    job = base[("Job", "migrate")]
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    (main,) = pod["containers"]
    assert main["command"] == ["python", "-m", "shared.migrate"]
    env = container_env(list(base.values()), job)
    assert env["ENVIRONMENT"] == "production"
    for deployable in SERVICES:
        deployment_env = container_env(list(base.values()), base[("Deployment", deployable.name)])
        if deployable.database_env:
            assert deployable.database_env in env, deployable.name
            assert "MIGRATE_ON_START" not in deployment_env, f"{deployable.name} leaves the migrations to the Job"
    assert str(pod["securityContext"]["runAsUser"]) == deployable.stages()[-1].last("USER").split(":")[0]

