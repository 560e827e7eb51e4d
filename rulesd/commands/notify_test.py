"""`rulesd notify-test CONFIG [--notifier NAME]`: one test message to each URL, `ok` or
`FAIL` with the platform's reason; exit 1 if any failed."""

from __future__ import annotations

import argparse
import sys

import trio

from rulesd.commands.common import load_logging
from rulesd.suggest import did_you_mean


def add(command: argparse.ArgumentParser, shared: argparse.ArgumentParser) -> None:
    command.add_argument("config", help="the rules file (YAML)")
    command.add_argument("--notifier", help="only this notifier")


def run(args: argparse.Namespace) -> int:
    from rulesd.delivery.notifiers import DeliveryError, Notifier, build_notifiers
    from rulesd.delivery.templates import Rendered

    loaded = load_logging(args)
    if loaded is None:
        return 1
    urls = {name: n.urls for name, n in loaded.config.notifiers.items()}
    only = args.notifier
    if only is not None:
        if only not in urls:
            print(f"{args.config}: no notifier named {only!r}{did_you_mean(only, urls)}",
                  file=sys.stderr)
            return 1
        urls = {only: urls[only]}
    notifiers = build_notifiers(urls)
    message = Rendered("rulesd test message",
                       "If you can read this, rulesd can reach this channel.")

    async def send_all() -> dict[str, str | None]:
        results: dict[str, str | None] = {}

        async def one(name: str, notifier: Notifier) -> None:
            try:
                await notifier.send(message)
                results[name] = None
            except DeliveryError as exc:
                results[name] = exc.summary()

        async with trio.open_nursery() as nursery:
            for name, notifier in notifiers.items():
                nursery.start_soon(one, name, notifier)
        return results

    results = trio.run(send_all)
    for name in sorted(results):
        error = results[name]
        where = notifiers[name].describe()
        print(f"{'ok  ' if error is None else 'FAIL'} {name} ({where})"
              + (f": {error}" if error else ""))
    return 0 if all(e is None for e in results.values()) else 1
