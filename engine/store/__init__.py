"""The engine's storage: tables, transactions, queries and schema upgrades.

:class:`Store` opens the database and hands out :class:`Tx` transactions; the hot path writes a
planned :class:`Change` (instance row, history, timers, outbox) in one of them. The tables are in
:mod:`leadflow.engine.store.tables` (SQLAlchemy Core); :class:`OutboxStore` is the outbox and
its deliveries for the dispatcher and the admin commands. :func:`upgrade`, :func:`current` and
:func:`head` run the shipped Alembic schema upgrades (``leadflow db upgrade``); live migration
of leads between definition versions is :mod:`leadflow.engine.migration`, not this.

For the HTTP service: :class:`TokenStore` keeps API tokens (only a hash of each), and
``Tx.answer``/``Tx.save_answer`` with :func:`purge_answers` keep the first answer to each write
that carried an Idempotency-Key (:class:`StoredAnswer`). For the web app: :class:`SavedViews`
(named board filters) and :class:`BatchRuns` (one action on every lead a filter matched,
tracked lead by lead).
"""

from leadflow.engine.store._batch_runs import BATCH_STATUSES, BatchRun, BatchRuns
from leadflow.engine.store._idempotency import StoredAnswer, purge_answers
from leadflow.engine.store._leads import last_activities, last_change, lead_rows, open_totals
from leadflow.engine.store._outbox import DEAD, DELIVERED, PENDING, decode_time
from leadflow.engine.store._outbox_admin import DELIVERY_STATUSES, BacklogRow, DeliveryRow
from leadflow.engine.store._outbox_store import ClaimedRow, OutboxStore
from leadflow.engine.store._saved_views import InvalidView, SavedView, SavedViews
from leadflow.engine.store._store import (
    Change,
    DueTimer,
    InstanceRow,
    Store,
    dumps,
)
from leadflow.engine.store._tokens import ROLES, InvalidToken, TokenInfo, TokenStore, UnknownToken
from leadflow.engine.store._tx import WAKEUP_CHANNEL, StoreView, Tx
from leadflow.engine.store._upgrade import UPGRADES, current, head, upgrade

__all__ = [
    "BATCH_STATUSES",
    "DEAD",
    "DELIVERED",
    "DELIVERY_STATUSES",
    "PENDING",
    "ROLES",
    "UPGRADES",
    "WAKEUP_CHANNEL",
    "BacklogRow",
    "BatchRun",
    "BatchRuns",
    "Change",
    "ClaimedRow",
    "DeliveryRow",
    "DueTimer",
    "InstanceRow",
    "InvalidToken",
    "InvalidView",
    "OutboxStore",
    "SavedView",
    "SavedViews",
    "Store",
    "StoreView",
    "StoredAnswer",
    "TokenInfo",
    "TokenStore",
    "Tx",
    "UnknownToken",
    "current",
    "decode_time",
    "dumps",
    "head",
    "last_activities",
    "last_change",
    "lead_rows",
    "open_totals",
    "purge_answers",
    "upgrade",
]
