"""What the engine tells metrics and traces, at no cost when nobody listens.

Two kinds of listener, both optional:

* **Observers** (:class:`Observer`), registered per engine with :func:`observe`: the Prometheus
  metrics of :mod:`leadflow.engine.metrics` are one. They hear every fire (outcome, seconds),
  every start and every item of ``start_many`` / ``fire_many`` (counted per call, not per
  item), every SLA mark fired (how long after its due time) and every outbox delivery
  (adapter, outcome, seconds).
* **OpenTelemetry spans**, when ``opentelemetry-api`` is installed (``pip install
  'leadflow[otel]'``) and a tracer provider is configured (``opentelemetry-instrument``, or
  ``trace.set_tracer_provider`` in the host): ``leadflow.fire``, ``leadflow.sweep`` and
  ``leadflow.deliver`` spans (and ``leadflow.start``, ``leadflow.start_many``,
  ``leadflow.fire_many``) carry the process, the lead id and the CloudEvent ids the change
  wrote (``cloudevents.event_id``), so one change is followed from the API call to its CRM
  delivery. Without the package nothing is imported; without a provider no span is made.

The engine's call sites are one line each (``with fire_span(...)``, ``start_span(...)``,
``batch_span(...)``, ``events_written(...)``, ``marks_fired(...)``); the dispatcher uses
:func:`delivery_span` and :func:`deliveries_done`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager as ContextManager
from contextlib import contextmanager, nullcontext
from datetime import datetime
from typing import Any, Protocol
from weakref import WeakKeyDictionary

from leadflow.definitions import LeadflowError

__all__ = [
    "BatchTally",
    "Observer",
    "batch_span",
    "deliveries_done",
    "delivery_span",
    "events_written",
    "fire_span",
    "forget",
    "marks_fired",
    "observe",
    "outcome_of",
    "start_span",
    "sweep_span",
    "use_tracer_provider",
]

MAX_IDS = 50
"""At most this many event or lead ids on one span (a sweep batch may write thousands)."""


class Observer(Protocol):
    """Hears what one engine does (every method must be quick and must not raise)."""

    def fired(self, process: str, outcome: str, seconds: float, code: str | None) -> None:
        """A fire ended: ``outcome`` (:func:`outcome_of`), wall seconds, the error code."""

    def counted(
        self, operation: str, process: str, outcomes: Mapping[tuple[str, str | None], int]
    ) -> None:
        """Items of ``operation`` (``start``: a start or ``start_many`` items; ``fire``:
        ``fire_many`` items) ended: how many per (outcome, error code); once per call."""

    def batch(self, operation: str, process: str, size: int | None, seconds: float) -> None:
        """One ``start_many`` / ``fire_many`` call (``operation``) of ``size`` items took
        ``seconds``; ``size`` is None when the call raised (its items are not counted: which
        of its transactions committed is unknown to the caller too)."""

    def marks(self, lags: Sequence[float]) -> None:
        """SLA marks fired (committed): seconds from each mark's due time to then."""

    def delivered(self, adapter: str, outcomes: Mapping[str, int], seconds: float | None) -> None:
        """One call of ``adapter`` (``seconds`` long) answered ``outcomes`` (delivered, retry,
        failed: how many of each); or, with ``seconds`` None, outcomes found later
        (``lost_lease``: recorded after the lease had passed to another dispatcher)."""


_observers: WeakKeyDictionary[object, tuple[Observer, ...]] = WeakKeyDictionary()


def observe(owner: object, observer: Observer) -> None:
    """Tell ``observer`` what ``owner`` (an :class:`Engine`) does from now on."""
    key = _key(owner)
    _observers[key] = (*_observers.get(key, ()), observer)


def forget(owner: object, observer: Observer) -> None:
    """Stop telling ``observer``."""
    key = _key(owner)
    _observers[key] = tuple(o for o in _observers.get(key, ()) if o is not observer)


def _key(owner: object) -> object:
    """Observers hang on the engine's runtime, which its sweep and dispatcher reach too."""
    return getattr(owner, "runtime", owner)


def outcome_of(exc: BaseException | None) -> tuple[str, str | None]:
    """A fire's outcome and error code: fired; refused (criteria unmet, trigger not allowed,
    stale version); access_denied; invalid (bad data or arguments); error (anything else,
    the database being away included)."""
    if exc is None:
        return "fired", None
    code = getattr(exc, "code", None) if isinstance(exc, LeadflowError) else None
    if code in ("guard-failed", "invalid-transition", "concurrent-update"):
        return "refused", code
    if code == "access-denied":
        return "access_denied", code
    if isinstance(exc, ValueError | TypeError | LookupError):
        return "invalid", code
    return "error", code


