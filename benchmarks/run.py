"""rulesd's benchmarks, as ratios measured side by side in one run.

    .venv/bin/python benchmarks/run.py [--quick]

Every variant reads the same pre-encoded frames from a separate blaster process
(benchmarks/blaster.py) over loopback; variants are interleaved and repeated, and
the median of each is reported:

- throughput: the whole daemon as a user runs it (`rulesd run`, a SQLite state file
  — and, for CoinMarketCap, the state in the local PostgreSQL —, the console
  notifier) against bare receive loops that only decode each frame (trio-websocket,
  as rulesd uses it, and the asyncio `websockets` library), for
  CoinMarketCap, Mobula and DEX Screener frames; a run ends when the daemon prints
  the alert of the last frame (a probe);
- rule scaling: 10, 1,000 and 10,000 selective rules (each pinned to one coin, or
  to a chain the frames never carry);
- latency: frame sent → alert printed, at fixed offered rates, p50/p99;
- trio-websocket's own settings (receive buffer, message queue) on the bare loop;
- `rulesd check` on 10,000 rules; memory per tracked token and per observation.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).parent
PY = sys.executable
RULESD = str(Path(PY).parent / "rulesd")


class Blaster:
    def __init__(self, vendor: str, frames: int, rate: float = 0, probe_every: int = 0) -> None:
        self.proc = subprocess.Popen(
            [PY, str(HERE / "blaster.py"), "--vendor", vendor, "--frames", str(frames),
             "--rate", str(rate), "--probe-every", str(probe_every)],
            stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline().split()[1])

    def report(self) -> dict[str, object]:
        assert self.proc.stdout is not None
        return json.loads(self.proc.stdout.readline())  # type: ignore[no-any-return]

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


def _url(vendor: str, port: int) -> str:
    return f"ws://127.0.0.1:{port}" + ("/token-boosts/latest/v1" if vendor == "dex" else "/")


def bare(lib: str, vendor: str, frames: int, queue: int = 64, buffer: int = 4096) -> float:
    """Frames a second through a bare receive loop."""
    blaster = Blaster(vendor, frames)
    try:
        out = subprocess.run([PY, str(HERE / "bare.py"), "--lib", lib, "--vendor", vendor,
                              _url(vendor, blaster.port), "--queue", str(queue),
                              "--buffer", str(buffer)],
                             capture_output=True, text=True, check=True, timeout=300)
        probe_at = float(out.stdout.split()[0])
        report = blaster.report()
    finally:
        blaster.close()
    return float(report["sent"]) / (probe_at - float(report["first"]))  # type: ignore[arg-type]


def rules_file(vendor: str, rules: int, port: int, directory: Path,
               state: str | None = None) -> Path:
    """A rules file as a user writes it: selective rules, the probe rule, the console;
    the state in an SQLite file of `directory`, or as `state` says."""
    state = state or f"{{path: {directory / 'state.db'}}}"
    lines = ["version: 1", f"state: {state}", "sources:"]
    if vendor == "cmc":
        ids = ", ".join(str(i) for i in [*range(1, 100), 999999])
        lines += ["  coinmarketcap:", "    api_key: bench", f"    url: ws://127.0.0.1:{port}/",
                  "    subscriptions:", "      - channel: market@crypto_latest_price",
                  f"        params: {{crypto_ids: [{ids}]}}"]
        probe = ("{name: probe, on: price, where: {token.cmc_id: 999999, price: {gte: 1.5}}, "
                 "title: 'PROBE {{ price }}', message: x}")
    elif vendor == "mobula":
        lines += ["  mobula:", "    api_key: bench", f"    url: ws://127.0.0.1:{port}/",
                  "    payload: {assetMode: true, views: [{name: new, limit: 100}]}"]
        probe = ("{name: probe, on: pulse_update, where: {address: "
                 "PROBEpulse1111111111111111111111111111111111, price: {gte: 1.5}}, "
                 "title: 'PROBE {{ price }}', message: x}")
    else:
        lines += ["  dexscreener:", f"    url: ws://127.0.0.1:{port}",
                  "    streams: [token-boosts/latest]"]
        probe = ("{name: probe, on: boost, where: {address: {matches: '^PROBE'}}, "
                 "title: 'PROBE {{ address }}', message: x}")
    lines += ["notifiers: {console: stdout}", "defaults: {notify: [console]}", "rules:",
              f"  - {probe}"]
    for i in range(rules - 1):
        if vendor == "cmc":
            where = (f"{{token.cmc_id: {i + 1}, change: {{of: price, window: 5m, "
                     f"abs_pct: {{gte: 5}}}}}}" if i % 3 == 0 else
                     f"{{token.cmc_id: {i + 1}, crosses: {{of: price, above: 1000000}}}}"
                     if i % 3 == 1 else
                     f"{{chain: chain{i}, change: {{of: price, window: 5m, pct: {{gte: 5}}}}}}")
            lines.append(f"  - {{name: r{i}, on: price, where: {where}}}")
        elif vendor == "mobula":
            lines.append(f"  - {{name: r{i}, on: pulse_update, where: {{address: "
                         f"Tok{i:04d}{'x' * 36}, volume_1h: {{gte: 1000000}}}}}}")
        else:
            lines.append(f"  - {{name: r{i}, on: boost, where: {{address: Tok{i:08d}"
                         f"{'d' * 32}, amount: {{gte: 1000}}}}}}")
    path = directory / "rules.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _daemon(vendor: str, rules: int, blaster: Blaster, directory: Path,
            on_line: Callable[[str, float], bool], state: str | None = None
            ) -> dict[str, object]:
    """Run `rulesd run` on the blaster; `on_line(title, when)` until it returns True."""
    path = rules_file(vendor, rules, blaster.port, directory, state)
    proc = subprocess.Popen([RULESD, "run", str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, bufsize=1)
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            if line.startswith("── ") and "PROBE" in line and on_line(line, time.monotonic()):
                break
        return blaster.report()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)


def postgres_state() -> str:
    """`state:` on a fresh schema of the local PostgreSQL (RULESD_TEST_POSTGRES_URL):
    the daemon leads, and every commit goes over TCP with its lease check."""
    import psycopg

    url = os.environ.get("RULESD_TEST_POSTGRES_URL",
                         "postgresql://postgres@127.0.0.1:5432/test")
    schema = "rulesd_bench_run"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.execute(f"CREATE SCHEMA {schema}")
    return f'{{url: "{url}{"&" if "?" in url else "?"}options=-csearch_path%3D{schema}"}}'


def daemon_throughput(vendor: str, rules: int, frames: int, postgres: bool = False) -> float:
    blaster = Blaster(vendor, frames)
    seen: list[float] = []
    try:
        with tempfile.TemporaryDirectory() as directory:
            report = _daemon(vendor, rules, blaster, Path(directory),
                             lambda line, when: bool(seen.append(when)) or True,
                             postgres_state() if postgres else None)
    finally:
        blaster.close()
    return float(report["sent"]) / (seen[0] - float(report["first"]))  # type: ignore[arg-type]


def latency(vendor: str, rules: int, rate: float, seconds: float) -> tuple[float, float, int]:
    """(p50, p99 in ms, probes answered) of frame sent → alert printed at `rate`."""
    every = 100
    frames = int(rate * seconds)
    blaster = Blaster(vendor, frames, rate=rate, probe_every=every)
    probes = frames // every // 2
    printed: dict[str, float] = {}

    def note(line: str, when: float) -> bool:
        printed[line.split("PROBE ", 1)[1].split()[0]] = when
        return len(printed) >= probes

    try:
        with tempfile.TemporaryDirectory() as directory:
            report = _daemon(vendor, rules, blaster, Path(directory), note)
    finally:
        blaster.close()
    sent = report["probes"]
    assert isinstance(sent, dict)
    delays = []
    for k, at in sent.items():
        key = f"{2.0 + int(k)}" if vendor != "dex" else f"PROBE{int(k):06d}" + "p" * 30
        if key in printed:
            delays.append((printed[key] - at) * 1000)
    delays.sort()
    p50 = statistics.median(delays)
    p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
    return p50, p99, len(delays)


def check_time(rules: int) -> float:
    with tempfile.TemporaryDirectory() as directory:
        path = rules_file("cmc", rules, 9, Path(directory))
        start = time.monotonic()
        subprocess.run([RULESD, "check", str(path)], check=True, capture_output=True)
        return time.monotonic() - start


def parse_cost(vendor: str, frames: int) -> float:
    """Microseconds a frame through the vendor's own parser, in-process (no sockets)."""
    sys.path.insert(0, str(HERE))
    import blaster

    from rulesd.sources import SOURCES
    from rulesd.sources.coinmarketcap.config import CoinMarketCapConfig
    from rulesd.sources.dexscreener.config import DexScreenerConfig
    from rulesd.sources.health import SourceHealth
    from rulesd.sources.mobula.config import MobulaConfig

    name, config = {"cmc": ("coinmarketcap", CoinMarketCapConfig(api_key="k")),
                    "mobula": ("mobula", MobulaConfig(api_key="k")),
                    "dex": ("dexscreener", DexScreenerConfig())}[vendor]
    sequence, _ = blaster.frames(vendor, frames, 0)
    stream = SOURCES[name].parser(config).stream("token-boosts/latest", SourceHealth("b"))
    stream.connected()
    start = time.perf_counter()
    for i, frame in enumerate(sequence):
        stream.feed(frame, float(i))
    return (time.perf_counter() - start) / len(sequence) * 1e6


