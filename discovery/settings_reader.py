"""Reading the settings: the TOML file's tables and the environment's ``DISCOVERY_*`` overrides
checked against each key's type and bounds (an error names the key or the variable), the
providers chosen by their API keys when no table names them, Bedrock's and the benchmarks'
tables. The settings themselves are :mod:`discovery.settings`."""
from __future__ import annotations

import ipaddress
import json
import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlsplit

from discovery.redaction import without_credentials, without_password
from discovery.settings import (
    AWS_CREDENTIAL_ENV,
    BedrockSettings,
    BenchmarkSettings,
    BenchmarkTarget,
    ProviderConfig,
    Settings,
    SettingsError,
    provider_env_prefix,
)
from discovery.sources import AWS_REGION_NAME

# Fields of Settings that are not [service] keys: tables of their own, or found by load_settings.
NOT_SERVICE_KEYS = ("providers", "bedrock", "benchmarks", "providers_without_key")
SERVICE_KEYS = {f.name: f.type for f in fields(Settings) if f.name not in NOT_SERVICE_KEYS}
PROVIDER_KEYS = {f.name: f.type for f in fields(ProviderConfig) if f.name not in ("name", "options")}
LOG_FORMATS = ("text", "json")
# loguru's levels (any case; WARN is WARNING), as web.logs reads them.
LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "WARN", "ERROR", "CRITICAL")
# Keys that must never be configured from the file: keys belong in the environment.
FORBIDDEN_KEYS = {"api_key", "token", "secret", "password"}
# Words that make any other key (a format option, at any depth) a secret's: client_secret,
# session_token, db_password, my_api_key, x-api-key, private_key were taken as options and printed.
SECRET_WORDS = {"secret", "secrets", "password", "passwd", "passphrase", "token", "apikey", "credential",
                "credentials", "authorization", "cookie"}
SECRET_PAIRS = {("api", "key"), ("access", "key"), ("private", "key"), ("secret", "key"), ("signing", "key")}


def secret_like(key: str) -> bool:
    """Whether a settings key names a secret: one of FORBIDDEN_KEYS, or a word of SECRET_WORDS or
    a pair of SECRET_PAIRS among its words (split at ``_``, ``-``, ``.`` and case changes)."""
    words = [w for w in re.split(r"[_\-.\s]+|(?<=[a-z])(?=[A-Z])", key) if w]
    lower = [w.lower() for w in words]
    return (key.lower() in FORBIDDEN_KEYS or any(w in SECRET_WORDS for w in lower)
            or any(pair in SECRET_PAIRS for pair in zip(lower, lower[1:])))


def _refuse_secret_options(options: Mapping[str, Any], where: str) -> None:
    """A format option that names a secret is refused, saying where secrets come from (before
    :func:`check_options` would refuse it as unknown). The tables an option may hold map names to
    names (``provider_names``, ``deployments``): their keys are model and provider ids, not looked at."""
    for key in options:
        if secret_like(str(key)):
            raise SettingsError(f"{where}.{key}: secrets are not read from the settings file; "
                                "set api_key_env to the name of an environment variable instead")


# Service keys read only from the environment (DISCOVERY_<KEY>), never from the file.
ENV_ONLY_SERVICE_KEYS = {"admin_token", "read_token"}
MIN_TOKEN_LENGTH = 16


def token_problem(token: Any) -> Optional[str]:
    """Why an admin or read token cannot be used (None: it can, or none is set). A short one is
    guessable, and under 8 characters the redaction layer would not mask it where it is echoed."""
    if not token or len(str(token).strip()) >= MIN_TOKEN_LENGTH:
        return None
    return (f"a token must be at least {MIN_TOKEN_LENGTH} characters long (this one has {len(str(token).strip())}); "
            "make one with `python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`")


