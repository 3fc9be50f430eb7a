"""The deployment configuration: which adapters exist, where they point, which secrets they use.

A TOML file (``leadflow.toml``) plus ``LEADFLOW_ADAPTER_<NAME>_<KEY>`` environment variables::

    [adapters.crm_webhook]
    type = "webhook"
    url = "https://example.com/hooks/leadflow"
    secret = "env:LEADFLOW_WEBHOOK_SECRET"

Secrets are references (``env:NAME``, ``file:PATH``), resolved by :func:`resolve_secret` when an
adapter is built; adapters keep the value in a :class:`Secret`, whose ``repr`` shows the
reference and never the value. The file format is documented in ``docs/adapters.md``.
"""

from __future__ import annotations

import difflib
import hmac
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from leadflow.adapters._flow import rate_limit_of
from leadflow.adapters._registry import factory_for
from leadflow.adapters.base import Adapter, AdapterConfigError

__all__ = [
    "ENV_PREFIX",
    "SECRET_KEY_SUFFIXES",
    "URL_HELP",
    "DeploymentConfig",
    "Secret",
    "is_secret_key",
    "load_config",
    "resolve_secret",
    "url_problem",
]

ENV_PREFIX = "LEADFLOW_ADAPTER_"
"""Environment variables ``LEADFLOW_ADAPTER_<NAME>_<KEY>`` set key ``<key>`` of adapter
``<name>`` (both lowercased), overriding the file; ``..._<NAME>_TYPE`` adds an adapter."""

SECRET_KEY_SUFFIXES = ("secret", "token", "password", "api_key", "private_key", "credentials")
"""Configuration keys ending in one of these hold secrets: their value must be a reference."""

REFERENCE_HELP = "write env:NAME or file:PATH; secrets are never stored in configuration"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def is_secret_key(key: str) -> bool:
    """Whether configuration key ``key`` holds a secret (``token``, ``previous_secret``, ...)."""
    return key.lower().endswith(SECRET_KEY_SUFFIXES)


def is_reference(value: object) -> bool:
    """Whether ``value`` is a well-formed secret reference."""
    if not isinstance(value, str):
        return False
    if value.startswith("env:"):
        return bool(_ENV_NAME.fullmatch(value[4:]))
    return value.startswith("file:") and len(value) > 5


