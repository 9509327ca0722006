"""Policy that lives once, above the provider interface, checked for every provider: request
options, custom ids, provider options, batch ids, credentials, the cancel rule and the
sharing of SDK clients. (What each provider does over the wire is in ``contract.py``.)"""

from __future__ import annotations

import inspect
import math
from typing import Any

import pytest
from pydantic import SecretStr

from batchline.batching import BatchProcessor, BatchStatus
from batchline.batching.options import DEFAULT_MAX_TOKENS, DEFAULT_TEMPERATURE
from batchline.batching.providers import (
    PROVIDERS,
    Provider,
    RequestOptions,
    example_models,
    provider_class,
    provider_classes,
    provider_for_batch_id,
)
from batchline.config import Settings
from batchline.errors import ConfigurationError, InvalidRequestError
from batchline.workers.api import enqueue_batch
from batchline.workers.jobs import Job
from tests.providers.models import User

ALL = [pytest.param(cls, id=cls.name) for cls in provider_classes()]
MESSAGES = [{"role": "user", "content": "Hi"}]

#: Settings that would reach no server: a closed local port for every endpoint.
OFFLINE = Settings(
    openai_api_key=SecretStr("sk-test"),
    openai_base_url="http://127.0.0.1:9/v1",
    anthropic_api_key=SecretStr("sk-ant-test"),
    anthropic_base_url="http://127.0.0.1:9",
    google_cloud_project="proj",
    gcs_bucket="bucket",
    google_access_token=SecretStr("token"),
    google_vertex_base_url="http://127.0.0.1:9",
    storage_emulator_host="http://127.0.0.1:9",
)


def build(cls: type[Provider], model: str | None = None, **options: Any) -> Provider:
    return cls(model or cls.example_model, OFFLINE, **options)


# -- request options ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": True}, "max_tokens"),
        ({"max_tokens": "100"}, "max_tokens"),
        ({"temperature": -0.1}, "temperature"),
        ({"temperature": 2.5}, "temperature"),
        ({"temperature": math.nan}, "temperature"),
        ({"temperature": "hot"}, "temperature"),
        ({"extra": {"logit_bias": {1, 2}}}, "JSON"),
        ({"extra": ["top_p"]}, "dict"),
    ],
)
def test_request_options_refuse_impossible_settings_when_built(
    fields: dict[str, Any], match: str
) -> None:
    with pytest.raises(InvalidRequestError, match=match):
        RequestOptions(**fields)


def test_library_and_workers_share_one_set_of_defaults() -> None:
    build_defaults = inspect.signature(BatchProcessor.create_batch_from_messages).parameters
    enqueue_defaults = inspect.signature(enqueue_batch).parameters
    options = RequestOptions()
    job = Job(id="j", model="openai/x", provider="openai", response_model="m:M", request_count=1)
    for name, default in (("max_tokens", DEFAULT_MAX_TOKENS), ("temperature", DEFAULT_TEMPERATURE)):
        assert getattr(options, name) == default
        assert build_defaults[name].default == default
        assert enqueue_defaults[name].default == default
        assert getattr(job, name) == default


@pytest.mark.parametrize("cls", ALL)
def test_a_temperature_above_the_providers_ceiling_is_refused(cls: type[Provider]) -> None:
    ceiling = cls.limits.max_temperature
    build(cls).line_encoder(User, RequestOptions(temperature=ceiling))
    with pytest.raises(InvalidRequestError, match="temperature"):
        build(cls).line_encoder(User, RequestOptions(temperature=ceiling + 0.1))


@pytest.mark.parametrize("cls", ALL)
def test_extras_batchline_sets_itself_are_refused(cls: type[Provider]) -> None:
    assert cls.reserved_extra, "every provider sets some request fields itself"
    for key in sorted(cls.reserved_extra):
        with pytest.raises(InvalidRequestError, match=key):
            build(cls).line_encoder(User, RequestOptions(extra={key: "x"}))


# -- custom ids -----------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", ALL)
@pytest.mark.parametrize("custom_id", ["", None, 5])
def test_custom_ids_that_are_not_non_empty_strings_are_refused(
    cls: type[Provider], custom_id: Any
) -> None:
    encode = build(cls).line_encoder(User, RequestOptions())
    with pytest.raises(InvalidRequestError, match="custom_id"):
        encode(custom_id, MESSAGES)


