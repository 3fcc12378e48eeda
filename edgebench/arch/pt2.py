"""Reading a stranger's `.pt2` (torch.export) archive without running any code from it.

`torch.export.load` is not that path (torch 2.13): it unpickles weights saved with
`use_pickle` and the archive's sample inputs with `torch.load(weights_only=False)` (the inputs
after a weights_only attempt fails), unpickles "opaque" constants with `pickle.loads`, compiles
the archive's `guards_code` strings into a Python function when `.module()` is called, parses
symbolic shape expressions with `sympy.sympify` (which evaluates Python), and resolves a node's
target by attribute lookup from the `torch` module (`torch.os.system` is such a target). Any of
them runs what the archive's author wrote.

So this module reads the archive itself, through `zipfile`, and hands torch only what cannot
carry code:

* the archive is checked before anything is unpacked: at most MAX_ENTRIES entries, declared
  uncompressed sizes within MAX_TOTAL_BYTES, a compression ratio under MAX_RATIO (a zip bomb
  declares or inflates to far more than it holds);
* weights and tensor constants are read as raw bytes (`torch.frombuffer`) after their declared
  dtype x shape has been checked against the record's size and MAX_TOTAL_BYTES; a weight or
  constant stored as a pickle, any custom or opaque object, and the legacy pickled formats are
  refused;
* the sample inputs (a pickle) are never read; guards are dropped (edgebench feeds the shapes
  the graph declares);
* the program (JSON) is refused if a node calls anything but a core ATen/prims operator or
  Python's `operator` module, or if a symbolic expression holds anything but symbol names,
  integers, arithmetic and the sympy functions torch itself names.

What remains is the graph of ATen operators and its tensors, deserialized by torch's own
`ExportedProgramDeserializer`.
"""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from edgebench.errors import UserError

MAX_ENTRIES = 100_000
MAX_TOTAL_BYTES = 4 << 30          # 4 GiB of declared, uncompressed content
MAX_RATIO = 200                    # uncompressed / compressed for a deflated entry
MAX_PROGRAM_BYTES = 256 << 20      # the JSON program itself

_CORE_TARGET = re.compile(r"torch\.ops\.(aten|prims)\.[A-Za-z0-9_]+\.[A-Za-z0-9_]+|_operator\.[a-z_]+")
_EXPR_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+|\*\*|//|[-+*/%(), <>=!]")
_SYMBOL = re.compile(r"[suqcf]\d+")
# The sympy functions torch's deserializer provides to expressions (serialize.py).
_EXPR_FUNCTIONS = frozenset({"FloorDiv", "ModularIndexing", "Where", "PythonMod", "Mod", "CleanDiv",
                             "CeilToInt", "FloorToInt", "CeilDiv", "LShift", "RShift", "IsNonOverlappingAndDenseIndicator",
                             "TruncToFloat", "TruncToInt", "RoundToInt", "RoundDecimal", "ToFloat",
                             "FloatTrueDiv", "IntTrueDiv", "FloatPow", "PowByNatural", "Max", "Min",
                             "Identity", "OpaqueUnaryFn", "BitwiseFn", "True", "False"})


@dataclass(frozen=True)
class Pt2Contents:
    """What was read and checked: the program (torch's serialized dataclass), weights and
    constants (tensors by name), the archive's entry count and declared bytes."""

    program: object
    weights: dict
    constants: dict
    entries: int
    declared_bytes: int


def load_exported_program(path: Path):
    """The ExportedProgram in a .pt2 file, read as the module docstring says; UserError (one
    line) for anything that path cannot read or that could run code."""
    contents = read_pt2(path)
    from torch._export.serde.serialize import ExportedProgramDeserializer

    try:
        return ExportedProgramDeserializer().deserialize(contents.program, contents.weights,
                                                         contents.constants, None)
    except Exception as exc:  # noqa: BLE001 - a malformed program is the user's file's fault
        raise UserError(f"{path}: torch cannot rebuild the exported program: {_first_line(exc)}") from None


def load_exported_module(path: Path):
    """The program's module, ready for inference (eval mode: ExportedProgram modules refuse
    .eval(), so their training flags are cleared directly; a frozen trace needs them off)."""
    module = load_exported_program(path).module()
    for sub in module.modules():
        sub.training = False
    return module


def read_pt2(path: Path) -> Pt2Contents:
    """Check and read the archive (no torch deserialization yet)."""
    from edgebench.fileio import regular_file, shown

    path = Path(path)
    regular_file(path, "model file")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UserError(f"{shown(path)} is not a .pt2 archive (torch.export.save writes a zip): {exc}") from None
    with archive:
        infos = _checked_entries(archive, path)
        root = _root(infos, path)
        names = {info.filename: info for info in infos}
        model = _model_name(names, root, path)
        program = _program(archive, names, f"{root}models/{model}.json", path)
        weights = _tensors(archive, names, f"{root}data/weights/", "model_weights_config.json"
                           if f"{root}data/weights/model_weights_config.json" in names else
                           f"{model}_weights_config.json", path, "weight")
        constants = _tensors(archive, names, f"{root}data/constants/", "model_constants_config.json"
                             if f"{root}data/constants/model_constants_config.json" in names else
                             f"{model}_constants_config.json", path, "constant")
    return Pt2Contents(program, weights, constants, len(infos), sum(i.file_size for i in infos))


