"""Access rules in the language: the built-in roles narrowed or widened, custom roles, sharing.

.. code-block:: yaml

    access:
      team_field: owning_team
      roles:
        rep: {scope: own, fire: [contact, qualify, lose], update: [budget], hidden: [amount]}
        partner: {like: rep, hidden: [budget]}
      sharing:
        - {role: rep, when: 'lead.segment == "smb"', verbs: [read]}

A definition without ``access:`` leaves every built-in role as it is. The engine applies these
rules (``leadflow.engine.access``); whole-definition checks of them are in
:mod:`._access_checks`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, model_validator

from ._base import Name, _Model
from ._frozen import FrozenDict

__all__ = ["ACCESS_VERBS", "BUILTIN_ROLES", "AccessSpec", "RoleRule", "SharingRule"]

BUILTIN_ROLES = ("admin", "ops", "manager", "rep", "viewer", "board")
"""The built-in roles, from the most to the least powerful."""

ACCESS_VERBS = ("read", "start", "fire", "update", "record", "assign")
"""What can be done to one lead; a sharing rule grants some of them."""

BuiltinRole = Literal["admin", "ops", "manager", "rep", "viewer", "board"]
AccessVerb = Literal["read", "start", "fire", "update", "record", "assign"]


def _names_or_all(value: Any) -> str | None:
    """Which member of ``tuple[Name, ...] | Literal["*"]`` validates ``value`` (None: neither)."""
    if value == "*":
        return "all"
    if isinstance(value, (list, tuple)):
        return "names"
    return None


NamesOrAll = Annotated[
    Annotated[tuple[Name, ...], Tag("names")] | Annotated[Literal["*"], Tag("all")],
    Discriminator(
        _names_or_all,
        custom_error_type="names_or_all",
        custom_error_message="expected a list of names, or '*' for all of them",
    ),
]
"""A list of names, or ``"*"`` for all (``fire`` and ``update``)."""


class RoleRule(_Model):
    """How the definition narrows or widens a built-in role, or defines a custom one."""

    like: BuiltinRole | None = None
    """The built-in role a custom role is based on (required for a custom role, not allowed
    for a built-in one)."""
    scope: Literal["own", "team", "all"] | None = None
    """Which leads the role acts on: its own, its team's (and unassigned ones), or all (the
    built-in role's scope when absent)."""
    fire: NamesOrAll = "*"
    """The triggers the role may fire; ``"*"`` (the default) for all of them."""
    update: NamesOrAll = "*"
    """The fields the role may change (by update, and with the data of fire and start);
    ``"*"`` (the default) for all of them."""
    hidden: tuple[Name, ...] = ()
    """Fields the role may not read: they are absent from every answer it gets."""


class SharingRule(_Model):
    """Criteria-based sharing: a role gets verbs on the leads a CEL condition selects."""

    role: Name
    """The role the leads are shared with: a built-in role or one declared under ``roles``."""
    when: str = Field(min_length=1)
    """A CEL condition over ``lead`` (its fields) and ``owner`` (its owner's id, or null)."""
    verbs: tuple[AccessVerb, ...] = Field(default=("read",), min_length=1)
    """What the role may do to the selected leads (``read`` when absent)."""


class AccessSpec(_Model):
    """Who may do what to which lead of this process, on top of the built-in roles."""

    team_field: Name | None = None
    """A declared string or enum field naming the lead's owning team; members of that team may
    act on the lead as on their own."""
    roles: dict[Name, RoleRule] = Field(default_factory=dict)
    """Rules by role: a built-in role narrowed or widened, or a custom role ``like`` one."""
    sharing: tuple[SharingRule, ...] = ()
    """Criteria-based sharing rules: verbs granted to a role on the leads a condition selects."""

    @model_validator(mode="after")
    def _read_only_roles(self) -> AccessSpec:
        # a frozen model still hands out its dicts; make this one read-only as well
        object.__setattr__(self, "roles", FrozenDict(self.roles))
        return self
