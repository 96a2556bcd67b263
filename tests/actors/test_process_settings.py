"""The process-wide settings start_service applies: the cyclic collector's full-collection threshold."""
import gc

import pytest

from tests.conftest import provider_config


@pytest.fixture
def kept_gc_threshold():
    before = gc.get_threshold()
    yield before
    gc.set_threshold(*before)


def test_the_full_collection_threshold_is_set_and_the_younger_ones_kept(start_service, simulator, kept_gc_threshold):
    young, middle, _ = kept_gc_threshold
    start_service([provider_config(simulator, "openai", "openai")], gc_full_threshold=123)
    assert gc.get_threshold() == (young, middle, 123)


def test_zero_leaves_the_collector_as_python_set_it(start_service, simulator, kept_gc_threshold):
    gc.set_threshold(700, 10, 10)
    start_service([provider_config(simulator, "openai", "openai")], gc_full_threshold=0)
    assert gc.get_threshold() == (700, 10, 10)
