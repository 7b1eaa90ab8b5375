"""The registry of kinds of run: the one module that names them all.

``KINDS`` is the order ``vaelab train`` asks them in: the first kind that claims a source
reads it, and arrays claim everything. A new kind is one module (see
:mod:`vaelab.runs.base`) and one entry here.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from vaelab.config import DataConfig
from vaelab.data.sources import check_source, looks_like_table
from vaelab.errors import ConfigError, RunError
from vaelab.runs.array import ArrayKind
from vaelab.runs.base import Request, RunKind, flag
from vaelab.runs.series import SeriesKind
from vaelab.runs.table import TableKind

KINDS: tuple[type[RunKind], ...] = (SeriesKind, TableKind, ArrayKind)
BY_NAME = {k.name: k for k in KINDS}
KIND_FILES = frozenset(f for k in KINDS for f in k.files)  # state files a kind writes before config.json
OPTIONS = {name: default for k in KINDS for name, default in k.options.items()}


def kind_of(data: DataConfig | None, where: Path | str) -> type[RunKind]:
    """The kind a run's config.json names (runs saved from Python are arrays)."""
    name = "array" if data is None else data.kind
    if name not in BY_NAME:
        raise RunError(f"{where}: data.kind {name!r:.80} is not a kind of run this vaelab knows "
                       f"({', '.join(BY_NAME)}); the file was written by another version or edited.")  # fmt: skip
    return BY_NAME[name]


def _given(value: Any, default: Any) -> bool:
    """An option was set: it differs from its default (an empty list is no list)."""
    if isinstance(value, (list, tuple)) and isinstance(default, (list, tuple)):
        return tuple(value) != tuple(default)
    return value is not None and value != default


def given_options(options: dict[str, Any]) -> list[str]:
    """The kind options that were set, after refusing names no kind knows."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ConfigError(f"Unknown training option(s) {unknown}; the kinds of run take {sorted(OPTIONS)}.")
    return [k for k, v in options.items() if _given(v, OPTIONS[k])]


def detect(request: Request) -> type[RunKind]:
    """The kind that reads ``request.source``; options of another kind are refused, not ignored."""
    given = given_options(dict(request.options))
    kind = next(k for k in KINDS if k.claims(request))
    foreign = [k for k in given if k not in kind.options]
    if foreign:
        check_source(request.source)  # a missing file is read as no kind: "not found", not "is read as arrays"
        owners = [k for k in KINDS if foreign[0] in k.options]  # --missing-values: series and table runs
        own = [k for k in given if k in kind.options]  # options that asked for the kind it is read as
        if request.labelled and TableKind in owners and kind is ArrayKind and looks_like_table(request.source):
            # a table read as arrays because labels were given: --table would only be refused for the labels (an audit)
            hint = (" --labels/--label-column make it read so; a table run models every column it is given: drop "
                    "them (--ignore a label column of the table).")  # fmt: skip
        elif own:  # "add --table" contradicted the series options the user gave (an audit)
            also = ", or drop those and add --table to read it as a table" if TableKind in owners else ""
            asks = f"{', '.join(flag(k) for k in own)} ask{'s' if len(own) == 1 else ''}"
            hint = f" {asks} for {kind.description}: drop {flag(foreign[0])}{also}."
        else:
            hint = " Add --table to read it as a table." if TableKind in owners else ""
        raise ConfigError(f"{flag(foreign[0])} is for {' or '.join(k.description for k in owners)}, but "
                          f"{request.source} is read as {kind.description}.{hint}")  # fmt: skip
    return kind
