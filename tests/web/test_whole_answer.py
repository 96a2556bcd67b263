"""The WSGI adapter that hands each answer to the event loop whole (web.server.WholeAnswerWSGI)."""
from __future__ import annotations

import asyncio
import contextvars

import pytest

from web.server import WholeAnswerWSGI

WHO = contextvars.ContextVar("who", default="nobody")


def run(app, scope_extra=None, body_messages=(), sent=None):
    """Call the adapter as uvicorn would; returns the messages it sent."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": "/x", "raw_path": b"/x", "query_string": b"", "root_path": "", "headers": [],
             "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 80), **(scope_extra or {})}
    incoming = list(body_messages) or [{"type": "http.request", "body": b"", "more_body": False}]
    sent = [] if sent is None else sent

    async def receive():
        return incoming.pop(0)

    async def send(message):
        sent.append(message)

    async def main():
        WHO.set("request-7")
        adapter = WholeAnswerWSGI(app, workers=2)
        try:
            await adapter(scope, receive, send)
        finally:
            adapter.executor.shutdown(wait=True)

    asyncio.run(main())
    return sent


def test_a_streamed_answer_goes_to_the_loop_as_one_start_and_one_body():
    closed = []

    class Chunks:
        def __iter__(self):
            yield b'{"a":'
            yield b""
            yield b'1}'

        def close(self):
            closed.append(True)

    def app(environ, start_response):
        start_response("201 Created", [("Content-Type", "application/json"), ("X-Who", WHO.get())])
        return Chunks()

    sent = run(app)
    assert sent == [
        {"type": "http.response.start", "status": 201,
         "headers": [(b"content-type", b"application/json"), (b"x-who", b"request-7")]},
        {"type": "http.response.body", "body": b'{"a":1}', "more_body": False},
    ]
    assert closed == [True]  # PEP 3333: the iterable's close() is called


def test_the_request_body_is_read_through_the_loop_and_a_replaced_start_wins():
    def app(environ, start_response):
        body = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "text/plain")])
        # An error page replacing the answer before anything was sent: allowed, and it wins.
        start_response("400 Bad Request", [("Content-Type", "application/json")], (None, None, None))
        return [b"got " + body]

    sent = run(app, {"method": "POST"}, [{"type": "http.request", "body": b"ab", "more_body": True},
                                         {"type": "http.request", "body": b"cd", "more_body": False}])
    assert sent[0]["status"] == 400 and sent[0]["headers"] == [(b"content-type", b"application/json")]
    assert sent[1]["body"] == b"got abcd" and len(sent) == 2


def test_an_app_that_fails_sends_nothing_and_the_error_reaches_the_server():
    def app(environ, start_response):
        start_response("200 OK", [])
        raise RuntimeError("view broke")

    sent: list = []
    with pytest.raises(RuntimeError, match="view broke"):
        run(app, sent=sent)
    assert sent == []  # uvicorn answers 500 for an app that raised before sending
