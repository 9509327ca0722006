"""What every provider must do, written once (STYLE 9). Each provider's test module subclasses
``ProviderContract`` and sets ``model``; the tests run against the sandbox through the official
SDK of that provider."""

from __future__ import annotations

import io
import time
import uuid
from typing import Any, ClassVar

import pytest

from batchline.batching import (
    BatchError,
    BatchProcessor,
    BatchStatus,
    BatchSuccess,
    ErrorType,
    extract_results,
    filter_errors,
    filter_successful,
    get_results_by_custom_id,
    merge_results,
)
from batchline.batching.processor import split_model
from batchline.batching.providers import (
    BatchMark,
    Provider,
    ProviderLimits,
    provider_class,
    provider_for_batch_id,
)
from batchline.errors import (
    BatchNotFoundError,
    ConfigurationError,
    LimitExceededError,
    ProviderAuthError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
)
from batchline.sandbox import BatchOutcome, Faults, Sandbox
from tests.conftest import TEST_COMPLETION_DELAY
from tests.providers.models import Profile, Role, User

TERMINAL = {"completed", "failed", "cancelled", "expired"}


def conversations(count: int) -> list[list[dict[str, str]]]:
    return [
        [
            {"role": "system", "content": "Extract user information from text."},
            {"role": "user", "content": f"Hi, I'm person {i} and I'm {20 + i} years old."},
        ]
        for i in range(count)
    ]


