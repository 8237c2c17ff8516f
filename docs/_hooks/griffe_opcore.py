"""Griffe extension for the docs build: read opcore's reST-flavoured docstrings as Markdown.

opcore's docstrings use Sphinx roles (``:class:`OpDef```) and the occasional
``.. code-block::`` directive. mkdocstrings renders Markdown, where those would
show up as literal text. This extension rewrites them before rendering:

- a role becomes an *optional* cross-reference: a link when the target is
  documented on the site, plain code otherwise (so ``mkdocs build --strict``
  never fails on a role that points at an undocumented private helper);
- ``.. code-block:: LANG`` lines are dropped and a paragraph's closing ``::``
  becomes ``:``: the indented block after them is already a Markdown code block;
- doctest blocks (``>>>`` lines and their output) are fenced as ``pycon`` code,
  so Markdown does not read them as quotes or ``[...][...]`` links;
- dunder members (``__repr__``, ``__slots__``) are hidden from the reference,
  except ``__call__`` (calling an OpDef runs the op).

Only the rendered text changes; the library's docstrings stay as they are.
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|meth|func|mod|data|attr|exc|obj|const):`(~?)([^`<>]+?)`")
_DIRECTIVE = re.compile(r"^(\s*)\.\. code-block::.*$\n?", flags=re.M)


def _resolve(obj: griffe.Object | griffe.Alias, name: str) -> str:
    """The full path of ``name`` as seen from ``obj``'s scope, or ``name`` if it cannot be resolved."""
    name = name.lstrip(".")
    if "." in name and name.split(".", 1)[0] in ("opcore", "opcore_conformance"):
        return name
    head, _, rest = name.partition(".")
    scope: Any = obj if obj.is_class or obj.is_module else obj.parent
    while scope is not None:
        try:
            path = scope.resolve(head)
        except (griffe.NameResolutionError, AttributeError, KeyError):
            path = None
        if path:
            return f"{path}.{rest}" if rest else str(path)
        scope = scope.parent
    return name


def _fence_doctests(text: str) -> str:
    out: list[str] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        if stripped.startswith(">>>"):
            indent = line[: len(line) - len(stripped)]
            out.append(f"{indent}```pycon")
            while i < len(lines) and lines[i].strip() and lines[i].startswith(indent):
                out.append(lines[i])
                i += 1
            out.append(f"{indent}```")
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


_LITERAL = re.compile(r"(\S)::$", flags=re.M)


def _rewrite(obj: griffe.Object | griffe.Alias, text: str) -> str:
    def role(match: re.Match[str]) -> str:
        short, target = match.group(1), match.group(2).strip()
        target = target.rstrip("()")
        shown = target.rsplit(".", 1)[-1] if short else target
        identifier = html.escape(_resolve(obj, target), quote=True)
        return f'<autoref identifier="{identifier}" optional><code>{html.escape(shown)}</code></autoref>'

    text = _LITERAL.sub(r"\1:", _DIRECTIVE.sub("", text))
    parts = re.split(r"(```.*?```)", _fence_doctests(text), flags=re.S)
    # Roles become links outside code only.
    return "".join(p if p.startswith("```") else _ROLE.sub(role, p) for p in parts)


_SHOWN_DUNDERS = frozenset({"__call__"})


class OpcoreDocs(griffe.Extension):
    """Rewrite reST markup in every loaded docstring; hide dunder members."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        self._walk(pkg, set())

    def _walk(self, obj: griffe.Object, seen: set[str]) -> None:
        if obj.path in seen:
            return
        seen.add(obj.path)
        if obj.docstring is not None:
            obj.docstring.value = _rewrite(obj, obj.docstring.value)
        for name, member in list(obj.members.items()):
            if name.startswith("__") and name.endswith("__") and name not in _SHOWN_DUNDERS and not obj.is_module:
                if name != "__init__":
                    # Removed, not only marked private: where a module re-exports the class, griffe makes the
                    # alias's members afresh from these, and they would not carry the mark.
                    del obj.members[name]
                    continue
                member.public = False  # kept: its signature is the class's (merge_init_into_class)
            if not member.is_alias:
                self._walk(member, seen)  # type: ignore[arg-type]
