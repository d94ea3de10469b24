"""The one settings module: every environment variable the system reads, with its default.

Each service builds a :class:`Settings` once at start-up (``Settings()`` reads the environment) and
passes it down; nothing else in the package reads ``os.environ``. The README's configuration table
is generated from the field descriptions here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

VAR_DIR = Path("var")


class Settings(BaseSettings):
    """Typed configuration for all four services. Field names are the environment variables."""

    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore", frozen=True)

    # --- ML integration -------------------------------------------------------------------
    ML_MODEL_PATH: Path = Field(VAR_DIR / "models", description="Where trained models are saved (versioned).")
    ML_TRAINING_DATA_PATH: Path = Field(
        VAR_DIR / "training-data", description="Where the ML service keeps training data it was sent."
    )
    ML_PREDICTION_CACHE_TTL: float = Field(
        300, ge=0, description="Seconds a prediction stays cached (0 turns the cache off)."
    )
    ML_ANOMALY_THRESHOLD: float = Field(
        0.1, gt=0, le=0.5, description="Expected share of anomalies (Isolation Forest contamination)."
    )
    ML_MODEL_SIGNING_KEY: SecretStr | None = Field(
        None, description="Set: saved models carry an HMAC-SHA256 with this key and loading verifies it."
    )
    ML_AB_MIN_SAMPLES: int = Field(
        100, ge=10, description="Actuals an A/B test of two model versions scores before it may call promote or stop."
    )
    ML_LEARNING_INTERVAL: float = Field(
        60, ge=0, description="Seconds between the ML service's polls of the inventory outbox (continuous "
        "learning: demand history, scoring past forecasts, retraining). 0 turns it off."
    )
    ML_RETRAIN_ACCURACY_DROP: float = Field(
        0.2, gt=0, le=1, description="Retrain demand_forecast when its accuracy (1 - WAPE) on arriving actuals "
        "falls this far below its held-out accuracy."
    )
    ML_RETRAIN_DRIFT_PSI: float = Field(
        0.25, gt=0, description="Retrain demand_forecast when a feature's PSI between scored forecasts and its "
        "training rows exceeds this."
    )
    ML_RETRAIN_MIN_ACTUALS: int = Field(
        30, ge=1, description="Scored forecasts of the served version before either retraining rule may fire."
    )
    ML_LEAD_TIME_MIN_ORDERS: int = Field(
        30, ge=30, description="Purchase orders received in full before lead_time_prediction trains on them "
        "instead of the synthetic start-up rows."
    )

    # --- API gateway ----------------------------------------------------------------------
    ML_DEBUG: bool = Field(
        False, description="Start the ML service in debug mode (every prediction logged); switchable at run "
        "time with `PUT /debug` on the ML service.",
    )
    GATEWAY_HOST: str = Field("127.0.0.1", description="Interface the gateway binds (0.0.0.0 for all).")
    GATEWAY_PORT: int = Field(8000, ge=1, le=65535, description="Gateway port.")
    REDIS_URL: str | None = Field(
        None, description="Redis shared by gateway replicas (registry, breakers, limits). Unset: in memory."
    )
    JWT_SECRET: SecretStr | None = Field(
        None, description="HS256 secret. Set: proxied routes need a valid token (public paths excepted)."
    )
    JWT_PUBLIC_KEY: str | None = Field(None, description="PEM public key for RS256 tokens.")
    JWT_JWKS_URL: str | None = Field(None, description="JWKS URL for RS256 tokens.")
    JWT_AUDIENCE: str | None = Field(None, description="Required `aud` claim, when set.")
    JWT_ISSUER: str | None = Field(None, description="Required `iss` claim, when set.")
    JWT_ADMIN_SCOPE: str = Field("admin", description="Scope a token needs for admin routes.")
    GATEWAY_TIMEOUT: float = Field(
        30, gt=0, description="Default endpoint timeout: seconds one attempt may take in all (connect, head, body)."
    )
    GATEWAY_REQUEST_DEADLINE: float | None = Field(
        None, gt=0, description="Seconds one proxied request may take across all its attempts (then 504). "
        "Unset: the endpoint's timeout, so a timed-out attempt is not retried.",
    )
    GATEWAY_PUBLIC_PATHS: str = Field(
        "/*/health",
        description="Comma-separated globs of proxied paths that need no token even with JWT_SECRET set.",
    )
    GATEWAY_TRUSTED_PROXIES: str = Field(
        "", description="Comma-separated IPs/CIDRs whose X-Forwarded-For is believed. Empty: none."
    )
    GATEWAY_BODY_TIMEOUT: float = Field(
        10.0, gt=0, le=3600, description="Seconds the gateway waits for the next part of a request body "
        "before answering 408 and closing the connection (a client that stops sending holds nothing for long).",
    )
    GATEWAY_MAX_BODY_BYTES: int = Field(10 * 1024 * 1024, gt=0, description="Largest request body proxied.")
    GATEWAY_WORKERS: int = Field(
        1, ge=1, le=64, description="Gateway processes sharing its port (granian's workers). More than 1 needs "
        "REDIS_URL, so the registry and exact rate limits are shared by all of them.",
    )
    GATEWAY_SERVER: Literal["granian", "uvicorn"] = Field(
        "granian", description="HTTP server the gateway runs on: `granian` (ASGI, single-threaded runtime, "
        "uvloop) or `uvicorn` (the benchmark's reference).",
    )
    GATEWAY_UPSTREAM_CLIENT: Literal["builtin", "aiohttp", "pyreqwest"] = Field(
        "builtin", description="HTTP client the gateway proxies with: `builtin` (sync.gateway.upstream), "
        "`aiohttp` or `pyreqwest` (measured side by side by bench/gateway.py).",
    )
    GATEWAY_SERVICES: str = Field(
        "inventory=http://127.0.0.1:8004,analytics=http://127.0.0.1:8005,ml=http://127.0.0.1:8006",
        description="Instances the gateway service registers at start: name=url pairs, comma-separated.",
    )
    GATEWAY_DEBUG: bool = Field(
        False, description="Start the gateway in debug mode (logs every routing decision); switchable at run "
        "time with `PUT /debug`.",
    )
    GATEWAY_FALLBACK_MAX_AGE: float = Field(
        0, ge=0, le=86_400, description="Seconds a kept GET/HEAD answer may serve as the fallback when no "
        "instance can; 0 turns fallbacks off (per service: `PUT /services/{name}/policy`).",
    )
    GATEWAY_FALLBACK_MAX_ENTRIES: int = Field(1000, ge=1, description="Most answers the fallback cache keeps.")
    GATEWAY_FALLBACK_MAX_BYTES: int = Field(
        16 * 1024 * 1024, ge=1024, description="Most bytes the fallback cache holds (answers over 1 MiB are not kept).",
    )
    GATEWAY_AFFINITY: str = Field(
        "", description="Sticky sessions: `service=header:NAME` or `service=cookie:NAME` pairs, comma-separated.",
    )

    # --- Command line (`inventory-system status/plan/forecast/backtest/orders`) -------------
    CLI_GATEWAY_URL: str | None = Field(
        None, description="Gateway the CLI's client commands talk to (`--url`). Unset: http://127.0.0.1:GATEWAY_PORT."
    )
    CLI_TOKEN: SecretStr | None = Field(
        None, description="Bearer token the CLI's client commands send (`--token`), needed when JWT is on."
    )

    # --- Rate limiting --------------------------------------------------------------------
    RATE_LIMIT_REDIS_URL: str | None = Field(
        None, description="Redis for shared rate limits (falls back to REDIS_URL). Unset: in memory."
    )
    RATE_LIMIT_REDIS_CLIENT: Literal["builtin", "redis-py"] = Field(
        "builtin", description="Redis client of the shared rate limits: `builtin` (sync.gateway.ratelimit.resp) "
        "or `redis-py` (with hiredis; measured side by side by bench/gateway.py).",
    )
    RATE_LIMIT_DEFAULT_PER_MINUTE: int = Field(100, ge=1, description="Limit for endpoints without a rule.")
    RATE_LIMIT_DEFAULT_PER_HOUR: int = Field(1000, ge=1, description="Hourly limit for endpoints without a rule.")
    RATE_LIMIT_FAIL_CLOSED: bool = Field(
        False, description="When Redis is unreachable: true refuses (503), false falls back to local limits."
    )
    RATE_LIMIT_REDIS_TIMEOUT: float = Field(
        0.1, gt=0, le=10, description="Seconds a request waits for Redis (connect or reply) before the "
        "limiter treats Redis as down: then no request waits on it until a background probe gets an answer.",
    )

    # --- Service discovery ----------------------------------------------------------------
    SERVICE_REGISTRY_URL: str | None = Field(
        None,
        description="A gateway to register with: services started by `inventory-system up` POST "
        "themselves to `{url}/services/{name}` when set.",
    )
    SERVICE_REGISTRY_TTL: float = Field(
        30, ge=1, le=3600, description="Seconds a self-registration lasts; `inventory-system up` renews it "
        "every third of that and deregisters on stop.",
    )
    HEALTH_CHECK_INTERVAL: float = Field(30, gt=0, description="Seconds between active health checks.")
    CIRCUIT_BREAKER_THRESHOLD: int = Field(5, ge=1, description="Consecutive failures that open a breaker.")
    CIRCUIT_BREAKER_TIMEOUT: float = Field(60, gt=0, description="Seconds a breaker stays open before a probe.")

    # --- Services -------------------------------------------------------------------------
    DATABASE_URL: str = Field(
        f"sqlite:///{VAR_DIR / 'inventory.db'}",
        description="Inventory database. `postgresql://user@host:port/db` works; the driver is chosen.",
    )
    SERVICE_HOST: str = Field("127.0.0.1", description="Interface the inventory, analytics and ML services bind.")
    INVENTORY_PORT: int = Field(8004, ge=1, le=65535, description="Inventory service port.")
    ANALYTICS_PORT: int = Field(8005, ge=1, le=65535, description="Analytics service port.")
    ML_PORT: int = Field(8006, ge=1, le=65535, description="ML service port.")
    INVENTORY_URL: str = Field(
        "http://127.0.0.1:8004", description="Where analytics and ML read inventory data (over HTTP)."
    )
    INVENTORY_TIMEOUT: float = Field(
        30, gt=0, description="Seconds one call of the analytics or ML service to the inventory service may wait "
        "for each step (connecting: at most 2). GATEWAY_TIMEOUT is the gateway's own.",
    )
    ML_URL: str = Field(
        "http://127.0.0.1:8006", description="Where analytics reads the latest replenishment plan (over HTTP)."
    )
    ADMIN_TOKEN: SecretStr | None = Field(
        None, description="Bearer token for the services' admin routes. Unset: `inventory-system up`/`serve` "
        "create a random one in var/admin-token (0600); `inventory-system admin-token` prints it."
    )
    DEMO_DATA: bool = Field(True, description="Load the bundled demo sample on first start of an empty database.")
    INVENTORY_IMPORT_MAX_BYTES: int = Field(
        500 * 1024 * 1024, gt=0, description="Largest upload to POST /imports, and largest CSV after decompression."
    )
    MAX_REQUEST_BYTES: int = Field(
        5 * 1024 * 1024, gt=0, description="Largest JSON body a service accepts (uploads have their own limit)."
    )
    LOG_LEVEL: str = Field("INFO", description="Python logging level.")

    @property
    def rate_limit_redis_url(self) -> str | None:
        """The Redis used for rate limits: its own setting first, then the shared one (the one place)."""
        return self.RATE_LIMIT_REDIS_URL or self.REDIS_URL


def csv_list(value: str) -> list[str]:
    """Split a comma-separated setting into its non-empty, stripped items."""
    return [item.strip() for item in value.split(",") if item.strip()]


def markdown_table() -> str:
    """The README's configuration table, generated from the fields above."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.default
        shown = "unset" if default is None else "empty" if default == "" else f"`{default}`"
        rows.append(f"| `{name}` | {shown} | {field.description} |")
    return "\n".join(rows)


def write_readme_table(readme: Path) -> None:
    """Replace the table between the README's settings markers with the current one."""
    text = readme.read_text()
    start, end = "<!-- settings-table -->", "<!-- /settings-table -->"
    head, _, rest = text.partition(start)
    _, _, tail = rest.partition(end)
    readme.write_text(f"{head}{start}\n{markdown_table()}\n{end}{tail}")


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["--write-readme"]:
        write_readme_table(Path("README.md"))
    else:
        print(markdown_table())
