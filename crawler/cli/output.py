"""`--format table|json|csv` for the commands that list things (spec section 6).

JSON is the rows as the command has them. CSV is a header row, then one row per listed thing,
each value made one cell: nothing (null) an empty cell, a list of plain values joined with
" | ", a record (or a list of records) compact JSON text; every cell goes through `csv_cell`
(no terminal control sequences, no spreadsheet formulas: most values are page text). The
table is each command's own.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import click

from crawler.cli.text import csv_cell, json_text

FORMATS = ("table", "json", "csv")
JOIN = " | "
"""What joins a list of plain values (names, listings, cases) in one CSV cell."""

_F = TypeVar("_F", bound=Callable[..., Any])


def format_option(csv_help: str, *, text: bool = False) -> Callable[[_F], _F]:
    """The `--format` option (passed on as `fmt`), `table` by default; `csv_help` says what a
    CSV row is. With `text`, `text` is accepted too and means `table` (the name these
    commands gave their table before, kept for the scripts that pass it)."""
    choices = [*FORMATS, "text"] if text else list(FORMATS)
    synonym = " (text is the same)" if text else ""
    return click.option("--format", "fmt", type=click.Choice(choices), default="table",
                        show_default=True, callback=_text_is_table,
                        help=f"table{synonym}, json, or csv: {csv_help}")


def _text_is_table(ctx: click.Context, param: click.Parameter, value: str) -> str:
    return "table" if value == "text" else value


def cell(value: Any) -> str:
    """A JSON value as the text of one CSV cell (before `csv_cell`)."""
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        if any(isinstance(v, dict | list | tuple) for v in value):
            return json_text(value)
        return JOIN.join(cell(v) for v in value)
    if isinstance(value, dict):
        return json_text(value)
    return str(value)


def csv_text(rows: Iterable[Mapping[str, Any]], columns: Sequence[str],
             json_columns: Collection[str] = ()) -> str:
    """A header of `columns`, then one line per row; `json_columns` are always JSON text."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([csv_cell(json_text(row.get(c)) if c in json_columns
                                  else cell(row.get(c))) for c in columns])
    return out.getvalue()


def print_json(value: Any) -> None:
    """JSON as the listing commands print it: indented, non-ASCII text kept."""
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def print_csv(rows: Iterable[Mapping[str, Any]], columns: Sequence[str],
              json_columns: Collection[str] = ()) -> None:
    """Print `csv_text`."""
    click.echo(csv_text(rows, columns, json_columns), nl=False)


def emit(rows: list[dict[str, Any]], columns: Sequence[str], fmt: str) -> bool:
    """Print rows as JSON or CSV and return True; False for `table` (the caller's own)."""
    if fmt == "json":
        print_json(rows)
        return True
    if fmt == "csv":
        print_csv(rows, columns)
        return True
    return False
