"""contrib/ as far as a machine without a container daemon can check it: the compose
file and what it mounts, the Dockerfile's command and health check, and that every
metric the Grafana dashboard and the Prometheus alerts use exists in /metrics."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import trio
import yaml
from prometheus_client.parser import text_string_to_metric_families

from rulesd import loader
from rulesd.clock import TrioClock
from rulesd.daemon import Daemon
from rulesd.http.app import WebApp
from tests.fakes import FakeDexScreener, HttpSink
from tests.helpers import BOOSTS, boost, sink_rules, snapshot

ROOT = Path(__file__).parent.parent
CONTRIB = ROOT / "contrib"


def test_compose_parses_and_everything_it_mounts_or_builds_from_exists() -> None:
    compose = yaml.safe_load((CONTRIB / "compose.yaml").read_text())
    assert set(compose["services"]) == {"rulesd", "prometheus", "grafana"}
    build = compose["services"]["rulesd"]["build"]
    context = (CONTRIB / build["context"]).resolve()
    assert context == ROOT and (context / build["dockerfile"]).is_file()
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            host = volume.split(":")[0]
            if host.startswith("."):
                assert (CONTRIB / host).exists(), f"{name} mounts {host}, which is missing"
            else:
                assert host in compose["volumes"], f"{name}: unknown volume {host}"


def test_the_high_availability_compose_runs_two_instances_on_one_postgresql() -> None:
    compose = yaml.safe_load((CONTRIB / "compose.ha.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "rulesd-a", "rulesd-b"}
    a, b = services["rulesd-a"], services["rulesd-b"]
    assert a["volumes"] == b["volumes"] == ["./docker/rules-ha.yaml:/etc/rulesd/rules.yaml:ro"]
    assert (CONTRIB / "docker/rules-ha.yaml").is_file()
    assert a["ports"] != b["ports"]
    assert b["depends_on"]["postgres"]["condition"] == "service_healthy"
    postgres = services["postgres"]["environment"]
    env = {"RULESD_DB_PASSWORD": "pw", "RULESD_HTTP_TOKEN": "tok"}
    loaded = loader.load(CONTRIB / "docker/rules-ha.yaml", env=env)
    url = loaded.config.state.url
    assert url == f"postgresql://{postgres['POSTGRES_USER']}:pw@postgres/" \
        f"{postgres['POSTGRES_DB']}"
    assert "pw" in loaded.secrets


def _dockerfile() -> dict[str, str]:
    text = (CONTRIB / "Dockerfile").read_text().replace("\\\n", " ")
    out: dict[str, str] = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            word, _, rest = line.strip().partition(" ")
            out[word] = (out[word] + "\n" + rest) if word in out else rest
    return out


def test_the_dockerfile_runs_rulesd_on_the_mounted_file_and_checks_its_health() -> None:
    docker = _dockerfile()
    assert docker["FROM"].startswith("python:3.11")
    for copied in docker["COPY"].splitlines():
        for source in copied.split()[:-1]:
            assert (ROOT / source).exists(), source
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert json.loads(docker["ENTRYPOINT"]) == ["rulesd"] and "rulesd" in scripts
    command = json.loads(docker["CMD"])
    assert command[:2] == ["run", "/etc/rulesd/rules.yaml"]
    compose = yaml.safe_load((CONTRIB / "compose.yaml").read_text())
    mounts = dict(v.split(":")[:2][::-1] for v in compose["services"]["rulesd"]["volumes"])
    rules = CONTRIB / mounts["/etc/rulesd/rules.yaml"]
    loaded = loader.load(rules, env={"RULESD_HTTP_TOKEN": "t"})
    assert loaded.config.state.path.startswith("/var/lib/rulesd/")
    assert docker["VOLUME"] == '["/var/lib/rulesd"]'
    address = loaded.config.http.address
    assert address is not None
    assert docker["EXPOSE"] == str(address[1])
    health = re.search(r"http://127\.0\.0\.1:(\d+)(/[-\w/]+)", docker["HEALTHCHECK"])
    assert health and (int(health.group(1)), health.group(2)) == (address[1], "/-/healthy")
    assert docker["USER"] == "rulesd"


def _names_used() -> set[str]:
    dashboard = json.loads((CONTRIB / "grafana" / "rulesd.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    alerts = yaml.safe_load((CONTRIB / "prometheus" / "alerts.yml").read_text())
    exprs += [r["expr"] for g in alerts["groups"] for r in g["rules"]]
    return {name for expr in exprs for name in re.findall(r"\brulesd_[a-z0-9_]+", expr)}


async def test_every_metric_the_dashboard_and_alerts_use_is_served(
    nursery: trio.Nursery, fake_dex: FakeDexScreener, sink: HttpSink, tmp_path: Path,
) -> None:
    fake_dex.snapshots[BOOSTS] = [snapshot(boost("OLD1", 1))]
    path = sink_rules(tmp_path, fake_dex.url, sink.url())
    daemon = Daemon.create(loader.load(path, env={}), TrioClock())
    shutdown = trio.Event()
    with trio.fail_after(30):
        await nursery.start(daemon.run, shutdown)
        await fake_dex.wait_connections(BOOSTS, 1)
        await fake_dex.push(BOOSTS, snapshot(boost("AAA1", 1), boost("OLD1", 1)))
        await sink.wait_for(1)
        sent: list[Any] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Any) -> None:
            sent.append(message)

        await WebApp(daemon, "127.0.0.1", None)(
            {"type": "http", "method": "GET", "path": "/metrics", "query_string": b"",
             "headers": []}, receive, send)  # type: ignore[arg-type]
        shutdown.set()
    served: set[str] = set()
    for family in text_string_to_metric_families(sent[1]["body"].decode()):
        served |= {sample.name for sample in family.samples}
        # A family declared with no series yet (no fault so far) is served too.
        served |= {family.name + "_total"} if family.type == "counter" else {family.name}
    used = _names_used()
    assert len(used) >= 12
    assert used <= served, sorted(used - served)
