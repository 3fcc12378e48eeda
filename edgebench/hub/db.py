"""The hub's database: users and hashed tokens, models with immutable versions, subscriptions,
the feed, webhook deliveries and per-device results. SQLAlchemy: SQLite under the data directory
by default, PostgreSQL (or any URL) by --db.

Every state change is one transaction. Immutability and the one-winner rule for concurrent
publishes rest on unique constraints, not on checks made before writing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import (JSON, Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint,
                        create_engine, event, func, or_, select, update)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from edgebench.dbretry import create_with_retry
from edgebench.errors import UserError
from edgebench.refs import check_segment
from edgebench.results.store import error_reason, sqlite_pragmas

TOKEN_PREFIX = "ebh_"


class HubRefusal(Exception):
    """A request the hub refuses: carries the HTTP status and a one-line reason."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail


class Base(DeclarativeBase):
    pass


class UserRow(Base):
    __tablename__ = "hub_users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    created: Mapped[str] = mapped_column(String(40))


class TokenRow(Base):
    __tablename__ = "hub_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("hub_users.id"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)   # never the token itself
    created: Mapped[str] = mapped_column(String(40))
    user: Mapped[UserRow] = relationship()


class BlobRow(Base):
    """An uploaded file that passed validation. Invisible until a version references it."""

    __tablename__ = "hub_blobs"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    format: Mapped[str] = mapped_column(String(32))
    precision: Mapped[str] = mapped_column(String(16))
    created: Mapped[str] = mapped_column(String(40))


