import pytest

from discovery.model import Capabilities, Lifecycle, Limits, Modalities, Model
from discovery.query import CatalogIndex, ModelQuery, QueryError, run_query


@pytest.fixture
def index():
    models = [
        Model("openai", "gpt-4o", name="GPT-4o", kind="chat", capabilities=Capabilities(vision=True, tool_calling=True),
              modalities=Modalities(("text", "image"), ("text",)), limits=Limits(context_window=128000)),
        Model("openai", "text-embedding-3-small", kind="embedding", limits=Limits(context_window=8191)),
        Model("anthropic", "claude-3-haiku", name="Claude Haiku", kind="chat",
              capabilities=Capabilities(tool_calling=True), lifecycle=Lifecycle(status="deprecated")),
        Model("mistral", "mistral-large", kind="chat", live=False),
    ]
    return CatalogIndex({m.id: m for m in models})


def ids(page):
    return [m.id for m in page.items]


def test_filter_by_all_listed_capabilities_accepts_aliases(index):
    q = ModelQuery.from_args({"capability": "function_calling,supports_vision"})
    assert ids(run_query(index, q)) == ["openai/gpt-4o"]


def test_unknown_capability_error_lists_the_valid_ones(index):
    with pytest.raises(QueryError) as err:
        ModelQuery.from_args({"capability": "telepathy"})
    assert "telepathy" in str(err.value) and "tool_calling" in str(err.value)


def test_filter_by_provider_kind_status_modality_and_text(index):
    assert ids(run_query(index, ModelQuery.from_args({"provider": "openai", "kind": "embedding"}))) == [
        "openai/text-embedding-3-small"]
    assert ids(run_query(index, ModelQuery.from_args({"status": "deprecated"}))) == ["anthropic/claude-3-haiku"]
    assert ids(run_query(index, ModelQuery.from_args({"input_modality": "image"}))) == ["openai/gpt-4o"]
    assert ids(run_query(index, ModelQuery.from_args({"q": "haiku"}))) == ["anthropic/claude-3-haiku"]
    assert ids(run_query(index, ModelQuery.from_args({"live": "false"}))) == ["mistral/mistral-large"]
    assert ids(run_query(index, ModelQuery.from_args({"id": "openai/*"}))) == [
        "openai/gpt-4o", "openai/text-embedding-3-small"]


def test_sort_descending_puts_unknown_values_last_and_pages(index):
    page = run_query(index, ModelQuery.from_args({"sort": "-context_window", "limit": "2"}))
    assert ids(page) == ["openai/gpt-4o", "openai/text-embedding-3-small"]
    assert page.total == 4
    rest = run_query(index, ModelQuery.from_args({"sort": "-context_window", "limit": "2", "offset": "2"}))
    assert len(rest.items) == 2 and set(ids(rest)).isdisjoint(ids(page))


@pytest.mark.parametrize("args,needle", [
    ({"limit": "0"}, "limit"), ({"limit": "x"}, "whole"), ({"sort": "price"}, "sort"),
    ({"kind": "robot"}, "kind"), ({"bogus": "1"}, "bogus"), ({"live": "maybe"}, "live"),
])
def test_bad_parameters_are_refused_with_a_message(args, needle):
    with pytest.raises(QueryError) as err:
        ModelQuery.from_args(args)
    assert needle in str(err.value)


@pytest.mark.parametrize("size", [6, 200])  # a few matches are sorted alone; many walk the prebuilt order
def test_sort_by_name_puts_models_without_a_name_last_either_way(size):
    models = [Model("p", f"m{i:03d}", name=(f"Name {size - i:03d}" if i % 3 else None)) for i in range(size)]
    index = CatalogIndex({m.id: m for m in models})
    unnamed = sorted(m.id for m in models if m.name is None)
    for sort in ("name", "-name"):
        page = run_query(index, ModelQuery.from_args({"sort": sort, "limit": "1000"}))
        named = [m for m in page.items if m.name is not None]
        assert [m.id for m in page.items[len(named):]] == unnamed, sort
        names = [m.name for m in named]
        assert names == sorted(names, reverse=sort.startswith("-")), sort


def test_a_bedrock_regions_source_selects_the_models_offered_there():
    from discovery.entry import CatalogEntry
    from discovery.model import dumps

    models = [Model("bedrock", "anthropic.claude-3-haiku", kind="chat", regions=("us-east-1", "eu-west-1")),
              Model("bedrock", "amazon.nova-pro", kind="chat", regions=("us-east-1",)),
              Model("bedrock", "cohere.embed", kind="embedding", regions=("eu-west-1",)),
              Model("openai", "gpt-4o", kind="chat"),
              # A catalog's claim, no watched region's answer: not offered there as far as we know.
              Model("bedrock", "meta.llama-catalog-only", kind="chat", live=False, regions=("us-east-1",))]
    index = CatalogIndex({m.id: m for m in models})

    def picked(args, idx=index):
        return ids(run_query(idx, ModelQuery.from_args(args)))

    assert picked({"provider": "bedrock@us-east-1"}) == ["bedrock/amazon.nova-pro", "bedrock/anthropic.claude-3-haiku"]
    assert picked({"provider": "bedrock@eu-west-1", "kind": "embedding"}) == ["bedrock/cohere.embed"]
    assert picked({"provider": "bedrock@eu-west-1,openai"}) == [
        "bedrock/anthropic.claude-3-haiku", "bedrock/cohere.embed", "openai/gpt-4o"]
    assert picked({"provider": "bedrock@ap-south-1"}) == []
    # The plain check agrees, and so does an index loaded from what the store keeps.
    query = ModelQuery.from_args({"provider": "bedrock@eu-west-1"})
    assert [m.id for m in models if query.matches(m)] == ["bedrock/anthropic.claude-3-haiku", "bedrock/cohere.embed"]
    stored = CatalogIndex.from_entries([CatalogEntry.from_stored(m.body(), m.content_hash(), dict(m.provenance))
                                        for m in models])
    assert picked({"provider": "bedrock@us-east-1"}, stored) == picked({"provider": "bedrock@us-east-1"})
    assert dumps(sorted(stored.providers())) == dumps(["bedrock", "openai"])


def test_a_provider_named_with_an_at_sign_is_paged_within_its_own_ids():
    models = [Model("acme@eu", f"m{i:03d}", kind="chat") for i in range(100)] + [
        Model("openai", f"g{i}") for i in range(10)]
    page = run_query(CatalogIndex({m.id: m for m in models}), ModelQuery.from_args({"provider": "acme@eu"}))
    assert page.total == 100 and len(page.items) == 100 and page.items[0].id == "acme@eu/m000"