class Secret:
    """A secret value that shows only its reference in ``repr``/``str``/format.

    ``reveal()`` returns the value; use it at the last moment (building a header, a MAC key).
    Comparison with another :class:`Secret` is constant-time; a :class:`Secret` is not hashable.
    """

    __slots__ = ("_value", "reference")

    def __init__(self, value: str, reference: str = "") -> None:
        self._value = value
        self.reference = reference
        """Where the value came from (``env:HUBSPOT_TOKEN``), safe to show."""

    def reveal(self) -> str:
        """The secret value itself."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self.reference!r})" if self.reference else "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __format__(self, spec: str) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("a Secret is never pickled")

    @classmethod
    def resolve(cls, reference: str, env: Mapping[str, str] | None = None) -> Secret:
        """Resolve ``reference`` (see :func:`resolve_secret`) into a :class:`Secret`."""
        return cls(resolve_secret(reference, env), reference)


def resolve_secret(reference: str, env: Mapping[str, str] | None = None) -> str:
    """The value a secret reference points at (a :data:`~leadflow.adapters.SecretResolver`).

    ``env:NAME`` reads environment variable ``NAME`` (from ``env``, default ``os.environ``);
    ``file:PATH`` reads the file (a Docker/Kubernetes secret), without its trailing newline.
    Raises :class:`AdapterConfigError` naming the reference, never a value, when the reference
    is malformed, the variable is unset or the file unreadable, or the value is empty.
    """
    if not isinstance(reference, str) or not is_reference(reference):
        shown = reference if isinstance(reference, str) and ":" in reference[:6] else "(hidden)"
        raise AdapterConfigError(
            f"secret reference {shown} is not allowed: {REFERENCE_HELP} "
            "(NAME: letters, digits and '_')"
        )
    if reference.startswith("env:"):
        name = reference[4:]
        source = os.environ if env is None else env
        value = source.get(name)
        if value is None:
            raise AdapterConfigError(
                f"secret reference {reference}: environment variable {name} is not set"
            )
    else:
        path = Path(reference[5:]).expanduser()
        try:
            value = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8"
            raise AdapterConfigError(
                f"secret reference {reference}: cannot read {path}: {reason}"
            ) from None
        value = value.rstrip("\r\n")
    if not value:
        raise AdapterConfigError(f"secret reference {reference}: the value is empty")
    return value


_TABLES = ("adapters", "dispatch", "inbound")
_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


@dataclass(frozen=True)
class DeploymentConfig:
    """A loaded deployment configuration (see :func:`load_config`)."""

    adapters: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Adapter name -> its table (with ``type``), after environment overrides."""
    dispatch: Mapping[str, Any] = field(default_factory=dict)
    """The ``[dispatch]`` table, passed through to the outbox dispatcher."""
    inbound: Mapping[str, Any] = field(default_factory=dict)
    """The ``[inbound]`` table: one sub-table per inbound source (see ``docs/adapters.md``)."""
    source: str = "<no file>"
    """The file it came from, for error messages."""
    env: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    """The environment that ``env:`` references resolve against."""

    @property
    def views(self) -> dict[str, str]:
        """Adapter name -> the role whose view of the leads it is sent (``view = "<role>"``):
        the values of fields that role may not read are left out of its events."""
        return {name: str(o["view"]) for name, o in self.adapters.items() if "view" in o}

    @property
    def rate_limits(self) -> dict[str, float]:
        """Adapter name -> deliveries a second this dispatcher sends it at most
        (``rate_limit = 10``); checked here, so a bad value names the file and adapter."""
        found = {n: o["rate_limit"] for n, o in self.adapters.items() if "rate_limit" in o}
        return {n: rate_limit_of(n, v, self.source).rate for n, v in found.items()}

    @property
    def per_adapter(self) -> dict[str, Any]:
        """The dispatcher's keyword arguments from the adapters' tables: ``views``,
        ``rate_limits`` and ``coalesce`` (``Dispatcher(engine, adapters, options, **...)``)."""
        return {"views": self.views, "rate_limits": self.rate_limits, "coalesce": self.coalescing}

    @property
    def coalescing(self) -> list[str]:
        """Adapters whose rapid updates of one lead go out as one write (``coalesce = true``)."""
        names = []
        for name, options in self.adapters.items():
            value = options.get("coalesce", False)
            if not isinstance(value, bool):
                raise AdapterConfigError(
                    f"{self.source}: [adapters.{name}] coalesce must be true or false; "
                    f"got {value!r}"
                )
            if value:
                names.append(name)
        return names

    def resolve_secret(self, reference: str) -> str:
        """Resolve a secret reference against this configuration's environment."""
        return resolve_secret(reference, self.env)

    def secret(self, reference: str) -> Secret:
        """Resolve a secret reference into a :class:`Secret`."""
        return Secret(self.resolve_secret(reference), reference)

    def build_adapters(self, names: Iterable[str] | None = None) -> dict[str, Adapter]:
        """Build the configured adapters (all, or those in ``names``) through the registry.

        Raises :class:`AdapterConfigError` prefixed with the file and table of the adapter at
        fault; adapters already built are closed first.
        """
        wanted = list(self.adapters) if names is None else list(names)
        built: dict[str, Adapter] = {}
        try:
            for name in wanted:
                built[name] = self._build(name)
        except BaseException:
            for adapter in built.values():
                adapter.close()
            raise
        return built

    def _build(self, name: str) -> Adapter:
        where = f"{self.source}: [adapters.{name}]"
        if name not in self.adapters:
            raise AdapterConfigError(
                f"{self.source}: no adapter named '{name}'{_hint(name, self.adapters)} "
                f"(configured: {', '.join(self.adapters) or 'none'})"
            )
        options = dict(self.adapters[name])
        type_name = options.pop("type")
        options.pop("view", None)  # the dispatcher's business (``views``, ``rate_limits``)
        options.pop("rate_limit", None)
        options.pop("coalesce", None)
        try:
            adapter = factory_for(type_name)(name, options, self.resolve_secret)
        except AdapterConfigError as exc:
            raise AdapterConfigError(f"{where}: {exc}") from exc
        if not isinstance(adapter, Adapter) or not isinstance(adapter.max_batch, int):
            raise AdapterConfigError(
                f"{where}: the '{type_name}' factory returned {type(adapter).__name__}, which "
                "lacks the Adapter protocol (name, max_batch, deliver, close)"
            )
        if adapter.max_batch < 1:
            adapter.close()
            raise AdapterConfigError(f"{where}: max_batch must be at least 1")
        return adapter


