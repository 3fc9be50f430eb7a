"""The ``lint`` section of a definition: lint codes the process owners chose to ignore, and why.

.. code-block:: yaml

    lint:
      ignore:
        - {code: LF205, reason: "nurture leads have no forecast weight on purpose"}

``code`` is a lint code (``LF205``) or its name (``stage-without-probability``). A suppression
without a ``reason`` still applies, but is itself reported (``LF001``), so that every exception
to the rules says why it exists.
"""

from __future__ import annotations

from pydantic import Field

from ._base import _Model

__all__ = ["LintSettings", "Suppression"]


class Suppression(_Model):
    """One lint code the definition ignores, with the reason."""

    code: str = Field(min_length=1, max_length=64)
    """The lint code (``LF205``) or its name (``stage-without-probability``)."""
    reason: str | None = None
    """Why the finding does not apply to this process; a suppression without one is reported."""


class LintSettings(_Model):
    """How ``leadflow lint`` treats this definition."""

    ignore: tuple[Suppression, ...] = ()
    """Lint codes not reported for this definition."""
