"""``vaelab report RUN`` → ``RUN/report.html``: everything measured, in one self-contained page.

The run is opened once; its kind says how the page names it and what it adds to the
kinds' own sections; :mod:`vaelab.report.html` lays it all out.
"""
from __future__ import annotations

import os
from pathlib import Path

from vaelab.adopt import TRAINED_ELSEWHERE, adopted_record, model_not_applicable
from vaelab.checkpoint import REPORT
from vaelab.errors import ConfigError, RunError
from vaelab.files import write_output
from vaelab.report.html import KindFacts, render
from vaelab.runs.run import Run


def write_report(run_path: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """Write the report (default ``RUN/report.html``) atomically; returns its path. metrics.json's blocks
    are checked first: a damaged one is shown as not run, with a note (:meth:`RunDir.read_blocks`)."""
    run = Run(run_path)
    if out is not None and os.path.isdir(out):  # check_output's example, "e.g. DIR/out.csv", is no report's name
        raise ConfigError(f"--out {out} is a folder; name the report's page to write (e.g. "
                          f"{Path(out) / REPORT}).")  # fmt: skip
    path = run.check_output(out, allow=frozenset({REPORT})) if out is not None else run.dir.file(REPORT)
    if path.suffix.lower() not in (".html", ".htm"):  # a report.pdf would have been an HTML page under that name
        raise ConfigError(f"--out is the report's HTML page and must end in .html or .htm; got {path.name!r}.")
    kind = run.kind_class
    try:  # a damaged file of the kind's costs its part of the page, not the page
        tables, note, untrained = tuple(run.kind.report_tables(run.dir)), None, tuple(run.kind.untrained_labels)
    except RunError as err:
        tables, untrained = (), ()
        note = f"The run's {', '.join(kind.files)} could not be read ({err}); what they describe is not shown."
    adopted, not_applicable, adopted_note = None, (), None
    if run.config.model.arch == "adopted":
        try:  # a damaged adopted.json costs what it describes (the halves, binarization), not the page (an audit)
            adopted = adopted_record(run.dir.path)
            not_applicable = model_not_applicable(run.dir.path, adopted)
        except RunError as err:
            not_applicable = (TRAINED_ELSEWHERE,)
            adopted_note = (f"{err} How the halves are called (their files, scale, binarization, whether the encoder "
                            "is deterministic) is not shown.")  # fmt: skip
    facts = KindFacts(kind.description, kind.report_sections, tables, note, not_applicable, adopted, adopted_note, untrained)
    blocks, notes = run.dir.read_blocks()
    write_output(path, render(run.dir, run.config, blocks, facts, notes).encode("utf-8"))
    return path
