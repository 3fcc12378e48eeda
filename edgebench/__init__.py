"""edgebench: which hardware and runtime runs my model fastest, at what energy, and is it right?

Public API (heavy modules load on first use):

    >>> import edgebench
    >>> result = edgebench.run(edgebench.RunConfig(targets=("litert-int8",)))
    >>> edgebench.list_targets()
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["RunConfig", "RunResult", "list_models", "list_targets", "run"]


def __getattr__(name: str):
    if name == "run":
        from edgebench.bench.execute import run

        return run
    if name == "RunConfig":
        from edgebench.bench.config import RunConfig

        return RunConfig
    if name == "RunResult":
        from edgebench.results.schema import RunResult

        return RunResult
    if name == "list_models":
        from edgebench.models.zoo import list_models

        return list_models
    if name == "list_targets":
        from edgebench.targets import list_targets

        return list_targets
    raise AttributeError(name)
