"""The real check: a real Prometheus scrapes a real Sguardo (a tiny bundle, real photos, a short
bounded load) and a real Pushgateway holding a nightly retraining result, with the rules loaded.

Every PromQL expression of the dashboard and of the recording rules must return data through
Prometheus's HTTP API (a panel whose query returns nothing is a bug), and every rule must be
healthy. Everything binds 127.0.0.1 on free ports, and every wait has a deadline.
"""

from __future__ import annotations

import base64
import json
import math
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client import CollectorRegistry, Gauge, push_to_gateway

from sguardo.service.app.main import create_app
from sguardo.service.core.settings import Settings
from tests.deploy.monitoring.support import (
    PROMETHEUS_CONFIG,
    RULE_FILES,
    load_dashboard_module,
    require_binary,
)
from tests.live_server import free_port, running_process, serve_in_thread

API_KEY = "segreto"
NIGHTLY_JOB = "sguardo-nightly"
# What Grafana substitutes: $__rate_interval is at least 4 scrapes (1 s here); "All" of a
# picker is its allValue.
RATE_INTERVAL = "1m"
DATA_DEADLINE_S = 45.0

# ---------------------------------------------------------------- processes and the service


@contextmanager
def running(args: list[str], ready_url: str, log: Path, timeout_s: float = 30) -> Iterator[None]:
    """Run a server until the block ends; ready when `ready_url` answers 200."""
    with running_process(args, ready_url=ready_url, log=log, timeout_s=timeout_s, poll_s=0.2):
        yield


@pytest.fixture
def service_url(tiny_bundle_dir: Path, tmp_path: Path) -> Iterator[str]:
    settings = Settings(
        bundle_path=tiny_bundle_dir,
        store_kind="embedded",
        store_path=tmp_path / "store",
        demo_gallery=False,
        max_wait_ms=2,
        intra_op_threads=1,
        api_key=API_KEY,
        log_level="WARNING",
    )
    with serve_in_thread(create_app(settings)) as url:
        yield url


@pytest.fixture
def photos(shared_data: Path) -> list[tuple[str, bytes]]:
    paths = sorted((shared_data / "coco128" / "images" / "val2017").glob("*.jpg"))[:4]
    assert len(paths) == 4
    return [(path.name, path.read_bytes()) for path in paths]


def drive_load(url: str, photos: list[tuple[str, bytes]], rounds: int = 4) -> None:
    """A few dozen requests of every kind the dashboard draws, some concurrent (so batches
    hold more than one row) and some wrong (4xx, a rejection), in rounds a few scrapes apart:
    a series first scraped at its final value has no increase, and its rate() is 0.
    Bounded: a fixed number of requests, each with a timeout."""
    key = {"X-API-Key": API_KEY}
    with (
        httpx.Client(base_url=url, timeout=30, trust_env=False) as client,
        ThreadPoolExecutor(4) as pool,
    ):

        def ok(method: str, path: str, **kwargs: Any) -> dict[str, Any]:
            response = client.request(method, path, **kwargs)
            assert response.status_code == 200, (path, response.text)
            return dict(response.json())

        for round_ in range(rounds):
            name, data = photos[round_ % len(photos)]
            b64 = base64.b64encode(data).decode()
            item = {"image": b64, "filename": name}
            indexed = ok("POST", "/images", json={"images": [item]}, headers=key)
            image_id = indexed["images"][0]["id"]
            calls: list[tuple[str, str, Any]] = []  # method, path, JSON body
            for i in range(6):
                text = f"un gatto {round_} {i}"
                calls += [
                    ("POST", "/embed", {"texts": [text]}),
                    ("POST", "/search", {"text": text}),
                ]
            calls += [
                ("POST", "/embed", {"images": [b64]}),
                ("POST", "/search", {"image": b64, "top_k": 3}),
                ("POST", "/search", {"id": image_id}),
                ("GET", f"/images/{image_id}", None),
                ("GET", "/readyz", None),
                ("GET", "/version", None),
            ]
            futures = [pool.submit(ok, method, path, json=body) for method, path, body in calls]
            for future in futures:
                future.result(timeout=60)
            # The wrong ones: a refused write (401, counted as rejected), invalid bodies (422),
            # an unknown route (404).
            assert client.post("/images", json={"images": [item]}).status_code == 401
            assert client.post("/search", json={}).status_code == 422
            assert client.post("/embed", json={"texts": "non una lista"}).status_code == 422
            assert client.get("/nessuna-pagina").status_code == 404
            time.sleep(1.5)  # more than one scrape interval


