"""The edges to other systems (CRMs, webhooks, files).

The adapter contract is :mod:`leadflow.adapters.base` (``Adapter``, ``Delivery``, ``Result``);
adapter types are found by name (:func:`factory_for`: built-ins, :func:`register`, and the
``leadflow.adapters`` entry-point group); :func:`load_config` reads the deployment
configuration (TOML + environment, secrets by reference) and
:meth:`DeploymentConfig.build_adapters` builds the configured instances. Inbound CRM webhooks
reach the engine through :func:`create_inbound_app` (ASGI) or :func:`serve_inbound`.
Importing this package imports no concrete adapter; see ``docs/adapters.md``.
"""

from typing import TYPE_CHECKING, Any

from leadflow.adapters._config import DeploymentConfig, Secret, load_config, resolve_secret
from leadflow.adapters._registry import available, factory_for, register
from leadflow.adapters._signing import (
    SignatureError,
    sign_hubspot_v3,
    sign_standard_webhook,
    standard_webhook_headers,
    verify_basic_auth,
    verify_hubspot_v3,
    verify_standard_webhook,
)
from leadflow.adapters.base import (
    Adapter,
    AdapterConfigError,
    AdapterFactory,
    Delivery,
    Event,
    Outcome,
    Result,
    SecretResolver,
    Subscription,
)
from leadflow.adapters.outbox import (
    AdapterBacklog,
    DeliveryInfo,
    Dispatcher,
    DispatchOptions,
    DispatchStats,
    InvalidOutboxRequest,
    Outbox,
    OutboxError,
    OutboxStatus,
    PurgeResult,
    UnknownDelivery,
)

if TYPE_CHECKING:
    from leadflow.adapters.inbound import create_inbound_app, serve_inbound

__all__ = [
    "Adapter",
    "AdapterBacklog",
    "AdapterConfigError",
    "AdapterFactory",
    "Delivery",
    "DeliveryInfo",
    "DeploymentConfig",
    "DispatchOptions",
    "DispatchStats",
    "Dispatcher",
    "Event",
    "InvalidOutboxRequest",
    "Outbox",
    "OutboxError",
    "OutboxStatus",
    "Outcome",
    "PurgeResult",
    "Result",
    "Secret",
    "SecretResolver",
    "SignatureError",
    "Subscription",
    "UnknownDelivery",
    "available",
    "create_inbound_app",
    "factory_for",
    "load_config",
    "register",
    "resolve_secret",
    "serve_inbound",
    "sign_hubspot_v3",
    "sign_standard_webhook",
    "standard_webhook_headers",
    "verify_basic_auth",
    "verify_hubspot_v3",
    "verify_standard_webhook",
]


def __getattr__(name: str) -> Any:
    """The inbound app loads on first use (it imports the engine and httpx)."""
    if name in ("create_inbound_app", "serve_inbound"):
        from leadflow.adapters import inbound

        return getattr(inbound, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
