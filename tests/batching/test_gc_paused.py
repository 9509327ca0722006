"""``parse_results`` keeps the garbage collector out of the way without changing what it does
for the rest of the process: its enabled state and anything the process froze are left as
they were, and the results are still ordinary collectable objects."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from batchline.batching import BatchProcessor
from batchline.batching.processor import gc_paused
from tests.conftest import REAL_OUTPUTS
from tests.providers.models import User

CONTENT = (REAL_OUTPUTS / "anthropic_results_1.jsonl").read_text()


@pytest.fixture
def gc_state() -> Iterator[None]:
    was_enabled = gc.isenabled()
    yield
    gc.unfreeze()
    if was_enabled:
        gc.enable()
    else:
        gc.disable()


def parse() -> list[object]:
    return list(BatchProcessor("anthropic/claude-haiku-4-5", User).parse_results(CONTENT))


@pytest.mark.parametrize("enabled", [True, False])
def test_the_collector_is_left_as_it_was(gc_state: None, enabled: bool) -> None:
    (gc.enable if enabled else gc.disable)()

    parse()

    assert gc.isenabled() is enabled


def test_results_go_to_the_oldest_generation_unscanned(gc_state: None) -> None:
    gc.enable()

    results = parse()

    oldest = {id(obj) for obj in gc.get_objects(generation=2)}
    assert results and all(id(result) in oldest for result in results)
    assert gc.get_freeze_count() == 0


def test_objects_the_process_froze_stay_frozen(gc_state: None) -> None:
    gc.enable()
    kept = [[index] for index in range(50)]
    gc.freeze()

    results = parse()

    # Frozen objects are in no generation; the results are in one, not frozen with them.
    collected = {id(obj) for obj in gc.get_objects()}
    assert not any(id(item) in collected for item in kept)
    assert results and all(id(result) in collected for result in results)


def test_cycles_made_while_paused_are_still_collected(gc_state: None) -> None:
    gc.enable()

    class Node:
        pass

    with gc_paused():
        node = Node()
        node.self = node  # type: ignore[attr-defined]
        alive = weakref.ref(node)
        del node
    assert alive() is not None  # only the collector can free a cycle

    gc.collect()

    assert alive() is None
