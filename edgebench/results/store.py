"""The results store: SQLAlchemy over embedded SQLite (default) or any URL (PostgreSQL tested).

A run is written as it happens: its row first (status "running"), each target as it
finishes, then its final status. A Ctrl-C or a crash therefore keeps every finished
target, and the run says it did not complete. Each write is one short transaction, so
several processes can write one store at once (SQLite: WAL journal + busy timeout).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import (JSON, Float, ForeignKey, Integer, String, create_engine, event, func,
                        select)
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from edgebench.errors import UserError
from edgebench.results.run_ids import MIN_PREFIX, RunIdError, check_run_id, match_run_id
from edgebench.results.schema import DeviceInfo, RunResult, TargetResult

STORE_SCHEMA_VERSION = 1


class Base(DeclarativeBase):
    pass


class MetaRow(Base):
    __tablename__ = "edgebench_meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))


class DeviceRow(Base):
    __tablename__ = "devices"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)     # DeviceInfo.fingerprint()
    hostname: Mapped[str] = mapped_column(String(256))
    cpu_model: Mapped[str] = mapped_column(String(256))
    info: Mapped[dict] = mapped_column(JSON)                           # latest full DeviceInfo


class RunRow(Base):
    __tablename__ = "runs"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created: Mapped[str] = mapped_column(String(40), index=True)
    status: Mapped[str] = mapped_column(String(16))                    # running|complete|interrupted
    model: Mapped[str] = mapped_column(String(256))
    protocol: Mapped[str] = mapped_column(String(32))
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), index=True)
    document: Mapped[dict] = mapped_column(JSON)                       # RunResult without results
    targets: Mapped[list[TargetRow]] = relationship(
        back_populates="run", cascade="all, delete-orphan", order_by="TargetRow.position")


class TargetRow(Base):
    __tablename__ = "target_results"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    target: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    median_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    fps: Mapped[float | None] = mapped_column(Float, nullable=True)
    top1_label: Mapped[str | None] = mapped_column(String(256), nullable=True)
    document: Mapped[dict] = mapped_column(JSON)                       # the whole TargetResult
    run: Mapped[RunRow] = relationship(back_populates="targets")


def default_store_url() -> str:
    override = os.environ.get("EDGEBENCH_STORE")
    if override:
        return store_url(override)
    from platformdirs import user_data_dir

    return store_url(str(Path(user_data_dir("edgebench")) / "results.db"))


def store_url(path_or_url: str) -> str:
    """A SQLAlchemy URL from --store: URLs pass through, anything else is a SQLite file path."""
    if "://" in path_or_url:
        return path_or_url
    return f"sqlite:///{Path(path_or_url).expanduser().resolve()}"


class Store:
    """Open (creating if absent) an edgebench store. Refuses files that are not one."""

    def __init__(self, url: str | None = None):
        """url: a SQLAlchemy URL or a SQLite file path; None opens the default store."""
        self.url = store_url(url) if url else default_store_url()
        self._sqlite_path = self._check_sqlite_file()
        try:
            self.engine = create_engine(self.url, **self._engine_options())
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise UserError(f"cannot open store {self._display()}: {error_reason(exc)}") from None
        if self._sqlite_path is not None:
            event.listen(self.engine, "connect", sqlite_pragmas)
        self._create_schema()

    # -- opening -----------------------------------------------------------------------------
    def _display(self) -> str:
        return str(self._sqlite_path) if self._sqlite_path else self.engine_url_safe()

    def engine_url_safe(self) -> str:
        from sqlalchemy.engine import make_url

        try:
            return make_url(self.url).render_as_string(hide_password=True)
        except Exception:  # noqa: BLE001 - a malformed URL is shown as given
            return self.url

    def _engine_options(self) -> dict:
        if self._sqlite_path is not None:
            return {"connect_args": {"timeout": 60}}
        return {"pool_pre_ping": True}

    def _check_sqlite_file(self) -> Path | None:
        if not self.url.startswith("sqlite:///"):
            return None
        path = Path(self.url[len("sqlite:///"):])
        if path.exists() and path.stat().st_size > 0:
            try:
                with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60) as conn:
                    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                    conn.execute("PRAGMA quick_check").fetchone()
            except sqlite3.DatabaseError as exc:
                raise UserError(f"store {path} is not a readable SQLite database ({exc}); "
                                "it was left untouched") from None
            if tables and "edgebench_meta" not in tables:
                raise UserError(f"store {path} is a SQLite database but not an edgebench store; "
                                "it was left untouched")
        else:
            if not path.parent.is_dir():
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise UserError(f"cannot create store directory {path.parent}: {exc.strerror}") from None
        return path

    def _create_schema(self) -> None:
        # Two processes may create a fresh store at once: the loser of that race retries.
        for attempt in range(5):
            try:
                Base.metadata.create_all(self.engine)
                with Session(self.engine) as s, s.begin():
                    row = s.get(MetaRow, "schema_version")
                    if row is None:
                        s.add(MetaRow(key="schema_version", value=str(STORE_SCHEMA_VERSION)))
                    elif int(row.value) > STORE_SCHEMA_VERSION:
                        raise UserError(f"store {self._display()} has schema {row.value}, newer than "
                                        f"this edgebench understands ({STORE_SCHEMA_VERSION})")
                return
            except (OperationalError, IntegrityError) as exc:
                if attempt == 4 or not _is_transient(exc):
                    raise UserError(f"cannot open store {self._display()}: {error_reason(exc)}") from None
                time.sleep(0.2 * (attempt + 1))
            except DBAPIError as exc:
                raise UserError(f"cannot open store {self._display()}: {error_reason(exc)}") from None

    @contextmanager
    def _session(self) -> Iterator[Session]:
        try:
            with Session(self.engine) as s, s.begin():
                yield s
        except UserError:
            raise
        except SQLAlchemyError as exc:
            raise UserError(f"store {self._display()}: {error_reason(exc)}") from None

    # -- writing -----------------------------------------------------------------------------
    def begin_run(self, run: RunResult) -> None:
        """Record a run as started (status running) with its device; targets follow."""
        self._ensure_device(run.device)
        with self._session() as s:
            s.add(RunRow(id=run.run_id, created=run.created, status="running", model=run.model["name"],
                         protocol=_protocol_name(run), device_id=run.device.fingerprint(),
                         document=_run_document(run)))

    def add_target(self, run_id: str, position: int, result: TargetResult) -> None:
        with self._session() as s:
            s.add(_target_row(run_id, position, result))

    def finish_run(self, run: RunResult) -> None:
        """Final status and run-level fields (reference, agreement, thermal after)."""
        with self._session() as s:
            row = s.get(RunRow, run.run_id)
            row.status = run.status
            row.protocol = _protocol_name(run)
            row.document = _run_document(run)
            for target_row in row.targets:  # agreement is only known once all targets ran
                match = next((r for r in run.results if r.target == target_row.target), None)
                if match is not None:
                    target_row.document = match.model_dump(mode="json")
                    target_row.status = match.status

    def save(self, run: RunResult) -> None:
        """Write a whole run in one go."""
        self._ensure_device(run.device)
        with self._session() as s:
            self._save_in(s, run, device_registered=True)

    def import_runs(self, runs: list[RunResult], skip_existing: bool = False) -> tuple[int, int]:
        """All runs in one transaction: all land or none. Returns (imported, skipped)."""
        imported = skipped = 0
        with self._session() as s:
            for run in runs:
                if s.get(RunRow, run.run_id) is not None:
                    if skip_existing:
                        skipped += 1
                        continue
                    raise UserError(f"run {run.run_id} is already in the store; nothing was imported "
                                    "(use --skip-existing to import the others)")
                self._save_in(s, run)
                imported += 1
        return imported, skipped

    def _save_in(self, s: Session, run: RunResult, device_registered: bool = False) -> None:
        if not device_registered:  # import: the device joins the all-or-nothing transaction
            self._upsert_device(s, run.device)
        s.add(RunRow(id=run.run_id, created=run.created, status=run.status, model=run.model["name"],
                     protocol=_protocol_name(run), device_id=run.device.fingerprint(),
                     document=_run_document(run),
                     targets=[_target_row(run.run_id, i, r) for i, r in enumerate(run.results)]))
        s.flush()

    def _upsert_device(self, s: Session, device: DeviceInfo) -> None:
        """Insert or refresh a device inside the caller's transaction."""
        row = s.get(DeviceRow, device.fingerprint())
        if row is None:
            s.add(DeviceRow(id=device.fingerprint(), hostname=device.hostname, cpu_model=device.cpu_model,
                            info=device.model_dump(mode="json")))
            s.flush()
        else:
            row.info = device.model_dump(mode="json")

    def _ensure_device(self, device: DeviceInfo) -> None:
        """Register a device in its own short transaction. Two processes on one machine may
        race to insert it: the loser's insert fails on the primary key and it updates instead."""
        for attempt in range(5):
            try:
                with Session(self.engine) as s, s.begin():
                    self._upsert_device(s, device)
                return
            except IntegrityError:
                time.sleep(0.05 * (attempt + 1))
            except SQLAlchemyError as exc:
                raise UserError(f"store {self._display()}: {error_reason(exc)}") from None
        raise UserError(f"store {self._display()}: could not register device {device.fingerprint()}")

    # -- reading -----------------------------------------------------------------------------
    def list_runs(self, limit: int = 50) -> list[dict]:
        with self._session() as s:
            rows = s.execute(select(RunRow, DeviceRow.hostname, func.count(TargetRow.id))
                             .join(DeviceRow, RunRow.device_id == DeviceRow.id)
                             .outerjoin(TargetRow, TargetRow.run_id == RunRow.id)
                             .group_by(RunRow.id, DeviceRow.hostname)
                             .order_by(RunRow.created.desc(), RunRow.id).limit(limit)).all()
            return [{"run_id": r.id, "created": r.created, "status": r.status, "model": r.model,
                     "protocol": r.protocol, "device": host, "targets": n} for r, host, n in rows]

    def resolve_ids(self, specs: Sequence[str]) -> list[str]:
        """The full ids of runs named by run-id arguments (edgebench.results.run_ids states the
        rule: a full id or a unique prefix of at least 4 characters). Every argument is resolved
        before anything is returned, so one bad id refuses them all; duplicates collapse."""
        with self._session() as s:
            return self._resolve_all(s, specs)

    def get(self, run_id: str) -> RunResult:
        """One run by run-id argument (full id or unique prefix)."""
        return self.get_runs([run_id])[0]

    def get_runs(self, run_ids: Sequence[str]) -> list[RunResult]:
        """Runs by run-id arguments, in the order given; all are resolved before any is read."""
        with self._session() as s:
            return [_to_result(s.get(RunRow, full)) for full in self._resolve_all(s, run_ids)]

    def all_runs(self) -> list[RunResult]:
        with self._session() as s:
            return [_to_result(r) for r in s.scalars(select(RunRow).order_by(RunRow.created, RunRow.id))]

    def delete(self, run_id: str) -> str:
        """Delete one run (and its target results); returns its full id."""
        return self.delete_runs([run_id])[0]

    def delete_runs(self, run_ids: Sequence[str]) -> list[str]:
        """Delete runs in one transaction, all or none: every id is resolved first, and if any
        does not name exactly one run nothing is deleted. Returns the full ids deleted."""
        try:
            with self._session() as s:
                full_ids = self._resolve_all(s, run_ids)
                for full in full_ids:
                    s.delete(s.get(RunRow, full))
                return full_ids
        except RunIdError as bad:
            raise RunIdError(f"{bad}; nothing was deleted", bad.spec, bad.kind) from None

    def _resolve_all(self, s: Session, specs: Sequence[str]) -> list[str]:
        for spec in specs:  # blank ones are refused before any query
            check_run_id(spec)
        return list(dict.fromkeys(self._resolve(s, spec) for spec in specs))

    def _resolve(self, s: Session, spec: str) -> str:
        check_run_id(spec)
        exact = s.get(RunRow, spec) is not None
        prefixed = [] if exact or len(spec) < MIN_PREFIX else [
            # LIKE ignores case on SQLite but not on PostgreSQL: compare in Python so both agree.
            i for i in s.scalars(select(RunRow.id).where(RunRow.id.startswith(spec, autoescape=True)))
            if i.startswith(spec)]
        return match_run_id(spec, exact, prefixed, f"store {self._display()}")

    def close(self) -> None:
        self.engine.dispose()


