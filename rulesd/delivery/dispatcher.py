"""The dispatcher: renders each alert per notifier and sends it.

Each notifier has its own queue and task, so a slow or failing platform never
holds up the others.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Final

import attrs
import trio

from rulesd.delivery.notifiers import DeliveryError, Notifier
from rulesd.rules.engine import Alert

log = logging.getLogger(__name__)

# Alerts waiting for one notifier; beyond this the dispatcher waits (and so,
# through the alerts channel, the engine) rather than dropping anything.
NOTIFIER_QUEUE_SIZE: Final = 256


@attrs.define
class DeliveryStats:
    sent: int = 0
    failed: int = 0


async def _serve_notifier(notifier: Notifier, queue: trio.MemoryReceiveChannel[Alert],
                          stats: DeliveryStats) -> None:
    async with queue:
        async for alert in queue:
            try:
                await notifier.send(alert.render(notifier.format))
                stats.sent += 1
            except DeliveryError as exc:
                stats.failed += 1
                log.error("alert %s not delivered: %s", alert.id, exc)


async def dispatch(
    alerts: trio.MemoryReceiveChannel[Alert],
    notifiers: Mapping[str, Notifier],
    stats: DeliveryStats,
) -> None:
    """Fan alerts out to their notifiers until `alerts` closes and all are sent."""
    async with trio.open_nursery() as nursery:
        queues: dict[str, trio.MemorySendChannel[Alert]] = {}
        for name, notifier in notifiers.items():
            send, receive = trio.open_memory_channel[Alert](NOTIFIER_QUEUE_SIZE)
            queues[name] = send
            nursery.start_soon(_serve_notifier, notifier, receive, stats)
        try:
            async with alerts:
                async for alert in alerts:
                    for name in alert.notify:
                        await queues[name].send(alert)
        finally:
            for send in queues.values():
                send.close()
