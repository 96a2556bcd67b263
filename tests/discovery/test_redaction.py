"""The redactor masks each secret once: scrubbing a text again changes nothing.

Every layer scrubs what it handles (a run's error, the status reason made from it, the log line
and its sink), so one text is often scrubbed several times over.
"""
import itertools
import random
import time

from discovery.redaction import MASK, Redactor

KEY = "sk-proj-ABCDEFGHIJKLMNOPQRSTUVWX1234"
TOKEN = "admin-token-0123456789"


def redactor() -> Redactor:
    r = Redactor()
    r.add(KEY, TOKEN)
    return r


def test_a_provider_echoing_its_key_is_masked_once_however_often_it_is_scrubbed():
    r = redactor()
    text = f"Incorrect API key provided: {KEY}. key={KEY} Bearer {KEY} api_key: '{TOKEN}' token=\"{KEY}\""
    once = r.scrub(text)
    assert once == ("Incorrect API key provided: [REDACTED]. key=[REDACTED] Bearer [REDACTED] "
                    "api_key: '[REDACTED]' token=\"[REDACTED]\"")
    assert r.scrub(r.scrub(r.scrub(once))) == once


def test_labelled_values_nobody_configured_are_masked_and_stay_masked():
    r = Redactor()
    once = r.scrub("x-api-key: abcdefgh12345678 password=hunter2hunter2 Bearer eyJhbGciOi.x")
    assert once == f"x-api-key: {MASK} password={MASK} Bearer {MASK}"
    assert r.scrub(once) == once


def test_scrubbing_is_idempotent_on_generated_texts():
    r = redactor()
    pieces = [KEY, TOKEN, "key=", "Bearer ", "api_key: ", "token=\"", "'", "\"", "]", "[", " ", ",", "&",
              "secret=", "AKIAABCDEFGHIJKLMNOP", "plain words", MASK, "password: "]
    rng = random.Random(20261202)
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 12))) for _ in range(3000)]
    texts += ["".join(p) for p in itertools.product(["key=", "Bearer ", ""], [KEY, MASK, TOKEN], ["]", "", " x"])]
    for text in texts:
        once = r.scrub(text)
        assert r.scrub(once) == once, text
        assert KEY not in once and TOKEN not in once, text


def test_a_secret_inside_a_labelled_value_leaves_one_mask_not_a_mask_and_a_bracket():
    r = Redactor()
    r.add("abcdefgh12345678")
    assert r.scrub("key=x-abcdefgh12345678") == "key=x-[REDACTED]"
    assert r.scrub("key=abcdefgh12345678tail") == "key=[REDACTED]tail"
    assert r.scrub("key=[REDACTED]abcdefghij") == "key=[REDACTED]"
    rng = random.Random(7)
    pieces = ["abcdefgh12345678", "key=", "Bearer ", "token=\"", "x-", "-y", "12", " ", "&", MASK]
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 10)))
        once = r.scrub(text)
        assert "[REDACTED]]" not in once and r.scrub(once) == once, (text, once)


