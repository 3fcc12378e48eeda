"""`edgebench profile`: where one target's time goes, by its runtime's own profiler."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from edgebench.cli.common import check_writable, console, user_errors, write_text_atomically


def profile_command(
    target: Annotated[str, typer.Option("--target", "-t", help="The target to profile, e.g. onnxruntime-fp32.")],
    model: Annotated[str, typer.Option("--model", "-m", help="Zoo model name, a .tflite/.onnx file, or hub://owner/name[@version].")] = "mobilenet_v2",
    image: Annotated[Optional[Path], typer.Option("--image", "-i", help="Image to classify while profiling.")] = None,
    top: Annotated[int, typer.Option(min=1, max=10_000, help="Ops to list.")] = 20,
    inferences: Annotated[int, typer.Option(min=1, max=100_000, help="Profiled inferences (after 5 warm-up).")] = 50,
    threads: Annotated[Optional[int], typer.Option(min=1, max=256, help="CPU threads.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write the full profile as JSON here.")] = None,
) -> None:
    """List the ops that take the most time on one target, with their share, type and node name.

    Example: edgebench profile --target onnxruntime-fp32 --top 10 --out profile.json
    """
    with user_errors():
        from edgebench.bench.config import RunConfig
        from edgebench.bench.profile import profile

        if out is not None:
            check_writable(out)
        result = profile(RunConfig(model=model, image=image, targets=(target,), threads=threads), inferences)
        table = Table(title=escape(f"{result.model} on {result.target} ({result.runtime_version}): top {top} "
                                   f"of {len(result.ops)} ops"),
                      caption=escape(f"Measured with {result.method}. Profiling slows a runtime down: "
                                     "these shares say where time goes, `edgebench run` says how long."))
        for col, justify in (("#", "right"), ("op type", "left"), ("node", "left"), ("ms/inference", "right"),
                             ("share %", "right"), ("calls", "right")):
            table.add_column(col, justify=justify)
        for n, op in enumerate(result.ops[:top], start=1):
            table.add_row(str(n), escape(op.op_type), escape(op.node[:80]), f"{op.ms_per_inference:.3f}",
                          f"{op.share * 100:.1f}", str(op.calls))
        console.print(table)
        types = ", ".join(f"{t} {s * 100:.0f}%" for t, s in list(result.by_type.items())[:6])
        console.print(f"by op type: {escape(types)}")
        if out is not None:
            write_text_atomically(out, result.model_dump_json(indent=2))
            console.print(f"profile written to {out}", markup=False)
