"""Deployment files: docker-compose validates (and demands its secrets), the Kubernetes
manifests validate against the Kubernetes schemas, and both wire the services as designed."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
SECRETS = {
    "GATEWAY_API_KEY": "k",
    "WEB_JWT_SECRET": "j",
    "TURN_SECRET": "t",
    "POSTGRES_PASSWORD": "p",
    "TURN_EXTERNAL_IP": "203.0.113.10",
    "PUBLIC_HOST": "tutor.example.org",
    "EDGE_HOST": "edge.tutor.example.org",
}
INFERENCE = ("asr", "llm", "tts", "lipsync")
K8S_VERSION = "1.33.0"


def _compose(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("docker-compose") is None:
        pytest.fail("docker-compose is missing: run `make install` (Debian docker-compose)")
    clean = {k: v for k, v in os.environ.items() if k not in SECRETS}
    return subprocess.run(
        ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        cwd=ROOT,
    )


def test_compose_file_is_valid_with_its_secrets() -> None:
    result = _compose(SECRETS, "-q")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_compose_refuses_to_start_without_each_secret(missing: str) -> None:
    env = {k: v for k, v in SECRETS.items() if k != missing}
    result = _compose(env, "-q")
    assert result.returncode != 0
    assert missing in result.stderr


def _resolved_compose() -> dict:
    result = _compose(SECRETS)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_compose_wires_health_gpus_engines_and_relay_ports() -> None:
    services = _resolved_compose()["services"]
    assert set(services) >= {
        *INFERENCE,
        "gateway",
        "rtc_edge",
        "web",
        "postgres",
        "ollama",
        "coturn",
    }
    gateway_deps = services["gateway"]["depends_on"]
    for upstream in INFERENCE:
        assert gateway_deps[upstream]["condition"] == "service_healthy"
    assert services["web"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for gpu_service in ("asr", "lipsync", "ollama"):
        devices = services[gpu_service]["deploy"]["resources"]["reservations"]["devices"]
        assert devices[0]["capabilities"] == ["gpu"]
    assert services["asr"]["environment"]["ASR_ENGINE"] == "faster_whisper"
    assert services["llm"]["environment"]["LLM_ENGINE"] == "ollama"
    assert services["tts"]["environment"]["TTS_ENGINE"] == "edge"
    assert services["lipsync"]["environment"]["LIPSYNC_ENGINE"] == "wav2lip"
    relay = [p for p in services["coturn"]["ports"] if str(p.get("target")) == "49160"]
    assert relay, "the TURN relay range must be mapped explicitly"
    for name in ("postgres", "ollama"):
        assert "healthcheck" in services[name]


def test_compose_serves_https_through_caddy_and_pins_every_image() -> None:
    services = _resolved_compose()["services"]
    caddy = services["caddy"]
    assert {str(p["published"]) for p in caddy["ports"]} >= {"80", "443"}
    caddyfile = (ROOT / "deploy" / "caddy" / "Caddyfile").read_text()
    assert "reverse_proxy web:8000" in caddyfile and "reverse_proxy rtc_edge:8080" in caddyfile
    # Only Caddy faces browsers over HTTP: the web pages and signaling publish no port.
    assert "ports" not in services["web"] and "ports" not in services["rtc_edge"]
    assert services["web"]["environment"]["WEB_RTC_EDGE_URL"] == "https://edge.tutor.example.org"
    for name, service in services.items():
        image = service["image"]
        tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
        assert tag and tag != "latest", f"{name}: image {image!r} is not pinned"
    assert services["gateway"]["image"] == "vtutor/gateway:0.2.0"


def test_compose_wires_the_edge_host_candidate_that_coturn_may_relay_to() -> None:
    services = _resolved_compose()["services"]
    edge = services["rtc_edge"]
    address = edge["networks"]["vtutor"]["ipv4_address"]
    assert edge["environment"]["RTC_HOST_CANDIDATE_IP"] == address
    assert address != "127.0.0.1"
    coturn_args = services["coturn"]["command"]
    assert f"--allowed-peer-ip={address}" in coturn_args
    assert any(arg.startswith("--denied-peer-ip=172.16.0.0") for arg in coturn_args)


def test_compose_shares_sessions_through_redis() -> None:
    services = _resolved_compose()["services"]
    gateway = services["gateway"]
    assert gateway["environment"]["GATEWAY_SESSION_STORE"].startswith("redis://redis:")
    assert gateway["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "healthcheck" in services["redis"]


def test_env_example_names_every_required_setting() -> None:
    example = (ROOT / ".env.example").read_text()
    names = {line.split("=")[0] for line in example.splitlines() if "=" in line}
    assert set(SECRETS) <= names
    assert ".env" in (ROOT / ".gitignore").read_text().split()


def _manifests() -> list[tuple[str, dict]]:
    docs = []
    for path in sorted([*K8S.glob("*.yaml"), *K8S.glob("cluster/*.yaml")]):
        if path.name == "kustomization.yaml":
            continue
        docs += [(path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return docs


def test_every_manifest_validates_against_the_kubernetes_schema() -> None:
    docs = _manifests()
    assert len(docs) > 10
    for name, doc in docs:
        if doc["apiVersion"].startswith(CUSTOM_API_GROUPS):
            continue  # custom resources: test_custom_resources_have_the_fields_their_crds_need
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{name} {doc['kind']}/{doc['metadata']['name']}: {exc.message}")


# cert-manager's ClusterIssuer is not in the Kubernetes schemas; checked against the fields
# its CRD (cert-manager.io/v1) requires for an ACME HTTP-01 issuer.
CUSTOM_API_GROUPS = ("cert-manager.io/",)
CLUSTER_ISSUER_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "cert-manager.io/v1"},
        "kind": {"const": "ClusterIssuer"},
        "metadata": {"type": "object", "required": ["name"], "not": {"required": ["namespace"]}},
        "spec": {
            "type": "object",
            "required": ["acme"],
            "additionalProperties": False,
            "properties": {
                "acme": {
                    "type": "object",
                    "required": ["server", "privateKeySecretRef", "solvers"],
                    "properties": {
                        "server": {"type": "string", "pattern": "^https://"},
                        "email": {"type": "string"},
                        "privateKeySecretRef": {"type": "object", "required": ["name"]},
                        "solvers": {"type": "array", "minItems": 1},
                    },
                }
            },
        },
    },
}


def test_custom_resources_have_the_fields_their_crds_need() -> None:
    import jsonschema

    custom = [(n, d) for n, d in _manifests() if d["apiVersion"].startswith(CUSTOM_API_GROUPS)]
    assert [d["kind"] for _, d in custom] == ["ClusterIssuer"]
    for _, doc in custom:
        jsonschema.validate(doc, CLUSTER_ISSUER_SCHEMA)
    ingress = _by_name()[("Ingress", "vtutor")]
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt"
    tls_hosts = {h for tls in ingress["spec"]["tls"] for h in tls["hosts"]}
    assert tls_hosts == {rule["host"] for rule in ingress["spec"]["rules"]}


def _by_name() -> dict[tuple[str, str], dict]:
    return {(d["kind"], d["metadata"]["name"]): d for _, d in _manifests()}


def _pod_spec(deployment: dict) -> dict:
    return deployment["spec"]["template"]["spec"]


def test_autoscalers_scale_on_metrics_that_are_served_and_scraped() -> None:
    by_name = _by_name()
    adapter_rules = by_name[("ConfigMap", "metrics-adapter-config")]["data"]["config.yaml"]
    scrape = by_name[("ConfigMap", "prometheus-config")]["data"]["prometheus.yml"]
    assert "__meta_kubernetes_pod_annotation_prometheus_io_scrape" in scrape
    for hpa_name, deployment_name, metric in (
        ("gateway", "gateway", "vtutor_gateway_active_sessions"),
        ("rtc-edge", "rtc-edge", "vtutor_rtc_edge_connected_peers"),
    ):
        hpa = by_name[("HorizontalPodAutoscaler", hpa_name)]
        names = [m["pods"]["metric"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "Pods"]
        assert names == [metric]
        assert metric in adapter_rules
        template = by_name[("Deployment", deployment_name)]["spec"]["template"]
        annotations = template["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        ports = {p["containerPort"] for p in template["spec"]["containers"][0]["ports"]}
        assert int(annotations["prometheus.io/port"]) in ports
    gateway_env = {
        e["name"]: e.get("value")
        for e in _pod_spec(by_name[("Deployment", "gateway")])["containers"][0]["env"]
    }
    assert gateway_env["OTEL_METRICS_EXPORTER"] == "prometheus"
    assert (
        gateway_env["OTEL_EXPORTER_PROMETHEUS_PORT"]
        == by_name[("Deployment", "gateway")]["spec"]["template"]["metadata"]["annotations"][
            "prometheus.io/port"
        ]
    )
    assert ("APIService", "v1beta1.custom.metrics.k8s.io") in by_name


def test_every_replicated_service_has_a_disruption_budget_and_pinned_images() -> None:
    by_name = _by_name()
    budgets = [d for (kind, _), d in by_name.items() if kind == "PodDisruptionBudget"]
    covered = {b["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] for b in budgets}
    for (kind, name), doc in by_name.items():
        if kind == "Deployment" and doc["spec"].get("replicas", 1) > 1:
            assert doc["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] in covered, name
        if kind in ("Deployment", "DaemonSet"):
            for container in _pod_spec(doc)["containers"]:
                image = container["image"]
                tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
                assert tag and tag != "latest", f"{name}: image {image!r} is not pinned"


def test_the_edge_offers_its_pod_address_and_sessions_live_in_redis() -> None:
    by_name = _by_name()
    edge_env = {
        e["name"]: e for e in _pod_spec(by_name[("Deployment", "rtc-edge")])["containers"][0]["env"]
    }
    field = edge_env["RTC_HOST_CANDIDATE_IP"]["valueFrom"]["fieldRef"]["fieldPath"]
    assert field == "status.podIP"
    config = by_name[("ConfigMap", "vtutor-config")]["data"]
    assert config["GATEWAY_SESSION_STORE"].startswith("redis://redis.vtutor.svc")
    assert ("Service", "redis") in by_name


def test_kustomization_lists_every_manifest() -> None:
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present


def test_manifests_pin_gpus_balance_upstreams_and_pin_sessions_to_pods() -> None:
    by_name = {(d["kind"], d["metadata"]["name"]): d for _, d in _manifests()}
    for name in ("asr", "lipsync", "ollama"):
        pod = by_name[("Deployment", name)]["spec"]["template"]["spec"]
        assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
        assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    for name in INFERENCE:
        assert by_name[("Service", name)]["spec"]["clusterIP"] == "None"  # headless
    config = by_name[("ConfigMap", "vtutor-config")]["data"]
    for name in INFERENCE:
        assert config[f"GATEWAY_{name.upper()}_ADDRESS"].startswith("dns:///")
    gateway_env = {
        e["name"]: e.get("value")
        for e in by_name[("Deployment", "gateway")]["spec"]["template"]["spec"]["containers"][0][
            "env"
        ]
    }
    assert gateway_env["GATEWAY_PUBLIC_ADDRESS"] == "$(POD_IP):50051"
    assert ("HorizontalPodAutoscaler", "gateway") in by_name
    assert by_name[("DaemonSet", "coturn")]["spec"]["template"]["spec"]["hostNetwork"] is True


def test_images_run_as_non_root_with_a_health_check_and_cover_every_service() -> None:
    dockerfile = (ROOT / "deploy" / "docker" / "Dockerfile").read_text()
    final_stage = dockerfile.rsplit("\nFROM ", 1)[1]
    assert "\nUSER vtutor" in final_stage
    assert "HEALTHCHECK" in final_stage and "svc_core.healthcheck" in final_stage
    table = (ROOT / "deploy" / "docker" / "build-images.sh").read_text().split("<<'SERVICES'")[1]
    rows = {line.split("|")[0]: line.split("|") for line in table.splitlines() if "|" in line}
    # asr_svc speaks to espeak-ng: pronunciations of the documents' words the dictionary lacks,
    # and the sentence that gives its decoders a channel estimate at start.
    assert "espeak-ng" in rows["asr_svc"][2].split()
    packages = set(rows)
    assert packages == {
        "asr_svc",
        "llm_svc",
        "tts_svc",
        "lipsync_svc",
        "gateway",
        "rtc_edge",
        "web_backend",
    }