@pytest.mark.parametrize("cls", ALL)
def test_the_ids_the_workers_make_are_valid_for_every_provider(cls: type[Provider]) -> None:
    from batchline.workers.jobs import custom_id

    identifier = custom_id("0123456789abcdef", 12, 199_999)  # a job id is 16 hex characters
    assert cls.custom_id_pattern.fullmatch(identifier)
    build(cls).line_encoder(User, RequestOptions())(identifier, MESSAGES)


# -- provider options -----------------------------------------------------------------------------
@pytest.mark.parametrize("cls", ALL)
def test_unknown_provider_options_are_refused_by_name(cls: type[Provider]) -> None:
    with pytest.raises(InvalidRequestError, match="output_format"):
        build(cls, output_format="json")


@pytest.mark.parametrize("cls", ALL)
def test_every_option_has_a_default_and_refuses_other_values(cls: type[Provider]) -> None:
    provider = build(cls)
    assert provider.options == {name: choices[0] for name, choices in cls.option_choices.items()}
    for name in cls.option_choices:
        with pytest.raises(InvalidRequestError, match=name):
            build(cls, **{name: "no-such-mode"})


def test_options_reach_the_provider_through_the_processor() -> None:
    processor = BatchProcessor("openai/gpt-4.1-mini", User, settings=OFFLINE, output_mode="tools")
    assert processor.provider.options == {"output_mode": "tools"}


# -- what each provider declares ------------------------------------------------------------------
@pytest.mark.parametrize("cls", ALL)
def test_each_provider_declares_what_the_rest_of_batchline_reads(cls: type[Provider]) -> None:
    assert PROVIDERS[cls.name].endswith(cls.__name__)
    assert cls.required_settings
    assert all(hasattr(OFFLINE, required.attribute) for required in cls.required_settings)
    assert cls.statuses and all(isinstance(s, BatchStatus) for s in cls.statuses.values())
    assert cls.list_page_size > 0
    assert f"{cls.name}/{cls.example_model}" in example_models()


def test_a_batch_id_no_provider_owns_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="cannot tell the provider"):
        provider_for_batch_id("job-1234")


@pytest.mark.parametrize("cls", ALL)
def test_missing_settings_are_named_before_any_call(cls: type[Provider]) -> None:
    empty = Settings(**{required.attribute: None for required in cls.required_settings})
    missing = [required.env for required in cls.required_settings]
    assert cls.missing_settings(empty) == missing
    assert cls.missing_settings(OFFLINE) == []
    with pytest.raises(ConfigurationError, match=missing[0]):
        cls(cls.example_model, empty).check_credentials()


@pytest.mark.parametrize("cls", ALL)
def test_the_cancel_rule_is_the_interfaces_own(cls: type[Provider]) -> None:
    """A finished batch comes back unchanged from ``Provider.cancel``; no provider may
    replace that rule with its own (the contract suite checks it over the wire)."""
    assert cls.cancel is Provider.cancel


# -- one SDK client per account -------------------------------------------------------------------
@pytest.mark.parametrize("name", ["openai", "anthropic"])
def test_processors_of_one_account_share_one_sdk_client(name: str) -> None:
    from tests.providers.models import Profile

    cls = provider_class(name)
    first = BatchProcessor(f"{name}/{cls.example_model}", User, settings=OFFLINE)
    second = BatchProcessor(f"{name}/another-model", Profile, settings=OFFLINE)
    account = cls.for_account(OFFLINE)
    assert first.provider.client is second.provider.client is account.client  # type: ignore[attr-defined]
    other_key = OFFLINE.model_copy(update={f"{name}_api_key": SecretStr("sk-someone-else")})
    assert cls.for_account(other_key).client is not account.client  # type: ignore[attr-defined]


def test_an_account_provider_cannot_submit_a_google_job() -> None:
    import io

    account = provider_class("google").for_account(OFFLINE)
    with pytest.raises(InvalidRequestError, match="model"):
        account.submit(io.BytesIO(b'{"key": "a"}\n'), None)
