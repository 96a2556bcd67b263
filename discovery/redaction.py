"""One redaction layer: every configured secret and common key shapes are scrubbed from text.

Providers echo keys in error bodies, headers and redirect URLs; a webhook receiver may echo its
secret. Whatever produced a text, it is scrubbed before it is logged (a loguru patcher, and the
stderr sink), stored (run errors, provider ``last_error``, ``status_changed`` reasons, webhook
errors) or returned (an ``after_request`` hook of the app scrubs every configured secret from
every answer). :data:`REDACTOR` is the process's one instance: it learns the secrets of the
settings at start-up (the API keys behind each ``api_key_env``, the admin and read tokens, AWS
credentials) and each webhook secret as it is created or loaded.
"""
from __future__ import annotations

import base64
import json
import os
import re
import threading
import traceback
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Optional
from urllib.parse import quote, quote_plus, unquote, urlsplit

from discovery import log_context

MASK = "[REDACTED]"
# Shorter strings are not treated as secrets: masking "abc" everywhere would wreck every text.
MIN_SECRET_LENGTH = 8
# Variables that hold credentials whatever the settings say.
CREDENTIAL_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_BEARER_TOKEN_BEDROCK",
                  "DISCOVERY_ADMIN_TOKEN", "DISCOVERY_READ_TOKEN")
# Proxy URLs requests and botocore read; credentials in their user part are secrets.
PROXY_ENV = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy", "all_proxy")
# Shapes of keys and credentials that are masked even when nobody configured them.
KEY_SHAPES = re.compile("|".join([
    r"\bsk-(?:proj-|ant-|or-v1-|ant-api\d\d-)?[A-Za-z0-9_\-]{16,}",  # OpenAI, Anthropic, OpenRouter
    r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",  # AWS access key ids
    r"\bAIza[0-9A-Za-z_\-]{30,}",  # Google API keys
    r"\b(?:gsk|xai|hf|pplx|csk|fw|nvapi|r8)[_-][A-Za-z0-9_\-]{20,}",  # Groq, xAI, HF, Perplexity, ...
]))
# JSON Web Tokens: "eyJ", then three dot-separated runs of at least 10 base64url characters after
# it. One pattern for that tried every "eyJ" of a long run with no dot and scanned the run to its
# end from each, quadratic (60 kB of "eyJ-" took a second, and held the interpreter all along):
# JWT_RUN takes a whole dotted run from its first "eyJ" at once, and _masked_jwts finds the
# tokens in it, segment by segment (see Redactor.scrub).
JWT_RUN = re.compile(r"\beyJ[A-Za-z0-9_\-]*+(?:\.[A-Za-z0-9_\-]*+)*+")
JWT_HEAD = re.compile(r"\beyJ[A-Za-z0-9_\-]{10}")
# The password of any URL's user part (a proxy's, a driver's): "scheme://user:" stays. Matched
# from each "://" (URL_USER_PART) and its scheme checked backwards (URL_SCHEME): one pattern that
# starts at the scheme tries every letter of a long run such as "a.a.a..." and rescans the run
# from each, quadratic (60 kB of it took seconds to scrub).
URL_SCHEME = re.compile(r"(?i)\b[a-z][a-z0-9+.\-]*\Z")
URL_SCHEME_CHAR = re.compile(r"(?i)[a-z0-9+.\-]")
URL_USER_PART = re.compile(r"[^\s/?#@:\[\]=\"'&]*:([^\s/?#@]+)(?=@)")
# "Bearer <token>", "api_key=<value>", "x-api-key: <value>": the value goes, the name stays. A mask
# already in the value counts as one unit, never as "[REDACTED" and a "]" left behind: a value
# matched up to the mask's "[" and masked again grew one "]" at every pass.
LABELLED = re.compile(
    r"(?i)(\bbearer\s+|\b(?:api[_-]?key|x-api-key|x-goog-api-key|access[_-]?token|auth[_-]?token|secret|password|"
    r"token|key)[\"']?\s*[:=]\s*[\"']?)((?:\[REDACTED\]|(?!\[REDACTED\])[^\s\"'&,;}\]]){8,})")


