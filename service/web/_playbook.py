"""Playbook templates on the lead page: a stage's call scripts and email templates
(``playbook: [{template: templates/first-call.md}]``) rendered with the lead's fields.

A template is Markdown with Jinja2 placeholders (``Hi {{name}}``). It is found by its path
relative to a template directory (``LEADFLOW_TEMPLATES``, then the shipped library's
``templates/``), never outside one; a URL is shown as a link, not fetched. It is rendered in
Jinja2's sandbox with the lead's fields that the person's role may read (plus ``lead_id``,
``owner``, ``rep_name``, ``stage``): a field that is not set, or hidden from the role, shows as
a marked gap (``name: not set``) instead of silently vanishing. Field values are text: Markdown
or HTML in them is shown as typed. The Markdown becomes HTML with markdown-it (raw HTML and
images off), so neither a template nor a lead's data can put markup or a remote fetch into the
page.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import TemplateError, Undefined
from jinja2.sandbox import SandboxedEnvironment
from markdown_it import MarkdownIt
from markupsafe import Markup, escape

__all__ = ["MAX_TEMPLATE", "PlaybookTemplates", "RenderedTemplate"]

MAX_TEMPLATE = 64 * 1024
"""Bytes of one template file."""
_HEADING = re.compile(r"<(/?)h([1-6])>")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!<>|~])")


@dataclass(frozen=True, slots=True)
class RenderedTemplate:
    """A playbook item's template for one lead: its HTML, or why there is none."""

    name: str
    html: Markup | None
    problem: str | None = None
    link: str | None = None
    """A template given as a URL: a link to it (not fetched)."""
    missing: tuple[str, ...] = ()
    """Placeholders with no value for this lead (unset, or hidden from the role)."""


class PlaybookTemplates:
    """Finds templates in ``directories`` (first match wins) and renders them."""

    def __init__(self, directories: Sequence[Path]) -> None:
        self.directories = [d.resolve() for d in directories]
        self._markdown = MarkdownIt("commonmark", {"html": False}).disable("image")

    def find(self, name: str) -> Path | None:
        """The file of template ``name`` inside one of the directories (None if none has
        it, or the name leads outside them)."""
        for root in self.directories:
            path = (root / name).resolve()
            if path.is_relative_to(root) and path.is_file():
                return path
        return None

    def render(
        self, name: str, fields: Mapping[str, Any], hidden: Collection[str]
    ) -> RenderedTemplate:
        """Template ``name`` rendered with ``fields`` (``hidden`` names show as hidden)."""
        if re.match(r"[a-z]+://", name):
            return RenderedTemplate(name, None, link=name if name.startswith("https://") else None)
        path = self.find(name)
        if path is None:
            return RenderedTemplate(name, None, f"{name} is not in the template directories")
        if path.stat().st_size > MAX_TEMPLATE:
            return RenderedTemplate(name, None, f"{name} is over {MAX_TEMPLATE // 1024} KB")
        nonce = secrets.token_hex(8)
        env = _environment(nonce, hidden)
        try:
            text = env.from_string(path.read_text(encoding="utf-8")).render(dict(fields))
        except (TemplateError, UnicodeDecodeError) as exc:
            return RenderedTemplate(name, None, f"{name} could not be rendered: {exc}")
        # a script's headings sit under the lead page's own (h3 "Playbook")
        html = _HEADING.sub(
            lambda m: f"<{m[1]}h{min(6, int(m[2]) + 3)}>", self._markdown.render(text)
        )
        gaps = re.compile(rf"lfgap{nonce}x(unset|hidden)x(\w+?)xend")
        missing = tuple(dict.fromkeys(m.group(2) for m in gaps.finditer(html)))
        html = gaps.sub(_gap, html)
        return RenderedTemplate(name, Markup(html), missing=missing)


def _gap(match: re.Match[str]) -> str:
    kind, name = match.group(1), match.group(2)
    said = "hidden from your role" if kind == "hidden" else "not set"
    return f'<mark class="missing">{escape(name)}: {said}</mark>'


def _environment(nonce: str, hidden: Collection[str]) -> SandboxedEnvironment:
    """A sandbox whose unknown names render as gap markers and whose values render as
    literal Markdown text."""

    class Gap(Undefined):
        def __str__(self) -> str:
            name = self._undefined_name or "value"
            kind = "hidden" if name in hidden else "unset"
            return f"lfgap{nonce}x{kind}x{name}xend"

    def finalize(value: Any) -> Any:
        if isinstance(value, Undefined):
            return value
        return _MD_SPECIAL.sub(r"\\\1", str(value).replace("\n", " "))

    return SandboxedEnvironment(autoescape=False, undefined=Gap, finalize=finalize)
