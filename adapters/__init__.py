"""The edges to other systems (CRMs, webhooks). The adapter contract and the outbox
dispatcher arrive with the CRM adapters issue; the engine already writes every change as a
CloudEvents envelope to its outbox table (see ``leadflow.engine.EVENT_TYPES``).
"""

__all__: list[str] = []