def load_config(
    path: str | os.PathLike[str] | None, env: Mapping[str, str] | None = None
) -> DeploymentConfig:
    """Load the deployment configuration from TOML file ``path`` and environment ``env``.

    ``path=None`` reads the file named by ``LEADFLOW_CONFIG`` if that is set, otherwise starts
    empty (environment variables only). ``env`` defaults to ``os.environ``. Raises
    :class:`AdapterConfigError` naming the file, the table and key, and what is allowed; a
    literal secret is refused (its value is never shown).
    """
    env = dict(os.environ if env is None else env)
    if path is None and env.get("LEADFLOW_CONFIG"):
        path = env["LEADFLOW_CONFIG"]
    if path is None:
        document: dict[str, Any] = {}
        source = "<environment>"
    else:
        source = os.fspath(path)
        document = _read(Path(source))
    unknown = [k for k in document if k not in _TABLES]
    if unknown:
        raise AdapterConfigError(
            f"{source}: unknown table [{unknown[0]}]{_hint(unknown[0], _TABLES)}; "
            f"allowed: {', '.join(f'[{t}]' for t in _TABLES)}"
        )
    for table in _TABLES:
        if not isinstance(document.get(table, {}), dict):
            raise AdapterConfigError(f"{source}: '{table}' must be a table ([{table}])")
    adapters: dict[str, dict[str, Any]] = {}
    for name, opts in document.get("adapters", {}).items():
        if not isinstance(opts, dict):
            raise AdapterConfigError(f"{source}: adapters.{name} must be a table")
        if not _NAME.fullmatch(name):
            raise AdapterConfigError(
                f"{source}: [adapters.{name}]: adapter names are lowercase letters, digits and "
                "'_', starting with a letter (so LEADFLOW_ADAPTER_<NAME>_<KEY> can address them)"
            )
        adapters[name] = dict(opts)
    _apply_env(adapters, env, source)
    for name, opts in adapters.items():
        type_name = opts.get("type")
        if not isinstance(type_name, str) or not type_name:
            raise AdapterConfigError(
                f'{source}: [adapters.{name}] needs type = "<adapter type>" '
                "(webhook, jsonl, hubspot, salesforce, pipedrive, or a registered type)"
            )
        view = opts.get("view")
        if view is not None and (not isinstance(view, str) or not _NAME.fullmatch(view)):
            raise AdapterConfigError(
                f"{source}: [adapters.{name}] view = {view!r}: name a role (admin, ops, "
                "manager, rep, viewer, board, or one a definition declares under access: roles)"
            )
    _check_secrets(document.get("dispatch", {}), "dispatch", source)
    _check_secrets(document.get("inbound", {}), "inbound", source)
    for name, opts in adapters.items():
        _check_secrets(opts, f"adapters.{name}", source)
    return DeploymentConfig(
        adapters=adapters,
        dispatch=dict(document.get("dispatch", {})),
        inbound=dict(document.get("inbound", {})),
        source=source,
        env=env,
    )


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise AdapterConfigError(f"{path}: deployment configuration file not found") from None
    except OSError as exc:
        raise AdapterConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise AdapterConfigError(f"{path}: invalid TOML: {exc}") from None


