"""The command line's commands, one module each, all with the same two entry points:
`add(command)` gives the command its arguments (on the parser `cli` made for it), and
`run(args) -> int` runs it (the exit code). What a command needs is imported when it
runs, so `rulesd check` does not pay for the daemon."""

from __future__ import annotations

from typing import Final

# The command's name on the command line → its module in this package, and its help.
COMMANDS: Final = {
    "run": ("run", "run the daemon on a rules file"),
    "check": ("check", "validate a rules file"),
    "notify-test": ("notify_test", "send a test message to each notifier"),
    "record": ("record", "write every raw frame to a capture file"),
    "dry-run": ("dry_run", "replay a capture through the rules, print what would be sent"),
    "test": ("test", "run rule unit tests"),
    "outbox": ("outbox", "list undelivered and dead-lettered alerts"),
    "reload": ("reload", "make the running daemon read its rules file again (exit 1 with "
                         "the problems)"),
    "silence": ("silence", "add, list or expire silences"),
    "state": ("state", "manage the state database"),
}
