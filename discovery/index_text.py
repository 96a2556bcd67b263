"""The index's text searches: an id glob as one regex over the lines of the joined ids (its time
bounded), and each index version's joined search text with the bitsets of its latest needles."""
from __future__ import annotations

import fnmatch
import re
from array import array
from functools import lru_cache
from typing import Optional

from discovery.entry import CatalogEntry

# An id glob's scan: ids per slice, and the time all slices may take before the query is refused.
GLOB_SLICE = 128
GLOB_SECONDS = 1.0


class CostlyGlob(ValueError):
    """An id glob whose scan would take longer than GLOB_SECONDS."""


@lru_cache(maxsize=256)
def glob_line_pattern(glob: str) -> re.Pattern:
    """A multi-line regex matching whole lines that match the shell-style ``glob`` (case-sensitive).

    Its time no longer multiplies with each star: a ``*`` written as a plain
    ``[^\\n]*`` each made the regex try every way of splitting a line between them, so a handful
    of stars (``**********a``) ran for seconds on a few hundred ids. The text between two stars
    has a fixed length, and if a line matches, it matches with that text at its first place after
    the star: each such part is found there and kept (an atomic group), never tried again further
    on. The last part, tied to the line's end, is looked at in one place only: the line's last
    characters. What remains is a part between stars looked for at each place of a line (ids are
    at most 256 characters), which :meth:`CatalogIndex.glob_bits` bounds in time."""
    parts: list[list[str]] = [[]]  # the fixed-length regexes between the stars
    i, n = 0, len(glob)
    while i < n:
        c = glob[i]
        i += 1
        if c == "*":
            parts.append([])
        elif c == "?":
            parts[-1].append("[^\n]")
        elif c == "[":
            j = i
            if j < n and glob[j] == "!":
                j += 1
            if j < n and glob[j] == "]":
                j += 1
            while j < n and glob[j] != "]":
                j += 1
            if j >= n:
                parts[-1].append("\\[")
                continue
            parts[-1].append(_bracket("[" + glob[i:j] + "]"))
            i = j + 1
        else:
            parts[-1].append(re.escape(c))
    if len(parts) == 1:
        return re.compile(f"^{''.join(parts[0])}$", re.M)
    first, *middle = ("".join(p) for p in parts[:-1])
    found = "".join(f"(?>[^\n]*?{m})" for m in middle if m)
    if not parts[-1]:
        return re.compile(f"^{first}{found}[^\n]*+$", re.M)
    # The last part is the line's last k characters: at least k left after the middle parts, the
    # rest of the line taken at once (possessive), and those k looked at once (a lookbehind).
    return re.compile(f"^{first}{found}(?=[^\n]{{{len(parts[-1])}}})[^\n]*+(?<={''.join(parts[-1])})$", re.M)


@lru_cache(maxsize=256)
def _bracket(token: str) -> str:
    """The regex of one bracket expression, as fnmatch reads it (its ranges, an empty range,
    set-operation characters), kept within one line of the joined ids: a negated set never
    matches the line break."""
    found = re.fullmatch(r"\(\?s:(.*)\)\\[Zz]", fnmatch.translate(token), re.S)
    if found is None:  # a form of fnmatch's output this code does not know: the token as text
        return re.escape(token)
    regex = found.group(1)
    if regex == ".":  # a negated empty set: any character
        return "[^\n]"
    if regex.startswith("[^"):
        rest = regex[2:]
        return "[^\n" + ("\\]" + rest[1:] if rest.startswith("]") else rest)
    return regex


def glob_prefix(glob: str) -> str:
    """The literal text before the first wildcard of a glob."""
    cut = min((i for i in (glob.find("*"), glob.find("?"), glob.find("[")) if i >= 0), default=len(glob))
    return glob[:cut]


class SearchText:
    """One index version's joined search strings (built on first use), and the bitsets of the
    needles and globs most recently asked of them (``found``: a page of a text query is asked for
    again and again, and finding 6.7k matches of a needle in 100k lines takes 11-15 ms)."""

    __slots__ = ("ids", "id_starts", "text", "text_starts", "order", "found")

    def __init__(self, entries: list[Optional[CatalogEntry]], order: list[int]):
        self.found: dict[tuple[str, str], int] = {}
        ids = [entries[p].id.replace("\n", "\x00") for p in order]  # type: ignore[union-attr]
        self.order = array("q", order)
        self.ids = "\n".join(ids) + "\n"
        self.id_starts = line_starts(ids)
        lines = [f"{entries[p].id}\t{entries[p].name or ''}".lower().replace("\n", " ")  # type: ignore[union-attr]
                 for p in order]
        self.text = "\n".join(lines) + "\n"
        self.text_starts = line_starts(lines)

    def recall(self, key: tuple[str, str]) -> Optional[int]:
        """What ``key`` found, if kept. It moves to the newest end, so the trim in :meth:`remember`
        drops the least recently asked first: a needle asked all the time stays."""
        found = self.found
        bits = found.pop(key, None)  # another list thread may have just trimmed it: then not kept
        if bits is not None:
            found[key] = bits
        return bits

    def remember(self, key: tuple[str, str], bits: int) -> int:
        """Keep ``bits`` as what ``key`` found (the least recently asked half goes past
        TEXT_MEMO); returns them."""
        found = self.found
        if len(found) >= TEXT_MEMO:
            for old in list(found)[:TEXT_MEMO // 2]:
                found.pop(old, None)  # another list thread may be trimming too
        found[key] = bits
        return bits


# Needles and globs whose bitsets each version's search text keeps (at 100k models a bitset is 12 KB).
TEXT_MEMO = 64


def line_starts(lines: list[str]) -> array:
    """Where each line starts in the joined text (and where the text ends), as a compact array."""
    starts, at = array("q"), 0
    for line in lines:
        starts.append(at)
        at += len(line) + 1
    starts.append(at)
    return starts