def _checked_entries(archive: zipfile.ZipFile, path: Path) -> list[zipfile.ZipInfo]:
    infos = archive.infolist()
    if len(infos) > MAX_ENTRIES:
        raise UserError(f"{path}: the archive holds {len(infos):,} entries (at most {MAX_ENTRIES:,} read): "
                        "refused before unpacking")
    total = sum(info.file_size for info in infos)
    if total > MAX_TOTAL_BYTES:
        raise UserError(f"{path}: the archive declares {total / 2**30:.1f} GiB uncompressed (at most "
                        f"{MAX_TOTAL_BYTES / 2**30:.0f} GiB read): refused before unpacking")
    for info in infos:
        if info.compress_type != zipfile.ZIP_STORED and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise UserError(f"{path}: entry {info.filename!r} inflates {info.compress_size:,} bytes to "
                            f"{info.file_size:,} (ratio over {MAX_RATIO}): refused before unpacking")
    return infos


def _root(infos: list[zipfile.ZipInfo], path: Path) -> str:
    roots = {info.filename.split("/", 1)[0] for info in infos}
    if len(roots) != 1 or not infos:
        raise UserError(f"{path} is not a torch.export archive (no single top-level folder)")
    return f"{roots.pop()}/"


def _model_name(names: dict, root: str, path: Path) -> str:
    models = [n[len(f"{root}models/"):-len(".json")] for n in names
              if n.startswith(f"{root}models/") and n.endswith(".json")]
    if len(models) != 1:
        found = f"{len(models)} programs" if models else "no models/*.json program"
        raise UserError(f"{path}: edgebench reads torch.export archives holding one program; this one has {found}")
    model = models[0]
    for legacy in (f"{root}data/weights/{model}.pt", f"{root}data/constants/{model}.pt"):
        if legacy in names:
            raise UserError(f"{path}: weights in the legacy pickled format ({legacy.split('/', 1)[1]}) are not "
                            "read (unpickling can run code); re-save with a current torch.export.save")
    return model


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> bytes:
    try:
        return archive.read(info)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise UserError(f"{path}: entry {info.filename!r} cannot be read: {exc}") from None