def push_retraining_result(gateway: str) -> None:
    """What the nightly pipeline pushes at the end of a run (the contract in the README)."""
    now = time.time()
    registry = CollectorRegistry()

    def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
        return Gauge(name, doc, labels, registry=registry)

    gauge("sguardo_retrain_last_run_timestamp_seconds", "Last run's end").set(now - 600)
    gauge("sguardo_retrain_last_success_timestamp_seconds", "Last completed run").set(now - 600)
    gauge("sguardo_retrain_duration_seconds", "Last run's wall time").set(1834.2)
    decision = gauge("sguardo_retrain_decision", "1 for the last run's decision", ("decision",))
    for name in ("promoted", "rejected", "failed"):
        decision.labels(name).set(1 if name == "promoted" else 0)
    metric = gauge("sguardo_retrain_metric", "Gate metrics", ("model", "metric"))
    for model, values in {"candidate": (0.62, 0.09), "current": (0.59, 0.07)}.items():
        metric.labels(model, "t2i_recall_at_10").set(values[0])
        metric.labels(model, "zeroshot_top1").set(values[1])

    def handler(url: str, method: str, timeout: float | None, headers: list, data: bytes):
        def send() -> None:
            response = httpx.request(
                method,
                url,
                content=data,
                headers=dict(headers),
                timeout=timeout or 10,
                trust_env=False,
            )
            response.raise_for_status()

        return send

    push_to_gateway(gateway, job=NIGHTLY_JOB, registry=registry, handler=handler)


# ---------------------------------------------------------------- the expressions to check


def dashboard_expressions() -> list[str]:
    model = json.loads(load_dashboard_module().render())
    values = {"__rate_interval": RATE_INTERVAL}
    exprs = []
    for variable in model["templating"]["list"]:
        if variable["type"] == "query":
            values[variable["name"]] = variable["allValue"]
            # label_values(metric, label) is Grafana's; this is the PromQL it stands for.
            match = re.fullmatch(r"label_values\((.+), (\w+)\)", variable["query"])
            assert match, variable["query"]
            metric, label = match.groups()
            exprs.append(f"group by ({label}) ({metric})")
    exprs += [target["expr"] for panel in model["panels"] for target in panel.get("targets", [])]

    def substitute(expr: str) -> str:
        return re.sub(r"\$\{?(\w+)\}?", lambda m: values[m.group(1)], expr)

    return [substitute(expr) for expr in exprs]


def recording_rules() -> list[dict[str, str]]:
    rules = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            rules += [rule for rule in group["rules"] if "record" in rule]
    return rules


def prometheus_config(service: str, pushgateway: str) -> dict[str, Any]:
    """The example config, with only the targets and the intervals replaced."""
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(PROMETHEUS_CONFIG.parent / f) for f in config["rule_files"]]
    targets = {"sguardo": service, "sguardo-pushgateway": pushgateway}
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
    return config


def has_finite_value(result: list[dict[str, Any]]) -> bool:
    return any(math.isfinite(float(series["value"][1])) for series in result)


# ---------------------------------------------------------------- the test


def test_every_dashboard_and_recording_rule_query_returns_data(
    service_url: str, photos: list[tuple[str, bytes]], tmp_path: Path
) -> None:
    prometheus = require_binary("prometheus")
    pushgateway = require_binary("prometheus-pushgateway")
    gateway = f"127.0.0.1:{free_port()}"
    prom = f"127.0.0.1:{free_port()}"
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump(prometheus_config(service_url.split("//")[1], gateway)))

    pushgateway_args = [
        pushgateway,
        f"--web.listen-address={gateway}",
        f"--persistence.file={tmp_path / 'pushgateway.data'}",
    ]
    prometheus_args = [
        prometheus,
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address={prom}",
        "--storage.tsdb.retention.time=1h",
        "--log.level=warn",
    ]
    with (
        running(pushgateway_args, f"http://{gateway}/-/ready", tmp_path / "pushgateway.log"),
        running(prometheus_args, f"http://{prom}/-/ready", tmp_path / "prometheus.log"),
        httpx.Client(base_url=f"http://{prom}", timeout=10, trust_env=False) as api,
    ):

        def query(expr: str) -> list[dict[str, Any]]:
            body = api.get("/api/v1/query", params={"query": expr}).json()
            assert body["status"] == "success", (expr, body)
            return list(body["data"]["result"])

        # The load must land after a first scrape, or every counter would enter Prometheus
        # already final and every rate would be 0.
        deadline = time.monotonic() + 15
        while len(query("up == 1")) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        push_retraining_result(gateway)
        drive_load(service_url, photos)

        rules = recording_rules()
        pending = set(dashboard_expressions())
        pending |= {rule["expr"] for rule in rules} | {rule["record"] for rule in rules}
        rule_health: dict[str, str] = {}
        deadline = time.monotonic() + DATA_DEADLINE_S
        while time.monotonic() < deadline:
            pending = {expr for expr in pending if not has_finite_value(query(expr))}
            groups = api.get("/api/v1/rules").json()["data"]["groups"]
            rule_health = {
                rule["name"]: f"{rule['health']} {rule.get('lastError', '')}".strip()
                for group in groups
                for rule in group["rules"]
            }
            if not pending and set(rule_health.values()) == {"ok"}:
                break
            time.sleep(1)

        assert not pending, "no data for:\n" + "\n".join(sorted(pending))
        assert {r["record"] for r in rules} <= set(rule_health)
        assert {name: h for name, h in rule_health.items() if h != "ok"} == {}
        targets = api.get("/api/v1/targets").json()["data"]["activeTargets"]
        assert {t["labels"]["job"]: t["health"] for t in targets} == {
            "sguardo": "up",
            "sguardo-pushgateway": "up",
        }
        # A healthy service with a fresh, promoted retraining fires nothing.
        alerts = api.get("/api/v1/alerts").json()["data"]["alerts"]
        assert [a["labels"]["alertname"] for a in alerts if a["state"] == "firing"] == []