def _coerce(value: Any, type_name: str, where: str) -> Any:
    """Convert a TOML or environment value to the declared field type."""
    t = str(type_name)
    try:
        if t in ("bool",):
            if isinstance(value, str):
                low = value.strip().lower()
                if low in ("1", "true", "yes", "on"):
                    return True
                if low in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            if not isinstance(value, bool):  # allow_empty = 3 was true
                raise TypeError(value)
            return value
        if t == "int":
            return _int(value)
        if t == "float":
            return _float(value)
        if t == "Optional[int]":
            return None if value is None else _int(value)
        if t == "Optional[float]":
            return None if value is None else _float(value)
        if t == "Optional[bool]":
            return None if value is None else _coerce(value, "bool", where)
        if t in ("str", "Optional[str]"):
            if value is not None and not isinstance(value, str):
                raise TypeError(value)
            return value
        if t.startswith("tuple[str"):
            items = value.split(",") if isinstance(value, str) else list(value)
            if not all(isinstance(v, str) for v in items):
                raise TypeError(value)
            return tuple(v.strip() for v in items if v.strip())
        if t.startswith("tuple[int"):
            items = value.split(",") if isinstance(value, str) else list(value)
            numbers = tuple(int(str(v).strip()) for v in items if str(v).strip())
            if any(n < 0 or n > 36500 for n in numbers):
                raise ValueError(value)
            return numbers
    except (TypeError, ValueError, OverflowError):
        if t.startswith("tuple[int"):  # the only such key: retiring_horizons, in days
            raise SettingsError(f"{where}: expected a list of whole numbers of days from 0 to 36500, "
                                f"got {value!r}") from None
        raise SettingsError(f"{where}: expected {t}, got {value!r}") from None
    return value