# -- OpenTelemetry -------------------------------------------------------------------------------

_trace: Any = None
_checked = False
_provider: Any = None
_cached: tuple[Any, Any] = (None, None)
"""The last provider asked and its leadflow tracer."""
_idle_until = 0.0
"""Monotonic time until which no global provider is assumed (none was set a moment ago)."""


def use_tracer_provider(provider: Any) -> None:
    """Make spans with ``provider`` (an OpenTelemetry ``TracerProvider``) instead of the global
    one; None goes back to the global one (for tests and hosts that keep theirs apart)."""
    global _provider, _idle_until
    _provider = provider
    _idle_until = 0.0
    _load()


def _load() -> Any:
    """The ``opentelemetry.trace`` module, imported at the first span asked for (None when
    OpenTelemetry is not installed)."""
    global _trace, _checked
    if not _checked:
        _checked = True
        try:
            from opentelemetry import trace
        except ImportError:
            return None
        _trace = trace
    return _trace


def _tracer() -> Any:
    """The leadflow tracer when OpenTelemetry is installed and a real provider is set."""
    global _cached, _idle_until
    trace = _trace if _checked else _load()
    if trace is None:
        return None
    if _provider is None:
        if _idle_until and time.monotonic() < _idle_until:
            return None  # OpenTelemetry's lookup costs 2 us: a new global provider is seen
        provider = trace.get_tracer_provider()  # within a second
    else:
        provider = _provider
    if provider is _cached[0]:
        return _cached[1]
    if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
        _idle_until = time.monotonic() + 1.0
        return None
    _idle_until = 0.0
    if _cached[0] is not provider:
        _cached = (provider, provider.get_tracer("leadflow"))
    return _cached[1]


@contextmanager
def _span(name: str, attributes: dict[str, Any], tracer: Any = False) -> Iterator[Any]:
    if tracer is False:
        tracer = _tracer()
    if tracer is None:
        yield None
        return
    with tracer.start_as_current_span(name, attributes=attributes) as span:
        yield span


def events_written(events: Sequence[Sequence[Any]], changes: Sequence[Any]) -> None:
    """Put the CloudEvent ids a transaction wrote (outbox rows, the id first) and the leads of
    its changes on the current span (nothing is computed when no span records)."""
    if _trace is None or not events:
        return
    span = _trace.get_current_span()
    if not span.is_recording():
        return
    ids = [str(e[0]) for e in events[:MAX_IDS]]
    span.set_attribute("cloudevents.event_id", ids[0])
    span.set_attribute("leadflow.event_ids", ids)
    span.set_attribute("leadflow.lead_ids", sorted({c.row.lead_id for c in changes})[:MAX_IDS])


# -- the engine's and the dispatcher's call sites ------------------------------------------------


def fire_span(owner: object, process: str, lead_id: str, trigger: str) -> ContextManager[None]:
    """Around one fire: a ``leadflow.fire`` span and the observers' fire figures (nothing at
    all, not even a generator, when nobody listens: fire is the hot path)."""
    observers = _observers.get(_key(owner), ())
    tracer = _tracer()
    if not observers and tracer is None:
        return _NOTHING
    return _fire(observers, tracer, process, lead_id, trigger)


_NOTHING = nullcontext()


@contextmanager
def _fire(
    observers: Sequence[Observer], tracer: Any, process: str, lead_id: str, trigger: str
) -> Iterator[None]:
    attributes = {"leadflow.process": process, "leadflow.lead_id": lead_id}
    end: list[Any] = []
    try:
        with _watched("leadflow.fire", {**attributes, "leadflow.trigger": trigger}, tracer, end):
            yield
    finally:
        if end:
            outcome, code, seconds = end
            for observer in observers:
                observer.fired(process, outcome, seconds, code)


def start_span(owner: object, process: str, lead_id: str) -> ContextManager[None]:
    """Around one start: a ``leadflow.start`` span and the observers' count of starts
    (outcome ``started`` or as :func:`outcome_of` names a failure); nothing when nobody
    listens."""
    observers = _observers.get(_key(owner), ())
    tracer = _tracer()
    if not observers and tracer is None:
        return _NOTHING
    return _start(observers, tracer, process, lead_id)


@contextmanager
def _start(
    observers: Sequence[Observer], tracer: Any, process: str, lead_id: str
) -> Iterator[None]:
    attributes = {"leadflow.process": process, "leadflow.lead_id": lead_id}
    end: list[Any] = []
    try:
        with _watched("leadflow.start", attributes, tracer, end, "started"):
            yield
    finally:
        if end:
            outcome, code, _ = end
            for observer in observers:
                observer.counted("start", process, {(outcome, code): 1})


