"""Jobs over one provider batch's limits are split into shards and merged back."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import orjson
import pytest

from batchline.batching import BatchSuccess
from batchline.workers import JobState, enqueue_batch
from batchline.workers.runtime import META_JOB, META_SHARD
from batchline.workers.submission import plan_shards
from tests.workers.conftest import MakeApp, running
from tests.workers.helpers import conversations
from tests.workers.models import Person, calls, record_completion


@pytest.mark.parametrize("model", ["openai/gpt-4.1-mini", "google/gemini-2.5-flash"])
def test_a_job_over_the_request_limit_becomes_several_batches_and_one_result_set(
    make_app: MakeApp, redis_client: object, prefix: str, model: str, tmp_path: Path
) -> None:
    app = make_app(max_requests_per_batch=5)
    results_file = tmp_path / "results.jsonl"
    with running(app):
        handle = enqueue_batch(
            model,
            Person,
            conversations(12),
            callbacks=[record_completion],
            results_path=results_file,
            app=app,
        )
        assert handle.wait(timeout=30, callbacks=True) is JobState.CALLBACKS_DONE

    shards = handle.summary().shards
    assert [shard["requests"] for shard in shards] == [5, 5, 2]
    assert len({shard["batch_id"] for shard in shards}) == 3
    results = handle.results()
    assert [r.custom_id for r in results] == (
        [f"{handle.id}-0-{i}" for i in range(5)]
        + [f"{handle.id}-1-{i}" for i in range(5, 10)]
        + [f"{handle.id}-2-{i}" for i in range(10, 12)]
    )
    assert all(isinstance(r, BatchSuccess) for r in results)
    assert handle.job().counts["succeeded"] == 12
    written = [orjson.loads(line) for line in results_file.read_bytes().splitlines()]
    assert [line["custom_id"] for line in written] == [r.custom_id for r in results]
    assert calls(redis_client, prefix, "calls", handle.id) == 1  # type: ignore[arg-type]

    provider = app.runtime.provider(model.split("/")[0])
    found = provider.find_by_metadata(META_JOB, handle.id, limit=100)
    assert sorted(info.metadata[META_SHARD] for info in found) == ["0", "1", "2"]
    assert {info.id for info in found} == {shard["batch_id"] for shard in shards}


def test_shards_respect_the_byte_limit_measured_on_encoded_requests(
    make_app: MakeApp,
) -> None:
    app = make_app(max_bytes_per_batch=4000)
    long_conversations = [
        [{"role": "user", "content": f"person {i}: " + "x" * (100 + 40 * (i % 7))}]
        for i in range(30)
    ]
    handle = enqueue_batch("openai/gpt-4.1-mini", Person, long_conversations, app=app)
    job = handle.job()
    processor = app.runtime.processor(job)

    ranges = plan_shards(app.runtime, job, processor)

    assert ranges[0][0] == 0 and ranges[-1][1] == 30
    assert all(end == start for (_, end), (start, _) in itertools.pairwise(ranges))
    assert len(ranges) > 1
    for index, (start, end) in enumerate(ranges):
        buffer = processor.create_batch_from_messages(
            long_conversations[start:end],
            max_tokens=job.max_tokens,
            temperature=job.temperature,
            custom_ids=(f"{job.id}-{index}-{i}" for i in range(start, end)),
        )
        assert isinstance(buffer, io.BytesIO)
        assert len(buffer.getvalue()) <= 4000
