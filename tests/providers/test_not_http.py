"""A provider that accepts the connection and then answers something that is not HTTP, or
nothing: the refresh says so, not "cannot connect" (a review of malformed answers found every
one of these reported as a connection that could not be made, sending whoever reads the run to
look at the network)."""
from __future__ import annotations

import socket
import threading

import pytest

from discovery.providers.errors import MalformedAnswer, ProviderUnreachable
from tests.providers.conftest import make_client


@pytest.fixture
def raw_server():
    """A loopback listener answering every connection with the bytes set in ``answer[0]``."""
    answer = [b""]
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    listener.settimeout(0.05)  # accept wakes to see stop (closing the socket does not wake it)

    def serve():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(5)
            with conn:
                conn.recv(65536)
                conn.sendall(answer[0])

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", answer
    stop.set()
    thread.join(5)
    listener.close()


@pytest.mark.parametrize("sent,words", [
    (b"SSH-2.0-OpenSSH_9.6\r\n", "answered with something that is not HTTP (BadStatusLine: SSH-2.0-OpenSSH_9.6"),
    (b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n{}", "not HTTP (LineTooLong: got more than 65536"),
    (b"HTTP/1.1 200 OK\r\n" + b"X-H: a\r\n" * 150 + b"\r\n{}", "not HTTP (HTTPException: got more than 100 headers)"),
])
def test_an_answer_that_is_not_http_is_malformed(raw_server, sent, words):
    url, answer = raw_server
    answer[0] = sent
    with pytest.raises(MalformedAnswer, match=words.replace("(", r"\(").replace(")", r"\)")):
        make_client("openai", url + "/v1").fetch(None)


def test_a_connection_closed_without_an_answer_says_so(raw_server):
    url, answer = raw_server
    answer[0] = b""
    with pytest.raises(ProviderUnreachable, match=f"openai at {url}/v1 closed the connection without an answer"):
        make_client("openai", url + "/v1").fetch(None)
