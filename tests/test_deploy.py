"""The deployment examples parse, and every container runs unprivileged."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _docs(path: Path) -> list[dict]:  # type: ignore[type-arg]
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def _pod_specs(doc: dict) -> list[dict]:  # type: ignore[type-arg]
    spec = doc.get("spec", {})
    if doc["kind"] == "CronJob":
        return [spec["jobTemplate"]["spec"]["template"]["spec"]]
    if doc["kind"] in ("Deployment", "StatefulSet"):
        return [spec["template"]["spec"]]
    return []


def test_kubernetes_manifests_run_unprivileged() -> None:
    kinds = set()
    for path in sorted((ROOT / "deploy" / "k8s").glob("*.yaml")):
        for doc in _docs(path):
            kinds.add(doc["kind"])
            for pod in _pod_specs(doc):
                assert pod["securityContext"]["runAsNonRoot"] is True, path
                assert pod["securityContext"]["runAsUser"] != 0, path
                for container in pod["containers"]:
                    sc = container["securityContext"]
                    assert sc["allowPrivilegeEscalation"] is False, path
                    assert sc["capabilities"]["drop"] == ["ALL"], path
                    assert container["resources"]["limits"], path
    assert {"Deployment", "CronJob", "StatefulSet"} <= kinds


def test_compose_and_dockerfile() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert {"redis", "worker", "scheduler"} <= set(compose["services"])
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "FROM python:3.11-slim-bookworm" in dockerfile
    assert "USER 10001" in dockerfile and "tini" in dockerfile and " chromium " in dockerfile
