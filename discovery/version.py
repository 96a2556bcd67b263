"""The service's version, as installed (setup.cfg), for ``--version`` and the build-info metric."""
from __future__ import annotations

import platform
from importlib import metadata

DISTRIBUTION = "model-discovery"


def version() -> str:
    """The installed distribution's version; ``0+unknown`` when run from a bare checkout."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "0+unknown"


def build_info() -> dict[str, str]:
    """What the build-info metric labels: version, the source commit ("" when unknown; GET /version
    gives it too) and Python."""
    from discovery.build import build_info as build

    return {"version": version(), "commit": build().commit or "", "python_version": platform.python_version(),
            "python_implementation": platform.python_implementation()}
