"""systemd's notify protocol (sd_notify(3)): READY=1, WATCHDOG=1, STOPPING=1.

A datagram to $NOTIFY_SOCKET; nothing at all when rulesd does not run under a
`Type=notify` unit. The watchdog is pinged from the event loop itself, so a loop
that is stuck is restarted by systemd.
"""

from __future__ import annotations

import os
import socket

import trio


def notify(message: str) -> bool:
    """Tell systemd `message`; whether there was a socket to tell it on."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.sendto(message.encode(), address)
        except OSError:
            return False
    return True


def watchdog_interval() -> float | None:
    """How often to ping: half of WatchdogSec (None when there is no watchdog)."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2_000_000


async def watchdog() -> None:
    """Ping systemd's watchdog from the trio loop until cancelled."""
    interval = watchdog_interval()
    if interval is None:
        return
    while True:
        notify("WATCHDOG=1")
        await trio.sleep(interval)