def sqlite_pragmas(dbapi_connection, _record) -> None:
    """Connection settings for every SQLite database edgebench opens (results store, hub)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")   # readers never block the writer
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _protocol_name(run: RunResult) -> str:
    return run.results[0].protocol.name if run.results else ""


def _run_document(run: RunResult) -> dict:
    return run.model_dump(mode="json", exclude={"results"})


def _target_row(run_id: str, position: int, r: TargetResult) -> TargetRow:
    return TargetRow(run_id=run_id, position=position, target=r.target, status=r.status,
                     median_ms=r.latency_ms.median if r.latency_ms else None, fps=r.fps,
                     top1_label=r.top1.label if r.top1 else None, document=r.model_dump(mode="json"))


def _to_result(row: RunRow) -> RunResult:
    doc = dict(row.document)
    doc["status"] = row.status if row.status != "running" else "interrupted"
    doc["results"] = [t.document for t in row.targets]
    return RunResult.model_validate(doc)


def _is_transient(exc: Exception) -> bool:
    text = str(exc).lower()
    return any(s in text for s in ("locked", "already exists", "busy", "unique", "duplicate"))


def error_reason(exc: BaseException) -> str:
    """The first line of a database error, without SQLAlchemy's wrapping."""
    orig = getattr(exc, "orig", None) or exc
    lines = [ln.strip() for ln in str(orig).strip().splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__