def _apply_env(adapters: dict[str, dict[str, Any]], env: Mapping[str, str], source: str) -> None:
    """Apply ``LEADFLOW_ADAPTER_<NAME>_<KEY>`` variables; ``_TYPE`` ones may add adapters."""
    found = sorted((k[len(ENV_PREFIX) :].lower(), k) for k in env if k.startswith(ENV_PREFIX))
    for rest, _ in found:
        if rest.endswith("_type") and not _owner(rest, adapters):
            adapters.setdefault(rest[: -len("_type")], {})
    for rest, variable in found:
        name = _owner(rest, adapters)
        if name is None or len(rest) == len(name):
            raise AdapterConfigError(
                f"environment variable {variable}: no configured adapter matches; write "
                f"{ENV_PREFIX}<NAME>_<KEY> with NAME one of: {', '.join(adapters) or 'none'} "
                f"(or set {ENV_PREFIX}<NAME>_TYPE to add an adapter)"
            )
        key = rest[len(name) + 1 :]
        adapters[name][key] = _env_value(env[variable])
        if is_secret_key(key) and not is_reference(adapters[name][key]):
            raise AdapterConfigError(
                f"environment variable {variable}: '{key}' holds a secret; a literal secret is "
                f"not allowed: {REFERENCE_HELP}"
            )


def _owner(rest: str, adapters: Mapping[str, Any]) -> str | None:
    """The longest adapter name that ``rest`` (``name_key``) starts with."""
    matches = [n for n in adapters if rest.startswith(n + "_") or rest == n]
    return max(matches, key=len) if matches else None


def _env_value(text: str) -> Any:
    """A TOML value when ``text`` parses as one (``10``, ``true``, ``[1, 2]``), else the text."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _check_secrets(table: Mapping[str, Any], where: str, source: str) -> None:
    for key, value in table.items():
        if isinstance(value, dict):
            _check_secrets(value, f"{where}.{key}", source)
        elif is_secret_key(key) and not is_reference(value):
            raise AdapterConfigError(
                f"{source}: [{where}] key '{key}': a literal secret is not allowed; "
                f"{REFERENCE_HELP}"
            )


def _hint(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


_REQUIRED: Any = object()


def check_keys(options: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """Refuse keys an adapter does not know (with a did-you-mean hint)."""
    known = list(allowed)
    for key in options:
        if key not in known:
            raise AdapterConfigError(
                f"unknown key '{key}'{_hint(key, known)}; allowed: {', '.join(sorted(known))}"
            )


def option(
    options: Mapping[str, Any],
    key: str,
    kinds: type | tuple[type, ...],
    default: Any = _REQUIRED,
    what: str = "",
) -> Any:
    """``options[key]`` checked against ``kinds`` (``bool`` is not a number), or ``default``.

    Raises :class:`AdapterConfigError` naming the key and what is allowed (``what``), never the
    value of a secret key.
    """
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    described = what or " or ".join(k.__name__ for k in kinds)
    if key not in options:
        if default is _REQUIRED:
            raise AdapterConfigError(f"missing key '{key}' ({described})")
        return default
    value = options[key]
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        got = type(value).__name__ if is_secret_key(key) else repr(value)
        raise AdapterConfigError(f"key '{key}' must be {described}; got {got}")
    return value


URL_HELP = "an http:// or https:// URL with a host, e.g. https://example.com/hooks/leadflow"


def url_problem(value: str) -> str | None:
    """Why ``value`` is not a usable http(s) URL (``None`` when it is): a scheme other than http
    or https, no host, whitespace, a bad port, brackets that do not close. The reason never
    includes the URL's user or password."""
    if any(c.isspace() for c in value):
        return "it contains whitespace"
    try:
        parts = urlsplit(value)
        port = parts.port  # a port that is not a number from 0 to 65535 raises here
    except ValueError as exc:
        return str(exc)
    if parts.scheme not in ("http", "https"):
        return f"the scheme is {parts.scheme or 'missing'!r}"
    if not parts.hostname:
        return "it has no host"
    if port == 0:
        return "port 0 is not a port to send to"
    import httpx  # here: importing the package must not import httpx (adapters build lazily)

    try:
        httpx.URL(value)
    except httpx.InvalidURL as exc:
        return str(exc)
    return None
