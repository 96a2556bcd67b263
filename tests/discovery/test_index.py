"""The bitset index answers every query exactly as a plain scan would, before and after changes."""
import random
from dataclasses import replace

import pytest

from discovery.entry import SORT_FIELDS, CatalogEntry, model_sort_keys
from discovery.index import CatalogIndex, iter_bits
from discovery.index_text import glob_line_pattern
from discovery.model import Capabilities, Lifecycle, Limits, Pricing
from discovery.providers import LiteLLMClient, ModelsDevClient
from discovery.query import ModelQuery, run_query
from discovery.settings import ProviderConfig
from discovery.simulator.sources import packaged_litellm, packaged_modelsdev


@pytest.fixture(scope="module")
def real_models():
    """Every record of the packaged models.dev snapshot and LiteLLM map (about 9k models)."""
    md = ModelsDevClient(ProviderConfig(name="modelsdev", format="modelsdev")).normalize(packaged_modelsdev())
    ll = LiteLLMClient(ProviderConfig(name="litellm", format="litellm")).normalize(packaged_litellm())
    out = {m.id: m for m in md}
    for m in ll:
        out.setdefault(m.id, m)
    return out


# The reference's verdicts, by (query, record object): records are immutable, and a record a version
# left as it was is the same object, so each check matches only what changed since the last one.
# The object is kept with its verdict, so a reused id() never passes for it.
_VERDICTS: dict[tuple[str, int], tuple[object, bool]] = {}


@pytest.fixture(scope="module", autouse=True)
def _forget_verdicts():
    yield
    _VERDICTS.clear()


def matched(query, key, m) -> bool:
    known = _VERDICTS.get((key, id(m)))
    if known is None or known[0] is not m:
        known = _VERDICTS[(key, id(m))] = (m, query.matches(m))
    return known[1]


def scan(models, query):
    """The reference answer: filter every record, then sort as the API documents."""
    key = repr(query)
    hits = sorted((m for m in models.values() if matched(query, key, m)), key=lambda m: m.id)
    name = query.sort.lstrip("-")
    desc = query.sort.startswith("-")
    if name == "id":
        ordered = hits[::-1] if desc else hits
    else:
        i = SORT_FIELDS.index(name)
        known = [m for m in hits if model_sort_keys(m)[i] is not None]
        known.sort(key=lambda m: (model_sort_keys(m)[i], m.id), reverse=desc)
        ordered = known + [m for m in hits if model_sort_keys(m)[i] is None]
    return [m.id for m in ordered[query.offset:query.offset + query.limit]], len(hits)


QUERIES = [
    {}, {"capability": "vision,tool_calling"}, {"capability": "reasoning", "provider": "openai"},
    {"provider": "openai,anthropic", "sort": "-input_price"}, {"kind": "embedding,rerank"},
    {"status": "deprecated,legacy"}, {"input_modality": "image,audio"}, {"output_modality": "image"},
    {"live": "false", "sort": "context_window"}, {"q": "gpt-4"}, {"q": "CLAUDE", "sort": "-release_date"},
    {"id": "openai/gpt-4*"}, {"id": "*mini*"}, {"id": "*"}, {"id": "**", "sort": "-id"},
    {"id": "openai/*", "offset": "3"}, {"id": "*/llama-3.?-*"}, {"id": "[ab]*/*[!0-9]"},
    {"sort": "name", "offset": "500", "limit": "50"}, {"sort": "-output_price", "offset": "3000"},
    {"sort": "max_output_tokens", "limit": "1000"}, {"sort": "-provider", "capability": "tool_calling"},
    {"provider": "no-such-provider"}, {"q": "zz-no-match-zz"}, {"sort": "-id", "offset": "20"},
    {"capability": "vision", "sort": "-context_window", "offset": "100", "limit": "30"},
    {"kind": "chat", "status": "active", "capability": "structured_output", "sort": "release_date"},
    {"min_context_window": "100000"}, {"max_input_price": "1", "min_context_window": "32000", "sort": "-input_price"},
    {"released_after": "2025-01-01", "released_before": "2025-06-30"}, {"max_output_price": "0"},
    {"min_max_output_tokens": "65536", "capability": "reasoning", "sort": "-max_output_tokens"},
    {"attr.litellm_provider": "openai"}, {"attr.litellm_provider": "openai,anthropic", "capability": "vision"},
    {"attr.features": "web_search"}, {"attr.attachment": "true", "capability": "vision"},
    {"attr.cost_extra": ""}, {"attr.no_such_key": ""}, {"attr.attachment": "false", "released_after": "2024"},
    {"provider": ["openai", "anthropic"], "capability": ["vision", "tool_calling"]},
    {"kind": "unknown"}, {"kind": "unknown,embedding", "sort": "-id"},
    {"released_before": "2024"}, {"released_after": "2024-05", "released_before": "2024-05"},
]


