"""`edgebench hub ...`: serve a hub, and publish, find, pull and follow models on one.

Clients use EDGEBENCH_HUB_URL (default http://127.0.0.1:8765) and EDGEBENCH_HUB_TOKEN.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table
from rich.text import Text

from edgebench.cli.common import console, err_console, user_errors

app = typer.Typer(help="The model hub: serve, publish, search, pull, subscribe.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens (run on the hub's machine).", no_args_is_help=True)
app.add_typer(token_app, name="token")

DataOption = Annotated[Optional[Path], typer.Option(
    "--data", help="Hub data directory: database (SQLite) and model files. Default: the user data dir.")]
DbOption = Annotated[Optional[str], typer.Option(
    "--db", help="SQLAlchemy URL of the hub database, e.g. postgresql+psycopg://u:p@host/db.")]


FromOption = Annotated[Optional[Path], typer.Option(
    "--from", help="Directory of zoo files under their zoo names (e.g. Coral's two .tflite files): used "
                   "instead of the cache or a download, each checked against the zoo's sha256.")]


def _say(text: str, *, err: bool = False) -> None:
    """Print plain text. Names, paths and the hub's messages may hold "[...]" (or ":name:"), which
    rich would otherwise take for markup (or an emoji) and drop."""
    (err_console if err else console).print(text, markup=False, emoji=False, highlight=False,
                                            soft_wrap=True)


def _say_err(text: str) -> None:
    _say(text, err=True)


def _row(*values: str) -> list[Text]:
    """Table cells as plain text, never markup."""
    return [Text(v) for v in values]


def _data_dir(data: Path | None) -> Path:
    if data is not None:
        return data
    from platformdirs import user_data_dir

    return Path(user_data_dir("edgebench")) / "hub"


@app.command("serve")
def serve_command(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8765,
    data: DataOption = None,
    db: DbOption = None,
    max_upload_mb: Annotated[float, typer.Option(min=0.001, max=1_000_000.0,
                                                 help="Largest model file accepted (MB).")] = 1024.0,
    webhook_attempts: Annotated[int, typer.Option(min=1, max=100, help="Deliveries tried per webhook event.")] = 6,
    webhook_backoff_s: Annotated[float, typer.Option(
        min=0.0, max=86_400.0, help="First retry delay; doubles after each failed attempt.")] = 2.0,
) -> None:
    """Run a hub server (FastAPI + uvicorn).

    Example: edgebench hub serve --host 127.0.0.1 --port 8765 --data ./hub
    """
    with user_errors():
        import uvicorn

        from edgebench.hub.server import HubConfig, create_app

        _check_port_free(host, port)
        _check_data_dir(_data_dir(data))
        app_ = create_app(HubConfig(_data_dir(data), db, int(max_upload_mb * 1e6), webhook_attempts,
                                    webhook_backoff_s))
        _say_err(f"edgebench hub on http://{host}:{port} (data: {_data_dir(data)})")
        uvicorn.run(app_, host=host, port=port, log_level="warning")


def _check_data_dir(path: Path) -> None:
    """The hub's data directory must be (or become) a writable directory: one line if not."""
    import os

    from edgebench.errors import UserError

    if path.exists() and not path.is_dir():
        raise UserError(f"hub data directory {path} is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create hub data directory {path}: {exc.strerror or exc}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UserError(f"hub data directory {path} is not writable")


def _check_port_free(host: str, port: int) -> None:
    """uvicorn reports a busy port as a logged traceback; say it in one line first."""
    import socket

    from edgebench.errors import UserError

    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


@token_app.command("create")
def token_create_command(user: Annotated[str, typer.Argument(help="User name (also their namespace).")],
                         data: DataOption = None, db: DbOption = None) -> None:
    """Create a user's API token and print it (only its hash is stored: copy it now)."""
    with user_errors():
        from edgebench.hub.db import HubDB, database_url

        directory = _data_dir(data)
        directory.mkdir(parents=True, exist_ok=True)
        hub_db = HubDB(database_url(directory, db))
        try:
            typer.echo(hub_db.create_token(user))
        finally:
            hub_db.close()
        _say_err(f"token for {user}: set it as EDGEBENCH_HUB_TOKEN; it is not shown again")


@token_app.command("revoke")
def token_revoke_command(user: Annotated[str, typer.Argument(help="User whose tokens stop working.")],
                         data: DataOption = None, db: DbOption = None) -> None:
    """Revoke every token of a user (their models and results stay)."""
    with user_errors():
        from edgebench.hub.db import HubDB, database_url

        hub_db = HubDB(database_url(_data_dir(data), db))
        try:
            count = hub_db.revoke_tokens(user)
        finally:
            hub_db.close()
        _say(f"revoked {count} token(s) of {user}")


@app.command("publish")
def publish_command(
    version: Annotated[str, typer.Option("--version", "-v", help="The new version, e.g. 1 or 2026.11.")],
    source: Annotated[Optional[str], typer.Argument(
        help="A .tflite/.onnx file, a folder of them (one version holding them all), or a zoo or "
             "retrained model (all its variants).")] = None,
    name: Annotated[Optional[str], typer.Option(
        "--name", help="owner/name (default: YOUR_USER/<zoo name or file stem>).")] = None,
    description: Annotated[Optional[str], typer.Option(help="Model card: what the model is.")] = None,
    task: Annotated[Optional[str], typer.Option(
        help="Model card: task (a first version: image-classification).")] = None,
    license: Annotated[Optional[str], typer.Option(help="Model card: license.")] = None,
    tag: Annotated[Optional[list[str]], typer.Option(
        "--tag", help="Model card: tag (repeatable; given, they replace the tags).")] = None,
    labels: Annotated[Optional[Path], typer.Option(help="Model card: labels file, one per line.")] = None,
    preprocess: Annotated[Optional[str], typer.Option(
        help="Model card: normalisation (torchvision, inception, unit, raw).")] = None,
    retrainable: Annotated[Optional[bool], typer.Option(help="Model card: can be retrained.")] = None,
    source_note: Annotated[Optional[str], typer.Option(
        "--source", help="Model card: where the weights come from.")] = None,
    file: Annotated[Optional[list[Path]], typer.Option(
        "--file", help="Another file of the same version (repeatable), e.g. the Edge TPU twin of a "
                       "CPU .tflite: `run --model hub://` picks the one each target reads.")] = None,
    runtime_hint: Annotated[Optional[str], typer.Option(
        help="Runtime the file is meant for (one file only; default: its format's runtime).")] = None,
    allow_download: Annotated[bool, typer.Option(help="Zoo models: download missing weights.")] = True,
    from_dir: FromOption = None,
) -> None:
    """Publish a new, immutable version of a model.

    A new version keeps the card of the previous one (license, tags, labels, preprocessing...):
    the card options given replace those fields, the others carry over.

    Example: edgebench hub publish model.tflite --name alice/birds --version 1 --labels labels.txt

    Example: edgebench hub publish --file m.tflite --file m_edgetpu.tflite --name alice/birds --version 2
    """
    with user_errors():
        from edgebench.errors import UserError
        from edgebench.hub.client import HubClient
        from edgebench.refs import ModelRef, check_version, parse_ref
        from edgebench.hub.publish import card_labels, file_card, local_files, user_files, zoo_card, zoo_files
        from edgebench.models.zoo import ZOO

        check_version(version)
        if source is None and not file:
            raise UserError("nothing to publish: name a file, a folder of files, or a zoo model "
                            "(or give --file)")
        if from_dir is not None and source not in ZOO:
            raise UserError(f"--from is for zoo models ({', '.join(ZOO)}), not a file like {source or file[0]}")
        spec = _model_spec(source)
        if spec is not None and file:
            raise UserError(f"--file adds files to a version of your own files, not to {source} "
                            "(a zoo or retrained model publishes its own variants)")
        with HubClient() as client:
            if spec is not None:
                local = local_files(spec, _checked_dir(from_dir), _say_err) if from_dir else {}
                files = zoo_files(spec, allow_download, _say_err, local)
                card = zoo_card(spec, card_labels(spec, allow_download, _say_err, local))
            else:   # refuse garbage before uploading anything
                files = user_files([Path(p) for p in ([source] if source else []) + (file or [])], runtime_hint)
                card = file_card(description, task, license, tag, labels, preprocess, retrainable,
                                 source_note)
            base = parse_ref(name) if name else ModelRef(client.whoami(), _default_name(source or str(file[0])))
            ref = ModelRef(base.owner, base.name, version)
            answer = client.publish(ref, card, files)
        _say(f"published {ref} ({len(answer['artifacts'])} file(s)): {client.url}/models/{ref.path}")


def _model_spec(source: str | None):
    """The spec of a zoo model, one retrained here, or a retrained model's folder; None for files."""
    from edgebench.models.local import MANIFEST, is_model_folder, spec_from_manifest
    from edgebench.models.zoo import get_model, is_model_name

    if source is None:
        return None
    if is_model_name(source):
        return get_model(source)
    if is_model_folder(Path(source)):   # its variants and card, not the files as they lie there
        return spec_from_manifest(Path(source) / MANIFEST)
    return None


def _default_name(source: str) -> str:
    import re

    from edgebench.refs import check_segment

    path = Path(source)
    stem = (path.name if path.is_dir() else path.stem).lower()
    return check_segment(re.sub(r"[^a-z0-9_.-]+", "-", stem).strip("-.") or "model", "model name")


@app.command("seed")
def seed_command(
    owner: Annotated[Optional[str], typer.Option(help="Namespace to publish in (default: your user).")] = None,
    model: Annotated[Optional[list[str]], typer.Option(
        "--model", help="Zoo models (default: every one whose files are here: installed, cached or in --from; "
        "`edgebench models list` shows which).")] = None,
    allow_download: Annotated[bool, typer.Option(help="Download missing weights.")] = True,
    from_dir: FromOption = None,
) -> None:
    """Publish the zoo's models (every publishable prepared variant) as presets, each card naming its task.

    Without --model, every zoo model whose files are on this machine is published; the others
    (Coral's presets not downloaded yet) are listed as skipped. Name them with --model to download.

    Example: edgebench hub seed --model mobilenet_v2_coral --from ./coral-models
    """
    with user_errors():
        from edgebench.hub.client import HubClient
        from edgebench.hub.publish import available_models, seed, zoo_filenames
        from edgebench.models.zoo import ZOO

        directory = _checked_dir(from_dir) if from_dir else None
        models = model or available_models(directory)
        if directory is not None and not any((directory / f).is_file() for spec in ZOO.values()
                                             for f in zoo_filenames(spec)):
            models = model or sorted(ZOO)   # seed says which files it looked for there
        elif not model:
            missing = sorted(set(ZOO) - set(models))
            _say(f"seeding the {len(models)} zoo model(s) available here; skipped {len(missing)} that need a "
                 f"download (name them with --model): {', '.join(missing) or 'none'}")
        with HubClient() as client:
            published = seed(client, owner or client.whoami(), models, allow_download, _say, directory)
        _say(f"seeded {len(published)} model version(s)")


def _checked_dir(path: Path) -> Path:
    from edgebench.errors import UserError

    if not path.is_dir():
        raise UserError(f"--from {path}: not a directory")
    return path


@app.command("search")
def search_command(
    query: Annotated[str, typer.Argument(help="Text in names, descriptions or tags.")] = "",
    task: Annotated[str, typer.Option(help="Only this task.")] = "",
    tag: Annotated[str, typer.Option(help="Only models with this tag.")] = "",
    fmt: Annotated[str, typer.Option("--format", help="Only models with a file in this format.")] = "",
) -> None:
    """Find models on the hub."""
    with user_errors():
        from edgebench.hub.client import HubClient

        with HubClient() as client:
            models = client.search(query, task, tag, fmt)
        table = Table("model", "latest", "task", "formats", "tags", "description")
        for m in models:
            table.add_row(*_row(m["model"], m["latest_version"] or "", m["task"], ", ".join(m["formats"]),
                                ", ".join(m["tags"]), m["description"]))
        console.print(table)
        _say(f"{len(models)} model(s)")


@app.command("show")
def show_command(model: Annotated[str, typer.Argument(help="owner/name")]) -> None:
    """A model's card, versions with their files, and results per device."""
    with user_errors():
        from edgebench.hub.client import HubClient
        from edgebench.refs import parse_ref

        ref = parse_ref(model)
        with HubClient() as client:
            detail, results = client.show(ref), client.results(ref)
        card = detail["card"]
        console.print(Text.assemble((detail["model"], "bold"), ": ", card["description"]))
        _say(f"task {card['task']} · license {card['license']} · tags {', '.join(card['tags'])} · "
             f"retrainable {'yes' if card['retrainable'] else 'no'} · {len(card['labels'])} labels")
        files = Table("version", "file", "format", "precision", "runtime", "size (MB)", "sha256")
        for v in reversed(detail["versions"]):
            for a in v["artifacts"]:
                files.add_row(*_row(v["version"], a["filename"], a["format"], a["precision"],
                                    a["runtime_hint"], f"{a['size'] / 1e6:.2f}", a["sha256"][:16] + "..."))
        console.print(files)
        if results:
            console.print(_results_table(results))


def _results_table(results: list[dict]) -> Table:
    """Results per device; energy in millijoules per inference, like `edgebench run`'s table."""
    table = Table("device", "version", "target", "median (ms)", "fps", "energy (mJ/inference)", "answer",
                  "agrees with float", title="measured results per device")
    for r in results:
        joules = r["energy_j_per_inference"]
        energy = f"{joules * 1e3:.2f} ({r['energy_method']})" if joules is not None else "not measured"
        table.add_row(*_row(r["device"], r["version"], r["target"], f"{r['median_ms']:.3f}",
                            f"{r['fps']:.1f}", energy, r.get("answer") or "-", r.get("agreement") or "-"))
    return table


@app.command("pull")
def pull_command(model: Annotated[str, typer.Argument(help="owner/name[@version] (default: latest).")],
                 dest: Annotated[Path, typer.Option(help="Directory for the files.")] = Path(".")) -> None:
    """Download a version's files, each checked against its sha256."""
    with user_errors():
        from edgebench.hub.client import HubClient
        from edgebench.refs import parse_ref

        with HubClient() as client:
            version, paths = client.pull(parse_ref(model), dest)
        for path, artifact in zip(paths, version["artifacts"]):
            _say(f"{path}  sha256 {artifact['sha256']} verified")
        _say(f"pulled {version['model']}@{version['version']}: {len(paths)} file(s)")


@app.command("subscribe")
def subscribe_command(
    model: Annotated[str, typer.Argument(help="owner/name")],
    webhook: Annotated[Optional[str], typer.Option(help="URL to POST each new version to (signed).")] = None,
) -> None:
    """Follow a model: its new versions appear in `edgebench hub feed` (and at your webhook)."""
    with user_errors():
        from edgebench.hub.client import HubClient
        from edgebench.refs import parse_ref

        with HubClient() as client:
            answer = client.subscribe(parse_ref(model), webhook)
        _say(f"subscribed to {answer['model']}")
        if answer["webhook_secret"]:
            _say(f"webhook secret (verify X-Edgebench-Signature-256 = HMAC-SHA256 of the body): "
                          f"{answer['webhook_secret']}")


@app.command("unsubscribe")
def unsubscribe_command(model: Annotated[str, typer.Argument(help="owner/name")]) -> None:
    """Stop following a model."""
    with user_errors():
        from edgebench.hub.client import HubClient
        from edgebench.refs import parse_ref

        with HubClient() as client:
            client.unsubscribe(parse_ref(model))
        _say(f"unsubscribed from {model}")


@app.command("feed")
def feed_command(cursor: Annotated[int, typer.Option(min=0, max=2**53, help="Show events after this cursor.")] = 0,
                 limit: Annotated[int, typer.Option(min=1, max=500, help="Events per page.")] = 50) -> None:
    """New versions of the models you follow, oldest first; prints the cursor for the next page."""
    with user_errors():
        from edgebench.hub.client import HubClient

        with HubClient() as client:
            page = client.feed(cursor, limit)
        table = Table("cursor", "model", "version", "published", "files")
        for e in page["events"]:
            table.add_row(*_row(str(e["cursor"]), e["model"], e["version"], e["created"],
                                ", ".join(a["filename"] for a in e["artifacts"])))
        console.print(table)
        _say(f"next cursor: {page['next_cursor']}")
