"""The results store: SQLAlchemy over embedded SQLite (default) or any URL (PostgreSQL tested).

A run is written as it happens: its row first (status "running", with the host, pid and
start time of the process recording it), each target as it finishes, then its final status.
A Ctrl-C or a crash therefore keeps every finished target, and the run says it did not
complete. A run still stored as running whose process is gone (kill -9, power loss) reads as
"abandoned". Each write is one short transaction, so several processes can write one store at
once (SQLite: WAL journal + busy timeout).

Reading never creates anything: `Store(url, create=False)` refuses a missing store with one
line. A row whose stored document cannot be read (malformed JSON, a value out of range) is
reported and skipped by the commands that read many runs, and never hides the good ones.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import stat
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import (JSON, Float, ForeignKey, Integer, LargeBinary, String, Text, cast,
                        create_engine, delete, event, func, inspect, select)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from edgebench.dbretry import create_with_retry
from edgebench.errors import UserError
from edgebench.fileio import reason, shown, stat_or_none
from edgebench.results.run_ids import MIN_PREFIX, RunIdError, check_run_id, match_run_id, quoted
from edgebench.results.schema import (DeviceInfo, ProcessInfo, RunResult, TargetResult,
                                      first_problem)

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
    """$EDGEBENCH_STORE, else results.db in the data dir ($EDGEBENCH_DATA_DIR or the user's)."""
    override = os.environ.get("EDGEBENCH_STORE")
    if override is not None:
        if not override.strip():   # set but empty: a mistake, not a wish for the default store
            raise UserError("EDGEBENCH_STORE is set but empty: unset it for the default store, "
                            "or set it to a SQLite file or SQLAlchemy URL")
        return store_url(override)
    from edgebench.paths import data_dir

    return store_url(str(data_dir() / "results.db"))


def store_url(path_or_url: str) -> str:
    """A SQLAlchemy URL from --store: URLs pass through, anything else is a SQLite file path."""
    if "://" in path_or_url:
        return path_or_url
    try:
        return f"sqlite:///{Path(path_or_url).expanduser().resolve()}"
    except (OSError, RuntimeError, ValueError) as exc:  # a symlink loop, a name too long, a NUL
        why = reason(exc) if isinstance(exc, OSError) else str(exc)
        raise UserError(f"cannot use store {shown(path_or_url)}: {why}") from None


@dataclass(frozen=True)
class Unreadable:
    """A stored run that cannot be read back: which, and why."""

    run_id: str
    problem: str

    def message(self, where: str) -> str:
        return (f"run {self.run_id} in store {where} cannot be read ({self.problem}); skipped "
                f"(`edgebench results delete {self.run_id[:12]}` removes it)")


Warn = Callable[[str], None]


class Store:
    """An edgebench store. Commands that only read open it with create=False: a missing store is
    refused with one line instead of being created. Refuses files that are not a store."""

    def __init__(self, url: str | None = None, create: bool = True):
        """url: a SQLAlchemy URL or a SQLite file path; None opens the default store."""
        if url is not None and not url.strip():
            raise UserError("the store is given as empty text: name a SQLite file or a SQLAlchemy URL")
        self.url = store_url(url) if url else default_store_url()
        self.create = create
        self._sqlite_path = self._check_sqlite_file()
        try:
            self.engine = create_engine(self.url, **self._engine_options())
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise UserError(f"cannot open store {self._display()}: {error_reason(exc)}") from None
        if self._sqlite_path is not None:
            event.listen(self.engine, "connect", sqlite_pragmas)
        if create:
            self._create_schema()
        else:
            self._check_schema()

    # -- opening -----------------------------------------------------------------------------
    def _display(self) -> str:
        return shown(self._sqlite_path) if self._sqlite_path else self.engine_url_safe()

    def engine_url_safe(self) -> str:
        from sqlalchemy.engine import make_url

        try:
            return make_url(self.url).render_as_string(hide_password=True)
        except Exception:  # noqa: BLE001 - a malformed URL is shown as given
            return self.url

    def _engine_options(self) -> dict:
        # A NaN or infinity must never reach a stored document (the schema refuses them; this
        # refuses them again at the last step, whatever the path).
        options = {"json_serializer": functools.partial(json.dumps, allow_nan=False)}
        if self._sqlite_path is not None:
            return {**options, "connect_args": {"timeout": 60}}
        return {**options, "pool_pre_ping": True}

    def _check_sqlite_file(self) -> Path | None:
        if not self.url.startswith("sqlite:///"):
            return None
        path = Path(self.url[len("sqlite:///"):])
        if path.name in ("", ":memory:") or "?" in str(path):
            return path   # in-memory or URI options: nothing on disk to check
        found = stat_or_none(path, "store")
        if found is not None and not stat.S_ISREG(found.st_mode):
            raise UserError(f"store {shown(path)} is not a regular file")
        if not self.create and (found is None or found.st_size == 0):
            raise UserError(f"no results store at {shown(path)}: nothing was created (`edgebench run` "
                            "or `edgebench results import` makes one)")
        if found is not None and found.st_size > 0:
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
            if not tables and not self.create:
                raise UserError(f"store {shown(path)} is an empty SQLite database, not an edgebench "
                                "store; it was left untouched")
        elif not path.parent.is_dir():
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise UserError(f"cannot create store directory {shown(path.parent)}: {reason(exc)}") from None
        return path

    def _check_schema(self) -> None:
        """Reading: the store must already be an edgebench store of a schema this edgebench reads."""
        try:
            if not inspect(self.engine).has_table("edgebench_meta"):
                raise UserError(f"no results store at {self._display()}: it has no edgebench tables "
                                "(nothing was created)")
            with Session(self.engine) as s:
                row = s.get(MetaRow, "schema_version")
        except SQLAlchemyError as exc:
            raise UserError(f"cannot open store {self._display()}: {error_reason(exc)}") from None
        if row is not None and row.value.isdigit() and int(row.value) > STORE_SCHEMA_VERSION:
            raise UserError(f"store {self._display()} has schema {row.value}, newer than this edgebench "
                            f"understands ({STORE_SCHEMA_VERSION})")

    def _create_schema(self) -> None:
        def create() -> None:
            Base.metadata.create_all(self.engine)
            with Session(self.engine) as s, s.begin():
                row = s.get(MetaRow, "schema_version")
                if row is None:
                    s.add(MetaRow(key="schema_version", value=str(STORE_SCHEMA_VERSION)))
                elif int(row.value) > STORE_SCHEMA_VERSION:
                    raise UserError(f"store {self._display()} has schema {row.value}, newer than "
                                    f"this edgebench understands ({STORE_SCHEMA_VERSION})")

        # Two processes may create a fresh store at once: the loser of that race retries.
        create_with_retry(create, lambda exc: UserError(f"cannot open store {self._display()}: "
                                                        f"{error_reason(exc)}"))

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
        """Record a run as started (status running) with its device and the process recording
        it (host, pid, start time: once that process is gone the run reads as abandoned);
        targets follow."""
        document = {**_run_document(_checked(run)), "process": this_process().model_dump()}
        self._ensure_device(run.device)
        with self._session() as s:
            s.add(RunRow(id=run.run_id, created=run.created, status="running", model=run.model["name"],
                         protocol=_protocol_name(run), device_id=run.device.fingerprint(),
                         document=document))

    def add_target(self, run_id: str, position: int, result: TargetResult) -> None:
        with self._session() as s:
            s.add(_target_row(run_id, position, result))

    def finish_run(self, run: RunResult) -> None:
        """Final status and run-level fields (reference, agreement, thermal after). A result that
        breaks the schema's rules is stored as failed, saying why (never left running), and the
        problem is raised."""
        try:
            checked, problem = _checked(run), None
        except UserError as exc:
            checked, problem = None, str(exc)
        with self._session() as s:
            row = s.get(RunRow, run.run_id)
            if checked is None:
                row.status = "failed"
                row.document = {**row.document, "status": "failed", "error": problem[:1000]}
            else:
                row.status = checked.status
                row.protocol = _protocol_name(checked)
                row.document = _run_document(checked)   # ended: who recorded it no longer matters
                for target_row in row.targets:  # agreement is only known once all targets ran
                    # by position: a sweep times one target several times
                    match = (checked.results[target_row.position]
                             if target_row.position < len(checked.results) else None)
                    if match is not None and match.target == target_row.target:
                        target_row.document = match.model_dump(mode="json")
                        target_row.status = match.status
        if problem is not None:
            raise UserError(problem)

    def save(self, run: RunResult) -> None:
        """Write a whole run in one go."""
        run = _checked(run)
        self._ensure_device(run.device)
        with self._session() as s:
            self._save_in(s, run, device_registered=True)

    def import_runs(self, runs: list[RunResult], skip_existing: bool = False) -> tuple[int, int]:
        """All runs in one transaction: all land or none. Returns (imported, skipped). An
        imported run is final (see `as_imported`)."""
        runs = [as_imported(_checked(run)) for run in runs]
        seen: set[str] = set()
        for run in runs:
            if run.run_id in seen:
                raise UserError(f"run {run.run_id} appears twice in what was imported; nothing was imported")
            seen.add(run.run_id)
        imported = skipped = 0
        with self._session() as s:
            for run in runs:
                if self._exists(s, run.run_id):
                    if skip_existing:
                        skipped += 1
                        continue
                    raise UserError(f"run {run.run_id} is already in the store; nothing was imported "
                                    "(skip the runs already stored to import the others)", "skip_existing")
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
    def list_runs(self, limit: int = 50, warn: Warn | None = None) -> list[dict]:
        """The newest runs, without their targets' documents. A run still recorded as running
        whose process is gone is listed as abandoned; one whose document cannot be read is
        listed as unreadable (and warned about)."""
        with self._session() as s:
            rows = s.execute(select(RunRow.id, RunRow.created, RunRow.status, RunRow.model,
                                    RunRow.protocol, self._raw(RunRow.document), DeviceRow.hostname,
                                    func.count(TargetRow.id))
                             .join(DeviceRow, RunRow.device_id == DeviceRow.id)
                             .outerjoin(TargetRow, TargetRow.run_id == RunRow.id)
                             .group_by(RunRow.id, DeviceRow.hostname)
                             .order_by(RunRow.created.desc(), RunRow.id).limit(limit)).all()
        listed = []
        for run_id, created, status, model, protocol, raw, host, n in rows:
            try:
                document = _document(raw)
                RunResult.model_validate({**document, "status": "complete", "results": []})
                status = run_state(status, document.get("process"))
            except ValidationError as exc:
                status = "unreadable"
                if warn is not None:
                    warn(Unreadable(run_id, first_problem(exc)).message(self._display()))
            except _Corrupt as bad:
                status = "unreadable"
                if warn is not None:
                    warn(Unreadable(run_id, str(bad)).message(self._display()))
            listed.append({"run_id": run_id, "created": created, "status": status, "model": model,
                           "protocol": protocol, "device": host, "targets": n})
        return listed

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
        """Runs by run-id arguments, in the order given; all are resolved before any is read.
        A run named here that cannot be read is an error naming it (not a silent gap)."""
        with self._session() as s:
            full_ids = self._resolve_all(s, run_ids)
            runs, unreadable = self._read(s, full_ids)
        if unreadable:
            bad = unreadable[0]
            raise UserError(f"run {bad.run_id} in store {self._display()} cannot be read ({bad.problem}); "
                            f"`edgebench results delete {bad.run_id[:12]}` removes it")
        by_id = {r.run_id: r for r in runs}
        return [by_id[i] for i in full_ids]

    def all_runs(self, warn: Warn | None = None) -> list[RunResult]:
        """Every run that can be read, oldest first. The others are skipped, each reported
        through warn (one line naming it and why)."""
        with self._session() as s:
            runs, unreadable = self._read(s, None)
        for bad in unreadable:
            if warn is not None:
                warn(bad.message(self._display()))
        return runs

    def _raw(self, column):
        """A JSON column as its stored text, parsed here rather than by the driver, so that one
        corrupt row can be skipped instead of failing the whole query (SQLite: read as bytes,
        since a corrupt row may not even be UTF-8)."""
        return cast(column, LargeBinary if self._sqlite_path is not None else Text)

    def _read(self, s: Session, ids: Sequence[str] | None) -> tuple[list[RunResult], list[Unreadable]]:
        runs_q = select(RunRow.id, RunRow.status, self._raw(RunRow.document)).order_by(RunRow.created, RunRow.id)
        targets_q = (select(TargetRow.run_id, TargetRow.target, self._raw(TargetRow.document))
                     .order_by(TargetRow.run_id, TargetRow.position, TargetRow.id))
        if ids is not None:
            runs_q = runs_q.where(RunRow.id.in_(list(ids)))
            targets_q = targets_q.where(TargetRow.run_id.in_(list(ids)))
        targets: dict[str, list[tuple[str, object]]] = {}
        for run_id, target, raw in s.execute(targets_q):
            targets.setdefault(run_id, []).append((target, raw))
        runs, unreadable = [], []
        for run_id, status, raw in s.execute(runs_q):
            try:
                runs.append(_to_result(run_id, status, raw, targets.get(run_id, [])))
            except _Corrupt as bad:
                unreadable.append(Unreadable(run_id, str(bad)))
        return runs, unreadable

    def _exists(self, s: Session, run_id: str) -> bool:
        return s.scalar(select(RunRow.id).where(RunRow.id == run_id)) is not None

    def delete(self, run_id: str) -> str:
        """Delete one run (and its target results); returns its full id."""
        return self.delete_runs([run_id])[0]

    def delete_runs(self, run_ids: Sequence[str]) -> list[str]:
        """Delete runs in one transaction, all or none: every id is resolved first, and if any
        does not name exactly one run nothing is deleted. Returns the full ids deleted."""
        try:
            with self._session() as s:
                full_ids = self._resolve_all(s, run_ids)
                # Statements, not ORM deletes: a run whose document is corrupt is deleted
                # without being read.
                s.execute(delete(TargetRow).where(TargetRow.run_id.in_(full_ids)))
                for full_id in full_ids:
                    if s.execute(delete(RunRow).where(RunRow.id == full_id)).rowcount == 0:
                        # Another process deleted it between the lookup and now (on SQLite the
                        # lookup reads before the write lock is taken; PostgreSQL's delete waits
                        # for the other's commit, then finds nothing): of two deletions of one
                        # run only one may say it deleted it. Rolled back: all or none.
                        raise RunIdError(f"no run {quoted(full_id)} in store {self._display()}",
                                         full_id, "unknown")
                return full_ids
        except RunIdError as bad:
            raise RunIdError(f"{bad}; nothing was deleted", bad.spec, bad.kind) from None

    def _resolve_all(self, s: Session, specs: Sequence[str]) -> list[str]:
        for spec in specs:  # blank ones are refused before any query
            check_run_id(spec)
        return list(dict.fromkeys(self._resolve(s, spec) for spec in specs))

    def _resolve(self, s: Session, spec: str) -> str:
        check_run_id(spec)
        exact = self._exists(s, spec)
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


def _checked(run: RunResult) -> RunResult:
    """The run validated again as a whole: fields set after it was built (status, reference,
    thermal readings) obey the same rules as the rest before anything is stored."""
    try:
        return RunResult.model_validate(run.model_dump())
    except ValidationError as exc:
        raise UserError(f"run {run.run_id[:64]} was not stored: {first_problem(exc)}") from None


UNFINISHED = ("running", "abandoned")


def as_imported(run: RunResult) -> RunResult:
    """The run as an import stores it. An imported run is final: nothing will ever add targets to
    this copy or finish it, so one that was still running (or abandoned) where it was exported
    is stored as interrupted, saying so, with the targets it had finished. Its process record
    names a process of another store (perhaps of another host, where this store cannot look):
    it is dropped, so the status can never read as running again."""
    if run.status not in UNFINISHED:
        return run
    note = (f"imported while recorded as {run.status} (its recording had not finished where it "
            "was exported): stored as interrupted, with the targets it had finished")
    return run.model_copy(update={"status": "interrupted", "process": None,
                                  "error": f"{note}; {run.error}" if run.error else note})


def this_process() -> ProcessInfo:
    import socket

    import psutil

    return ProcessInfo(host=socket.gethostname()[:256] or "?", pid=os.getpid(),
                       started=psutil.Process().create_time())


def run_state(status: str, process: dict | None) -> str:
    """What a stored status means now: a run stored as running whose recording process is gone
    (on this host: no such pid, or the pid now belongs to a process started later) is
    abandoned. A run recorded on another host, or without process information, cannot be
    checked and stays running."""
    if status != "running" or not isinstance(process, dict):
        return status
    import socket

    import psutil

    if process.get("host") != socket.gethostname():
        return status
    try:
        alive = abs(psutil.Process(int(process["pid"])).create_time() - float(process["started"])) < 1.0
    except psutil.NoSuchProcess:
        alive = False
    except (psutil.Error, KeyError, TypeError, ValueError, OverflowError):
        return status   # cannot tell (no permission to look): say what is stored
    return status if alive else "abandoned"


class _Corrupt(Exception):
    """A stored document that cannot be read back as what it should be."""


def _document(raw) -> dict:
    if raw is None:
        raise _Corrupt("no document")
    try:
        if isinstance(raw, (bytes, bytearray, memoryview)):
            raw = bytes(raw).decode("utf-8")
        value = json.loads(raw) if isinstance(raw, str) else raw
    except UnicodeDecodeError as exc:
        raise _Corrupt(f"document is not UTF-8 text at byte {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise _Corrupt(f"document is malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise _Corrupt("document is nested too deeply") from None
    if not isinstance(value, dict):
        raise _Corrupt(f"document is a JSON {type(value).__name__}, not an object")
    return value


def _target_row(run_id: str, position: int, r: TargetResult) -> TargetRow:
    return TargetRow(run_id=run_id, position=position, target=r.target, status=r.status,
                     median_ms=r.latency_ms.median if r.latency_ms else None, fps=r.fps,
                     top1_label=r.top1.label if r.top1 else None, document=r.model_dump(mode="json"))


def _to_result(run_id: str, status: str, raw, targets: list[tuple[str, object]]) -> RunResult:
    doc = _document(raw)
    results = []
    for target, target_raw in targets:
        try:
            results.append(_document(target_raw))
        except _Corrupt as bad:
            raise _Corrupt(f"target {target}: {bad}") from None
    doc["status"] = run_state(status, doc.get("process"))
    doc["results"] = results
    try:
        run = RunResult.model_validate(doc)
    except ValidationError as exc:
        raise _Corrupt(first_problem(exc)) from None
    if run.run_id != run_id:
        raise _Corrupt(f"its document names run {run.run_id[:64]}")
    return run


def error_reason(exc: BaseException) -> str:
    """The first line of a database error, without SQLAlchemy's wrapping."""
    orig = getattr(exc, "orig", None) or exc
    lines = [ln.strip() for ln in str(orig).strip().splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__