def check(index, models):
    for args in QUERIES:
        query = ModelQuery.from_args(args)
        page = run_query(index, query)
        expected_ids, expected_total = scan(models, query)
        assert page.total == expected_total, args
        assert [e.id for e in page.items] == expected_ids, args
        for e in page.items:
            assert e.body == models[e.id].body()


def test_queries_match_a_plain_scan_on_real_catalogs(real_models):
    check(CatalogIndex(real_models), real_models)


@pytest.mark.parametrize("batch", [8, 150])
def test_incremental_changes_match_a_fresh_build(real_models, batch):
    """Changes applied one version at a time, small (one by one) and large (one pass) alike."""
    rng = random.Random(7)
    models = dict(real_models)
    index = CatalogIndex(models)
    ids = sorted(models)
    for round_ in range(6):
        changes = {}
        for mid in rng.sample(ids, batch):  # updates: prices, limits, capabilities, status
            m = models.get(mid)
            if m is None:
                continue
            new = m.evolve(
                pricing=Pricing(input=rng.choice([None, 0.0, 1.5, 3.0]), output=m.pricing.output),
                limits=Limits(context_window=rng.choice([None, 8192, 128000])),
                capabilities=replace(m.capabilities, vision=rng.choice([None, True, False])),
                lifecycle=Lifecycle(status=rng.choice(["active", "deprecated", None]),
                                    release_date=rng.choice([None, "2024-01-01", "2025-06-30"])),
                name=rng.choice([m.name, None, f"Renamed {round_}"]))
            models[mid] = new
            changes[mid] = CatalogEntry.of(new)
        for mid in rng.sample(ids, batch * 4 // 5):  # removals
            if mid in models and mid not in changes:
                del models[mid]
                changes[mid] = None
        pool = sorted(models)
        for k in range(batch * 2 // 3):  # additions, ids spread over the whole order
            base = models[rng.choice(pool)]
            new = base.evolve(provider_model_id=f"{base.provider_model_id}-v{round_}-{k}",
                              capabilities=Capabilities(tool_calling=rng.choice([True, None])))
            models[new.id] = new
            changes[new.id] = CatalogEntry.of(new)
        index = index.apply(changes)
        assert len(index) == len(models)
        check(index, models)
        ids = sorted(models)
    assert index.capability_counts == CatalogIndex(models).capability_counts


def test_search_text_carries_over_only_while_ids_and_names_stay(real_models):
    """The joined ids and names a text search or id glob builds are kept by the next version when
    its changes only update records under the same names; any rename, addition or removal makes
    the next version build its own, and every version answers as a plain scan does."""
    rng = random.Random(11)
    models = dict(real_models)
    index = CatalogIndex(models)
    check(index, models)  # builds this version's search text
    ids = sorted(models)

    def priced(mid: str) -> CatalogEntry:
        models[mid] = models[mid].evolve(pricing=Pricing(input=rng.choice([0.5, 2.0]), output=None))
        return CatalogEntry.of(models[mid])

    kept = index.apply({mid: priced(mid) for mid in rng.sample(ids, 50)})
    assert kept._text_cache is index._text_cache is not None
    check(kept, models)

    renamed_id = next(mid for mid in ids if "gpt-4" not in mid and "claude" not in mid.lower())
    models[renamed_id] = models[renamed_id].evolve(name="Zq Renamed Claude")
    renamed = kept.apply({renamed_id: CatalogEntry.of(models[renamed_id]), ids[1]: priced(ids[1])})
    assert renamed._text_cache is None
    check(renamed, models)
    assert renamed_id in [e.id for e in run_query(renamed, ModelQuery.from_args({"q": "zq renamed", "limit": "5"})).items]

    base = models[ids[2]]
    added = base.evolve(provider_model_id=base.provider_model_id + "-gpt-4-carry")
    models[added.id] = added
    grown = renamed.apply({added.id: CatalogEntry.of(added)})
    assert grown._text_cache is None
    check(grown, models)

    del models[ids[3]]
    shrunk = grown.apply({ids[3]: None})
    assert shrunk._text_cache is None
    check(shrunk, models)


def test_found_needles_and_globs_are_kept_per_search_text_and_bounded(real_models):
    """A text query or id glob asked again is answered from what its version's search text kept,
    the same as found the first time; the kept ones stay within TEXT_MEMO."""
    from discovery.index_text import TEXT_MEMO

    index = CatalogIndex(real_models)
    first = [index.text_bits("gpt"), index.glob_bits("openai/*"), index.glob_bits("*mini*")]
    kept = index._text_cache.found
    assert set(kept) == {("q", "gpt"), ("id", "openai/*"), ("id", "*mini*")}
    assert [index.text_bits("GPT"), index.glob_bits("openai/*"), index.glob_bits("*mini*")] == first
    check(index, real_models)  # every query twice: found, then kept
    check(index, real_models)
    often = index.text_bits("claude")
    for k in range(TEXT_MEMO * 3):
        assert index.text_bits("claude") == often
        index.text_bits(f"needle-{k}")
        assert len(kept) <= TEXT_MEMO
        # A needle asked all along was asked just before each trim: the trim never drops it.
        assert ("q", "claude") in kept, k
    assert ("q", f"needle-{TEXT_MEMO * 3 - 1}") in kept and ("q", "needle-0") not in kept


def test_apply_leaves_the_previous_index_unchanged(real_models):
    first = CatalogIndex(real_models)
    before = [e.id for e in run_query(first, ModelQuery.from_args({"capability": "vision"})).items]
    victim = before[0]
    second = first.apply({victim: None})
    assert victim in first and victim not in second
    assert [e.id for e in run_query(first, ModelQuery.from_args({"capability": "vision"})).items] == before


def test_many_removals_compact_the_positions(real_models):
    index = CatalogIndex(real_models)
    drop = sorted(real_models)[: len(real_models) * 2 // 3]
    smaller = index.apply(dict.fromkeys(drop))
    assert smaller.size == len(smaller) == len(real_models) - len(drop)
    kept = {k: v for k, v in real_models.items() if k not in set(drop)}
    check(smaller, kept)


@pytest.mark.parametrize("glob,ids,expected", [
    ("a*", ["a", "ab", "b"], ["a", "ab"]),
    ("?b", ["ab", "b", "abb"], ["ab"]),
    ("[!a]*", ["ab", "bc"], ["bc"]),
    ("x[", ["x[", "x"], ["x["]),
    ("[z-a]*", ["a", "z", "m"], []),  # an empty range matches nothing, as in fnmatch
    ("[!z-a]", ["a", "z", "ab"], ["a", "z"]),  # and negated, any one character
    ("[a-cz-a]x", ["ax", "zx", "cx"], ["ax", "cx"]),
    ("[[]x", ["[x", "x"], ["[x"]),
    ("[!]]", ["]", "a", "ab"], ["a"]),
    ("[]]", ["]", "a"], ["]"]),
    ("[&~|]", ["&", "~", "|", "a"], ["&", "~", "|"]),
    ("[^a]", ["^", "a", "b"], ["^", "a"]),  # "^" first is a character of the set, as in fnmatch
    ("a[!x]b", ["a", "b", "ayb"], ["ayb"]),  # a negated set never takes the line break
])
def test_glob_lines_follow_fnmatch(glob, ids, expected):
    text = "\n".join(ids) + "\n"
    assert [m.group(0) for m in glob_line_pattern(glob).finditer(text)] == expected


def test_id_globs_match_exactly_what_fnmatch_matches(real_models):
    """Random globs (sets, negated and empty ranges, set-operation characters, wildcards) over the
    real ids: the index's matches are fnmatch's, glob by glob."""
    import fnmatch

    index = CatalogIndex(real_models)
    ids = sorted(real_models)
    rng = random.Random(5)
    pieces = ["*", "?", "/", "-", "a", "o", "[a-m]", "[!a-m]", "[z-a]", "[!z-a]", "[]]", "[!]]", "[[]",
              "[&|~]", "[^o]", "[0-9]", "[--/]", "gpt", "claude", "["]
    for _ in range(400):
        glob = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 6)))
        if rng.random() < 0.5:
            glob = rng.choice(["openai/", "anthropic/", "mistral/"]) + glob
        found = {index._entries[p].id for p in iter_bits(index.glob_bits(glob))}
        assert found == {i for i in ids if fnmatch.fnmatchcase(i, glob)}, glob


