"""An HTTP client of a running service, for the ``discovery`` CLI: JSON calls and the event stream.

Every failure is a :class:`ClientError` with one line a person can act on (the service is not
running, a token is missing, the API's own message for a 400 or 404), never a traceback.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Optional
from urllib.parse import quote

import requests

from discovery.redaction import REDACTOR, scrub, url_credentials
from discovery.sse import SSEEvent, parse_sse

DEFAULT_URL = "http://127.0.0.1:8080"
URL_ENV = "DISCOVERY_URL"
ADMIN_TOKEN_ENV = "DISCOVERY_ADMIN_TOKEN"
READ_TOKEN_ENV = "DISCOVERY_READ_TOKEN"


class ClientError(Exception):
    """A call that failed, with the one line to show and the exit code to leave with."""

    def __init__(self, message: str, exit_code: int = 1, status: Optional[int] = None, code: Optional[str] = None):
        # It names the service's URL and echoes its answers: no token or URL credentials go to the terminal.
        message = scrub(message)
        super().__init__(message)
        self.message, self.exit_code, self.status, self.code = message, exit_code, status, code


# One Server-Sent Event as the stream sends it.
StreamEvent = SSEEvent


def model_path(model_id: str) -> str:
    """A model id as a URL path (its ``/`` stay, everything else is escaped)."""
    return quote(model_id, safe="/:@")


class ServiceClient:
    """Calls one service at ``url``; sends the admin token (else the read token) when one is set."""

    def __init__(self, url: Optional[str] = None, token: Optional[str] = None, timeout: float = 30.0,
                 environ: Optional[Mapping[str, str]] = None):
        env = os.environ if environ is None else environ
        self.url = (url or env.get(URL_ENV) or DEFAULT_URL).rstrip("/")
        self.token = token or env.get(ADMIN_TOKEN_ENV) or env.get(READ_TOKEN_ENV) or None
        REDACTOR.add(self.token, *url_credentials(self.url))
        self.has_admin_token = bool(token or env.get(ADMIN_TOKEN_ENV))
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["Accept"] = "application/json"
        if self.token:
            self.session.headers["Authorization"] = f"Bearer {self.token}"

    # -- JSON calls ------------------------------------------------------------------------------
    def get(self, path: str, params: Any = None) -> Any:
        return self.call("GET", path, params)

    def post(self, path: str, params: Any = None, timeout: Optional[float] = None) -> Any:
        return self.call("POST", path, params, timeout=timeout)

    def call(self, method: str, path: str, params: Any = None, timeout: Optional[float] = None) -> Any:
        """The JSON answer of one call; :class:`ClientError` for anything but a 2xx JSON answer."""
        try:
            answer = self.session.request(method, self.url + path, params=params, timeout=timeout or self.timeout,
                                          allow_redirects=False)
        except requests.exceptions.InvalidURL as exc:
            raise ClientError(f"{self.url} is not a usable URL ({exc}); set --url or {URL_ENV}", 2) from None
        except requests.exceptions.ConnectionError:
            raise ClientError(f"cannot reach the service at {self.url} (is `discovery serve` running there? "
                              f"set --url or {URL_ENV})") from None
        except requests.exceptions.Timeout:
            raise ClientError(f"the service at {self.url} did not answer within {timeout or self.timeout:g}s") from None
        except requests.exceptions.RequestException as exc:
            raise ClientError(f"request to {self.url} failed: {exc}") from None
        return self._json(method, answer)

    def _json(self, method: str, answer: requests.Response) -> Any:
        try:
            body = answer.json()
        except ValueError:
            body = None
        if 200 <= answer.status_code < 300:
            if body is None:
                raise ClientError(f"{answer.url} answered {answer.status_code} without JSON: is {self.url} "
                                  "the discovery service?")
            return body
        error = body.get("error") if isinstance(body, dict) and isinstance(body.get("error"), dict) else {}
        message = error.get("message") or answer.reason or "no message"
        code = error.get("code")
        status = answer.status_code
        if status in (401, 403):
            mutation = method not in ("GET", "HEAD")
            # A read refused for want of a token (401) needs the read token; one refused to the
            # token given (403: webhook subscriptions) or any change needs the admin's.
            needed = ADMIN_TOKEN_ENV if mutation or status == 403 else f"{READ_TOKEN_ENV} (or {ADMIN_TOKEN_ENV})"
            if status == 401 and self.token:
                # A token was sent and refused: the variable that holds it is the one to correct.
                sent = ADMIN_TOKEN_ENV if self.has_admin_token else READ_TOKEN_ENV
                advice = f"{sent} holds a token the service does not take; set it to the service's token"
            else:
                advice = f"set {needed} to the service's token"
            raise ClientError(f"{'not allowed' if status == 403 else 'unauthorized'} ({status}): {message} — "
                              f"{advice}", 1, status, code)
        if status == 429 and answer.headers.get("Retry-After") and "try again in" not in message:
            # The service's own 429s say when already ("try again in 32s"): one time, not two.
            message += f" (retry after {answer.headers['Retry-After']}s)"
        raise ClientError(f"{message} ({status})" if status >= 500 or status == 429 else message, 1, status, code)

    # -- the event stream ------------------------------------------------------------------------
    def stream(self, params: Any = None, last_event_id: Optional[str] = None, follow: bool = True,
               on_reconnect: Optional[Callable[[str, float], None]] = None,
               max_backoff: float = 10.0) -> Iterator[StreamEvent]:
        """Events of ``GET /api/v1/events/stream`` as they come. With ``follow``, a dropped
        connection is reopened (backing off up to ``max_backoff`` s) with ``Last-Event-ID``, so no
        event is lost or repeated; ``on_reconnect(reason, delay)`` hears about each retry."""
        delay = 0.5
        last = last_event_id
        while True:
            try:
                for event in self._stream_once(params, last):
                    delay = 0.5
                    if event.id:
                        last = event.id
                    yield event
                reason = "the service ended the stream"
            except ClientError as exc:
                if exc.status is not None and exc.status not in (502, 503, 504):
                    raise  # refused or malformed: retrying would not help
                reason = exc.message
            except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError,
                    requests.exceptions.Timeout) as exc:
                reason = f"connection lost ({type(exc).__name__})"
            if not follow:
                return
            if on_reconnect is not None:
                on_reconnect(reason, delay)
            time.sleep(delay)
            delay = min(max_backoff, delay * 2)

    def _stream_once(self, params: Any, last_event_id: Optional[str]) -> Iterator[StreamEvent]:
        headers = {"Accept": "text/event-stream"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        try:
            # No read timeout: heartbeats keep an idle stream alive; a dead one drops the socket.
            answer = self.session.get(self.url + "/api/v1/events/stream", params=params, headers=headers,
                                      stream=True, timeout=(self.timeout, None))
        except requests.exceptions.ConnectionError as exc:
            raise ClientError(f"cannot reach the service at {self.url} (is `discovery serve` running there? "
                              f"set --url or {URL_ENV})", 1, None) from exc
        with answer:
            if answer.status_code != 200:
                self._json("GET", answer)
            yield from parse_sse(answer.iter_lines(decode_unicode=True))
