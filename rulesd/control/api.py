"""The Telegram Bot API, as the control bot uses it: `getUpdates` (long polling),
`sendMessage`. The bot token is in every URL: it is a secret, and no error rulesd
writes repeats a URL."""

from __future__ import annotations

from typing import Any, Final

import httpx

from rulesd.inert import inert

# Telegram answers 409 when another consumer polls the same bot.
CONFLICT: Final = 409


class BotApiError(Exception):
    def __init__(self, status: int, description: str, retry_after: float | None = None
                 ) -> None:
        super().__init__(f"HTTP {status}: {description}")
        self.status = status
        self.retry_after = retry_after


class BotApi:
    def __init__(self, api: str, token: str, timeout_s: float = 10.0) -> None:
        self._base = f"{api.rstrip('/')}/bot{token}"
        self._timeout_s = timeout_s
        self._http: httpx.AsyncClient | None = None

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def call(self, method: str, params: dict[str, Any], wait_s: float = 0.0) -> Any:
        """The method's `result`; raise BotApiError (never with the URL in it)."""
        if self._http is None:
            self._http = httpx.AsyncClient()
        try:
            response = await self._http.post(f"{self._base}/{method}", json=params,
                                             timeout=self._timeout_s + wait_s)
        except httpx.TimeoutException:
            raise BotApiError(0, "no answer in time") from None
        except (httpx.HTTPError, OSError) as exc:
            raise BotApiError(0, f"cannot connect ({type(exc).__name__})") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):  # a proxy's page, or anything but the API's object
            body = {"description": "not an answer of the Bot API"}
        if response.status_code != 200 or body.get("ok") is not True:
            params_ = body.get("parameters")
            retry = params_.get("retry_after") if isinstance(params_, dict) else None
            raise BotApiError(response.status_code, inert(str(body.get("description", "")))[:200],
                              float(retry) if isinstance(retry, int | float)
                              and not isinstance(retry, bool) and retry >= 0 else None)
        return body.get("result")
