"""The settings a service would run with, as a document with every secret redacted
(``discovery config check``): tables like the settings file's, rendered as TOML."""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, fields
from typing import Any, Optional

from discovery.redaction import MASK, key_variable, without_credentials, without_password
from discovery.settings import Settings
from discovery.settings_reader import BEDROCK_KEYS, ENV_ONLY_SERVICE_KEYS, NOT_SERVICE_KEYS


def effective(settings: Settings, environ: Optional[Mapping[str, str]] = None) -> dict[str, Any]:
    """``{"service", "bedrock", "benchmarks", "providers"}``: every key with its effective value.

    Tokens show as the mask when set; a provider's key shows only whether its variable is set.
    """
    import os

    env = os.environ if environ is None else environ
    service: dict[str, Any] = {}
    for f in fields(Settings):
        if f.name in NOT_SERVICE_KEYS:
            continue
        value = getattr(settings, f.name)
        if f.name == "database_url":
            value = without_password(value)  # postgresql://app:[REDACTED]@host/db
        service[f.name] = (MASK if value else None) if f.name in ENV_ONLY_SERVICE_KEYS else value
    benchmarks = asdict(settings.benchmarks)
    targets = benchmarks.pop("targets")
    benchmarks["providers"] = {t.pop("name"): t for t in targets}
    providers = {}
    for p in settings.providers:
        table = asdict(p)
        del table["name"]
        table["base_url"] = without_credentials(p.base_url)  # a password (or a token) in the URL's user part
        # The variable the client reads: the provider's api_key_env, else its format's own.
        variable = key_variable(p)
        table["api_key"] = (f"{MASK} (from {variable})" if variable and env.get(variable) else
                            f"not set ({variable} {'is empty' if variable in env else 'is not set'})" if variable
                            else None)
        providers[p.name] = table
    bedrock = {key: value for key, value in asdict(settings.bedrock).items() if key in BEDROCK_KEYS}
    return {"service": service, "bedrock": bedrock, "benchmarks": benchmarks, "providers": providers}


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_value(v)}" for k, v in value.items() if v is not None) + "}"
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a TOML basic string


# Shown as comments: they come only from the environment, and a file holding them is refused, so
# the printed settings stay a file `config check` accepts again.
ENVIRONMENT_ONLY = ("api_key", "admin_token", "read_token")


def to_toml(document: Mapping[str, Any]) -> str:
    """The document as TOML; unset (None) values as comments, since TOML has no null, and the
    secrets (masked) as comments too."""
    lines: list[str] = []
    configured = set(document["providers"]) | {"bedrock"}

    def table(name: str, values: Mapping[str, Any]) -> None:
        if name.startswith("benchmarks.providers.") and name.split(".", 2)[2] not in configured:
            # A provider an API key would turn on, its key not set: printed as comments, since the
            # providers below are tables, and a file with tables takes no provider from a key.
            lines.append(f"# [{name}] waits for its provider, which is not configured (its API key is not set)")
            lines.extend(f"# {key} = {_value(value)}" for key, value in values.items() if value is not None)
            lines.append("")
            return
        lines.append(f"[{name}]")
        nested = []
        for key, value in values.items():
            if isinstance(value, Mapping) and value and all(isinstance(v, Mapping) for v in value.values()):
                nested.append((key, value))
            elif value is None:
                lines.append(f"# {key} = (unset)")
            elif key in ENVIRONMENT_ONLY:
                lines.append(f"# {key} = {_value(value)} (from the environment only)")
            else:
                lines.append(f"{key} = {_value(value)}")
        lines.append("")
        for key, sub in nested:
            for sub_name, sub_values in sub.items():
                table(f"{name}.{key}.{sub_name}", sub_values)

    table("service", document["service"])
    table("bedrock", document["bedrock"])
    table("benchmarks", document["benchmarks"])
    for name, values in document["providers"].items():
        table(f"providers.{name}", values)
    return "\n".join(lines)


def settings_warnings(settings: Settings, environ: Optional[Mapping[str, str]] = None) -> list[str]:
    """What valid settings will not do as an operator may think, one line each (``config check``
    prints them, ``serve`` logs them at its start): a provider whose key variable is not set, and
    settings naming providers but no public catalog, whose records then have no prices,
    capabilities or kinds but what each provider says itself."""
    from discovery.providers import FORMATS

    env = os.environ if environ is None else environ
    out = []
    enabled = [p for p in settings.providers if p.enabled]
    for p in enabled:
        fmt = FORMATS.get(p.format)
        variable = key_variable(p)
        if fmt is None or not variable or env.get(variable):
            continue
        said = "is empty" if variable in env else "is not set"
        if fmt.requires_key:
            out.append(f"provider {p.name}: {variable} {said}; it will be misconfigured (no API key) until it is")
        elif p.api_key_env:  # a key asked for by name where the format can go without one
            out.append(f"provider {p.name}: {variable} {said}; it is called without a key until it is")
    live = enabled or settings.bedrock.enabled
    if live and not any(getattr(FORMATS.get(p.format), "is_catalog", False) for p in enabled):
        out.append("no public catalog is configured (a [providers.modelsdev] or [providers.litellm] table): "
                   "models get no prices, capabilities or kinds but what their own provider says "
                   "(discovery.example.toml configures both)")
    return out