def median_of(runs: dict[str, list[float]]) -> dict[str, float]:
    return {name: statistics.median(values) for name, values in runs.items()}


def interleaved(variants: dict[str, Callable[[], float]], repeat: int) -> dict[str, float]:
    runs: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeat):
        order = list(variants)
        random.shuffle(order)
        for name in order:
            runs[name].append(variants[name]())
            print(f"  {name}: {runs[name][-1]:,.0f}", file=sys.stderr, flush=True)
    return median_of(runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer frames and repeats")
    args = parser.parse_args()
    frames, repeat, seconds = (10_000, 1, 4.0) if args.quick else (30_000, 3, 8.0)
    print(f"machine: {os.cpu_count()} cores, {sys.version.split()[0]}; {frames:,} frames a "
          f"run, median of {repeat}")

    print("\n## Throughput (frames/s), and the ratio to a bare trio-websocket loop with "
          "rulesd's settings (64 KiB reads, a queue of 64)")
    for vendor in ("cmc", "mobula", "dex"):
        # A DEX Screener frame is a snapshot of 30 boosts: a tenth of the frames.
        n = frames // 10 if vendor == "dex" else frames
        variants: dict[str, Callable[[], float]] = {
            "bare trio-websocket": lambda v=vendor, n=n: bare("trio", v, n, 64, 65536),
            "bare trio-ws, defaults": lambda v=vendor, n=n: bare("trio", v, n, 1, 4096),
            "bare websockets": lambda v=vendor, n=n: bare("websockets", v, n),
            "rulesd, 10 rules": lambda v=vendor, n=n: daemon_throughput(v, 10, n),
            "rulesd, 1,000 rules": lambda v=vendor, n=n: daemon_throughput(v, 1000, n),
        }
        if vendor == "cmc":
            variants["rulesd, 10,000 rules"] = lambda: daemon_throughput("cmc", 10_000, frames)
            variants["rulesd, 1,000, PostgreSQL"] = \
                lambda: daemon_throughput("cmc", 1000, frames, postgres=True)
        result = interleaved(variants, repeat)
        base = result["bare trio-websocket"]
        print(f"\n{vendor}:")
        for name, value in result.items():
            print(f"  {name:<24} {value:>9,.0f}   {value / base:5.2f}x")
        if vendor == "cmc":
            scaling = result["rulesd, 10,000 rules"] / result["rulesd, 10 rules"]
            print(f"  10,000 rules / 10 rules: {scaling:.2f}")

    print("\n## Parse cost per frame, in-process (µs)")
    for vendor in ("cmc", "mobula", "dex"):
        n = frames // 50 if vendor == "dex" else frames // 5
        cost = statistics.median(parse_cost(vendor, n) for _ in range(repeat))
        print(f"  {vendor:<8} {cost:7.1f}")

    print("\n## trio-websocket's settings, bare loop on CoinMarketCap frames")
    settings = {f"buffer {b}, queue {q}": (lambda b=b, q=q: bare("trio", "cmc", frames, q, b))
                for b in (4096, 65536, 262144) for q in (1, 64)}
    for name, value in interleaved(settings, repeat).items():
        print(f"  {name:<24} {value:>9,.0f}")

    print("\n## Latency, frame sent → alert printed (CoinMarketCap, ms)")
    for rules in (10, 1000):
        for rate in (1000, 5000):
            p50, p99, n = latency("cmc", rules, rate, seconds)
            print(f"  {rules:>5} rules at {rate:>5}/s: p50 {p50:6.2f}  p99 {p99:7.2f}  "
                  f"({n} probes)")

    print("\n## rulesd check")
    for rules in (10, 10_000):
        print(f"  {rules:>6} rules: {check_time(rules):.2f} s")

    print("\n## Memory (benchmarks/memory.py)")
    subprocess.run([PY, str(HERE / "memory.py")], check=True)


if __name__ == "__main__":
    main()
