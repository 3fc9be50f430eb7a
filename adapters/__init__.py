"""The edges to other systems (CRMs, webhooks, files).

The adapter contract is :mod:`leadflow.adapters.base` (``Adapter``, ``Delivery``, ``Result``);
adapter types are found by name (:func:`factory_for`: built-ins, :func:`register`, and the
``leadflow.adapters`` entry-point group); :func:`load_config` reads the deployment
configuration (TOML + environment, secrets by reference) and
:meth:`DeploymentConfig.build_adapters` builds the configured instances. Inbound CRM webhooks
reach the engine through :func:`create_inbound_app` (ASGI) or :func:`serve_inbound`.
Importing this package imports no concrete adapter; see ``docs/adapters.md``.
"""

from ._config import DeploymentConfig, Secret, load_config, resolve_secret
from ._registry import available, factory_for, register
from ._signing import (
    SignatureError,
    sign_hubspot_v3,
    sign_standard_webhook,
    standard_webhook_headers,
    verify_basic_auth,
    verify_hubspot_v3,
    verify_standard_webhook,
)
from .base import (
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

__all__ = [
    "Adapter",
    "AdapterConfigError",
    "AdapterFactory",
    "Delivery",
    "DeploymentConfig",
    "Event",
    "Outcome",
    "Result",
    "Secret",
    "SecretResolver",
    "SignatureError",
    "Subscription",
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