MANY_STARS = ["*" + "[!Z]" * 99 + "Z", "**********b", "*a*a*a*a*a*a*a*a*a*a*#", "*" * 400 + "-",
              "*o*?*[a-z]*/*-*-*-*-*-*-*-*-*!", "*a*a*/*a*"]


def test_an_id_glob_of_many_stars_takes_a_scan_not_every_way_of_splitting_each_id():
    # Each star was its own [^\n]*: "**********b" tried every split of each id among ten stars,
    # with the interpreter lock held (the regex engine keeps it), so a request froze the service.
    # Run in a child process, which a timeout can stop.
    import fnmatch
    import json
    import subprocess
    import sys

    ids = [f"provider-{i}/model-{'a' * (20 + i % 20)}-{i}" for i in range(300)]
    script = ("import json, sys\nfrom discovery.index_text import glob_line_pattern\n"
              "ids, globs = json.load(sys.stdin)\ntext = '\\n'.join(ids) + '\\n'\n"
              "print(json.dumps({g: [m.group(0) for m in glob_line_pattern(g).finditer(text)] for g in globs}))")
    done = subprocess.run([sys.executable, "-c", script], input=json.dumps([ids, MANY_STARS]), text=True,
                          capture_output=True, timeout=30)  # milliseconds now; the old patterns ran for hours
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {g: [i for i in ids if fnmatch.fnmatchcase(i, g)] for g in MANY_STARS}


