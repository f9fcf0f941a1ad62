"""The health tables of the docs, read as data: the tests hold the code and the real
evaluators to what the docs promise, so the docs cannot drift from either."""

from __future__ import annotations

from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"
STANDARD = ("Ready", "Reconciling", "Stalled")


def tables(path: Path) -> list[list[dict[str, str]]]:
    """Every Markdown table in `path`, as rows keyed by the header's cells."""
    found: list[list[dict[str, str]]] = []
    lines = path.read_text().splitlines()
    index = 0
    while index < len(lines):
        if not lines[index].startswith("|") or index + 1 >= len(lines):
            index += 1
            continue
        if not lines[index + 1].startswith("| ---"):
            index += 1
            continue
        header = _cells(lines[index])
        rows = []
        index += 2
        while index < len(lines) and lines[index].startswith("|"):
            rows.append(dict(zip(header, _cells(lines[index]), strict=True)))
            index += 1
        found.append(rows)
    return found


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def table_with(path: Path, *columns: str) -> list[dict[str, str]]:
    """The one table of `path` whose header has `columns` (and fails if not one)."""
    matching = [rows for rows in tables(path) if rows and set(columns) <= rows[0].keys()]
    assert len(matching) == 1, f"{path.name}: {len(matching)} tables with {columns}"
    return matching[0]


def health_table() -> dict[tuple[str, str], dict[str, str]]:
    """docs/gitops.md: (kind, phase) → the Ready/Reconciling/Stalled/kstatus/Argo CD row."""
    rows = table_with(DOCS / "gitops.md", "kind", "phase", *STANDARD, "kstatus", "Argo CD")
    return {(row["kind"], row["phase"]): row for row in rows}


def condition_table(doc: str) -> dict[str, dict[str, str]]:
    """The phase → standard conditions table of docs/`doc` (releases.md, trainings.md)."""
    rows = table_with(DOCS / doc, "phase", *STANDARD)
    return {row["phase"]: row for row in rows}
