"""Serve the web app on the daemon's trio loop with hypercorn's trio worker."""

from __future__ import annotations

import logging

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve as hypercorn_serve

from rulesd.config import HttpConfig
from rulesd.http.app import WebApp
from rulesd.http.model import Served

log = logging.getLogger(__name__)


async def serve(daemon: Served, http: HttpConfig, shutdown: trio.Event, *,
                task_status: trio.TaskStatus[str | None] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve until `shutdown`; started with the base URL (None when `listen: off`)."""
    address = http.address
    if address is None:
        task_status.started(None)
        return
    host, port = address
    config = HypercornConfig()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.accesslog = None
    # hypercorn's own lines: its errors, not its "Running on" (rulesd says it once).
    errors = logging.getLogger("rulesd.http.hypercorn")
    errors.setLevel(logging.WARNING)
    config.errorlog = errors
    config.graceful_timeout = 2.0
    app = WebApp(daemon, host, http.token)
    async with trio.open_nursery() as nursery:
        try:
            binds = await nursery.start(_run, app, config, shutdown)
        except (OSError, BaseExceptionGroup) as exc:
            refused = _bind_error(exc)  # hypercorn's nursery wraps it in a group
            if refused is None:
                raise
            log.error("http: cannot listen on %s: %s; the daemon runs without the endpoint "
                      "(set http.listen, or `off`)", http.listen, refused.strerror or refused)
            task_status.started(None)
            return
        base = binds[0] if binds else None
        log.info("http: serving /metrics, /api/v1 and the status page on %s", base)
        task_status.started(base)


def _bind_error(exc: BaseException) -> OSError | None:
    """The OSError a failed bind raised, whether or not a nursery wrapped it."""
    if isinstance(exc, OSError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        errors = [_bind_error(inner) for inner in exc.exceptions]
        if errors and all(errors):
            return errors[0]
    return None


async def _run(app: WebApp, config: HypercornConfig, shutdown: trio.Event, *,
               task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED) -> None:
    await hypercorn_serve(app, config, shutdown_trigger=shutdown.wait,  # type: ignore[arg-type]
                          task_status=task_status)