def test_a_secret_echoed_encoded_is_masked_in_every_spelling():
    import json
    import re
    from urllib.parse import quote, quote_plus, urlencode

    secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY pass@word"
    r = Redactor()
    r.add(secret)
    echoes = {
        "a URL's query": "GET https://example.test/v1/models?" + urlencode({"key": secret}),
        "percent-encoded, lower-case hex": "redirected to /login?next=" + re.sub(
            "%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(secret, safe="")),
        "a form body": "body was token_value=" + quote_plus(secret),
        "a path, '/' kept": "Location: /v1/keys/" + quote(secret),
        "JavaScript's encodeURIComponent": "next=" + quote(secret + "!(x)", safe="!'()*~"),
        "JSON with escaped slashes": json.dumps({"got": secret}).replace("/", "\\/"),
    }
    for what, text in echoes.items():
        once = r.scrub(text)
        assert MASK in once, what
        # Nothing of the secret's own run of characters is left in any spelling.
        assert "EXAMPLEKEY" not in once, (what, once)
        assert r.scrub(once) == once, what
        assert MASK.encode() in r.scrub_known(text.encode()), what
    # Text that merely shares the secret's shape is left alone.
    assert r.scrub("wJalrXUtnFEMI and EXAMPLEKEY apart") == "wJalrXUtnFEMI and EXAMPLEKEY apart"


def test_a_password_in_any_urls_user_part_is_masked_unconfigured():
    r = Redactor()
    text = "ProxyError: cannot reach http://alice:hunter2-proxy@proxy.internal:3128 for https://api.test/v1"
    once = r.scrub(text)
    assert once == f"ProxyError: cannot reach http://alice:{MASK}@proxy.internal:3128 for https://api.test/v1"
    assert r.scrub(once) == once
    assert r.scrub("see https://api.test:443/v1/a@b and mailto:x@y") == "see https://api.test:443/v1/a@b and mailto:x@y"


def test_proxy_credentials_from_the_environment_are_learnt():
    from discovery.settings import Settings

    r = Redactor()
    r.add_settings(Settings(providers=()), environ={"HTTPS_PROXY": "http://proxy-user-42:s3cret%2Fpass-99@proxy:8080",
                                                    "no_proxy": "localhost"})
    assert r.scrub("auth s3cret/pass-99 as proxy-user-42") == f"auth {MASK} as {MASK}"


def test_a_url_password_next_to_labels_and_masks_is_masked_once():
    r = redactor()
    texts = ["https://u:password=?q=1?q=1admin-token-0123456789]host@tok",
             f"http://:key={KEY}]@{MASK}key=", 'https://u"password=:][%40\'@http://',
             "http://password=%40:&@password=@%40", f'{TOKEN}x:http://key=":"@{KEY}http://tok']
    for text in texts:
        once = r.scrub(text)
        assert r.scrub(once) == once, (text, once)
        assert KEY not in once and TOKEN not in once, text


def test_a_long_run_of_scheme_characters_before_a_url_scrubs_in_linear_time():
    # Every "a" of "a.a.a..." could start a scheme: a pattern starting there rescanned the run
    # from each (60 kB took about 15 s). The bound is generous; linear takes milliseconds.
    r = Redactor()
    for text in ("a." * 30_000 + "://", "a." * 30_000 + "://u:" + "p." * 30_000, "a://" * 15_000):
        started = time.monotonic()
        r.scrub(text)
        assert time.monotonic() - started < 2, text[:20]
    assert r.scrub("a." * 30_000 + " postgresql://app:secret@host/db") == "a." * 30_000 + f" postgresql://app:{MASK}@host/db"
    assert r.scrub("postgresql://app:secret@host/db") == f"postgresql://app:{MASK}@host/db"


def test_a_long_run_of_token_starts_scrubs_in_linear_time_and_tokens_are_still_masked():
    # Each "eyJ" of "eyJ-eyJ-..." could start a JSON Web Token, and a pattern for the whole token
    # scanned the run to its end from each: 60 kB took about a second, 240 kB sixteen, holding
    # the interpreter all along. Linear takes milliseconds; the bound is generous.
    r = Redactor()
    for text in ("eyJ-" * 60_000, "eyJ." * 60_000, ("eyJ" + "a" * 20 + ".") * 10_000):
        started = time.monotonic()
        r.scrub(text)
        assert time.monotonic() - started < 2, text[:20]
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
    assert r.scrub(f"Bearer {token}.tail") == f"Bearer {MASK}.tail"
    assert r.scrub(f"x-{token} and eyJshort.abcdefghijkl.abcdefghijkl") == f"x-{MASK} and eyJshort.abcdefghijkl.abcdefghijkl"
    # The first start that makes a whole token, as before: here the second, after a short one.
    assert r.scrub(f"eyJaaaaaaaaaaaa.b.{token}") == f"eyJaaaaaaaaaaaa.b.{MASK}"
    # A key shape inside a token does not split it: the token is masked whole.
    assert r.scrub("eyJhbGciOiJIUzI1NiJ9.x-sk-abcdefghijklmnopqrstuvwx.abcdefghijkl") == MASK