def wait_until_terminal(processor: BatchProcessor[Any], batch_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        status = processor.get_batch_status(batch_id)
        if status["status"] in TERMINAL:
            return status
        assert time.monotonic() < deadline, f"batch never ended: {status}"
        time.sleep(0.1)


def faults(**rates: Any) -> Faults:
    return Faults(**{"completion_delay": TEST_COMPLETION_DELAY, **rates})


def marked(prefix: str) -> BatchMark:
    """A mark as the workers make one: metadata naming the job, and the custom-id prefix."""
    return BatchMark(
        metadata={"batchline_job": prefix, "batchline_shard": "0"}, custom_id_prefix=prefix
    )


class ProviderContract:
    #: "provider/model-name" under test.
    model: ClassVar[str]
    #: Providers that validate the whole batch at create time reject it there instead of
    #: creating a batch that then fails (Anthropic).
    validation_fails_at_submit: ClassVar[bool] = False

    def missing_batch_id(self, sandbox: Sandbox) -> str:
        """An id of this provider's shape that no batch has."""
        raise NotImplementedError

    @property
    def provider_class(self) -> type[Provider]:
        return provider_class(split_model(self.model)[0])

    def processor(self, response_model: type = User) -> BatchProcessor[Any]:
        return BatchProcessor(self.model, response_model)

    def submit_marked(self, processor: BatchProcessor[Any], mark: BatchMark, count: int) -> str:
        ids = [f"{mark.custom_id_prefix}{i}" for i in range(count)]
        buffer = processor.create_batch_from_messages(conversations(count), custom_ids=ids)
        return processor.submit_batch(buffer, metadata=mark.metadata)

    def run_batch(
        self, sandbox: Sandbox, count: int, response_model: type = User, **rates: Any
    ) -> tuple[BatchProcessor[Any], str, dict[str, Any]]:
        sandbox.faults = faults(**rates)
        processor = self.processor(response_model)
        buffer = processor.create_batch_from_messages(conversations(count), max_tokens=200)
        batch_id = processor.submit_batch(buffer)
        return processor, batch_id, wait_until_terminal(processor, batch_id)

    # -- the guide's two examples ------------------------------------------------------------
    def test_guide_file_example_runs_end_to_end(self, sandbox: Sandbox, tmp_path: Any) -> None:
        processor = self.processor()
        path = tmp_path / "batch_requests.jsonl"
        messages_list = conversations(2)
        assert processor.create_batch_from_messages(
            file_path=str(path), messages_list=messages_list, max_tokens=200, temperature=0.1
        ) == str(path)
        batch_id = processor.submit_batch(str(path))
        status = wait_until_terminal(processor, batch_id)
        assert status["status"] == "completed"
        all_results = processor.retrieve_results(batch_id)
        users = extract_results(all_results)
        assert len(users) == 2
        assert all(isinstance(user, User) for user in users)
        assert len(filter_successful(all_results)) == 2
        assert filter_errors(all_results) == []
        by_id = get_results_by_custom_id(all_results)
        assert set(by_id) == {"request-0", "request-1"}
        assert by_id["request-1"].success

    def test_guide_in_memory_example_runs_end_to_end(self, sandbox: Sandbox) -> None:
        processor = self.processor()
        buffer = processor.create_batch_from_messages(conversations(3), file_path=None)
        batch_id = processor.submit_batch(buffer)
        while True:
            status = processor.get_batch_status(batch_id)
            if status.get("status") in ["completed", "failed", "cancelled"]:
                break
            time.sleep(0.1)
        assert status["status"] == "completed"
        results = processor.get_results(batch_id)
        parsed = [r.result for r in results if hasattr(r, "result")]
        assert len(parsed) == 3
        assert all(isinstance(user.age, int) for user in parsed)

    def test_retrieving_results_fetches_the_batch_once(
        self, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        processor, batch_id, _ = self.run_batch(sandbox, 3)
        provider = processor.provider
        fetched: list[str] = []
        real_get = provider.get

        def counting_get(batch_id: str) -> Any:
            fetched.append(batch_id)
            return real_get(batch_id)

        monkeypatch.setattr(provider, "get", counting_get)
        assert len(filter_successful(processor.retrieve_results(batch_id))) == 3
        assert fetched == [batch_id]

    def test_failed_requests_are_retried_alone_and_merged_back(
        self, sandbox: Sandbox, tmp_path: Any
    ) -> None:
        sandbox.faults = faults(error_rate=0.4)
        processor = self.processor()
        path = tmp_path / "requests.jsonl"
        processor.create_batch_from_messages(conversations(10), file_path=str(path))
        first_id = processor.submit_batch(str(path))
        wait_until_terminal(processor, first_id)
        first = processor.retrieve_results(first_id)
        failed = {r.custom_id for r in filter_errors(first)}
        assert failed and len(failed) < 10
        assert {r.error_type for r in filter_errors(first)} == {ErrorType.PROVIDER_ERROR}

        sandbox.faults = faults()
        retry = processor.create_retry_batch(str(path), first)
        assert isinstance(retry, io.BytesIO)
        assert len(retry.getvalue().splitlines()) == len(failed)
        retry_id = processor.submit_batch(retry)
        wait_until_terminal(processor, retry_id)
        second = processor.retrieve_results(retry_id)
        assert {r.custom_id for r in second} == failed

        merged = merge_results(first, second)
        assert [r.custom_id for r in merged] == [r.custom_id for r in first]
        assert len(filter_successful(merged)) == 10

    # -- status vocabulary -------------------------------------------------------------------
    def test_status_reports_one_vocabulary_with_provider_status_and_counts(
        self, sandbox: Sandbox
    ) -> None:
        _, batch_id, status = self.run_batch(sandbox, 4)
        assert status["status"] == BatchStatus.COMPLETED
        assert status["id"] == batch_id
        assert status["provider_status"]
        assert status["request_counts"]["total"] == 4
        assert status["request_counts"]["completed"] == 4
        assert status["created_at"]

    def test_list_batches_includes_a_submitted_batch(self, sandbox: Sandbox) -> None:
        processor = self.processor()
        batch_id = processor.submit_batch(processor.create_batch_from_messages(conversations(1)))
        assert batch_id in [info.id for info in processor.list_batches(limit=50)]

    def test_list_is_newest_first_and_follows_pages(
        self, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(self.provider_class, "list_page_size", 2)  # three need two pages
        processor = self.processor()
        created = [
            processor.submit_batch(processor.create_batch_from_messages(conversations(1)))
            for _ in range(3)
        ]
        assert [info.id for info in processor.list_batches(limit=3)] == created[::-1]
        assert [info.id for info in processor.list_batches(limit=2)] == created[:0:-1]

    def test_native_statuses_are_the_providers_declared_ones(self, sandbox: Sandbox) -> None:
        _, _, status = self.run_batch(sandbox, 1)
        assert status["provider_status"] in self.provider_class.statuses
        assert self.provider_class.statuses[status["provider_status"]] == status["status"]

    # -- what the workers rely on ------------------------------------------------------------
    def test_the_provider_owns_its_batch_ids_and_no_other_provider_does(
        self, sandbox: Sandbox
    ) -> None:
        processor = self.processor()
        batch_id = processor.submit_batch(processor.create_batch_from_messages(conversations(1)))
        assert provider_for_batch_id(batch_id) is self.provider_class
        assert provider_for_batch_id(self.missing_batch_id(sandbox)) is self.provider_class

    def test_unknown_batch_ids_are_not_found(self, sandbox: Sandbox) -> None:
        processor = self.processor()
        missing = self.missing_batch_id(sandbox)
        with pytest.raises(BatchNotFoundError):
            processor.get_batch_status(missing)
        with pytest.raises(BatchNotFoundError):
            processor.cancel_batch(missing)

    def test_cancelling_a_finished_batch_returns_it_unchanged(self, sandbox: Sandbox) -> None:
        processor, batch_id, status = self.run_batch(sandbox, 2)
        assert status["status"] == "completed"
        assert processor.cancel_batch(batch_id) == processor.get_batch_status(batch_id)
        assert processor.get_batch_status(batch_id)["status"] == "completed"
        assert len(extract_results(processor.retrieve_results(batch_id))) == 2

    def test_reconciliation_finds_the_marked_batch_and_never_misses_a_running_one(
        self, sandbox: Sandbox
    ) -> None:
        processor = self.processor()
        mine, theirs = (
            marked(f"job-{uuid.uuid4().hex[:8]}-0-"),
            marked(f"job-{uuid.uuid4().hex[:8]}-0-"),
        )
        ended = self.submit_marked(processor, mine, 2)
        other = self.submit_marked(processor, theirs, 2)
        wait_until_terminal(processor, ended)
        wait_until_terminal(processor, other)
        sandbox.faults = faults(completion_delay=5.0)
        running = self.submit_marked(processor, mine, 1)

        found = processor.provider.find_marked(mine, limit=10)

        matching = [info.id for info in found.matching]
        assert ended in matching
        assert running in matching + [info.id for info in found.undecided]
        assert set(matching) <= {ended, running}

    def test_an_ended_batchs_mark_can_be_read_back_without_knowing_its_owner(
        self, sandbox: Sandbox
    ) -> None:
        processor = self.processor()
        mine = marked(f"job-{uuid.uuid4().hex[:8]}-0-")
        batch_id = self.submit_marked(processor, mine, 2)
        info = wait_until_terminal(processor, batch_id)
        listed = next(b for b in processor.provider.list(limit=10) if b.id == batch_id)
        assert info["status"] == "completed"

        found = processor.provider.read_mark(listed)

        assert found is not None
        named_job = found.metadata.get("batchline_job") == mine.metadata["batchline_job"]
        assert named_job or found.custom_id_prefix.startswith(mine.custom_id_prefix)

    def test_an_unmarked_account_has_no_marked_batches(self, sandbox: Sandbox) -> None:
        processor, _, _ = self.run_batch(sandbox, 1)
        found = processor.provider.find_marked(marked(f"job-{uuid.uuid4().hex[:8]}-0-"), limit=10)
        assert found.matching == []

    def test_a_refused_credential_is_a_provider_auth_error(self, sandbox: Sandbox) -> None:
        processor = self.processor()
        sandbox.faults = faults(http_401_rate=1.0)
        with pytest.raises(ProviderAuthError):
            processor.list_batches(limit=1)
        with pytest.raises(ProviderAuthError):
            processor.submit_batch(processor.create_batch_from_messages(conversations(1)))

    # -- structured output -------------------------------------------------------------------
    def test_nested_optional_list_and_enum_fields_parse(self, sandbox: Sandbox) -> None:
        processor, batch_id, _ = self.run_batch(sandbox, 3, response_model=Profile)
        results = processor.retrieve_results(batch_id)
        profiles = extract_results(results)
        assert len(profiles) == 3, filter_errors(results)
        assert all(isinstance(p.role, Role) for p in profiles)
        assert all(isinstance(p.addresses, list) for p in profiles)

    # -- every request ends as exactly one result -------------------------------------------
    @pytest.mark.parametrize(
        ("rate", "error_type"),
        [
            ("error_rate", ErrorType.PROVIDER_ERROR),
            ("invalid_json_rate", ErrorType.INVALID_JSON),
            ("schema_violation_rate", ErrorType.VALIDATION_ERROR),
            ("truncated_rate", ErrorType.TRUNCATED),
            ("refusal_rate", ErrorType.REFUSAL),
        ],
    )
    def test_each_line_fault_comes_back_as_its_error_type(
        self, sandbox: Sandbox, rate: str, error_type: ErrorType
    ) -> None:
        processor, batch_id, _ = self.run_batch(sandbox, 3, **{rate: 1.0})
        results = processor.retrieve_results(batch_id)
        assert sorted(r.custom_id for r in results) == ["request-0", "request-1", "request-2"]
        assert all(isinstance(r, BatchError) for r in results)
        assert {r.error_type for r in results} == {error_type}
        assert all(r.error_message for r in results)
        assert all(not hasattr(r, "result") for r in results)

    def test_mixed_faults_account_for_every_request_once(self, sandbox: Sandbox) -> None:
        processor, batch_id, _ = self.run_batch(
            sandbox, 60, seed=7, error_rate=0.1, invalid_json_rate=0.1, refusal_rate=0.1
        )
        ids = [f"request-{i}" for i in range(60)]
        results = list(processor.iter_results(batch_id, expected_ids=ids))
        assert sorted(r.custom_id for r in results) == sorted(ids)
        successes = filter_successful(results)
        assert 0 < len(successes) < 60
        assert all(isinstance(s, BatchSuccess) for s in successes)

    def test_expired_batch_returns_finished_results_and_expired_errors(
        self, sandbox: Sandbox
    ) -> None:
        ids = [f"request-{i}" for i in range(20)]
        processor, batch_id, status = self.run_batch(sandbox, 20, batch_outcome=BatchOutcome.EXPIRE)
        assert status["status"] == "expired"
        results = list(processor.iter_results(batch_id, expected_ids=ids))
        assert sorted(r.custom_id for r in results) == sorted(ids)
        expired = [r for r in filter_errors(results) if r.error_type == ErrorType.EXPIRED]
        assert expired
        assert len(expired) + len(filter_successful(results)) == 20

    def test_cancelled_batch_ends_cancelled_and_accounts_for_every_request(
        self, sandbox: Sandbox
    ) -> None:
        sandbox.faults = faults(completion_delay=3.0)
        processor = self.processor()
        batch_id = processor.submit_batch(processor.create_batch_from_messages(conversations(10)))
        cancelling = processor.cancel_batch(batch_id)
        assert cancelling["status"] in {"cancelling", "cancelled"}
        status = wait_until_terminal(processor, batch_id)
        assert status["status"] == "cancelled"
        ids = [f"request-{i}" for i in range(10)]
        results = list(processor.iter_results(batch_id, expected_ids=ids))
        assert sorted(r.custom_id for r in results) == sorted(ids)
        assert any(r.error_type == ErrorType.CANCELLED for r in filter_errors(results)), results

    def test_batch_that_fails_validation_is_reported(self, sandbox: Sandbox) -> None:
        sandbox.faults = faults(batch_outcome=BatchOutcome.FAIL_VALIDATION)
        processor = self.processor()
        buffer = processor.create_batch_from_messages(conversations(2))
        if self.validation_fails_at_submit:
            with pytest.raises(ProviderRejected):
                processor.submit_batch(buffer)
            return
        batch_id = processor.submit_batch(buffer)
        status = wait_until_terminal(processor, batch_id)
        assert status["status"] == "failed"
        assert status["error"]

    # -- errors before any network call ------------------------------------------------------
    def test_missing_credential_names_the_env_var(
        self, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from batchline.config import get_settings

        for required in self.provider_class.required_settings:
            with monkeypatch.context() as env:
                env.delenv(required.env)
                get_settings.cache_clear()
                processor = self.processor()
                buffer = processor.create_batch_from_messages(conversations(1))
                with pytest.raises(ConfigurationError, match=required.env):
                    processor.submit_batch(buffer)
            get_settings.cache_clear()

    def test_over_limit_file_is_refused_before_upload(self, sandbox: Sandbox) -> None:
        processor = self.processor()
        before = {info.id for info in processor.list_batches(limit=100)}
        processor.provider.limits = ProviderLimits(max_requests=3, max_bytes=10**9)  # type: ignore[misc]
        buffer = processor.create_batch_from_messages(conversations(4))
        with pytest.raises(LimitExceededError, match="limit of 3 requests"):
            processor.submit_batch(buffer)
        processor.provider.limits = ProviderLimits(max_requests=10**6, max_bytes=100)  # type: ignore[misc]
        with pytest.raises(LimitExceededError, match="MB"):
            processor.submit_batch(buffer)
        assert {info.id for info in processor.list_batches(limit=100)} == before

    # -- provider faults surface as batchline's error family ---------------------------------
    @pytest.mark.parametrize(
        ("rate", "error"),
        [("http_429_rate", ProviderRateLimited), ("http_503_rate", ProviderUnavailable)],
    )
    def test_http_fault_storm_raises_a_retryable_error(
        self, sandbox: Sandbox, rate: str, error: type[Exception]
    ) -> None:
        processor = self.processor()
        buffer = processor.create_batch_from_messages(conversations(1))
        sandbox.faults = faults(**{rate: 1.0})
        with pytest.raises(error):
            processor.submit_batch(buffer)
