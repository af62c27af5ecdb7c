"""The documentation site (issue 24, point 3): a strict mkdocs build (warnings are errors: broken
links, missing references, a failing gallery run), a gallery page per registered experiment,
and a check of every internal link of the built HTML."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
HOOK = ROOT / "docs" / "_hooks" / "gallery.py"

pytestmark = pytest.mark.skipif(not (ROOT / "mkdocs.yml").is_file(), reason="needs the source checkout (mkdocs.yml, docs/)")


def _hook():
    spec = importlib.util.spec_from_file_location("neurosim_docs_gallery_hook", HOOK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if key in ("href", "src") and value is not None:
                self.links.append(value)
            elif key in ("id", "name") and value:
                self.ids.add(value)


def _parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def broken_internal_links(site: Path) -> list[str]:
    """Every internal href/src of every built page that does not resolve to a file of the site
    (``dir/`` means ``dir/index.html``; a link from ``/`` starts at the site's root, as the
    404 page's do), or whose ``#fragment`` names no id of that page."""
    pages = {p: _parse(p) for p in site.rglob("*.html")}
    broken = []
    for page, parsed in pages.items():
        for link in parsed.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith(("mailto:", "data:", "javascript:")):
                continue  # external
            if parts.path.startswith("/"):  # (404.html links from the site's root, where it is served)
                target = (site / unquote(parts.path).lstrip("/")).resolve()
            else:
                target = (page.parent / unquote(parts.path)).resolve() if parts.path else page.resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file() or site.resolve() not in target.parents:
                broken.append(f"{page.relative_to(site)}: {link!r} -> no such file")
                continue
            if parts.fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else _parse(target).ids
                if unquote(parts.fragment) not in ids:
                    broken.append(f"{page.relative_to(site)}: {link!r} -> no anchor #{parts.fragment}")
    return broken


def test_gallery_settings_and_pages():
    """Quick: the reduced settings name registered experiments and parameters, and every
    experiment's page text is produced (without running anything)."""
    import neurosim.experiments as ex

    hook = _hook()
    names = ex.names()
    for name, settings in hook.REDUCED.items():
        assert name in names
        assert set(settings) <= set(ex.get(name).parameters), name
    assert set(hook.REDUCED) == set(names), "every registered experiment has reduced gallery settings"
    for name in names:
        page = hook._page(name, ["raster.png"], 1.0)
        assert f"![{name}: raster.png]({name}/raster.png)" in page
        assert page.startswith(f"# {name}\n")
        assert f"neurosim run {name} --out results/{name}" in page
        for param in ex.get(name).parameters:
            assert f"| `{param}` |" in page
    assert "| [cuba](cuba.md) |" in hook._index(names)


def test_getting_started_has_the_readmes_two_commands():
    """The getting-started page repeats the README's two commands exactly (catches drift)."""
    import re

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^## The two commands\n(.*?)(?=^## )", readme, re.DOTALL | re.MULTILINE)
    assert match is not None, "README.md lost its '## The two commands' section (the docs copy it)"
    commands = re.findall(r"```bash\n(.*?)```", match.group(1), re.DOTALL)
    assert commands
    page = (ROOT / "docs" / "getting-started.md").read_text(encoding="utf-8")
    for command in commands:
        assert f"```bash\n{command}```" in page, command


def test_rest_literal_blocks_become_fences():
    """Docstrings' reST habits are rewritten for Markdown (docs/_hooks/rest_literals.py)."""
    spec = importlib.util.spec_from_file_location("neurosim_docs_rest_hook", ROOT / "docs" / "_hooks" / "rest_literals.py")
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    src = ("Example::\n\n    x = f(1)\n    y = 2\n\nSee :class:`neurosim.Network`.\n\n"
           "```python\na = b::\n    c\n```\n\n::: neurosim.network\n\n>>> 1 + 1\n2\n\nNotes\n-----\ntext")
    out = "\n".join(hook.convert(src.split("\n")))
    assert "Example:\n\n```python\nx = f(1)\ny = 2\n```" in out
    assert "See `neurosim.Network`." in out
    assert "```python\na = b::\n    c\n```" in out  # fenced code is left alone
    assert "::: neurosim.network" in out  # mkdocstrings' directive too
    assert "```pycon\n>>> 1 + 1\n2\n```" in out
    assert "**Notes**" in out and "-----" not in out
    # an indented block whose text is not Python is fenced as plain text
    assert "```text" in "\n".join(hook.convert(["Update::", "", "    W <- W - e c^T  (rls)"]))


def test_readme_links_resolve():
    """The README is an overview that links into docs/: every relative link names a file of the
    checkout (so the links work on GitHub), and the docs build command is in it."""
    import re

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)\s]+)\)", readme)
    internal = [link for link in links if not urlsplit(link).scheme]
    assert any(link.startswith("docs/") for link in internal)
    missing = [link for link in internal if not (ROOT / unquote(urlsplit(link).path)).exists()]
    assert not missing, missing
    assert 'pip install -c constraints.txt ".[docs]" && mkdocs build --strict -d site' in readme


@pytest.mark.slow
def test_docs_build_strict(tmp_path):
    import neurosim.experiments as ex

    site = tmp_path / "site"
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)], cwd=ROOT,
                          check=False, capture_output=True, text=True, env=dict(os.environ, MPLBACKEND="Agg", NO_MKDOCS_2_WARNING="1"))
    seconds = time.perf_counter() - start
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-8000:]
    assert seconds < 600, f"the docs build took {seconds:.0f} s"

    # every registered experiment has its gallery page with the figures its reduced run drew
    for name in ex.names():
        page = site / "gallery" / name / "index.html"
        assert page.is_file(), name
        html = page.read_text(encoding="utf-8")
        pngs = list((site / "gallery" / name).glob("*.png"))
        assert pngs, f"no figure for {name}"
        for png in pngs:
            assert png.stat().st_size > 1000
            assert f'src="../{name}/{png.name}"' in html or f'src="{png.name}"' in html or png.name in html
    assert (site / "gallery" / "index.html").is_file()
    # the API reference was rendered from the docstrings, the mapped packages included, with the
    # docstrings' reST literal blocks as code blocks (no "Example::" left on a page)
    import re

    for page in ("network", "circuits", "plasticity", "plot"):
        assert "doc-object" in (site / "reference" / page / "index.html").read_text(encoding="utf-8"), page
    for page in (site / "reference").rglob("index.html"):
        text = re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8"))
        assert not [line for line in text.splitlines() if line.rstrip().endswith("::") and line.strip() != "::"], page
    # the benchmark tables are included
    assert "Brian2" in (site / "benchmarks" / "index.html").read_text(encoding="utf-8")

    broken = broken_internal_links(site)
    assert not broken, "\n".join(broken[:50])


def test_failing_gallery_run_fails_the_build(monkeypatch, tmp_path):
    """A gallery experiment that raises stops the build with an error naming it."""
    from mkdocs.exceptions import PluginError

    hook = _hook()
    monkeypatch.setattr(hook, "REDUCED", {"cuba": {"duration": -1.0}})
    with pytest.raises(PluginError, match="experiment 'cuba' failed"):
        hook._run_reduced("cuba", str(tmp_path / "cuba"))
