"""``batchline batch create-from-file`` (``submit_batch``) checks every line before anything
is uploaded, for every provider: a JSON object in that provider's request shape, with a unique,
valid custom id.

The full matrix of bad lines runs in-process through ``submit_batch`` (each CLI start costs
seconds); the CLI itself runs as a subprocess for a bad line and a foreign file per provider,
and for the upload that must not happen.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from batchline.batching import BatchProcessor
from batchline.errors import InvalidRequestError
from batchline.sandbox import Sandbox
from tests.cli.test_user_errors import assert_one_line_error, run_cli
from tests.workers.helpers import conversations
from tests.workers.models import Person

MODELS = {
    "openai": "openai/gpt-4.1-mini",
    "anthropic": "anthropic/claude-3-5-sonnet-20241022",
    "google": "google/gemini-2.5-flash",
}
#: Each provider's custom id field.
ID_FIELD = {"openai": "custom_id", "anthropic": "custom_id", "google": "key"}
#: Every provider, handed a file written for the next one.
FOREIGN_FILES = [("openai", "anthropic"), ("anthropic", "google"), ("google", "openai")]


def request_lines(provider: str, count: int = 3) -> list[bytes]:
    """Valid request lines of ``provider``, as batchline writes them."""
    buffer = BatchProcessor(MODELS[provider], Person).create_batch_from_messages(
        conversations(count)
    )
    assert not isinstance(buffer, str)
    return [line for line in buffer.getvalue().splitlines() if line.strip()]


def write(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def create(provider: str, path: Path) -> tuple[int, str]:
    """``batchline batch create-from-file`` as a subprocess: its exit code and output."""
    code, output, _ = run_cli(
        "batch", "create-from-file", "--file-path", str(path), "--model", MODELS[provider]
    )
    return code, output


def refusal(provider: str, path: Path) -> str:
    """What ``submit_batch`` says about the file (it must refuse it before any upload)."""
    with pytest.raises(InvalidRequestError) as refused:
        BatchProcessor(MODELS[provider], Person).submit_batch(str(path))
    return str(refused.value)


def with_record(line: bytes, **changes: object) -> bytes:
    """``line`` with keys replaced (or removed, for ``None``)."""
    record = orjson.loads(line)
    for key, value in changes.items():
        if value is None:
            record.pop(key, None)
        else:
            record[key] = value
    return orjson.dumps(record)


@pytest.mark.parametrize("provider", sorted(MODELS))
def test_every_kind_of_bad_line_is_named_with_its_number(provider: str, tmp_path: Path) -> None:
    good = request_lines(provider)
    id_field = ID_FIELD[provider]
    cases: list[tuple[bytes, str]] = [
        (b'{"custom_id": "x",', "line 2 is not JSON"),
        (b"[1, 2]", "line 2 is a JSON array, not an object"),
        (b'"text"', "line 2 is a JSON string, not an object"),
        (with_record(good[1], **{id_field: None}), f"line 2: '{id_field}' is missing"),
        (with_record(good[1], **{id_field: 7}), f"line 2: '{id_field}' must be a string"),
        (good[0], "line 2: custom id"),  # the id of line 1, again
    ]
    for index, (bad, said) in enumerate(cases):
        path = write(tmp_path / f"bad-{index}.jsonl", [good[0], bad, good[2]])
        assert said in refusal(provider, path)
    duplicate = refusal(provider, write(tmp_path / "dup.jsonl", [good[0], good[1], good[0]]))
    assert "line 3: custom id" in duplicate and "already used on line 1" in duplicate


@pytest.mark.parametrize(
    ("provider", "change", "said"),
    [
        ("openai", {"url": "/v1/embeddings"}, "'url' must be '/v1/chat/completions'"),
        ("openai", {"method": "GET"}, "'method' must be \"POST\""),
        ("openai", {"body": {"model": "gpt-4.1-mini"}}, "'messages' is missing"),
        ("openai", {"extra": 1}, "unexpected key(s) 'extra'"),
        ("anthropic", {"custom_id": "has spaces"}, "is not valid for Anthropic"),
        ("anthropic", {"custom_id": "x" * 65}, "is not valid for Anthropic"),
        ("anthropic", {"params": {"model": "m", "messages": []}}, "'max_tokens' is missing"),
        ("google", {"request": {"contents": []}}, "'contents' is empty"),
        ("google", {"request": "hello"}, "'request' must be an object"),
    ],
)
def test_a_line_out_of_the_providers_shape_is_refused(
    provider: str, change: dict[str, object], said: str, tmp_path: Path
) -> None:
    good = request_lines(provider)
    path = write(tmp_path / "requests.jsonl", [good[0], good[1], with_record(good[2], **change)])
    message = refusal(provider, path)
    assert message.startswith("line 3") and said in message


@pytest.mark.parametrize("provider", sorted(MODELS))
def test_the_cli_names_a_bad_line_in_one_line(provider: str, tmp_path: Path) -> None:
    good = request_lines(provider)
    path = write(tmp_path / "requests.jsonl", [good[0], good[1], b"[1, 2]"])
    code, output = create(provider, path)
    assert_one_line_error(code, output, "line 3 is a JSON array, not an object")


@pytest.mark.parametrize(("written_for", "submitted_to"), FOREIGN_FILES)
def test_a_file_for_another_provider_is_refused_naming_it(
    written_for: str, submitted_to: str, tmp_path: Path
) -> None:
    path = write(tmp_path / "requests.jsonl", request_lines(written_for))
    code, output = create(submitted_to, path)
    assert_one_line_error(
        code, output, f"line 1 has {written_for}'s request shape, not {submitted_to}'s"
    )
    # And the other way round, in-process: every pair of providers is told apart.
    back = write(tmp_path / "back.jsonl", request_lines(submitted_to))
    assert f"has {submitted_to}'s request shape" in refusal(written_for, back)


@pytest.mark.parametrize("provider", sorted(MODELS))
def test_nothing_is_uploaded_when_the_last_line_is_bad(
    provider: str, sandbox: Sandbox, tmp_path: Path
) -> None:
    processor = BatchProcessor(MODELS[provider], Person)
    before = {info.id for info in processor.list_batches(limit=100)}
    good = request_lines(provider, count=5)
    path = write(tmp_path / "requests.jsonl", [*good, b"not json"])
    code, output = create(provider, path)
    assert_one_line_error(code, output, "line 6 is not JSON")
    assert {info.id for info in processor.list_batches(limit=100)} == before

    code, output = create(provider, write(tmp_path / "good.jsonl", good))
    assert code == 0, output
    assert "Batch submitted" in output
    assert len({info.id for info in processor.list_batches(limit=100)} - before) == 1
