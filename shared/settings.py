"""Connection and runtime settings, read from OMS_* environment variables."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("order", "inventory", "fulfillment", "shipping", "notification")


class Settings(BaseSettings):
    """Everything a service or a tool needs to find the broker, the database and the network."""

    model_config = SettingsConfigDict(env_prefix="OMS_", extra="ignore")

    kafka_bootstrap: str = "127.0.0.1:19092"
    kafka_controller_port: int = 19093
    database_url: str = "postgresql://oms@127.0.0.1:15432/{database}"
    home: Path = REPO_ROOT / ".oms"
    kafka_version: str = "4.1.1"
    jar_cache: Path = Path.home() / ".cache" / "oms"
    network_file: Path = REPO_ROOT / "config" / "network.toml"
    simulate_partners: str = "all"
    log_level: str = "INFO"
    consume_batch_size: int = 200
    consume_fetch_wait_ms: int = 25
    db_pool_size: int = 12
    consume_max_attempts: int = 3
    consume_backoff_ms: int = 200
    relay_batch_size: int = 500
    relay_poll_interval_ms: int = 1000

    def database_for(self, service: str) -> str:
        """The DSN of one service's database: OMS_<SERVICE>_DATABASE_URL wins over the shared pattern."""
        own = os.environ.get(f"OMS_{service.upper()}_DATABASE_URL")
        if own:
            return own
        return self.database_url.replace("{database}", f"oms_{service}")

    @property
    def kafka_port(self) -> int:
        return int(self.kafka_bootstrap.split(",")[0].rsplit(":", 1)[1])

    @property
    def postgres_port(self) -> int:
        return int(self.database_url.split("@", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])


@lru_cache
def get_settings() -> Settings:
    return Settings()
