"""The edges to other systems (CRMs, webhooks, files).

The adapter contract is :mod:`leadflow.adapters.base` (``Adapter``, ``Delivery``, ``Result``);
adapter types are found by name (:func:`factory_for`: built-ins, :func:`register`, and the
``leadflow.adapters`` entry-point group); :func:`load_config` reads the deployment
configuration (TOML + environment, secrets by reference) and
:meth:`DeploymentConfig.build_adapters` builds the configured instances. Inbound CRM webhooks
reach the engine through :class:`leadflow.adapters.inbound.InboundHandler`, which the service
(``leadflow.service``) serves over HTTP. Importing this package imports no concrete adapter;
see ``docs/adapters.md``.
"""

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
    "factory_for",
    "load_config",
    "register",
    "resolve_secret",
    "sign_hubspot_v3",
    "sign_standard_webhook",
    "standard_webhook_headers",
    "verify_basic_auth",
    "verify_hubspot_v3",
    "verify_standard_webhook",
]
