"""Service settings: one pydantic-settings class, read from the environment and `.env`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

SQLITE_DRIVER = "sqlite+aiosqlite"
POSTGRES_DRIVER = "postgresql+asyncpg"
DEFAULT_EVENT_SUBJECTS = ["auth.user.deleted.v1", "evidence.uploaded.v1", "hypothesis.validated.v1"]
_POSTGRES_ALIASES = ("postgres://", "postgresql://", "postgresql+psycopg://", "postgresql+psycopg2://")


class ConfigurationError(Exception):
    """Raised when the environment holds a setting the service cannot start with."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    service_name: str = Field(default="fm-case-service", min_length=1)
    environment: Literal["development", "test", "staging", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = Field(default=8003, ge=1, le=65535)

    database_url: str = f"{SQLITE_DRIVER}:///./fm_cases.db"
    database_read_url: str | None = Field(
        default=None,
        description="A read replica of DATABASE_URL. When set, list, search, stats and batch reads go there.",
    )
    database_pool_size: int = Field(default=20, ge=1, le=200)
    database_connect_timeout: float = Field(default=5.0, gt=0, le=60)
    database_command_timeout: float = Field(
        default=10.0,
        gt=0,
        le=600,
        description="Seconds a PostgreSQL statement may run before it is cancelled and the request fails.",
    )
    auto_migrate: bool = Field(
        default=True,
        description="Apply Alembic migrations at start. Turn off where a migration job runs first.",
    )
    alembic_config: Path | None = None

    default_page_size: int = Field(default=50, ge=1)
    max_page_size: int = Field(default=100, ge=1, le=1000)
    cursor_secret: SecretStr | None = Field(
        default=None,
        description="Signs list cursors. Unset: a random key per process (cursors then do not survive a "
        "restart or move between replicas).",
    )

    idempotency_ttl_seconds: int = Field(
        default=86_400,
        ge=60,
        le=30 * 86_400,
        description="How long an Idempotency-Key's answer is replayed; later the key may be reused.",
    )

    gateway_shared_secret: SecretStr | None = Field(
        default=None,
        min_length=16,
        description="When set, every /api/v1 request must carry the gateway's HMAC signature.",
    )
    gateway_max_skew_seconds: int = Field(
        default=300, ge=1, le=3600, description="How far X-Gateway-Timestamp may be from the service's clock."
    )
    max_request_body_bytes: int = Field(
        default=1_048_576, ge=1024, le=64 * 1_048_576, description="Larger request bodies are refused with 413."
    )
    rate_limit_per_minute: int = Field(
        default=0, ge=0, le=1_000_000, description="Requests per user and minute on /api/v1; 0 turns it off."
    )

    cors_origins: Annotated[list[str], NoDecode] = ["*"]
    log_level: Literal["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"] = "INFO"
    log_format: Literal["json", "text"] | None = Field(
        default=None, description="json or text; unset: text in development, json everywhere else."
    )
    access_log: bool = Field(default=True, description="Log one line per HTTP request (route, status, duration).")
    # OpenTelemetry export, by the standard variable names (the SDK reads the rest of OTEL_*).
    otel_sdk_disabled: bool = False
    otel_traces_exporter: Literal["none", "otlp", "console"] | None = None
    otel_exporter_otlp_endpoint: str | None = None
    shutdown_timeout: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="Seconds a graceful shutdown gives in-flight requests, then each background worker.",
    )

    # The outbox relay: drains `event_outbox` to the publisher below.
    outbox_relay_enabled: bool = Field(default=True, description="Run the outbox relay inside the API process.")
    event_publisher: Literal["log", "nats", "rabbitmq", "webhook"] = "log"
    outbox_batch_size: int = Field(default=5000, ge=1, le=50_000, description="Events read per relay cycle.")
    outbox_case_batch_size: int = Field(
        default=50, ge=1, le=10_000, description="Events of one case taken per cycle (published one after another)."
    )
    outbox_publish_concurrency: int = Field(default=500, ge=1, le=10_000, description="Cases published at once.")
    outbox_poll_interval: float = Field(default=1.0, gt=0, le=300, description="Seconds between polls without a wake-up.")
    outbox_publish_timeout: float = Field(default=5.0, gt=0, le=120, description="Seconds before a publish counts as failed.")
    outbox_retry_base_delay: float = Field(default=0.5, gt=0, le=3600)
    outbox_retry_max_delay: float = Field(default=60.0, gt=0, le=86_400)
    outbox_leader_check_interval: float = Field(
        default=1.0, gt=0, le=60, description="Seconds between a standby's tries to lead and the leader's health checks."
    )
    outbox_retention_seconds: float = Field(default=7 * 24 * 3600, ge=0, description="Keep published rows this long.")
    outbox_purge_interval: float = Field(default=60.0, gt=0, le=86_400)
    outbox_purge_batch_size: int = Field(default=1000, ge=1, le=100_000)

    # The publishers' own settings (NATS_URL, RABBITMQ_URL, RABBITMQ_EXCHANGE: see Brokers below).
    nats_stream: str = Field(default="CASE_EVENTS", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    nats_subject_prefix: str = Field(
        default="", pattern=r"^([A-Za-z0-9_-]+\.)*$", description="Prepended to every subject, e.g. `staging.`."
    )
    webhook_url: str | None = None
    webhook_secret: str | None = None

    # Brokers. The outbox relay publishes through them and the event consumer reads from them.
    nats_url: str = Field(default="nats://127.0.0.1:4222", min_length=1)
    rabbitmq_url: str = Field(default="amqp://guest:guest@127.0.0.1:5672/", min_length=1)
    rabbitmq_exchange: str = Field(
        default="faultmaven.events", min_length=1, description="The platform's topic exchange on RabbitMQ."
    )

    # Consuming platform events (auth.user.deleted, evidence.uploaded, hypothesis.validated).
    event_consumer_enabled: bool = False
    event_consumer_broker: Literal["nats", "rabbitmq"] = "nats"
    event_consumer_name: str = Field(
        default="fm-case-service",
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="The inbox's consumer name, shared by every way in (broker, HTTP, replay), and the "
        "durable consumer / queue prefix.",
    )
    event_consumer_subjects: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_EVENT_SUBJECTS),
        description="Comma-separated JetStream subjects / RabbitMQ routing keys to consume.",
    )
    event_consumer_nats_stream: str = Field(default="PLATFORM_EVENTS", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    event_consumer_queue: str = Field(default="fm-case-service.platform-events", min_length=1, max_length=255)
    event_consumer_max_attempts: int = Field(default=5, ge=1, le=100)
    event_consumer_retry_backoff: float = Field(default=0.5, gt=0, le=60)
    event_consumer_retry_backoff_max: float = Field(default=30.0, gt=0, le=3600)
    event_consumer_ack_wait: float = Field(default=60.0, gt=0, le=3600)
    inbox_retention_seconds: float = Field(
        default=30 * 24 * 3600,
        ge=3600,
        description="Keep a completed inbox row this long: a redelivery of its event within it is still a "
        "duplicate. Make it longer than any redelivery or replay window of the brokers that deliver to us.",
    )
    event_ingress_secret: SecretStr | None = None
    event_ingress_tolerance: float = Field(default=300.0, gt=0, le=86_400)
    user_deletion_batch_size: int = Field(default=200, ge=1, le=5_000)
    hypothesis_resolve_confidence: float = Field(default=0.8, ge=0, le=1)

    @field_validator("event_consumer_subjects", mode="before")
    @classmethod
    def _split_subjects(cls, value: object) -> object:
        if isinstance(value, str):
            return [subject.strip() for subject in value.split(",") if subject.strip()]
        return value

    @field_validator("event_consumer_subjects")
    @classmethod
    def _some_subjects(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("name at least one subject / routing key")
        return value

    @field_validator("event_ingress_secret")
    @classmethod
    def _strong_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value():
            return None
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters (or unset)")
        return value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_log_format(cls, value: object) -> object:
        if isinstance(value, str):
            return value.strip().lower() or None
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("gateway_shared_secret", mode="before")
    @classmethod
    def _empty_secret_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("database_read_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("database_url", "database_read_url")
    @classmethod
    def _async_driver(cls, value: str | None) -> str | None:
        if value is None:
            return None
        for alias in _POSTGRES_ALIASES:
            if value.startswith(alias):
                return POSTGRES_DRIVER + "://" + value[len(alias) :]
        if value.startswith(("sqlite://", "sqlite:///")):
            return SQLITE_DRIVER + value[len("sqlite") :]
        if not value.startswith((f"{SQLITE_DRIVER}://", f"{POSTGRES_DRIVER}://")):
            raise ValueError(
                f"must start with {SQLITE_DRIVER}:// or {POSTGRES_DRIVER}:// (postgres:// is accepted too)"
            )
        return value

    @model_validator(mode="after")
    def _page_sizes_fit(self) -> Settings:
        if self.default_page_size > self.max_page_size:
            raise ValueError(
                f"DEFAULT_PAGE_SIZE ({self.default_page_size}) must not exceed MAX_PAGE_SIZE ({self.max_page_size})"
            )
        return self

    @model_validator(mode="after")
    def _publisher_is_complete(self) -> Settings:
        if self.event_publisher == "webhook":
            if not self.webhook_url or not self.webhook_url.startswith(("http://", "https://")):
                raise ValueError("WEBHOOK_URL must be an http(s) URL when EVENT_PUBLISHER=webhook")
            if not self.webhook_secret or len(self.webhook_secret) < 16:
                raise ValueError("WEBHOOK_SECRET of at least 16 characters is required when EVENT_PUBLISHER=webhook")
        if self.outbox_retry_base_delay > self.outbox_retry_max_delay:
            raise ValueError("OUTBOX_RETRY_BASE_DELAY must not exceed OUTBOX_RETRY_MAX_DELAY")
        return self

    @property
    def effective_log_format(self) -> Literal["json", "text"]:
        if self.log_format is not None:
            return self.log_format
        return "text" if self.environment == "development" else "json"

    @property
    def otel_export_enabled(self) -> bool:
        """Off by default: on when an exporter or an OTLP endpoint is named and the SDK not disabled."""
        if self.otel_sdk_disabled or self.otel_traces_exporter == "none":
            return False
        return self.otel_traces_exporter is not None or bool(self.otel_exporter_otlp_endpoint)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith(SQLITE_DRIVER)


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning a validation failure into one message that names each setting."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = "_".join(str(part) for part in error["loc"]).upper() or "settings"
            problems.append(f"  {name}: {error['msg']}")
        raise ConfigurationError("Invalid configuration:\n" + "\n".join(problems)) from None