class ModelRow(Base):
    __tablename__ = "hub_models"
    __table_args__ = (UniqueConstraint("owner", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text)
    task: Mapped[str] = mapped_column(String(64), index=True)
    license: Mapped[str] = mapped_column(String(200))
    retrainable: Mapped[bool] = mapped_column(Boolean)
    card: Mapped[dict] = mapped_column(JSON)                 # the latest version's card
    created: Mapped[str] = mapped_column(String(40))
    updated: Mapped[str] = mapped_column(String(40))
    tags: Mapped[list[TagRow]] = relationship(cascade="all, delete-orphan")
    versions: Mapped[list[VersionRow]] = relationship(order_by="VersionRow.id")

    @property
    def path(self) -> str:
        return f"{self.owner}/{self.name}"


class TagRow(Base):
    __tablename__ = "hub_model_tags"
    model_id: Mapped[int] = mapped_column(ForeignKey("hub_models.id"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class VersionRow(Base):
    __tablename__ = "hub_versions"
    __table_args__ = (UniqueConstraint("model_id", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("hub_models.id"), index=True)
    version: Mapped[str] = mapped_column(String(64))
    publisher: Mapped[str] = mapped_column(String(64))
    card: Mapped[dict] = mapped_column(JSON)
    created: Mapped[str] = mapped_column(String(40))
    model: Mapped[ModelRow] = relationship(back_populates="versions")
    artifacts: Mapped[list[ArtifactRow]] = relationship(order_by="ArtifactRow.id")


class ArtifactRow(Base):
    __tablename__ = "hub_artifacts"
    __table_args__ = (UniqueConstraint("version_id", "filename"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("hub_versions.id"), index=True)
    filename: Mapped[str] = mapped_column(String(128))
    format: Mapped[str] = mapped_column(String(32), index=True)
    precision: Mapped[str] = mapped_column(String(16))
    runtime_hint: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(ForeignKey("hub_blobs.sha256"))
    size: Mapped[int] = mapped_column(Integer)


class SubscriptionRow(Base):
    __tablename__ = "hub_subscriptions"
    __table_args__ = (UniqueConstraint("user_id", "model_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("hub_users.id"), index=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("hub_models.id"), index=True)
    # Events up to this id happened before the subscription: they are not "new" to this user.
    after_event: Mapped[int] = mapped_column(Integer)
    webhook_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    webhook_secret: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created: Mapped[str] = mapped_column(String(40))


class EventRow(Base):
    __tablename__ = "hub_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)        # the feed's cursor
    model_id: Mapped[int] = mapped_column(ForeignKey("hub_models.id"), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("hub_versions.id"))
    created: Mapped[str] = mapped_column(String(40))
    version: Mapped[VersionRow] = relationship()


class DeliveryRow(Base):
    __tablename__ = "hub_deliveries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("hub_subscriptions.id"), index=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("hub_events.id"))
    url: Mapped[str] = mapped_column(String(2000))
    status: Mapped[str] = mapped_column(String(16), index=True)      # pending|delivered|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float] = mapped_column(Float)            # unix seconds
    claimed_until: Mapped[float] = mapped_column(Float, default=0.0)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    delivered_at: Mapped[str | None] = mapped_column(String(40), nullable=True)


class ResultRow(Base):
    __tablename__ = "hub_results"
    __table_args__ = (UniqueConstraint("version_id", "run_id", "target"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("hub_versions.id"), index=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("hub_models.id"), index=True)
    run_id: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(64))
    runtime: Mapped[str] = mapped_column(String(64))
    precision: Mapped[str] = mapped_column(String(16))
    fingerprint: Mapped[str] = mapped_column(String(32), index=True)
    device: Mapped[str] = mapped_column(String(300))
    median_ms: Mapped[float] = mapped_column(Float)
    fps: Mapped[float] = mapped_column(Float)
    energy_j: Mapped[float | None] = mapped_column(Float, nullable=True)   # per inference
    energy_method: Mapped[str | None] = mapped_column(String(200), nullable=True)
    pushed_by: Mapped[str] = mapped_column(String(64))
    created: Mapped[str] = mapped_column(String(40))
    document: Mapped[dict] = mapped_column(JSON)      # the TargetResult + run-level device info


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def database_url(data_dir: Path, db_url: str | None) -> str:
    return db_url or f"sqlite:///{(Path(data_dir) / 'hub.db').resolve()}"


SQLITE_HEADER = b"SQLite format 3\x00"
# Tables of edgebench's results store: a hub pointed at one is told what it found.
RESULTS_STORE_TABLES = {"edgebench_meta", "runs", "target_results", "devices"}


def check_sqlite_file(url: str) -> None:
    """Refuse (UserError) an existing SQLite file that is not a hub's database, before anything
    writes to it: an empty file, a file that is not SQLite, or one holding other tables (a
    results store). Read-only: the file is left byte for byte as it was. A missing file is a
    new hub."""
    from sqlalchemy.engine import make_url

    from edgebench.fileio import regular_file

    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if not path.exists():
        return
    regular_file(path, "hub database")
    new_hub = "give the hub another data folder (or database) to start one"
    with open(path, "rb") as f:
        head = f.read(len(SQLITE_HEADER))
    if not head:
        raise UserError(f"{path} is an empty file, not a hub database; remove it or {new_hub}")
    if head != SQLITE_HEADER:
        raise UserError(f"{path} is not a hub database (not an SQLite file); {new_hub}")
    foreign = sorted(t for t in _sqlite_tables(path) if not t.startswith(("hub_", "sqlite_")))
    if foreign:
        what = ("an edgebench results store" if RESULTS_STORE_TABLES & set(foreign)
                else f"tables {', '.join(foreign[:4])}{', ...' if len(foreign) > 4 else ''}")
        raise UserError(f"{path} is not a hub database: it holds {what}; {new_hub}")


def _sqlite_tables(path: Path) -> list[str]:
    import sqlite3
    from urllib.parse import quote

    # Without a -wal file everything is in the main file: read it as immutable, which creates no
    # -wal/-shm beside it. With one (a process has it open), read-only through the WAL.
    wal = path.with_name(path.name + "-wal").exists()
    try:
        conn = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro{'' if wal else '&immutable=1'}",
                               uri=True, timeout=10)
        try:
            return [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise UserError(f"cannot read {path} as a hub database: {exc}") from None


class HubDB:
    """Open (creating if needed) the hub database."""

    def __init__(self, url: str):
        self.url = url
        sqlite = url.startswith("sqlite")
        if sqlite:
            check_sqlite_file(url)
        try:
            self.engine = create_engine(url, **({"connect_args": {"timeout": 60, "check_same_thread": False}}
                                                if sqlite else {"pool_pre_ping": True}))
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise UserError(f"cannot open hub database: {error_reason(exc)}") from None
        if sqlite:
            event.listen(self.engine, "connect", sqlite_pragmas)
        # Two processes creating a fresh database race; the loser retries.
        create_with_retry(lambda: Base.metadata.create_all(self.engine),
                          lambda exc: UserError(f"cannot open hub database: {error_reason(exc)}"))

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as s, s.begin():
            yield s

    def close(self) -> None:
        self.engine.dispose()

    # -- users and tokens ---------------------------------------------------------------------
    def create_token(self, user: str) -> str:
        """A new API token for user (created if new). Only its sha256 is kept."""
        check_segment(user, "user name")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        for attempt in range(3):
            try:
                with self.session() as s:
                    row = s.scalar(select(UserRow).where(UserRow.name == user))
                    if row is None:
                        row = UserRow(name=user, created=now_iso())
                        s.add(row)
                        s.flush()
                    s.add(TokenRow(user_id=row.id, token_sha256=hash_token(token), created=now_iso()))
                return token
            except IntegrityError:  # the same new user created concurrently: use theirs
                time.sleep(0.05 * (attempt + 1))
        raise UserError(f"could not create a token for {user}")

    def revoke_tokens(self, user: str) -> int:
        """Delete every token of user; returns how many there were. Their models stay."""
        with self.session() as s:
            row = s.scalar(select(UserRow).where(UserRow.name == user))
            if row is None:
                raise UserError(f"no user {user} on this hub")
            tokens = s.scalars(select(TokenRow).where(TokenRow.user_id == row.id)).all()
            for token in tokens:
                s.delete(token)
            return len(tokens)

    def user_for_token(self, token: str) -> str | None:
        with self.session() as s:
            row = s.scalar(select(TokenRow).where(TokenRow.token_sha256 == hash_token(token)))
            return row.user.name if row else None

    # -- reading models -----------------------------------------------------------------------
    def find_model(self, s: Session, path: str) -> ModelRow:
        owner, _, name = path.partition("/")
        row = s.scalar(select(ModelRow).where(ModelRow.owner == owner, ModelRow.name == name))
        if row is None or not row.versions:
            raise HubRefusal(404, f"no model {path} on this hub")
        return row

    def find_version(self, s: Session, path: str, version: str | None) -> VersionRow:
        model = self.find_model(s, path)
        if version is None:
            return model.versions[-1]
        found = next((v for v in model.versions if v.version == version), None)
        if found is None:
            raise HubRefusal(404, f"{path} has no version {version} "
                                  f"(versions: {', '.join(v.version for v in model.versions)})")
        return found

    def search(self, s: Session, q: str = "", task: str = "", tag: str = "", fmt: str = "",
               limit: int = 50, offset: int = 0) -> list[ModelRow]:
        """Models with at least one version, filtered; newest first."""
        query = select(ModelRow).where(ModelRow.versions.any())
        if q:
            text = q.lower()  # autoescape: a '%' or '_' typed by the user is searched for literally
            query = query.where(or_(
                func.lower(ModelRow.owner + "/" + ModelRow.name).contains(text, autoescape=True),
                func.lower(ModelRow.description).contains(text, autoescape=True),
                ModelRow.tags.any(func.lower(TagRow.tag).contains(text, autoescape=True))))
        if task:
            query = query.where(ModelRow.task == task)
        if tag:
            query = query.where(ModelRow.tags.any(TagRow.tag == tag))
        if fmt:
            query = query.where(ModelRow.versions.any(VersionRow.artifacts.any(ArtifactRow.format == fmt)))
        query = query.order_by(ModelRow.updated.desc(), ModelRow.id.desc()).limit(limit).offset(offset)
        return list(s.scalars(query))

    def facets(self, s: Session) -> dict[str, list[str]]:
        """The distinct tasks, tags and formats on this hub: the search form's drop-downs."""
        def values(column) -> list[str]:
            # SELECT DISTINCT at statement level: select(distinct(column)) warns (SAWarning).
            return sorted(s.scalars(select(column).distinct()))

        return {"tasks": values(ModelRow.task), "tags": values(TagRow.tag),
                "formats": values(ArtifactRow.format)}

    def results_for(self, s: Session, model: ModelRow) -> list[tuple[ResultRow, str]]:
        rows = s.execute(select(ResultRow, VersionRow.version)
                         .join(VersionRow, VersionRow.id == ResultRow.version_id)
                         .where(ResultRow.model_id == model.id)
                         .order_by(ResultRow.fps.desc())).all()
        # Rows stored before results were held to finite, non-negative numbers (a pushed NaN or
        # 1e400) are left out rather than breaking the model's page and API.
        return [(r, v) for r, v in rows if _sane(r.median_ms, r.fps, r.energy_j)]

    # -- blobs --------------------------------------------------------------------------------
    def add_blob(self, sha256: str, size: int, fmt: str, precision: str) -> None:
        try:
            with self.session() as s:
                if s.get(BlobRow, sha256) is None:
                    s.add(BlobRow(sha256=sha256, size=size, format=fmt, precision=precision,
                                  created=now_iso()))
        except IntegrityError:
            pass  # the same bytes uploaded twice at once: content-addressed, so both are right

    # -- publishing ---------------------------------------------------------------------------
    def publish(self, user: str, owner: str, name: str, version: str, card: dict,
                artifacts: list[dict]) -> int:
        """Create owner/name@version with its artifacts, atomically. Returns the event id.

        card: the card fields the publisher gave; the others carry over from the model's latest
        version (hub/cards.py). artifacts: {filename, sha256, runtime_hint}; each sha256 must be
        an uploaded blob.
        """
        if user != owner:
            raise HubRefusal(403, f"{user} cannot publish in namespace '{owner}': only its owner can")
        for attempt in range(3):
            try:
                with self.session() as s:
                    return self._publish_in(s, user, owner, name, version, card, artifacts)
            except IntegrityError as exc:
                # Either the version exists (someone else won) or the model row was created
                # concurrently by another first publish: retrying tells which.
                with self.session() as s:
                    model = s.scalar(select(ModelRow).where(ModelRow.owner == owner, ModelRow.name == name))
                    if model is not None and any(v.version == version for v in model.versions):
                        raise _version_exists(owner, name, version) from None
                if attempt == 2:
                    raise HubRefusal(409, f"conflicting publish of {owner}/{name}: {error_reason(exc)}") from None
        raise AssertionError("unreachable")

    def _publish_in(self, s: Session, user: str, owner: str, name: str, version: str, card: dict,
                    artifacts: list[dict]) -> int:
        blobs = {}
        for a in artifacts:
            blob = s.get(BlobRow, a["sha256"])
            if blob is None:
                raise HubRefusal(422, f"{a['filename']}: no uploaded file with sha256 {a['sha256'][:16]}...; "
                                      "upload it first (POST /api/uploads)")
            blobs[a["filename"]] = blob
        if len(blobs) != len(artifacts):
            raise HubRefusal(422, "two artifacts have the same file name")
        model = s.scalar(select(ModelRow).where(ModelRow.owner == owner, ModelRow.name == name))
        stamp = now_iso()
        if model is None:
            model = ModelRow(owner=owner, name=name, created=stamp, description="", task="", license="",
                             retrainable=False, card={}, updated=stamp)
            s.add(model)
            s.flush()
        elif any(v.version == version for v in model.versions):
            raise _version_exists(owner, name, version)
        from edgebench.hub.cards import card_for_version

        previous = model.versions[-1].card if model.versions else None
        card = card_for_version(previous, card, [a["filename"] for a in artifacts])
        row = VersionRow(model_id=model.id, version=version, publisher=user, card=card, created=stamp)
        s.add(row)
        s.flush()  # the unique (model, version) constraint decides concurrent publishes here
        from edgebench.hub.schema import RUNTIME_HINTS

        for a in artifacts:
            blob = blobs[a["filename"]]
            s.add(ArtifactRow(version_id=row.id, filename=a["filename"], format=blob.format,
                              precision=blob.precision, sha256=blob.sha256, size=blob.size,
                              runtime_hint=a.get("runtime_hint") or RUNTIME_HINTS.get(blob.format, "")))
        model.description, model.task, model.license = card["description"], card["task"], card["license"]
        model.retrainable, model.card, model.updated = card["retrainable"], card, stamp
        model.tags = [TagRow(tag=t) for t in dict.fromkeys(card["tags"])]
        feed_event = EventRow(model_id=model.id, version_id=row.id, created=stamp)
        s.add(feed_event)
        s.flush()
        for sub in s.scalars(select(SubscriptionRow).where(SubscriptionRow.model_id == model.id,
                                                           SubscriptionRow.webhook_url.is_not(None))):
            s.add(DeliveryRow(subscription_id=sub.id, event_id=feed_event.id, url=sub.webhook_url,
                              status="pending", attempts=0, next_attempt_at=time.time(),
                              claimed_until=0.0))
        return feed_event.id

    # -- subscriptions and the feed -----------------------------------------------------------
    def subscribe(self, user: str, path: str, webhook_url: str | None) -> str | None:
        """Subscribe user to a model; returns the webhook signing secret (None without webhook)."""
        secret = secrets.token_hex(32) if webhook_url else None
        try:
            with self.session() as s:
                model = self.find_model(s, path)
                user_row = s.scalar(select(UserRow).where(UserRow.name == user))
                last_event = s.scalar(select(func.max(EventRow.id))) or 0
                existing = s.scalar(select(SubscriptionRow).where(SubscriptionRow.user_id == user_row.id,
                                                                   SubscriptionRow.model_id == model.id))
                if existing is None:
                    s.add(SubscriptionRow(user_id=user_row.id, model_id=model.id, after_event=last_event,
                                          webhook_url=webhook_url, webhook_secret=secret, created=now_iso()))
                else:  # re-subscribing updates the webhook (and rotates its secret)
                    existing.webhook_url, existing.webhook_secret = webhook_url, secret
        except IntegrityError:
            raise HubRefusal(409, f"a subscription to {path} was being created at the same time; "
                                  "try again") from None
        return secret

    def unsubscribe(self, user: str, path: str) -> None:
        with self.session() as s:
            model = self.find_model(s, path)
            sub = s.scalar(select(SubscriptionRow).join(UserRow, UserRow.id == SubscriptionRow.user_id)
                           .where(UserRow.name == user, SubscriptionRow.model_id == model.id))
            if sub is None:
                raise HubRefusal(404, f"{user} is not subscribed to {path}")
            s.execute(update(DeliveryRow).where(DeliveryRow.subscription_id == sub.id,
                                                DeliveryRow.status == "pending")
                      .values(status="failed", last_error="unsubscribed"))
            s.delete(sub)

    def subscriptions(self, user: str) -> list[dict]:
        with self.session() as s:
            rows = s.execute(select(SubscriptionRow, ModelRow)
                             .join(ModelRow, ModelRow.id == SubscriptionRow.model_id)
                             .join(UserRow, UserRow.id == SubscriptionRow.user_id)
                             .where(UserRow.name == user).order_by(SubscriptionRow.id)).all()
            return [{"model": m.path, "webhook_url": sub.webhook_url, "since": sub.created}
                    for sub, m in rows]

    def feed(self, s: Session, user: str, cursor: int, limit: int) -> list[EventRow]:
        """New versions of the user's subscribed models, after cursor, oldest first."""
        query = (select(EventRow)
                 .join(SubscriptionRow, SubscriptionRow.model_id == EventRow.model_id)
                 .join(UserRow, UserRow.id == SubscriptionRow.user_id)
                 .where(UserRow.name == user, EventRow.id > SubscriptionRow.after_event,
                        EventRow.id > cursor)
                 .order_by(EventRow.id).limit(limit))
        return list(s.scalars(query))

    # -- results ------------------------------------------------------------------------------
    def add_results(self, user: str, path: str, version: str, rows: list[dict]) -> tuple[int, int]:
        """Store per-target results for a version; (added, already present). Re-pushing is harmless."""
        added = present = 0
        with self.session() as s:
            version_row = self.find_version(s, path, version)
            for r in rows:
                exists = s.scalar(select(ResultRow.id).where(ResultRow.version_id == version_row.id,
                                                             ResultRow.run_id == r["run_id"],
                                                             ResultRow.target == r["target"]))
                if exists is not None:
                    present += 1
                    continue
                s.add(ResultRow(version_id=version_row.id, model_id=version_row.model_id, pushed_by=user,
                                created=now_iso(), **r))
                added += 1
        return added, present

    def artifact_shas(self, path: str, version: str) -> set[str]:
        with self.session() as s:
            return {a.sha256 for a in self.find_version(s, path, version).artifacts}

    # -- webhook deliveries -------------------------------------------------------------------
    def claim_due_deliveries(self, lease_s: float = 60.0, limit: int = 20) -> list[tuple[DeliveryRow, str, dict]]:
        """Deliveries due now, each claimed for lease_s so a second worker leaves them alone.
        Returns (delivery, secret, event payload)."""
        now = time.time()
        claimed = []
        with self.session() as s:
            due = s.scalars(select(DeliveryRow).where(DeliveryRow.status == "pending",
                                                      DeliveryRow.next_attempt_at <= now,
                                                      DeliveryRow.claimed_until <= now)
                            .order_by(DeliveryRow.id).limit(limit)).all()
            ids = [d.id for d in due]
        for delivery_id in ids:
            with self.session() as s:
                won = s.execute(update(DeliveryRow).where(DeliveryRow.id == delivery_id,
                                                          DeliveryRow.claimed_until <= now,
                                                          DeliveryRow.status == "pending")
                                .values(claimed_until=now + lease_s)).rowcount
                if not won:
                    continue
                delivery = s.get(DeliveryRow, delivery_id)
                sub = s.get(SubscriptionRow, delivery.subscription_id)
                if sub is None or not sub.webhook_secret:
                    delivery.status, delivery.last_error = "failed", "subscription removed"
                    continue
                feed_event = s.get(EventRow, delivery.event_id)
                claimed.append((delivery, sub.webhook_secret, event_payload(feed_event, with_card=True)))
        return claimed

    def record_delivery(self, delivery_id: int, ok: bool, error: str | None, max_attempts: int,
                        backoff_s: float) -> None:
        with self.session() as s:
            d = s.get(DeliveryRow, delivery_id)
            d.attempts += 1
            d.claimed_until = 0.0
            if ok:
                d.status, d.delivered_at, d.last_error = "delivered", now_iso(), None
            else:
                d.last_error = (error or "")[:500]
                if d.attempts >= max_attempts:
                    d.status = "failed"
                else:  # exponential backoff: backoff, 2x, 4x, ... capped at an hour
                    d.next_attempt_at = time.time() + min(backoff_s * 2 ** (d.attempts - 1), 3600.0)

    def deliveries(self) -> list[dict]:
        with self.session() as s:
            return [{"id": d.id, "url": d.url, "status": d.status, "attempts": d.attempts,
                     "last_error": d.last_error} for d in s.scalars(select(DeliveryRow).order_by(DeliveryRow.id))]


def event_payload(feed_event: EventRow, with_card: bool = False) -> dict:
    """The feed event as JSON: what the feed lists and, with the version's card, what a webhook
    receives. (Feed pages leave the cards out: up to 500 events of cards with up to 100,000 labels
    each would not make a page a client can read.)"""
    version = feed_event.version
    payload = {"cursor": feed_event.id, "event": "version.published", "model": version.model.path,
               "version": version.version, "created": feed_event.created,
               "artifacts": [artifact_out(version, a) for a in version.artifacts]}
    return {**payload, "card": version.card} if with_card else payload


def artifact_out(version: VersionRow, a: ArtifactRow) -> dict:
    return {"filename": a.filename, "format": a.format, "precision": a.precision,
            "runtime_hint": a.runtime_hint, "sha256": a.sha256, "size": a.size,
            "url": f"/api/models/{version.model.path}/versions/{version.version}/files/{a.filename}"}


def version_out(version: VersionRow) -> dict:
    return {"model": version.model.path, "version": version.version, "created": version.created,
            "publisher": version.publisher, "card": version.card,
            "artifacts": [artifact_out(version, a) for a in version.artifacts]}


def model_summary(model: ModelRow) -> dict:
    latest = model.versions[-1] if model.versions else None
    return {"model": model.path, "description": model.description, "task": model.task,
            "license": model.license, "tags": [t.tag for t in model.tags], "retrainable": model.retrainable,
            "latest_version": latest.version if latest else None,
            "formats": sorted({a.format for a in latest.artifacts}) if latest else [],
            "updated": model.updated}


def result_out(row: ResultRow, version: str) -> dict:
    """A result as the API lists it. Energy stays in joules per inference here, as stored;
    the pages and the CLI show it in millijoules."""
    return {"device": row.device, "fingerprint": row.fingerprint, "version": version, "target": row.target,
            "runtime": row.runtime, "precision": row.precision, "median_ms": row.median_ms,
            "fps": row.fps, "energy_j_per_inference": row.energy_j, "energy_method": row.energy_method,
            "run_id": row.run_id, "created": row.document.get("run_created", row.created),
            **_answer_of(row.document.get("result") or {}),
            "conditions": _warnings_of(row.document.get("conditions") or []),
            "accuracy": accuracy_text((row.document.get("result") or {}).get("accuracy"))}


def _warnings_of(conditions: list) -> str | None:
    """The stored run's condition warnings in a few words ('governor powersave; ...'); None for
    results pushed before conditions were recorded."""
    words = [str(c.get("value") or c.get("check")) for c in conditions
             if isinstance(c, dict) and c.get("status") == "warn"]
    return "; ".join(words)[:300] if conditions else None


def _answer_of(result: dict) -> dict:
    """The task, its one-line answer and its agreement with the float reference, as the pushed
    result stored them (results stored before tasks: a classifier's top-1 and its verdict)."""
    top1 = result.get("top1") or {}
    answer = result.get("summary") or (f"{top1.get('label')} {top1.get('score', 0):.3f}" if top1 else None)
    agreement = result.get("agreement") or {}
    agrees = result.get("agrees_with_reference")
    figure = (f"{agreement.get('metric')} {agreement.get('value', 0):.3f}" if agreement.get("metric")
              not in (None, "same top-1 label") else None)
    verdict = None if agrees is None else ("yes" if agrees else "NO") + (f" ({figure})" if figure else "")
    if result.get("is_reference"):
        verdict = "reference"
    task = result.get("task") or ("classification" if top1 else None)
    return {"task": task, "answer": answer[:400] if answer else None, "agreement": verdict}


def accuracy_text(accuracy: dict | None) -> str | None:
    """A pushed result's figures on labelled data, as the per-device table shows them."""
    from pydantic import ValidationError

    from edgebench.results.schema import TaskAccuracy

    if not accuracy:
        return None
    try:
        return TaskAccuracy.model_validate(accuracy).text()
    except ValidationError:   # stored by a later edgebench in a shape this one does not know
        return None


def _sane(*numbers: float | None) -> bool:
    import math

    return all(n is None or (isinstance(n, (int, float)) and math.isfinite(n) and n >= 0) for n in numbers)


def _version_exists(owner: str, name: str, version: str) -> HubRefusal:
    return HubRefusal(409, f"{owner}/{name}@{version} already exists; versions are immutable: "
                           "publish a new version")


def hash_token(token: str) -> str:
    # Tokens are 256-bit random strings: a plain sha256 cannot be brute-forced back.
    return hashlib.sha256(token.encode()).hexdigest()
