"""One JSON POST of rulesd's own notifiers (the webhook, the control bot's alerts):
an answer of 2xx is delivered; anything else is a DeliveryError of the kind the
platform's answer says (`answers.error_of`). The URL is never in what it raises: it
may hold a token."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from rulesd.delivery.answers import Answer, DeliveryError, error_of


class JsonPoster:
    def __init__(self, url: str, shown: str, timeout_s: float) -> None:
        self._url = url
        self._shown = shown  # the target as it may be shown (no token)
        self._timeout_s = timeout_s
        self._http: httpx.AsyncClient | None = None

    async def post(self, body: bytes, headers: Mapping[str, str]) -> None:
        if self._http is None:
            self._http = httpx.AsyncClient()
        try:
            response = await self._http.post(
                self._url, content=body, timeout=self._timeout_s,
                headers={"Content-Type": "application/json", "User-Agent": "rulesd",
                         **headers})
        except httpx.TimeoutException:
            raise DeliveryError(f"{self._shown}: no answer within {self._timeout_s:g}s"
                                ) from None
        except (httpx.HTTPError, OSError) as exc:
            raise DeliveryError(f"{self._shown}: cannot connect ({type(exc).__name__})"
                                ) from None
        if not 200 <= response.status_code < 300:
            raise error_of(Answer(response.status_code, response.headers.get("retry-after"),
                                  response.text[:4000]), self._shown)
