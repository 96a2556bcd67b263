"""From what each source reports to the one published catalog.

Live sources (a provider's own model list) own the models they list. Catalog sources
(models.dev, LiteLLM) fill what the live list leaves unknown and contribute catalog-only
models, marked ``live=False``. This is a pure function of its inputs so the catalog actor can
recompute it after any source changes and diff the result.
"""
from __future__ import annotations

from typing import Iterable, Mapping

from discovery.model import Model


def merge_sources(
    live: Mapping[str, Iterable[Model]],
    catalogs: Mapping[str, Iterable[Model]],
    *,
    include_catalog_only: bool = True,
) -> dict[str, Model]:
    """The effective catalog, keyed by model id.

    ``live`` and ``catalogs`` map a source name to that source's last good models. Catalog
    order is precedence order (first wins). A live model wins over any catalog entry with the
    same id; the first live source listing an id wins over later ones.
    """
    out: dict[str, Model] = {}
    for models in live.values():
        for m in models:
            out.setdefault(m.id, m)
    if include_catalog_only:
        for models in catalogs.values():
            for m in models:
                out.setdefault(m.id, m)
    return out
