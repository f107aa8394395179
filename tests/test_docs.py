"""The manual: the site builds strictly, its reference lists every setting from the one place each
is declared, and the commands its pages show name keys and modules that exist."""

from __future__ import annotations

import html
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from app import server
from infra import docs

ROOT = Path(__file__).resolve().parent.parent
PAGES = {p.relative_to(ROOT).as_posix(): p.read_text() for p in sorted(ROOT.glob("docs/**/*.md"))}
ALL_DOCS = "\n".join([(ROOT / "README.md").read_text(), *PAGES.values()])
DECLARED = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
# Provider settings the docs may set: the stacks' own, read by the providers.
PROVIDER_KEYS = {"aws:region", "gcp:project", "gcp:region"}


class Reads(dict):
    """An environment that records every variable the server asks it for."""

    def __init__(self, values: dict[str, str] | None = None) -> None:
        super().__init__(values or {})
        self.names: set[str] = set()

    def get(self, key, default=None):
        self.names.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.names.add(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        self.names.add(key)
        return super().__contains__(key)


def variables_the_server_reads() -> set[str]:
    """What `app.server.load_settings` reads, with the optional features on and off."""
    names: set[str] = set()
    for values in ({}, {"CLOUDWATCH_EMF_NAMESPACE": "ns", "CLOUDWATCH_EMF_SERVICE": "svc"}):
        env = Reads(values)
        server.load_settings(env)
        names |= env.names
    return names


def documented(name: str, variables: list[str]) -> bool:
    return any(name == v or (v.endswith("*") and name.startswith(v[:-1])) for v in variables)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site as `make docs` builds it: strict, so a broken link or anchor fails here too."""
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return out


def built_text(site: Path, page: str) -> str:
    return html.unescape((site / page / "index.html").read_text())


def test_the_built_stack_reference_lists_every_key_of_pulumi_yaml(site):
    page = built_text(site, "reference/stack-settings")
    assert "<!-- generated" not in page
    for key, spec in DECLARED.items():
        row = re.search(rf"<tr>\s*<td><code>{key}</code></td>(.*?)</tr>", page, flags=re.S)
        assert row, f"{key} is missing from the built stack settings reference"
        assert f"<td>{spec['type']}</td>" in row.group(1), key
        assert f"<code>{docs.shown_default(spec['default'])}</code>" in row.group(1), key


def test_a_new_key_in_pulumi_yaml_reaches_the_reference(tmp_path):
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    declared["config"]["brandNewKey"] = {
        "type": "integer",
        "default": 0,
        "description": "a | b <c>",
    }
    path = tmp_path / "Pulumi.yaml"
    path.write_text(yaml.safe_dump(declared))
    table = docs.stack_settings_markdown(path)
    assert "| `brandNewKey` | integer | `0` | a \\| b &lt;c> |" in table.splitlines()


def test_the_built_server_reference_lists_every_variable_the_server_reads(site):
    page = built_text(site, "reference/server-settings")
    variables = re.findall(r"<tr>\s*<td><code>([A-Z0-9_*]+)</code></td>", page)
    assert len(variables) >= 15, variables
    for name in variables_the_server_reads():
        assert documented(name, variables), f"{name} is read by app/server.py but not documented"


def test_the_server_reference_comes_from_the_servers_docstring():
    rows = docs.server_settings()
    assert [r["variable"] for r in rows][:2] == ["HOST", "PORT"]
    port = next(r for r in rows if r["variable"] == "PORT")
    assert port["default"] == "8080" and "one already in use is an error" in port["meaning"]


def test_every_page_holds_its_marker_only_where_a_table_is_generated():
    markers = {
        page: docs.MARKER.findall(text) for page, text in PAGES.items() if docs.MARKER.search(text)
    }
    assert markers == {
        "docs/reference/server-settings.md": ["server-settings"],
        "docs/reference/stack-settings.md": ["stack-settings"],
    }


def test_every_key_the_docs_set_is_declared():
    shown = re.findall(
        r"pulumi config set (?:--secret |--path )*'?(?:echo-service:)?([\w:]+)", ALL_DOCS
    )
    assert len(shown) > 20, shown
    unknown = {k for k in shown if k not in DECLARED and k not in PROVIDER_KEYS}
    assert not unknown, unknown


def test_every_module_the_docs_run_exists():
    modules = set(re.findall(r"python -m ([\w.]+)", ALL_DOCS))
    assert {"app", "infra.estimate", "infra.smoke", "infra.docs"} <= modules
    for name in modules:
        assert importlib.util.find_spec(name) is not None, name


def test_every_page_is_in_the_sites_navigation():
    config = (ROOT / "mkdocs.yml").read_text()
    nav = set(re.findall(r":\s+([\w/-]+\.md)\s*$", config, flags=re.M))
    assert nav == {page.removeprefix("docs/") for page in PAGES}
    assert re.search(r"^strict: true$", config, flags=re.M)


def test_every_page_the_readme_links_to_exists():
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(([^)#]+\.md)(?:#[\w-]+)?\)", readme)
    assert len(links) >= 15, links
    missing = [link for link in links if not (ROOT / link).is_file()]
    assert not missing, missing