class Redactor:
    """Masks known secrets and key shapes in text; thread-safe, secrets can be added at any time."""

    def __init__(self) -> None:
        # The secrets as learnt (counted by secret_count) and every spelling of them that is masked.
        self._secrets: set[str] = set()
        # Those of the settings (keys, tokens, passwords): never forgotten by remove.
        self._pinned: set[str] = set()
        self._spelled: set[str] = set()
        self._literal: Optional[re.Pattern[str]] = None
        self._bytes: tuple[tuple[bytes, bytes], ...] = ()
        self._lock = threading.Lock()

    @property
    def secret_count(self) -> int:
        return len(self._secrets)

    def add(self, *secrets: Optional[str]) -> None:
        """Learn secrets (None, empty and short values are ignored)."""
        fresh = {s for s in secrets if isinstance(s, str) and len(s.strip()) >= MIN_SECRET_LENGTH}
        fresh = {s.strip() for s in fresh} | fresh
        with self._lock:
            if fresh <= self._secrets:
                return
            self._secrets |= fresh
            self._spelled |= {spelling for secret in fresh for spelling in spellings(secret)}
            # Longest first, so a secret that contains another is masked whole.
            ordered = sorted(self._spelled, key=len, reverse=True)
            # Any case in text (logs, stored errors, reasons): a provider's error that echoes the key
            # lower- or upper-cased is the key all the same. Answers' bytes match as written.
            self._literal = re.compile("|".join(re.escape(s) for s in ordered), re.IGNORECASE)
            self._bytes = tuple((s.encode(), MASK.encode()) for s in ordered)

    def remove(self, *secrets: Optional[str]) -> None:
        """Forget secrets learnt with :meth:`add` (a deleted webhook's): masked no more. The
        settings' own (:meth:`add_settings`) are kept whatever is asked."""
        gone = {s for s in secrets if isinstance(s, str)}
        gone |= {s.strip() for s in gone}
        with self._lock:
            gone -= self._pinned
            if not gone & self._secrets:
                return
            self._secrets -= gone
            self._spelled = {spelling for secret in self._secrets for spelling in spellings(secret)}
            ordered = sorted(self._spelled, key=len, reverse=True)
            self._literal = re.compile("|".join(re.escape(s) for s in ordered), re.IGNORECASE) if ordered else None
            self._bytes = tuple((s.encode(), MASK.encode()) for s in ordered)

    def holds_configured(self, text: str) -> bool:
        """Whether ``text`` holds a secret of the settings (:meth:`add_settings`), in any case."""
        folded = text.casefold()
        with self._lock:
            pinned = tuple(self._pinned)
        return any(len(s) >= MIN_SECRET_LENGTH and s.casefold() in folded for s in pinned)

    def add_settings(self, settings: Any, environ: Optional[Mapping[str, str]] = None) -> None:
        """Learn every secret the settings name: provider keys, tokens, AWS credentials, the
        passwords in the database URL and in providers' base URLs."""
        env = os.environ if environ is None else environ
        names = [n for n in map(key_variable, getattr(settings, "providers", ())) if n]
        # Requests sends the whole user part of a base or proxy URL as credentials (a token alone
        # as the user name, often); a database's user name is only a name.
        urls = [getattr(p, "base_url", None) for p in getattr(settings, "providers", ())]
        urls += [env.get(n) for n in PROXY_ENV]
        found = [*(env.get(n) for n in names), *(env.get(n) for n in CREDENTIAL_ENV),
                 getattr(settings, "admin_token", None), getattr(settings, "read_token", None),
                 *_spellings(url_password(getattr(settings, "database_url", None))),
                 *(part for url in urls for part in url_credentials(url))]
        self.add(*found)
        with self._lock:
            self._pinned |= {s for s in found if isinstance(s, str)} | {s.strip() for s in found if isinstance(s, str)}

    def scrub(self, text: Any) -> Any:
        """``text`` with every known secret and key shape masked (non-strings are returned as they are)."""
        if not isinstance(text, str) or not text:
            return text
        literal = self._literal
        if literal is not None:
            text = literal.sub(MASK, text)
        if "eyJ" in text:
            text = JWT_RUN.sub(_masked_jwts, text)  # first: a key shape inside a token would split it
        text = KEY_SHAPES.sub(MASK, text)
        text = LABELLED.sub(lambda m: m.group(1) + MASK if m.group(2) != MASK else m.group(0), text)
        # Last: a user part's password takes in whatever the labels left of it, mask and all, so
        # scrubbing again finds nothing more to do.
        return mask_url_passwords(text) if "://" in text else text

    def scrub_known(self, data: bytes) -> bytes:
        """``data`` with every configured secret masked (no shapes: for answers, whose records are data)."""
        for secret, mask in self._bytes:
            if secret in data:
                data = data.replace(secret, mask)
        return data

    def scrub_known_text(self, text: str) -> str:
        """``text`` with every configured secret masked (no shapes), as :meth:`scrub_known` for str."""
        literal = self._literal
        return literal.sub(MASK, text) if literal is not None and text else text

    def scrub_strings(self, value: Any) -> Any:
        """A JSON-like value with every configured secret masked in its strings (keys included),
        never in its structure or its numbers: masking the text of a document could turn a number
        (a 309-digit context length holding a run of zeros a weak secret is made of) into
        something that no longer parses, or a key into another. A value nested deeper than
        Python's recursion limit raises RecursionError: it cannot be masked, and callers leave it out."""
        if isinstance(value, str):
            return self.scrub_known_text(value)
        if isinstance(value, Mapping):
            return {self.scrub_known_text(k) if isinstance(k, str) else k: self.scrub_strings(v)
                    for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.scrub_strings(v) for v in value]
        return value

    def echoes(self, data: bytes) -> bool:
        """Whether ``data`` holds a configured secret in any of its spellings (a scan per spelling)."""
        return any(secret in data for secret, _ in self._bytes)

    def scrub_all(self, values: Iterable[Any]) -> list[Any]:
        return [self.scrub(v) for v in values]