def _json(archive, info, path: Path) -> dict:
    try:
        value = json.loads(_read(archive, info, path))
    except ValueError as exc:
        raise UserError(f"{path}: {info.filename!r} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise UserError(f"{path}: {info.filename!r} is not a JSON object")
    return value


def _program(archive, names: dict, name: str, path: Path):
    info = names[name]
    if info.file_size > MAX_PROGRAM_BYTES:
        raise UserError(f"{path}: the program declares {info.file_size:,} bytes (at most {MAX_PROGRAM_BYTES:,})")
    raw = _json(archive, info, path)
    _check_program(raw, path)
    raw["guards_code"] = []   # compiled into Python by .module(): never taken from a file
    from torch._export.serde import schema
    from torch._export.serde.serialize import _dict_to_dataclass

    try:
        return _dict_to_dataclass(schema.ExportedProgram, raw)
    except Exception as exc:  # noqa: BLE001 - a file of another schema or a broken one
        raise UserError(f"{path}: the program does not follow torch {_torch_version()}'s export schema: "
                        f"{_first_line(exc)}") from None


def _check_program(raw: dict, path: Path) -> None:
    """Refuse node targets outside core ATen/prims/operator and expressions that are not plain
    arithmetic over symbols: the two places a program's text reaches Python."""
    nodes = ((raw.get("graph_module") or {}).get("graph") or {}).get("nodes") or []
    for node in nodes:
        target = node.get("target") if isinstance(node, dict) else None
        if not isinstance(target, str) or not _CORE_TARGET.fullmatch(target):
            raise UserError(f"{path}: node calls {str(target)[:80]!r}, not a core ATen operator: edgebench "
                            "reads only graphs of ATen/prims operators")
    for expr in _strings_under(raw, "expr_str"):
        _check_expression(expr, path)
    for name in (raw.get("range_constraints") or {}):
        _check_expression(name, path)


def _check_expression(expr: str, path: Path) -> None:
    text = str(expr)
    tokens = _EXPR_TOKEN.findall(text)
    if "".join(tokens).replace(" ", "") != text.replace(" ", "") or len(text) > 10_000:
        raise UserError(f"{path}: a symbolic shape expression holds more than arithmetic ({text[:60]!r}): refused")
    for token in tokens:
        named = token[0].isalpha() or token[0] == "_"
        if named and not (_SYMBOL.fullmatch(token) or token in _EXPR_FUNCTIONS):
            raise UserError(f"{path}: a symbolic shape expression names {token[:40]!r}, neither a "
                                "shape symbol nor a sympy function torch provides: refused")


def _strings_under(value, key: str):
    if isinstance(value, dict):
        for k, v in value.items():
            if k == key and isinstance(v, str):
                yield v
            else:
                yield from _strings_under(v, key)
    elif isinstance(value, list):
        for v in value:
            yield from _strings_under(v, key)


def _tensors(archive, names: dict, folder: str, config_name: str, path: Path, what: str) -> dict:
    """Weights or constants by name, from raw bytes; the pickled kinds refused."""
    config_path = folder + config_name
    if config_path not in names:
        return {}
    config = _json(archive, names[config_path], path).get("config") or {}
    tensors, declared_total = {}, 0
    for fqn, meta in config.items():
        if not isinstance(meta, dict) or meta.get("use_pickle") or not meta.get("tensor_meta"):
            raise UserError(f"{path}: {what} {str(fqn)[:60]!r} is stored as a pickle (or is not a tensor): "
                            "edgebench does not unpickle a model file; export plain tensors")
        if what == "constant" and not str(meta.get("path_name", "")).startswith("tensor_"):
            raise UserError(f"{path}: constant {str(fqn)[:60]!r} is a custom or opaque object (pickled): refused")
        declared = _declared_bytes(meta["tensor_meta"], path, fqn)
        declared_total += declared
        if declared_total > MAX_TOTAL_BYTES:
            raise UserError(f"{path}: its tensors declare over {MAX_TOTAL_BYTES / 2**30:.0f} GiB: refused "
                            "before unpacking")
        tensors[fqn] = _tensor(archive, names, folder + str(meta.get("path_name")), meta, declared, path)
    return tensors


def _dtype_of(code: int):
    from torch._export.serde.serialize import deserialize_scalar_type

    return deserialize_scalar_type(code)


def _declared_bytes(meta: dict, path: Path, fqn) -> int:
    import torch

    try:
        sizes = [int(s["as_int"]) for s in meta["sizes"]]
        dtype = _dtype_of(meta["dtype"])
        element = torch.empty((), dtype=dtype).element_size()
    except (KeyError, TypeError, ValueError, AttributeError):
        raise UserError(f"{path}: tensor {str(fqn)[:60]!r} has no fixed shape and dtype in its metadata") from None
    if any(s < 0 for s in sizes):
        raise UserError(f"{path}: tensor {str(fqn)[:60]!r} declares a negative size")
    count = 1
    for s in sizes:
        count *= s
        if count * element > MAX_TOTAL_BYTES:
            raise UserError(f"{path}: tensor {str(fqn)[:60]!r} declares {sizes} ({count * element / 2**30:.0f}+ GiB): "
                            "refused before unpacking")
    return count * element


def _tensor(archive, names: dict, record: str, meta: dict, declared: int, path: Path):
    import torch

    info = names.get(record)
    if info is None:
        raise UserError(f"{path}: tensor record {record!r} is missing")
    tensor_meta = meta["tensor_meta"]
    sizes = [int(s["as_int"]) for s in tensor_meta["sizes"]]
    strides = [int(s["as_int"]) for s in tensor_meta.get("strides") or []] or _contiguous(sizes)
    offset = int((tensor_meta.get("storage_offset") or {}).get("as_int", 0))
    dtype = _dtype_of(tensor_meta["dtype"])
    element = torch.empty((), dtype=dtype).element_size()
    needed = (offset + sum((s - 1) * st for s, st in zip(sizes, strides)) + 1) * element if declared else 0
    if info.file_size < needed or info.file_size % element:
        raise UserError(f"{path}: tensor record {record!r} holds {info.file_size:,} bytes; its metadata needs {needed:,}")
    data = bytearray(_read(archive, info, path))
    flat = torch.frombuffer(data, dtype=dtype) if data else torch.empty(0, dtype=dtype)
    if not declared:
        tensor = torch.zeros(sizes, dtype=dtype)
    else:
        tensor = torch.as_strided(flat, sizes, strides, offset)
    return torch.nn.Parameter(tensor, requires_grad=False) if meta.get("is_param") else tensor


def _contiguous(sizes: list[int]) -> list[int]:
    strides, step = [], 1
    for size in reversed(sizes):
        strides.insert(0, step)
        step *= max(size, 1)
    return strides


def _torch_version() -> str:
    from edgebench.packages import package_version

    return package_version("torch") or "?"


def _first_line(exc: Exception) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return f"{type(exc).__name__}: {lines[0][:200] if lines else 'no message'}"
