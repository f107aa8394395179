"""The docs' reference tables, generated from the one place each setting is declared.

- Stack settings: every key of `Pulumi.yaml` (type, default, description), as `pulumi config`
  knows them.
- Server settings: the table of environment variables in `app.server`'s docstring, the one
  place the server declares what it reads.

The site (`make docs`) loads this file as an MkDocs hook: a page holding a marker line
(`<!-- generated: stack-settings -->` or `<!-- generated: server-settings -->`) gets the table
in its place, so a key declared there cannot be missing from the built reference.
`python -m infra.docs stack-settings|server-settings` prints a table on its own.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
# MkDocs loads a hook by its file path, not as `infra.docs`: the project must be importable for
# `app.server` to be read.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PULUMI_YAML = ROOT / "Pulumi.yaml"
MARKER = re.compile(r"^<!-- generated: ([a-z-]+) -->$", re.M)


def _cell(text: str) -> str:
    """A Markdown table cell: one line, pipes escaped, `<` outside code spans kept as text."""
    parts = " ".join(text.split()).replace("|", "\\|").split("`")
    return "`".join(p if n % 2 else p.replace("<", "&lt;") for n, p in enumerate(parts))


def _code(text: str) -> str:
    """A default shown as code when it is a value, as words when it says there is none."""
    return text if text.startswith("(") or " " in text else f"`{text}`"


def shown_default(default: Any) -> str:
    """A declared default as the reference shows it (`false`, `""`, `[]`, `8080`)."""
    if isinstance(default, bool):
        return str(default).lower()
    if default == "":
        return '""'
    if default == []:
        return "[]"
    return str(default)


def stack_settings(path: Path = PULUMI_YAML) -> list[dict[str, str]]:
    """Every key `Pulumi.yaml` declares, in its order: key, type, default, description."""
    config = yaml.safe_load(path.read_text())["config"]
    return [
        {
            "key": key,
            "type": spec["type"],
            "default": shown_default(spec["default"]),
            "description": spec["description"],
        }
        for key, spec in config.items()
    ]


def stack_settings_markdown(path: Path = PULUMI_YAML) -> str:
    """The stack settings as a Markdown table."""
    lines = [
        "| Key (`echo-service:`) | Type | Default | What it does |",
        "|---|---|---|---|",
    ]
    for s in stack_settings(path):
        lines.append(
            f"| `{s['key']}` | {s['type']} | `{s['default']}` | {_cell(s['description'])} |"
        )
    return "\n".join(lines)


def _rst_literals(text: str) -> str:
    return re.sub(r"``(.+?)``", r"`\1`", text)


def server_settings(doc: str | None = None) -> list[dict[str, str]]:
    """The rows of the environment-variable table in `app.server`'s docstring.

    The table is reStructuredText's simple table: a border of `=` runs, a header row, a border,
    the rows (a row goes on in lines whose first column is blank), a border.
    """
    if doc is None:
        from app import server

        doc = server.__doc__ or ""
    lines = doc.splitlines()
    borders = [i for i, line in enumerate(lines) if re.fullmatch(r"=+( +=+)+", line.strip())]
    if len(borders) < 3:
        raise ValueError("app.server's docstring has no table of environment variables")
    spans = [m.span() for m in re.finditer(r"=+", lines[borders[0]])]
    rows: list[list[str]] = []
    for line in lines[borders[1] + 1 : borders[2]]:
        cells = [line[a : (b if n < len(spans) - 1 else None)].strip()
                 for n, (a, b) in enumerate(spans)]  # fmt: skip
        if cells[0]:
            rows.append(cells)
        elif rows:
            rows[-1] = [f"{old} {new}".strip() for old, new in zip(rows[-1], cells, strict=True)]
    return [
        {"variable": v, "default": _rst_literals(d), "meaning": _rst_literals(m)}
        for v, d, m in rows
    ]


def server_settings_markdown(doc: str | None = None) -> str:
    """The server settings as a Markdown table."""
    lines = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for s in server_settings(doc):
        default, meaning = _code(_cell(s["default"])), _cell(s["meaning"])
        lines.append(f"| `{s['variable']}` | {default} | {meaning} |")
    return "\n".join(lines)


GENERATORS = {
    "stack-settings": stack_settings_markdown,
    "server-settings": server_settings_markdown,
}


def fill(markdown: str) -> str:
    """A page's Markdown with each marker line replaced by the table it names."""

    def table(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in GENERATORS:
            raise ValueError(f"unknown generated table {name!r}; known: {', '.join(GENERATORS)}")
        return GENERATORS[name]()

    return MARKER.sub(table, markdown)


def on_page_markdown(markdown: str, **_: Any) -> str:
    """MkDocs hook: fills the generated tables into each page before it is rendered."""
    return fill(markdown)


def main(argv: list[str] | None = None) -> int:
    """`python -m infra.docs NAME`: prints one generated table."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in GENERATORS:
        print(f"usage: python -m infra.docs {{{'|'.join(GENERATORS)}}}", file=sys.stderr)
        return 2
    try:
        print(GENERATORS[args[0]](), flush=True)
    except BrokenPipeError:
        # Piped into `head` and the like: the reader has what it wanted; no traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