def test_a_glob_whose_scan_runs_past_its_time_is_refused(real_models, monkeypatch):
    # A long part of sets between two stars is looked for at each place of each id: id length x
    # part length per id. The scan goes a slice of ids at a time and gives up after GLOB_SECONDS.
    import discovery.index as index_module

    index = CatalogIndex(real_models)
    costly = "*" + "[!#]" * 40 + "#*"
    monkeypatch.setattr(index_module, "GLOB_SECONDS", 0.0)
    with pytest.raises(index_module.CostlyGlob, match="takes too long to match against"):
        index.glob_bits(costly)
    monkeypatch.setattr(index_module, "GLOB_SECONDS", 60.0)
    assert index.glob_bits(costly) == 0  # no id holds '#': the same glob, given the time, matches nothing


def test_select_by_a_key_the_index_does_not_keep_puts_unknowns_last(real_models):
    index = CatalogIndex(real_models)
    some = sorted(real_models)[:50]
    score = {mid: i % 7 for i, mid in enumerate(some[:30])}  # 20 of the 50 have no value
    page, total = index.select_by(index.bits_for(some), lambda e: score.get(e.id), descending=True, limit=50)
    assert total == 50
    values = [score.get(e.id) for e in page]
    assert values[:30] == sorted(values[:30], reverse=True) and values[30:] == [None] * 20
    assert [e.id for e in page[30:]] == sorted(e.id for e in page[30:])