@contextmanager
def _watched(
    name: str, attributes: dict[str, Any], tracer: Any, end: list[Any], success: str = "fired"
) -> Iterator[None]:
    """A span around the body with its outcome; ``end`` gets (outcome, code, seconds) after
    the body, whether it returned or raised."""
    started = time.perf_counter()
    error: BaseException | None = None
    with _span(name, attributes, tracer) as span:
        try:
            yield
        except BaseException as exc:
            error = exc
            raise
        finally:
            outcome, code = outcome_of(error) if error is not None else (success, None)
            if span is not None:
                span.set_attribute("leadflow.outcome", outcome)
            end.extend((outcome, code, time.perf_counter() - started))


class BatchTally:
    """What one ``start_many`` / ``fire_many`` call did, told to :func:`batch_span`."""

    __slots__ = ("outcomes", "size")

    def __init__(self) -> None:
        self.size: int | None = None
        self.outcomes: dict[tuple[str, str | None], int] = {}

    def done(self, succeeded: int, failures: Iterable[BaseException], success: str) -> None:
        """``succeeded`` items ended as ``success`` (``started``, ``fired``); each of
        ``failures`` as :func:`outcome_of` names it (one pass over the failures only)."""
        outcomes = self.outcomes
        size = succeeded
        if succeeded:
            outcomes[(success, None)] = succeeded
        for error in failures:
            key = outcome_of(error)
            outcomes[key] = outcomes.get(key, 0) + 1
            size += 1
        self.size = size


@contextmanager
def batch_span(owner: object, operation: str, process: str) -> Iterator[BatchTally]:
    """Around one ``start_many`` / ``fire_many`` call (``operation``): a
    ``leadflow.<operation>`` span, and the observers hear the items by outcome
    (:meth:`Observer.counted`, one call: ``Counter.inc(n)``, no cost per item) and the call's
    size and seconds (:meth:`Observer.batch`). The caller fills the yielded tally."""
    observers = _observers.get(_key(owner), ())
    tally = BatchTally()
    started = time.perf_counter()
    with _span(f"leadflow.{operation}", {"leadflow.process": process}) as span:
        try:
            yield tally
        finally:
            seconds = time.perf_counter() - started
            if span is not None and tally.size is not None:
                span.set_attribute("leadflow.items", tally.size)
            kind = operation.removesuffix("_many")
            for observer in observers:
                if tally.size is not None:
                    observer.counted(kind, process, tally.outcomes)
                observer.batch(operation, process, tally.size, seconds)


@contextmanager
def sweep_span() -> Iterator[None]:
    """Around one sweep batch (one transaction): a ``leadflow.sweep`` span; the marks it fires
    and the events it writes are put on it."""
    with _span("leadflow.sweep", {}):
        yield


def marks_fired(owner: Any, due: Sequence[datetime]) -> None:
    """Marks due at ``due`` were fired and committed just now (by ``owner``'s clock): the
    observers hear the deadline-to-action lags, the current span how many."""
    if not due:
        return
    if _trace is not None:
        span = _trace.get_current_span()
        if span.is_recording():
            span.set_attribute("leadflow.marks", len(due))
    observers = _observers.get(_key(owner), ())
    if not observers:
        return
    now = owner.clock.now()
    lags = [max(0.0, (now - at).total_seconds()) for at in due]
    for observer in observers:
        observer.marks(lags)


@contextmanager
def delivery_span(adapter: str, events: Sequence[tuple[str, str]]) -> Iterator[None]:
    """Around one adapter call: a ``leadflow.deliver`` span with the (event id, lead id)
    pairs it carries."""
    attributes: dict[str, Any] = {"leadflow.adapter": adapter, "leadflow.deliveries": len(events)}
    if events:
        attributes["cloudevents.event_id"] = events[0][0]
        attributes["leadflow.event_ids"] = [e for e, _ in events[:MAX_IDS]]
        attributes["leadflow.lead_ids"] = sorted({lead for _, lead in events})[:MAX_IDS]
    with _span("leadflow.deliver", attributes):
        yield


def deliveries_done(
    owner: object, adapter: str, outcomes: Mapping[str, int], seconds: float | None
) -> None:
    """Tell the observers about one adapter call (see :meth:`Observer.delivered`)."""
    for observer in _observers.get(_key(owner), ()):
        observer.delivered(adapter, outcomes, seconds)
