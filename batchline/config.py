"""Settings, read once from the environment.

The providers' own variable names come first (``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``,
``GOOGLE_CLOUD_PROJECT``, ``GCS_BUCKET``...), so that a shell already set up for the official SDKs
works unchanged; batchline's own knobs carry a ``BATCHLINE_`` prefix.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    """Every setting batchline reads. Build one with ``Settings()``; it never re-reads later."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    # OpenAI
    openai_api_key: SecretStr | None = Field(None, validation_alias=_env("OPENAI_API_KEY"))
    openai_base_url: str | None = Field(None, validation_alias=_env("OPENAI_BASE_URL"))

    # Anthropic
    anthropic_api_key: SecretStr | None = Field(None, validation_alias=_env("ANTHROPIC_API_KEY"))
    anthropic_base_url: str | None = Field(None, validation_alias=_env("ANTHROPIC_BASE_URL"))

    # Google (Vertex AI + Cloud Storage)
    google_cloud_project: str | None = Field(
        None, validation_alias=_env("GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT")
    )
    google_cloud_location: str = Field(
        "us-central1", validation_alias=_env("GOOGLE_CLOUD_LOCATION", "GOOGLE_CLOUD_REGION")
    )
    gcs_bucket: str | None = Field(None, validation_alias=_env("GCS_BUCKET"))
    google_application_credentials: str | None = Field(
        None, validation_alias=_env("GOOGLE_APPLICATION_CREDENTIALS")
    )
    google_vertex_base_url: str | None = Field(
        None, validation_alias=_env("GOOGLE_VERTEX_BASE_URL")
    )
    #: A bare OAuth access token; used instead of Application Default Credentials when set
    #: (the sandbox sets it, since anonymous credentials make google-genai try to refresh).
    google_access_token: SecretStr | None = Field(
        None, validation_alias=_env("BATCHLINE_GOOGLE_ACCESS_TOKEN", "GOOGLE_OAUTH_ACCESS_TOKEN")
    )
    storage_emulator_host: str | None = Field(None, validation_alias=_env("STORAGE_EMULATOR_HOST"))

    # Gemini Developer API (an API key, no project or bucket). GOOGLE_API_KEY wins over
    # GEMINI_API_KEY when both are set, as in google-genai.
    gemini_api_key: SecretStr | None = Field(
        None, validation_alias=_env("GOOGLE_API_KEY", "GEMINI_API_KEY")
    )
    gemini_base_url: str | None = Field(None, validation_alias=_env("GOOGLE_GEMINI_BASE_URL"))

    # Workers
    redis_url: str = Field("redis://localhost:6379/0", validation_alias=_env("REDIS_URL"))
    #: Seconds between beat polls of each provider.
    poll_interval: float = Field(30.0, validation_alias=_env("BATCHLINE_POLL_INTERVAL"))
    #: Seconds that stored results live in Redis.
    results_ttl: int = Field(7 * 24 * 3600, validation_alias=_env("BATCHLINE_RESULTS_TTL"))
    #: Provider API calls per second the workers allow themselves, the same for every provider;
    #: unset, each provider's documented limit (``ProviderLimits.calls_per_second``).
    provider_rate_limit: float | None = Field(
        None, validation_alias=_env("BATCHLINE_PROVIDER_RATE_LIMIT")
    )
    #: Prefix of every Redis key batchline writes, so tests and tenants can share one Redis.
    key_prefix: str = Field("batchline", validation_alias=_env("BATCHLINE_KEY_PREFIX"))
    #: Shared secret for signing webhooks (HMAC-SHA256 over the body).
    webhook_secret: SecretStr | None = Field(
        None, validation_alias=_env("BATCHLINE_WEBHOOK_SECRET")
    )
    #: A price table (JSON, the shape of ``batchline/data/prices.json``) whose entries extend or
    #: replace the built-in list prices; ``"replace": true`` in it drops the built-in ones.
    prices_file: str | None = Field(None, validation_alias=_env("BATCHLINE_PRICES_FILE"))
    #: Refuse, before any upload, a job whose upper cost estimate at batch prices is over this
    #: many dollars (``max_cost=`` on a call wins over it). Unset: no budget.
    max_cost: float | None = Field(None, validation_alias=_env("BATCHLINE_MAX_COST"))
    flower_basic_auth: str | None = Field(None, validation_alias=_env("FLOWER_BASIC_AUTH"))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings. Tests call ``get_settings.cache_clear()`` after changing env."""
    return Settings()