@pytest.mark.parametrize("args", [{"capability": "vision"}, {"sort": "-input_price"},
                                  {"sort": "context_window", "kind": "chat"}, {"provider": "openrouter,openai"}])
def test_every_page_of_a_query_matches_a_plain_scan_when_pages_come_from_its_kept_match_list(real_models, args):
    """The first page of a query keeps its whole ordered match list with the index; later pages
    (any offset, any limit, forwards and back) are slices of it and still match a plain scan."""
    index = CatalogIndex(real_models)
    first = ModelQuery.from_args({**args, "limit": "100"})
    total = run_query(index, first).total
    assert total > max(64, index.size >> 5)  # the ordered walk, not the few-matches sort
    assert index._matches == {}  # a first page walks only as far as its end
    run_query(index, ModelQuery.from_args({**args, "offset": "100", "limit": "100"}))
    kept = len(index._matches)
    assert kept == 1
    rng = random.Random(5)
    for offset, limit in [(0, 1), (total - 1, 5), (total // 2, 1000)] + [(rng.randrange(total), rng.randrange(1, 200))
                                                                         for _ in range(25)]:
        query = ModelQuery.from_args({**args, "offset": str(offset), "limit": str(limit)})
        page = run_query(index, query)
        expected_ids, expected_total = scan(real_models, query)
        assert (page.total, [e.id for e in page.items]) == (expected_total, expected_ids), (offset, limit)
    assert len(index._matches) == kept  # every later page came from the kept list


def test_kept_match_lists_are_bounded_and_belong_to_one_index(real_models, monkeypatch):
    from discovery import index as index_module

    monkeypatch.setattr(index_module, "MATCH_MEMO_QUERIES", 3)
    index = CatalogIndex(real_models)
    sorts = ["id", "-id", "name", "-name", "input_price"]
    for sort in sorts:
        run_query(index, ModelQuery.from_args({"sort": sort, "offset": "10"}))
    assert len(index._matches) == 3
    assert [key[1] for key in index._matches] == sorts[-3:]  # the oldest went first
    monkeypatch.setattr(index_module, "MATCH_MEMO_POSITIONS", len(real_models) + 1)
    run_query(index, ModelQuery.from_args({"sort": "-input_price", "offset": "10"}))
    assert sum(len(m) for m in index._matches.values()) <= len(real_models) + 1
    # A change makes a new index, with nothing kept from the old one's queries.
    model = next(iter(real_models.values()))
    changed = index.apply({model.id: CatalogEntry.of(replace(model, name="zzzz renamed"))})
    assert changed._matches == {}
    page = run_query(changed, ModelQuery.from_args({"sort": "-name", "limit": "1"}))
    assert [e.id for e in page.items] == [model.id]


@pytest.mark.parametrize("size", [0, 1, 9, 2047, 2048, 2049, 10_001, 100_000])
def test_byte_mask_marks_exactly_the_set_positions_on_both_paths(size):
    """Small sets go through the number's text, large ones through bit planes: the same bytes."""
    from discovery.index import byte_mask

    rng = random.Random(size)
    for bits in (0, (1 << size) - 1 if size else 0, rng.getrandbits(size) if size else 0,
                 sum(1 << p for p in rng.sample(range(size), min(size, 17)))):
        mask = byte_mask(bits, size)
        assert len(mask) >= max(size, bits.bit_length())
        assert [p for p, b in enumerate(mask) if b] == [p for p in range(max(size, bits.bit_length())) if bits >> p & 1]
        assert set(mask) <= {0, 1}
    # A mask asked for fewer positions than the set spans covers every set bit.
    assert byte_mask(1 << 5000, 10) == bytes(5000) + b"\x01"
    assert byte_mask(1 << 5000, 4096) == bytes(5000) + b"\x01"