def spellings(secret: str) -> set[str]:
    """The ways a secret turns up in text that echoes it: as it is, percent-encoded (either case of
    hex, ``+`` or ``%20`` for a space: a URL's query or a form body), and JSON-escaped (``\\/``
    too). A key of letters, digits and ``-_.~`` has one spelling, so most cost nothing more.

    Not base64: a secret inside a ``Basic`` header or a wrapping token could be found (the run of
    characters that depends on its bytes alone, at each of three offsets), but with those six
    spellings a secret, scrubbing an access line with 13 keys configured went from 18 to 48
    microseconds, for a header none of the providers use.
    """
    out = {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1],
           json.dumps(secret)[1:-1].replace("/", "\\/")}
    # Every character encoded; a path's (``/`` kept, urllib's default); JavaScript's
    # encodeURIComponent (``!'()*~`` kept); a form's (``+`` for a space).
    for encoded in (quote(secret, safe=""), quote(secret), quote(secret, safe="!'()*~"),
                    quote_plus(secret, safe="")):
        out.add(encoded)
        out.add(re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), encoded))
    return out


def mask_url_passwords(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@`` masked, in linear time:
    each "://" is an anchor, its scheme is the run of scheme characters just before it (no
    further back than the last masked password), and a password never holds a "/", so no
    character is scanned from more than one anchor."""
    out: list[str] = []
    done = 0
    at = text.find("://")
    while at != -1:
        start = at
        while start > done and URL_SCHEME_CHAR.match(text, start - 1):
            start -= 1
        user = URL_USER_PART.match(text, at + 3)
        if user is not None and URL_SCHEME.search(text, start, at):
            out += (text[done:user.start(1)], MASK)
            done = user.end(1)
            at = text.find("://", done)
        else:
            at = text.find("://", at + 1)
    return "".join(out) + text[done:] if out else text


def key_variable(config: Any) -> Optional[str]:
    """The variable a provider's key is read from: its ``api_key_env``, else its format's own
    (``MISTRAL_API_KEY``), as the client reads it (ProviderClient.api_key_env)."""
    name = getattr(config, "api_key_env", None)
    if name:
        return name
    from discovery.providers import FORMATS  # late: the providers import this module

    fmt = FORMATS.get(getattr(config, "format", None))
    return fmt.default_api_key_env if fmt is not None else None


def url_password(url: Optional[str]) -> Optional[str]:
    """The password in a URL's user part (``postgresql://app:<password>@host/db``), or None."""
    if not url or "@" not in url:
        return None
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def _masked_jwts(run: re.Match) -> str:
    """A dotted run that starts with "eyJ" with every JSON Web Token in it masked: the leftmost
    token start ("eyJ" at a word boundary, 10 or more characters left in its segment) whose next
    two segments have 10 characters or more, as one pattern for the whole token would find, in
    one pass over the run's segments."""
    segments = run.group(0).split(".")
    out: list[str] = []
    i = 0
    while i < len(segments):
        head = JWT_HEAD.search(segments[i]) if i + 2 < len(segments) else None
        if head is not None and len(segments[i + 1]) >= 10 and len(segments[i + 2]) >= 10:
            out.append(segments[i][:head.start()] + MASK)
            i += 3
        else:
            out.append(segments[i])
            i += 1
    return ".".join(out)


def url_credentials(url: Optional[str]) -> tuple[str, ...]:
    """The user name and password of a URL's user part (either may be absent), each as written
    there and as sent (percent-decoded), and the ``Basic`` credentials requests makes of them
    (``Authorization``, or ``Proxy-Authorization`` for a proxy: an endpoint may echo the header)."""
    if not url or "@" not in url:
        return ()
    try:
        parts = urlsplit(url)
    except ValueError:
        return ()
    found = tuple(spelled for p in (parts.username, parts.password) if p for spelled in _spellings(p))
    if found:
        pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
        try:
            raw = pair.encode("latin-1")  # as requests' _basic_auth_str encodes it
        except UnicodeEncodeError:
            raw = pair.encode()
        found += (base64.b64encode(raw).decode(),)
    return found


def _spellings(password: Optional[str]) -> tuple[Optional[str], ...]:
    """A URL's password as written there and as the driver sends it (percent-decoded)."""
    return (password, unquote(password)) if password else ()


def without_password(url: Optional[str]) -> Optional[str]:
    """``url`` with the password of its user part masked."""
    password = url_password(url)
    if not password or url is None:
        return url
    head, _, tail = url.rpartition("@")
    return head.replace(":" + password, ":" + MASK, 1) + "@" + tail


def without_credentials(url: Optional[str]) -> Optional[str]:
    """``url`` with its user part's credentials masked: the password, or the user name when it
    stands alone (a token, as requests sends it). For base and proxy URLs; a database's user
    name is only a name (:func:`without_password`)."""
    if url_password(url):
        return without_password(url)
    if not url or "@" not in url:
        return url
    try:
        username = urlsplit(url).username
    except ValueError:
        return url
    if not username:
        return url
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{MASK}@{rest.split('@', 1)[1]}" if sep and "@" in rest else url


REDACTOR = Redactor()


def scrub(text: Any) -> Any:
    """:meth:`Redactor.scrub` of the process's redactor."""
    return REDACTOR.scrub(text)


# Characters a terminal acts on or that reorder a line on screen (C0 but tab, newline and carriage
# return; DEL; C1; bidirectional controls): written as escapes where an outsider's text (a
# provider's error message, a receiver's answer) is stored or logged, so that ESC[2J in an error
# body clears nobody's screen when the log or the run's error is read in a terminal.
_TERMINAL_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def visible_controls(text: str) -> str:
    """``text`` with every terminal control character written as its escape (``\\x1b``, ``\\u202e``)."""
    if not _TERMINAL_CONTROLS.search(text):
        return text
    return _TERMINAL_CONTROLS.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def excerpt(text: str, size: int) -> str:
    """The first ``size`` characters of ``text``, scrubbed before it is cut (a secret cut in two
    is no longer recognized, and its first characters would be left), its control characters
    written as escapes (:func:`visible_controls`)."""
    return visible_controls(REDACTOR.scrub(text)[:size])


def scrub_data(value: Any) -> Any:
    """Strings anywhere in a JSON-like value (dicts, lists) scrubbed."""
    if isinstance(value, str):
        return REDACTOR.scrub(value)
    if isinstance(value, Mapping):
        return {k: scrub_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub_data(v) for v in value]
    return value


def _patch(record: dict) -> None:
    """loguru patcher: the message, the bound values (``request_id``, ``provider``...: a JSON line
    writes each as a field of its own) and any exception's text, scrubbed for every sink."""
    log_context.apply(record)
    record["message"] = REDACTOR.scrub(record["message"])
    extra = record.get("extra")
    if extra:
        for key, value in extra.items():
            if isinstance(value, str):
                extra[key] = REDACTOR.scrub(value)
    exc = record.get("exception")
    if exc is not None and exc.type is not None:
        brief = _brief(exc.value)
        if brief is not None:  # an exception expected where it is raised: its line, no traceback
            record["message"] += f": {REDACTOR.scrub(f'{type(brief).__name__}: {brief}')}"
        else:
            text = "".join(traceback.format_exception(exc.type, exc.value, exc.traceback))
            record["message"] += "\n" + REDACTOR.scrub(text.rstrip())
        record["exception"] = None


def _brief(value: BaseException | None) -> BaseException | None:
    """``value`` when its class asks to be logged without a traceback (``log_brief``), else None:
    another exception raised while handling one keeps its traceback (it may be a bug)."""
    return value if value is not None and getattr(value, "log_brief", False) else None


def install(logger: Any) -> None:
    """Make every log record pass through the redactor before any sink sees it."""
    logger.configure(patcher=_patch)


def redacting_sink(stream: Any) -> Callable[[Any], None]:
    """A sink writing to ``stream`` whatever survives redaction of the formatted line."""
    def write(message: Any) -> None:
        stream.write(visible_controls(REDACTOR.scrub(str(message))))
        stream.flush()
    return write