def _network(text: str) -> Optional[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """``text`` as an address or network (host bits allowed), or None when it is neither."""
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _int(value: Any) -> int:
    """A whole number: not a boolean, and not a float with a fraction (1.5 is not silently 1)."""
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(value)
    return int(value)


def _float(value: Any) -> float:
    """A finite number, not a boolean (nan and inf would make timers and timeouts misbehave)."""
    if isinstance(value, bool):
        raise ValueError(value)
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(value)
    return number


# Bounds of a provider's numeric settings: (key, lowest, highest, whether the lowest is allowed).
PROVIDER_BOUNDS = (
    ("refresh_interval", 0.0, None, False), ("jitter", 0.0, 1.0, True), ("timeout", 0.0, None, False),
    ("fail_max", 1, None, True), ("reset_timeout", 0.0, None, False), ("max_removal_ratio", 0.0, 1.0, True),
    ("retries", 0, None, True), ("retry_backoff", 0.0, None, True), ("max_retry_after", 0.0, None, True),
    ("health_check_interval", 0.0, None, True), ("failure_threshold", 1, None, True),
    ("recovery_threshold", 1, None, True), ("health_window", 0.0, None, False), ("rate_limit_rps", 0.0, None, False),
    ("rate_limit_burst", 1, None, True), ("manual_refresh_per_minute", 0, None, True), ("max_body_mb", 0.0, None, False),
    ("refresh_timeout", 0.0, None, False),
)


# Bounds of the service's numeric settings, as PROVIDER_BOUNDS. A port past 65535 reached the socket
# as a traceback; a zero ask timeout or heartbeat would make every wait fail or spin.
SERVICE_BOUNDS = (
    ("port", 0, 65535, True), ("batch_max_size", 1, None, True), ("batch_max_delay", 0.0, 3600.0, True),
    ("model_cache_size", 0, None, True), ("model_cache_mb", 0.0, None, True), ("model_cache_ttl", 0.0, None, True),
    ("restart_backoff", 0.0, None, True), ("restart_backoff_max", 0.0, None, True),
    ("max_restarts_per_minute", 0, None, True), ("ask_timeout", 0.0, None, False),
    ("switch_interval", 0.0, 1.0, True), ("malloc_arenas", 0, None, True), ("gc_full_threshold", 0, None, True),
    ("webhook_timeout", 0.0, None, False), ("webhook_max_attempts", 1, None, True),
    ("webhook_backoff", 0.0, None, True), ("webhook_backoff_max", 0.0, None, True), ("webhook_workers", 1, None, True),
    ("sse_heartbeat", 0.0, None, False), ("sse_max_streams", 1, None, True), ("http_threads", 1, None, True),
    ("list_threads", 0, None, True), ("max_request_body", 1024, None, True),
    ("event_retention_age", 0.0, None, True), ("event_retention_count", 0, None, True),
    ("event_retention_interval", 0.0, None, True), ("missing_grace_refreshes", 0, None, True),
    ("missing_grace_seconds", 0.0, None, True), ("reconciliation_tolerance", 0.0, None, True),
    ("lifecycle_check_interval", 0.0, None, True), ("leader_takeover_seconds", 0.0, None, False),
    ("leader_check_interval", 0.0, None, False),
)
# The tables a settings file may have; anything else at its top level is a mistake.
SECTIONS = ("service", "providers", "bedrock", "benchmarks")


def _out_of_bounds(value: Any, low: Any, high: Any, low_ok: bool) -> Optional[str]:
    """What ``value`` must be, when it is outside [low, high] (low excluded unless ``low_ok``)."""
    if value < low or (value == low and not low_ok) or (high is not None and value > high):
        bound = f"at least {low}" if low_ok else f"more than {low}"
        return bound + (f" and at most {high}" if high is not None else "")
    return None


# A provider's name begins every model id (``<provider>/<model>``), its routes and its metrics.
PROVIDER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# The stores the service runs on: SQLite and PostgreSQL, in each spelling peewee's db_url reads.
DATABASE_SCHEMES = tuple(f"{base}{pool}" for base in ("sqlite", "postgres", "postgresql", "postgresext",
                                                      "postgresqlext") for pool in ("", "+pool"))


def check_provider_bounds(config: "ProviderConfig", named: Callable[[str], str]) -> None:
    """SettingsError naming (``named(key)``) the first setting of a provider that cannot work: a
    name that is not one path segment, an unknown format, a base URL that is not http(s), or a
    number outside its bounds (a zero refresh interval would refresh without pause; a negative
    timeout fails every request)."""
    from discovery.providers import FORMATS

    if not PROVIDER_NAME.fullmatch(config.name):
        raise SettingsError(f"providers.{config.name}: a provider's name is 1 to 64 letters, digits, '.', '_' "
                            "or '-', starting with a letter or digit (it begins every model id: <provider>/<model>)")
    from discovery.timestamps import OPAQUE_FIELDS

    if config.name in OPAQUE_FIELDS:
        raise SettingsError(f"providers.{config.name}: a provider may not be named {config.name!r}, a field of "
                            f"the API's answers whose times are the provider's own (reserved: "
                            f"{', '.join(sorted(OPAQUE_FIELDS))}); name it otherwise")
    if config.format not in FORMATS:
        raise SettingsError(f"{named('format')}: unknown format {config.format!r}; known: {', '.join(sorted(FORMATS))}")
    if config.base_url is not None:
        parts = urlsplit(config.base_url)
        try:
            parts.port  # noqa: B018 - a port past 65535 raises here
        except ValueError:
            parts = urlsplit("")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SettingsError(f"{named('base_url')}: must be an http:// or https:// URL with a host, "
                                f"got {without_credentials(config.base_url)!r}")
    for key, low, high, low_ok in PROVIDER_BOUNDS:
        value = getattr(config, key)
        bound = _out_of_bounds(value, low, high, low_ok)
        if bound is not None:
            raise SettingsError(f"{named(key)}: must be {bound}, got {value!r}")


def _format_options(format_name: str) -> Optional[Mapping[str, type]]:
    """The format's own settings keys and their types; None for a format that does not exist
    (refused elsewhere, with the known formats named)."""
    from discovery.providers import FORMATS  # late: providers import settings

    cls = FORMATS.get(format_name)
    return None if cls is None else cls.options


OPTION_TYPES = {int: "a whole number, 1 or more", str: "a string", list: "a list of strings",
                dict: "a table of strings"}


def _option_value(value: Any, kind: type, where: str) -> Any:
    """One format option checked against its type (from the file, or a variable's text)."""
    try:
        if kind is int:
            number = _int(value)
            if number < 1:
                raise ValueError(value)
            return number
        if kind is str and isinstance(value, str):
            return value
        if kind is list:
            items = value.split(",") if isinstance(value, str) else value
            if isinstance(items, list) and all(isinstance(v, str) for v in items):
                return [v.strip() for v in items if v.strip()]
        if kind is dict:
            table = json.loads(value) if isinstance(value, str) else value
            if isinstance(table, Mapping) and all(isinstance(v, str) for v in table.values()):
                return dict(table)
    except (TypeError, ValueError, OverflowError):
        pass
    extra = " (in the environment: JSON, {\"key\": \"value\"})" if kind is dict else \
        " (in the environment: comma-separated)" if kind is list else ""
    raise SettingsError(f"{where}: expected {OPTION_TYPES[kind]}{extra}, got {value!r}")


def check_options(format_name: str, options: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A provider's format options, each known to its format and of its type; a key the format
    does not know (a typo of a common key, say) is refused, naming the keys it takes."""
    known = _format_options(format_name)
    if known is None:
        return dict(options)
    out = {}
    for key, value in options.items():
        if key not in known:
            valid = sorted(PROVIDER_KEYS) + sorted(known)
            raise SettingsError(f"{where}.{key}: unknown setting for format {format_name!r}; known: "
                                f"{', '.join(valid)}")
        out[key] = _option_value(value, known[key], f"{where}.{key}")
    return out


def _check_base_url_given(config: ProviderConfig, where: str) -> None:
    """SettingsError when the provider's format has no default endpoint (Azure) and none is set."""
    from discovery.providers import FORMATS  # late: providers import settings

    fmt = FORMATS.get(config.format)
    if fmt is not None and config.enabled and not config.base_url and not fmt.default_base_url:
        raise SettingsError(f"{where}: required for format {config.format!r}, which has no default endpoint "
                            f"(for Azure, the resource's: https://NAME.openai.azure.com)")


def _provider_from_table(name: str, table: Mapping[str, Any]) -> ProviderConfig:
    kwargs: dict[str, Any] = {"name": name}
    options = dict(table.get("options") or {})
    for key, value in table.items():
        if key == "options":
            continue
        if key in FORBIDDEN_KEYS:
            raise SettingsError(
                f"providers.{name}.{key}: secrets are not read from the settings file; "
                f"set api_key_env to the name of an environment variable instead"
            )
        if key not in PROVIDER_KEYS:
            # Unknown keys are format-specific options (e.g. api_version for Azure).
            options[key] = value
            continue
        kwargs[key] = _coerce(value, PROVIDER_KEYS[key], f"providers.{name}.{key}")
    if "format" not in kwargs:
        raise SettingsError(f"providers.{name}: 'format' is required")
    _refuse_secret_options(options, f"providers.{name}")
    kwargs["options"] = check_options(kwargs["format"], options, f"providers.{name}")
    config = ProviderConfig(**kwargs)
    check_provider_bounds(config, lambda key: f"providers.{name}.{key}")
    return config


def environment_secrets(env: Mapping[str, str]) -> list[str]:
    """The values of the environment's variables that are named like secrets (``*_API_KEY``,
    ``*_TOKEN``, ``AWS_SECRET_ACCESS_KEY``, any name ending in ``KEY``...)."""
    def named_like_a_secret(name: str) -> bool:
        return secret_like(name) or name.upper().endswith("KEY")

    return [value for name, value in env.items() if value and named_like_a_secret(name)]


def load_settings(
    path: Optional[str | Path] = None,
    environ: Optional[Mapping[str, str]] = None,
    **overrides: Any,
) -> Settings:
    """Load settings from ``path`` (or ``$DISCOVERY_CONFIG``), then apply environment overrides.

    Environment: ``DATABASE_URL``; ``DISCOVERY_<KEY>`` for service keys (``DISCOVERY_PORT``);
    ``DISCOVERY_PROVIDER_<NAME>_<KEY>`` for a provider key (``DISCOVERY_PROVIDER_OPENAI_BASE_URL``).
    Keyword overrides win over both.

    :raise SettingsError: what is wrong, with every secret the environment holds masked in it (a
        key pasted into the wrong variable or key is quoted as the value that is wrong, and the
        settings that would name it as a secret are the ones that failed to load), and key shapes.
    """
    env = os.environ if environ is None else environ
    try:
        return _load_settings(path, env, **overrides)
    except SettingsError as exc:
        from discovery.redaction import Redactor

        masker = Redactor()
        masker.add(*environment_secrets(env), overrides.get("admin_token"), overrides.get("read_token"))
        masked = masker.scrub(str(exc))
        if masked == str(exc):
            raise
        raise SettingsError(masked) from None


def _load_settings(path: Optional[str | Path], env: Mapping[str, str], **overrides: Any) -> Settings:
    path = path or env.get("DISCOVERY_CONFIG")
    data: dict[str, Any] = {}
    if path:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise SettingsError(f"settings file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"settings file {path} is not valid TOML: {exc}") from None

    for key, value in data.items():
        if key not in SECTIONS:
            hint = "; to set it, write it under [service]" if key in SERVICE_KEYS else ""
            raise SettingsError(f"{key}: not a section of the settings file (they are "
                                f"[service], [providers.<name>], [bedrock], [benchmarks]){hint}")
        if not isinstance(value, Mapping):
            raise SettingsError(f"{key}: expected a table ([{key}])")
    service = dict(data.get("service") or {})
    kwargs: dict[str, Any] = {}
    for key, value in service.items():
        if key in ENV_ONLY_SERVICE_KEYS:
            raise SettingsError(f"service.{key}: secrets are not read from the settings file; "
                                f"set DISCOVERY_{key.upper()} in the environment instead")
        if key not in SERVICE_KEYS:
            raise SettingsError(f"service.{key}: unknown setting; known: {', '.join(sorted(SERVICE_KEYS))}")
        kwargs[key] = _coerce(value, SERVICE_KEYS[key], f"service.{key}")

    providers: dict[str, ProviderConfig] = {}
    for name, table in (data.get("providers") or {}).items():
        if not isinstance(table, Mapping):
            raise SettingsError(f"providers.{name}: expected a table")
        providers[name] = _provider_from_table(name, table)

    if env.get("DATABASE_URL"):
        kwargs["database_url"] = env["DATABASE_URL"]
    for key, type_name in SERVICE_KEYS.items():
        var = f"DISCOVERY_{key.upper()}"
        if var in env:
            kwargs[key] = _coerce(env[var], type_name, var)
    for name, cfg in list(providers.items()):
        providers[name] = _with_environment(cfg, env)
        _check_base_url_given(providers[name], f"providers.{name}.base_url (or {provider_env_prefix(name)}BASE_URL)")

    kwargs["bedrock"] = load_bedrock_settings(data.get("bedrock"), env)
    kwargs["benchmarks"] = load_benchmark_settings(data.get("benchmarks"), env)
    kwargs.update(overrides)
    database = kwargs.get("database_url")
    if database is not None and str(database).partition(":")[0] not in DATABASE_SCHEMES:
        # Named after where it came from: the file, then DATABASE_URL, DISCOVERY_DATABASE_URL and
        # the caller (serve's --database) each override the one before.
        named = "database_url" if "database_url" in overrides else \
            "DISCOVERY_DATABASE_URL" if "DISCOVERY_DATABASE_URL" in env else \
            "DATABASE_URL" if env.get("DATABASE_URL") else "service.database_url"
        raise SettingsError(f"{named}: must be a sqlite:/// or postgresql:// URL, got "
                            f"{without_password(str(database))!r}")
    for key, allowed, given in (("log_format", LOG_FORMATS, kwargs.get("log_format", "text")),
                                ("log_level", LOG_LEVELS, str(kwargs.get("log_level", "INFO")).strip().upper())):
        if given not in allowed:
            var = f"DISCOVERY_{key.upper()}"
            named = key if key in overrides else var if var in env else f"service.{key}"
            raise SettingsError(f"{named}: must be one of {', '.join(allowed)}, got {kwargs[key]!r}")
    for key in ("admin_token", "read_token"):
        problem = token_problem(kwargs.get(key))
        if problem is not None:
            raise SettingsError(f"{key if key in overrides else f'DISCOVERY_{key.upper()}'}: {problem}")
    for key, low, high, low_ok in SERVICE_BOUNDS:
        bound = _out_of_bounds(kwargs[key], low, high, low_ok) if key in kwargs else None
        if bound is not None:
            var = f"DISCOVERY_{key.upper()}"
            named = var if var in env and key not in overrides else f"service.{key}"
            raise SettingsError(f"{named}: must be {bound}, got {kwargs[key]!r}")
    for proxy in kwargs.get("trusted_proxies", ()):
        if proxy != "*" and _network(proxy) is None:
            var = "DISCOVERY_TRUSTED_PROXIES"
            named = var if var in env and "trusted_proxies" not in overrides else "service.trusted_proxies"
            raise SettingsError(f"{named}: each must be an IP address, a network such as 10.0.0.0/8, or \"*\", "
                                f"got {proxy!r}")
    if kwargs.get("leader_check_interval", 1.0) > kwargs.get("leader_takeover_seconds", 5.0) / 2 \
            and "DISCOVERY_LEADER_CHECK_INTERVAL" not in env and "leader_check_interval" not in service:
        # Only the takeover bound was set: check often enough to meet it.
        kwargs["leader_check_interval"] = kwargs["leader_takeover_seconds"] / 5
    if "providers" not in kwargs:
        if providers:
            kwargs["providers"] = tuple(providers.values())
        else:
            kwargs["providers"], kwargs["providers_without_key"] = automatic_providers(env)
    if "benchmarks" not in overrides:
        check_benchmark_targets(kwargs["benchmarks"], kwargs["providers"],
                                defaults=not providers and "providers" not in overrides)
    return Settings(**kwargs)


def _with_environment(cfg: ProviderConfig, env: Mapping[str, str]) -> ProviderConfig:
    """``cfg`` with its ``DISCOVERY_PROVIDER_<NAME>_<KEY>`` overrides, checked."""
    prefix = provider_env_prefix(cfg.name)
    changes: dict[str, Any] = {key: _coerce(env[prefix + key.upper()], type_name, prefix + key.upper())
                               for key, type_name in PROVIDER_KEYS.items() if prefix + key.upper() in env}
    # The format's own options too (DISCOVERY_PROVIDER_AZURE_API_VERSION); none names a secret.
    known = _format_options(changes.get("format", cfg.format)) or {}
    options = {key: _option_value(env[prefix + key.upper()], kind, prefix + key.upper())
               for key, kind in known.items() if prefix + key.upper() in env}
    if options:
        changes["options"] = {**cfg.options, **options}
    if not changes:
        return cfg
    changed = replace(cfg, **changes)
    check_provider_bounds(changed, lambda key: prefix + key.upper() if key in changes else f"providers.{cfg.name}.{key}")
    return changed


def automatic_providers(environ: Optional[Mapping[str, str]] = None
                        ) -> tuple[tuple[ProviderConfig, ...], tuple[tuple[str, str], ...]]:
    """With no ``[providers.*]`` table: the public catalogs plus each provider whose API key is set,
    with their ``DISCOVERY_PROVIDER_<NAME>_<KEY>`` overrides (one turned off there, ``ENABLED=false``,
    is kept, disabled, so its stored models are taken out); and, as (name, variable), the
    providers left out only because their key's variable is unset (their stored models stay)."""
    from discovery.providers import FORMATS  # late: providers import settings

    env = os.environ if environ is None else environ
    chosen, without_key = [], []
    for fmt in FORMATS.values():
        if not fmt.default_enabled:
            continue
        cfg = _with_environment(ProviderConfig(name=fmt.format, format=fmt.format,
                                               api_key_env=fmt.default_api_key_env), env)
        if cfg.enabled and fmt.requires_key and not cfg.api_key(env):
            if cfg.api_key_env:
                without_key.append((cfg.name, cfg.api_key_env))
            continue
        if cfg.enabled and not cfg.base_url and not fmt.default_base_url:
            # Azure has no default endpoint: its key alone started a provider that failed every
            # refresh ("set base_url"). Left out as one without its key is, the variable named.
            without_key.append((cfg.name, provider_env_prefix(cfg.name) + "BASE_URL"))
            continue
        chosen.append(cfg)
    return tuple(chosen), tuple(without_key)


BEDROCK_KEYS = {f.name: f.type for f in fields(BedrockSettings) if f.name != "off_without_credentials"}


def _bedrock_value(key: str, value: Any, where: str) -> Any:
    if key != "regions":
        return _coerce(value, BEDROCK_KEYS[key], where)
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise SettingsError(f"{where}: expected a list of AWS region names, got {value!r}")
    regions = tuple(dict.fromkeys(str(r).strip() for r in items if str(r).strip()))
    bad = [r for r in regions if not AWS_REGION_NAME.match(r)]
    if bad:
        raise SettingsError(f"{where}: not AWS region names: {', '.join(bad)}")
    return regions


def load_bedrock_settings(table: Mapping[str, Any] | None,
                          environ: Mapping[str, str] | None = None) -> BedrockSettings:
    """The ``[bedrock]`` table with ``DISCOVERY_BEDROCK_<KEY>`` overrides (regions comma-separated).

    Without an ``enabled`` key Bedrock is on when the table exists or AWS credentials are in the
    environment, and off otherwise. Credentials are never read from the file.
    """
    env = os.environ if environ is None else environ
    if table is not None and not isinstance(table, Mapping):
        raise SettingsError("bedrock: expected a table")
    kwargs: dict[str, Any] = {}
    # Where each value came from, for its error: the table's key, or the variable that overrode it.
    named: dict[str, str] = {}
    for key, value in (table or {}).items():
        if key in FORBIDDEN_KEYS or key.startswith("aws_"):
            raise SettingsError(f"bedrock.{key}: credentials come only from the AWS credential chain "
                                "(environment, shared config, instance role), never from the settings file")
        if key not in BEDROCK_KEYS:
            raise SettingsError(f"bedrock.{key}: unknown setting; known: {', '.join(sorted(BEDROCK_KEYS))}")
        kwargs[key] = _bedrock_value(key, value, f"bedrock.{key}")
        named[key] = f"bedrock.{key}"
    for key in BEDROCK_KEYS:
        var = f"DISCOVERY_BEDROCK_{key.upper()}"
        if var in env:
            kwargs[key] = _bedrock_value(key, env[var], var)
            named[key] = var
    if "enabled" not in kwargs:
        kwargs["enabled"] = table is not None or any(env.get(v) for v in AWS_CREDENTIAL_ENV)
        kwargs["off_without_credentials"] = not kwargs["enabled"]
    if "ec2_region" not in kwargs and (env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")):
        kwargs["ec2_region"] = env.get("AWS_REGION") or env["AWS_DEFAULT_REGION"]
    for key in ("endpoint_url", "runtime_endpoint_url"):
        if kwargs.get(key) and "{region}" not in kwargs[key]:
            raise SettingsError(f"{named[key]}: must contain {{region}}, e.g. http://127.0.0.1:9090/bedrock/{{region}}")
    for key, low, high, low_ok in BEDROCK_BOUNDS:
        bound = _out_of_bounds(kwargs[key], low, high, low_ok) if key in kwargs else None
        if bound is not None:
            raise SettingsError(f"{named[key]}: must be {bound}, got {kwargs[key]!r}")
    return BedrockSettings(**kwargs)


# Bounds of Bedrock's numeric settings, as PROVIDER_BOUNDS. A jitter past 1 could make a region's
# next refresh due at once, again and again; a fail_max of 0 opened the breaker at no failure.
BEDROCK_BOUNDS = (
    ("refresh_interval", 0, None, False), ("jitter", 0, 1, True), ("unavailable_recheck_interval", 0, None, False),
    ("timeout", 0, None, False), ("refresh_timeout", 0, None, False), ("fail_max", 1, None, True),
    ("reset_timeout", 0, None, False), ("latency_alpha", 0, 1, False), ("max_removal_ratio", 0, 1, True),
    ("health_check_interval", 0, None, True),
)


BENCHMARK_KEYS = {f.name: f.type for f in fields(BenchmarkSettings) if f.name != "targets"}
TARGET_KEYS = {f.name: f.type for f in fields(BenchmarkTarget) if f.name != "name"}


def _benchmark_target(name: str, table: Any) -> BenchmarkTarget:
    where = f"benchmarks.providers.{name}"
    if not isinstance(table, Mapping):
        raise SettingsError(f"{where}: expected a table")
    kwargs: dict[str, Any] = {"name": name}
    for key, value in table.items():
        if key not in TARGET_KEYS:
            raise SettingsError(f"{where}.{key}: unknown setting; known: {', '.join(sorted(TARGET_KEYS))}")
        kwargs[key] = _coerce(value, TARGET_KEYS[key], f"{where}.{key}")
    target = BenchmarkTarget(**kwargs)
    _check_benchmark_numbers({k: v for k, v in kwargs.items() if k != "name"}, lambda key: f"{where}.{key}")
    return target


def _check_benchmark_numbers(values: Mapping[str, Any], named: Callable[[str], str]) -> None:
    """SettingsError naming (``named(key)``) the first benchmark number out of its bounds (``max_models = 0``
    skipped every model; a jitter past 1 could make the interval 0 s)."""
    for key in ("samples", "max_output_tokens", "regression_window", "max_models"):
        if values.get(key) is not None and values[key] < 1:
            raise SettingsError(f"{named(key)}: must be at least 1")
    for key in ("budget_per_run_usd", "budget_per_day_usd", "start_delay", "jitter"):
        if values.get(key) is not None and values[key] < 0:
            raise SettingsError(f"{named(key)}: must not be negative")
    if values.get("jitter") is not None and values["jitter"] > 1:
        raise SettingsError(f"{named('jitter')}: must be at most 1 (a fraction of the interval), got {values['jitter']!r}")
    for key in ("interval", "timeout", "regression_threshold"):
        if values.get(key) is not None and values[key] <= 0:
            raise SettingsError(f"{named(key)}: must be positive")


def check_benchmark_targets(benchmarks: BenchmarkSettings, providers: tuple[ProviderConfig, ...],
                            defaults: bool = False) -> None:
    """SettingsError naming a ``[benchmarks.providers.<name>]`` table of a provider that is not configured
    (a typo, never benchmarked); ``bedrock`` is Bedrock's. A provider an API key would turn on is no
    typo either: its table waits for the key (a service whose key is removed or rotated away still
    starts, without that provider; and ``config check``'s output, which lists the providers it
    found, loads again). ``defaults``: the providers came from the keys set (named in the message)."""
    from discovery.providers import FORMATS  # late: providers import settings

    # With [providers.<name>] tables no key turns a provider on: a table naming another is a typo.
    names = {p.name for p in providers} | ({fmt.format for fmt in FORMATS.values() if fmt.default_enabled}
                                           if defaults else set())
    for target in benchmarks.targets:
        if target.name != "bedrock" and target.name not in names:
            hint = ("; with no [providers.<name>] table a provider is configured when its API key is set"
                    if defaults else "")
            configured = sorted({p.name for p in providers} | {"bedrock"})
            raise SettingsError(f"benchmarks.providers.{target.name}: no provider {target.name} is configured "
                                f"(configured: {', '.join(configured)}){hint}")


def load_benchmark_settings(table: Mapping[str, Any] | None,
                            environ: Mapping[str, str] | None = None) -> BenchmarkSettings:
    """The ``[benchmarks]`` table (with ``[benchmarks.providers.<name>]`` tables) and
    ``DISCOVERY_BENCHMARKS_<KEY>`` overrides of its service-wide keys."""
    env = os.environ if environ is None else environ
    if table is not None and not isinstance(table, Mapping):
        raise SettingsError("benchmarks: expected a table")
    kwargs: dict[str, Any] = {}
    targets: list[BenchmarkTarget] = []
    for key, value in (table or {}).items():
        if key == "providers":
            if not isinstance(value, Mapping):
                raise SettingsError("benchmarks.providers: expected a table of provider tables")
            targets = [_benchmark_target(name, sub) for name, sub in value.items()]
            continue
        if key not in BENCHMARK_KEYS:
            raise SettingsError(f"benchmarks.{key}: unknown setting; known: "
                                f"{', '.join(sorted([*BENCHMARK_KEYS, 'providers']))}")
        kwargs[key] = _coerce(value, BENCHMARK_KEYS[key], f"benchmarks.{key}")
    for key, type_name in BENCHMARK_KEYS.items():
        var = f"DISCOVERY_BENCHMARKS_{key.upper()}"
        if var in env:
            kwargs[key] = _coerce(env[var], type_name, var)
    _check_benchmark_numbers(kwargs, lambda key: f"DISCOVERY_BENCHMARKS_{key.upper()}"
                             if f"DISCOVERY_BENCHMARKS_{key.upper()}" in env else f"benchmarks.{key}")
    return BenchmarkSettings(targets=tuple(targets), **kwargs)
