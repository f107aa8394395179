"""``python -m infra.pins FILE...``: the same package pinned two ways, named with both files.

``make install`` runs it before pip: pip's own ``ResolutionImpossible`` names the two versions
but not the files they came from, and a model's packages (``app/requirements.txt``, an
example's ``requirements.txt``) often pin a package the test tools pin too (PyYAML, numpy).
Standard library only: it runs before anything is installed.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Pin", "clashes", "main", "read_pins", "same_release"]

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*([^\s;]+)")
_INCLUDE = re.compile(r"^(?:-r|--requirement|-c|--constraint)(?:\s+|=)(\S+)")


@dataclass(frozen=True)
class Pin:
    """``name==version`` as written at ``path``, line ``line``."""

    name: str
    version: str
    path: Path
    line: int

    @property
    def key(self) -> str:
        """The name as pip compares names (PEP 503): ``PyYAML``, ``pyyaml`` are one package."""
        return re.sub(r"[-_.]+", "-", self.name).lower()

    def where(self, root: Path) -> str:
        try:
            shown = self.path.resolve().relative_to(root.resolve())
        except ValueError:
            shown = self.path
        return f"{shown}:{self.line}"


def read_pins(path: Path, seen: set[Path] | None = None) -> list[Pin]:
    """The ``==`` pins of a requirements file and of the files it includes (``-r``, ``-c``)."""
    seen = set() if seen is None else seen
    path = Path(path)
    if path.resolve() in seen:
        return []
    seen.add(path.resolve())
    pins = []
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        include = _INCLUDE.match(line)
        if include:
            pins += read_pins(path.parent / include.group(1), seen)
            continue
        pin = _PIN.match(line)
        if pin:
            pins.append(Pin(pin.group(1), pin.group(2), path, number))
    return pins


def same_release(a: str, b: str) -> bool:
    """Whether pip can meet ``==a`` and ``==b`` at once: equal, or equal but for a PEP 440 local
    label on one side (``==2.13.0`` accepts ``2.13.0+cpu``)."""
    if a == b:
        return True
    if "+" in a and "+" in b:
        return False
    return a.split("+")[0] == b.split("+")[0]


def clashes(paths: list[Path]) -> list[tuple[Pin, Pin]]:
    """Pairs of pins of one package that no version meets, first seen first."""
    first: dict[str, Pin] = {}
    found = []
    for path in paths:
        for pin in read_pins(Path(path)):
            seen = first.setdefault(pin.key, pin)
            if not same_release(seen.version, pin.version):
                found.append((seen, pin))
    return found


def main(argv: list[str] | None = None, root: Path | None = None) -> int:
    paths = [Path(p) for p in (sys.argv[1:] if argv is None else argv)]
    root = Path.cwd() if root is None else root
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        print(f"error: no such requirements file: {', '.join(missing)}", file=sys.stderr)
        return 2
    found = clashes(paths)
    for one, other in found:
        print(
            f"error: {one.name} is pinned two ways: =={one.version} in {one.where(root)} and "
            f"=={other.version} in {other.where(root)}; pin one version in both files",
            file=sys.stderr,
        )
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
