"""mkdocs hook: render the reST habits of neurosim's docstrings as Markdown.

The API reference is rendered by mkdocstrings with ``docstring_style: null``: a docstring is
Markdown. Many docstrings use two reST habits instead, which Markdown would show literally:

- a literal block introduced by ``::`` (``Example::`` then an indented block) -- rewritten as
  ``Example:`` and a fenced code block (Python highlighting when the block parses as Python,
  plain text otherwise);
- roles such as ``:class:`neurosim.NeuronModel``` -- rewritten as inline code;
- doctest examples (``>>>`` lines and their output, up to a blank line) -- fenced as ``pycon``;
- numpydoc section titles underlined with dashes (``Example`` / ``-------``) -- bold text
  rather than headings of the page.

Done by a Markdown preprocessor added to the site's Markdown extensions (mkdocstrings renders
docstrings with the same extensions), so the docstrings stay as they are. It runs before the
fenced-code preprocessor (which then highlights the fences it wrote) and leaves the lines inside
existing fences alone. Wired in through ``hooks:`` in mkdocs.yml.
"""

from __future__ import annotations

import ast
import re
import textwrap

from markdown import Extension
from markdown.preprocessors import Preprocessor

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|obj|exc|const):`~?([^`]+)`")
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
_ITEM = re.compile(r"^\s*(?:[-*+]|\d+\.)\s+")
_LITERAL = re.compile(r"^(?P<indent>\s*)(?P<text>.*?)::\s*$")


def _language(code: str) -> str:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return "text"
    return "python"


def convert(lines: list[str]) -> list[str]:
    """The lines with every ``::`` literal block fenced and every reST role made inline code."""
    out: list[str] = []
    fence = None  # the opening marker of the fenced block we are in
    i = 0
    while i < len(lines):
        line = lines[i]
        opener = _FENCE.match(line)
        if fence is not None or opener:
            if fence is None:
                fence = opener.group(1)
            elif line.strip().startswith(fence) and not line.strip().strip(fence[0]):
                fence = None
            out.append(line)
            i += 1
            continue
        if line.lstrip().startswith(">>>"):  # a doctest: fence it up to the next blank line
            j = i
            while j < len(lines) and lines[j].strip():
                j += 1
            pad = line[: len(line) - len(line.lstrip())]
            out += ["", f"{pad}```pycon", *lines[i:j], f"{pad}```", ""]
            i = j
            continue
        if (i + 1 < len(lines) and line.strip() and not line.lstrip().startswith(("|", "-", "#"))
                and re.fullmatch(r"\s*-{3,}\s*", lines[i + 1]) and len(lines[i + 1].strip()) == len(line.strip())):
            out.append(f"{line[: len(line) - len(line.lstrip())]}**{line.strip()}**")  # numpydoc section title
            out.append("")
            i += 2
            continue
        match = _LITERAL.match(line)
        if match is None or line.lstrip().startswith(":::"):  # (``::: identifier`` is mkdocstrings')
            out.append(_ROLE.sub(r"`\1`", line))
            i += 1
            continue
        indent = len(match.group("indent"))
        j = i + 1
        while j < len(lines) and not lines[j].strip():
            j += 1
        block_start = j
        while j < len(lines) and (not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip()) > indent):
            j += 1
        while j > block_start and not lines[j - 1].strip():  # trailing blank lines stay outside the block
            j -= 1
        if j == block_start:  # "::" with no indented block after it: leave the line alone
            out.append(_ROLE.sub(r"`\1`", line))
            i += 1
            continue
        text = match.group("text").rstrip()
        if text:  # "Example::" -> "Example:"; a bare "::" line disappears
            out.append(_ROLE.sub(r"`\1`", f"{match.group('indent')}{text}:"))
            out.append("")
        code = textwrap.dedent("\n".join(lines[block_start:j]))
        item = _ITEM.match(line)  # "- text::": the block belongs to the list item, indented as its text
        pad = " " * (len(item.group(0)) if item else indent)
        out.append(f"{pad}```{_language(code)}")
        out.extend(pad + c if c.strip() else "" for c in code.split("\n"))
        out.append(f"{pad}```")
        out.append("")
        i = j
    return out


class _Literals(Preprocessor):
    def run(self, lines):
        return convert(lines)


class RestLiteralsExtension(Extension):
    def extendMarkdown(self, md):  # (Markdown's API name)
        # after whitespace normalisation (30), before the fenced-code preprocessors (25)
        md.preprocessors.register(_Literals(md), "neurosim_rest_literals", 27)


def on_config(config):
    config.markdown_extensions.append(RestLiteralsExtension())
    return config
