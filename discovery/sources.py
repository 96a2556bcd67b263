"""The names of a Bedrock region as a source of the catalog (``bedrock@<region>``), apart from
:mod:`discovery.bedrock`, so that the settings can read them without importing boto3's side (which
imports the providers, which import the settings)."""
from __future__ import annotations

import re
from collections.abc import Collection

BEDROCK_PROVIDER = "bedrock"
BEDROCK_SOURCE_PREFIX = "bedrock@"
AWS_REGION_NAME = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$")


def source_name(region: str) -> str:
    """The source name of one region's snapshots, ``bedrock@<region>``."""
    return f"{BEDROCK_SOURCE_PREFIX}{region}"


def region_of(source: str) -> str | None:
    """The region of a ``bedrock@<region>`` source name; None for any other source."""
    return source[len(BEDROCK_SOURCE_PREFIX):] if source.startswith(BEDROCK_SOURCE_PREFIX) else None


def wanted_source(wanted: Collection[str], source: str | None) -> bool:
    """Whether an event of ``source`` is among the providers ``wanted`` names: its own name, or a
    region's (``bedrock@<region>``) when Bedrock is wanted, so that ``provider=bedrock`` follows
    Bedrock's regions (their runs and their health) as well as its models."""
    if source in wanted:
        return True
    return source is not None and BEDROCK_PROVIDER in wanted and source.startswith(BEDROCK_SOURCE_PREFIX)
