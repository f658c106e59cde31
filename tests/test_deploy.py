"""The deployment examples parse, and every container runs unprivileged."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
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
                for container in [*pod.get("initContainers", []), *pod["containers"]]:
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


# -- the deployment with PostgreSQL as the catalog (docs/scaling.md) ----------------------------

SECRET_NAMES = re.compile(r"PASSWORD|SECRET|_KEY\b|_KEY_ID\b|FRONTIER|_URI\b")
ANY_PASSWORD = re.compile(r"://[^/\s@]*:[^/\s@]*@")
"""A URI with a password, literal or interpolated: a catalog URI travels to the workers
through Redis, so it carries none (PGPASSWORD gives it to each process)."""
INLINE_CREDENTIAL = re.compile(r"://[^/\s@]*:(?!\$\{)[^/\s@]+@")
"""A URI with a literal password (`${VAR}` interpolation is not one)."""


def _k8s_docs() -> list[tuple[Path, dict]]:  # type: ignore[type-arg]
    return [(path, doc) for path in sorted((ROOT / "deploy" / "k8s").glob("*.yaml"))
            for doc in _docs(path)]


def _compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def _markwatch_commands() -> list[tuple[str, list[str], dict[str, str]]]:
    """(where, argv after `markwatch`, literal env) of every container that runs markwatch."""
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    default = json.loads(re.search(r"^CMD (\[.*\])$", dockerfile, re.M).group(1))  # type: ignore[union-attr]
    out = [("Dockerfile CMD", default, {})]
    for name, service in _compose()["services"].items():
        if "build" in service or str(service.get("image", "")).startswith("markwatch"):
            env = {k: str(v) for k, v in (service.get("environment") or {}).items()}
            out.append((f"compose {name}", list(service.get("command") or default), env))
    for path, doc in _k8s_docs():
        for pod in _pod_specs(doc):
            for container in [*pod.get("initContainers", []), *pod["containers"]]:
                if container["image"].startswith("markwatch:"):
                    env = {e["name"]: e["value"] for e in container.get("env", [])
                           if "value" in e}
                    out.append((f"{path.name} {container['name']}",
                                list(container.get("args") or default), env))
    return out


def test_every_command_and_flag_exists_in_the_cli() -> None:
    from crawler.cli.main import cli

    seen = set()
    for where, argv, _ in _markwatch_commands():
        command: click.Command = cli
        words = list(argv)
        while isinstance(command, click.Group) and words and not words[0].startswith("-"):
            sub = command.get_command(click.Context(command), words.pop(0))
            assert sub is not None, (where, argv)
            command = sub
        assert not isinstance(command, click.Group) or command.invoke_without_command, where
        known = {opt for p in command.params for opt in [*p.opts, *p.secondary_opts]}
        flags = [w.split("=", 1)[0] for w in words if w.startswith("-")]
        assert set(flags) <= known, (where, set(flags) - known)
        seen.add(command.name)
    assert {"worker", "schedule", "crawl", "migrate"} <= seen


def test_postgresql_is_the_catalog_and_reaches_the_seeders() -> None:
    compose = _compose()["services"]
    assert compose["postgres"]["image"].startswith("postgres:")
    for name in ("scheduler", "migrate"):
        uri = compose[name]["environment"]["MARKWATCH_CATALOG"]
        assert uri.startswith("postgresql://") and not ANY_PASSWORD.search(uri), name
    for name in ("scheduler", "migrate", "worker"):
        assert compose[name]["environment"]["PGPASSWORD"] == "${POSTGRES_PASSWORD}", name
    # the schema is migrated before the seeder (and so the workers) use it
    assert compose["worker"]["depends_on"]["migrate"] == {
        "condition": "service_completed_successfully"}
    assert compose["migrate"]["command"] == ["catalog", "migrate"]
    catalogs, passwords = {}, {}
    for _path, doc in _k8s_docs():
        for pod in _pod_specs(doc):
            for container in [*pod.get("initContainers", []), *pod["containers"]]:
                for env in container.get("env", []):
                    if env["name"] == "MARKWATCH_CATALOG":
                        catalogs[container["name"]] = env["valueFrom"]["configMapKeyRef"]
                    if env["name"] == "PGPASSWORD":
                        passwords[container["name"]] = env["valueFrom"]["secretKeyRef"]
    assert catalogs == {"crawl": {"name": "markwatch-catalog", "key": "uri"},
                        "catalog-migrate": {"name": "markwatch-catalog", "key": "uri"}}
    secret = {"name": "markwatch-postgres", "key": "password"}
    assert passwords == {"crawl": secret, "catalog-migrate": secret, "worker": secret}
    config = next(doc for _, doc in _k8s_docs()
                  if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == "markwatch-catalog")
    assert config["data"]["uri"].startswith("postgresql://")
    assert not ANY_PASSWORD.search(config["data"]["uri"])
    kinds = {(doc["kind"], doc["metadata"]["name"]) for _, doc in _k8s_docs()}
    assert {("StatefulSet", "markwatch-postgres"), ("Service", "markwatch-postgres"),
            ("Deployment", "markwatch-worker"), ("CronJob", "markwatch-crawl")} <= kinds
    # no markwatch command line names a catalog
    for where, argv, _ in _markwatch_commands():
        assert "--catalog" not in argv, where


def test_no_secret_is_inlined() -> None:
    for path, doc in _k8s_docs():
        assert doc["kind"] != "Secret", path  # secrets are made with kubectl, not kept here
        for value in (doc.get("data") or {}).values():  # ConfigMaps
            assert not INLINE_CREDENTIAL.search(str(value)), path
        for pod in _pod_specs(doc):
            for container in [*pod.get("initContainers", []), *pod["containers"]]:
                for env in container.get("env", []):
                    if SECRET_NAMES.search(env["name"]):
                        assert "secretKeyRef" in env.get("valueFrom", {}), (path, env)
                    assert not INLINE_CREDENTIAL.search(str(env.get("value", ""))), (path, env)
                assert not INLINE_CREDENTIAL.search(" ".join(container.get("args", [])))
    for name, service in _compose()["services"].items():
        env = {k: str(v) for k, v in (service.get("environment") or {}).items()}
        for key, value in env.items():
            assert not INLINE_CREDENTIAL.search(value), (name, key)
            if SECRET_NAMES.search(key) and value:
                assert "${" in value, (name, key)  # from the environment, not this file
        assert "requirepass" not in " ".join(map(str, service.get("command") or [])) or \
            "${REDIS_PASSWORD" in " ".join(map(str, service["command"]))
    assert not INLINE_CREDENTIAL.search((ROOT / "Dockerfile").read_text(encoding="utf-8"))


def test_binds_as_documented() -> None:
    # nothing published on the host by compose; inside, metrics on 0.0.0.0 as documented
    for name, service in _compose()["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)
    for path, doc in _k8s_docs():
        if doc["kind"] == "Service":  # cluster-internal only
            assert doc["spec"].get("type", "ClusterIP") == "ClusterIP", path
        for pod in _pod_specs(doc):
            assert not pod.get("hostNetwork"), path
            for container in pod["containers"]:
                for port in container.get("ports", []):
                    assert "hostPort" not in port, path
    scaling = (ROOT / "docs" / "scaling.md").read_text(encoding="utf-8")
    for where, argv, _ in _markwatch_commands():
        if "--metrics-host" in argv:  # a container must listen beyond its loopback
            assert argv[argv.index("--metrics-host") + 1] == "0.0.0.0", where
    assert "Bound to 127.0.0.1 unless told otherwise" in scaling


def test_worker_resources_match_the_documented_sizing() -> None:
    workers = next(doc for _, doc in _k8s_docs() if doc["metadata"]["name"] == "markwatch-worker")
    resources = _pod_specs(workers)[0]["containers"][0]["resources"]
    scaling = (ROOT / "docs" / "scaling.md").read_text(encoding="utf-8")
    sizing = scaling[scaling.index("## Sizing per worker"):]
    sizing = sizing[:sizing.index("\n## ", 1)]
    assert resources == {"requests": {"cpu": "1", "memory": "1Gi"},
                         "limits": {"cpu": "2", "memory": "2Gi"}}
    for figure in ("1 core / 1 GiB", "2 cores / 2 GiB", "512 MiB of /dev/shm"):
        assert figure in sizing, figure
    compose = _compose()["services"]["worker"]
    assert compose["shm_size"] == "512m"
