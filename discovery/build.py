"""What build of the service is running: the package version and, where known, the source commit."""
from __future__ import annotations

import functools
import os
import platform
import subprocess
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Optional

DISTRIBUTION = "model-discovery"
SOURCE = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class BuildInfo:
    """The package's name and version, the commit and date it was built from (None when unknown)."""

    name: str
    version: str
    commit: Optional[str]
    date: Optional[str]
    python: str

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        return {"name": out["name"], "version": out["version"], "python": out["python"],
                "build": {"commit": out["commit"], "date": out["date"]}}


def package_version() -> str:
    """The installed distribution's version ("0+unknown" when run from a tree that was not installed)."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "0+unknown"


def _git(*args: str) -> Optional[str]:
    if not (SOURCE / ".git").exists():
        return None
    try:
        done = subprocess.run(["git", *args], cwd=SOURCE, capture_output=True, text=True, timeout=2, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


@functools.cache
def build_info() -> BuildInfo:
    """The running build: ``DISCOVERY_BUILD_COMMIT`` and ``DISCOVERY_BUILD_DATE`` when the build set
    them, else the source checkout's HEAD (read once), else unknown."""
    commit = os.environ.get("DISCOVERY_BUILD_COMMIT") or _git("rev-parse", "HEAD")
    date = os.environ.get("DISCOVERY_BUILD_DATE") or (_git("show", "-s", "--format=%cI", "HEAD") if commit else None)
    return BuildInfo(DISTRIBUTION, package_version(), commit, date, platform.python_version())


def metric_labels() -> dict[str, str]:
    """What the build-info metric labels: version, the source commit ("" when unknown; GET /version
    gives it too) and Python."""
    return {"version": package_version(), "commit": build_info().commit or "",
            "python_version": platform.python_version(), "python_implementation": platform.python_implementation()}
