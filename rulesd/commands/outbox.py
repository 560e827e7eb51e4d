"""`rulesd outbox CONFIG [--retry]`: undelivered and dead-lettered alerts; `--retry`
requeues the dead ones (sent when rulesd next starts)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from rulesd.commands.common import load, no_database
from rulesd.state import backends
from rulesd.state.backend import StateDBError
from rulesd.state.outbox import DEAD, PENDING


def add(command: argparse.ArgumentParser, shared: argparse.ArgumentParser) -> None:
    command.add_argument("config", help="the rules file (YAML)")
    command.add_argument("--retry", action="store_true",
                         help="requeue dead-lettered alerts (sent at the daemon's next start)")


def run(args: argparse.Namespace) -> int:
    loaded = load(args.config)
    if loaded is None or no_database(args.config, loaded):
        return 1
    db = backends.open_state(loaded.config.state)
    try:
        if args.retry:
            count = db.requeue_dead()
            print(f"requeued {count} dead-lettered alert(s); they are sent when rulesd "
                  "next starts" + (" leading" if db.shared else ""))
            return 0
        rows = db.outbox(PENDING, DEAD)
    except StateDBError as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        db.close()
    for row in rows:
        d = row.delivery
        when = datetime.fromtimestamp(d.created, UTC).strftime("%Y-%m-%d %H:%M:%S")
        error = f" — {row.last_error}" if row.last_error else ""
        print(f"{row.state:<8} {when} {d.notifier} {d.rule}: {d.title} "
              f"(attempts {d.attempts}){error}")
    pending = sum(r.state == PENDING for r in rows)
    print(f"{pending} pending, {len(rows) - pending} dead-lettered")
    return 0
