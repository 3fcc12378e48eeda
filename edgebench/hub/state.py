"""What the server's routes share: the configuration and the objects opened from it, held on
the FastAPI app (app.state.hub) and handed to each route by a dependency (routes/deps.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgebench.hub import db as hubdb
from edgebench.hub.blobs import BlobStore
from edgebench.hub.db import HubDB
from edgebench.hub.webhooks import Deliverer


@dataclass(frozen=True)
class HubConfig:
    data_dir: Path
    db_url: str | None = None
    max_upload_bytes: int = 1024 * 1024 * 1024
    webhook_attempts: int = 6
    webhook_backoff_s: float = 2.0


@dataclass(frozen=True)
class HubState:
    """One server's database, file store and webhook deliverer."""

    config: HubConfig
    db: HubDB
    blobs: BlobStore
    deliverer: Deliverer

    @classmethod
    def open(cls, config: HubConfig) -> HubState:
        """Open (creating if needed) the data directory and database of config."""
        data_dir = Path(config.data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        db = HubDB(hubdb.database_url(data_dir, config.db_url))
        return cls(config, db, BlobStore(data_dir),
                   Deliverer(db, config.webhook_attempts, config.webhook_backoff_s))
