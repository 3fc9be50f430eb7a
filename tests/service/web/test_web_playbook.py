"""Playbook templates on the lead page: rendered with the lead's fields in Jinja2's sandbox,
escaped, with missing and hidden fields shown as marked gaps."""

from __future__ import annotations

from pathlib import Path

import pytest
from web_support import PROCESS, WebApp

from leadflow.service.web._playbook import PlaybookTemplates


def test_the_first_call_script_is_rendered_with_the_leads_fields(web: WebApp) -> None:
    """inbound-lead's first-call.md shows on a new lead's page with its name and owner filled
    in; what the lead lacks is a marked gap; markup typed into a field stays text."""
    web.start("l1", name="<b>Zoë</b> *x*")
    page = web.signed_in("rep").get(f"/app/p/{PROCESS}/leads/l1").text
    assert "Script: templates/first-call.md" in page
    assert "Hi &lt;b&gt;Zoë&lt;/b&gt; *x*, this is sdr_ana from" in page
    assert "<b>Zoë</b>" not in page
    assert '<mark class="missing">our_company: not set</mark>' in page
    assert "fields to fill in" in page
    assert "{{" not in page


@pytest.fixture
def templates(tmp_path: Path) -> PlaybookTemplates:
    """A template directory with a few templates, and a secret file beside it."""
    root = tmp_path / "t"
    root.mkdir()
    (tmp_path / "secret.md").write_text("the secret", encoding="utf-8")
    (root / "hello.md").write_text(
        "Hello **{{ name }}**, {{ amount }} [site](javascript:x)", "utf-8"
    )
    (root / "evil.md").write_text("{{ name.__class__.__mro__[1].__subclasses__() }}", "utf-8")
    (root / "broken.md").write_text("Hello {{ name", encoding="utf-8")
    (root / "raw.md").write_text(
        "<script>alert(1)</script> ![x](http://example.com/x.png)", "utf-8"
    )
    return PlaybookTemplates([root])


def test_hidden_fields_are_gaps_and_markdown_is_html(templates: PlaybookTemplates) -> None:
    """A field hidden from the role is a gap saying so, Markdown becomes HTML, and a
    javascript: link is not made a link."""
    done = templates.render("hello.md", {"name": "Ana"}, hidden={"amount"})
    assert done.html is not None
    assert "Hello <strong>Ana</strong>" in done.html
    assert '<mark class="missing">amount: hidden from your role</mark>' in done.html
    assert 'href="javascript' not in done.html
    assert done.missing == ("amount",)


def test_templates_cannot_escape_their_directory_or_the_sandbox(
    templates: PlaybookTemplates,
) -> None:
    """A path out of the directory is not found, the sandbox refuses attribute tricks, a
    syntax error is reported, raw HTML and remote images never reach the page."""
    outside = templates.render("../secret.md", {}, hidden=())
    assert outside.html is None
    assert outside.problem == "../secret.md is not in the template directories"
    evil = templates.render("evil.md", {"name": "x"}, hidden=())
    assert evil.html is None
    assert evil.problem is not None
    assert "could not be rendered" in evil.problem
    broken = templates.render("broken.md", {"name": "x"}, hidden=())
    assert broken.problem is not None
    assert "could not be rendered" in broken.problem
    raw = templates.render("raw.md", {}, hidden=())
    assert raw.html is not None
    assert "<script>" not in raw.html
    assert "&lt;script&gt;" in raw.html
    assert "<img" not in raw.html


def test_a_template_url_is_a_link_only_over_https(templates: PlaybookTemplates) -> None:
    """An https template is offered as a link (never fetched); an http one is not linked."""
    assert templates.render("https://x.example/t.md", {}, ()).link == "https://x.example/t.md"
    plain = templates.render("http://x.example/t.md", {}, ())
    assert plain.link is None
    assert plain.html is None
