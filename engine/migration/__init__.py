"""Live migration of running leads to another definition version, and canary starts.

    plan = plan_migration(engine, "inbound-lead", 3, {"nurture": "new"}, sla_policy="keep")
    print(plan.counts)              # {'clean': 812, 'mapped': 40, 'fails_criteria': 3, ...}
    result = apply_migration(engine, "inbound-lead", 3, {"nurture": "new"}, sla_policy="keep")
    set_canary(engine, "inbound-lead", 4, 0.1)   # 10% of new leads start on v4

Leads stay on the version they started on until a migration moves them. The dry run
(:func:`plan_migration`) and the apply (:func:`apply_migration`) decide each lead with the same
function, so the apply's counts equal the dry run's when nothing changed in between. The apply
works in batches, one transaction per batch; each batch also advances the run's row in
``lf_migrations``, so a crash loses at most the batch in flight, and running the same migration
again continues after the last committed batch. Leads already on the target version are never
selected: nothing is migrated twice. See docs/migration.md.

Test hook: ``leadflow.engine.migration._apply.BEFORE_COMMIT`` (None normally) is called with
(run id, last instance id of the batch) inside each batch's transaction just before it commits;
crash tests set it to kill the process mid-apply.
"""

from __future__ import annotations

from leadflow.engine._canary import Canary, InvalidCanary
from leadflow.engine.migration._apply import (
    MigrationPlan,
    MigrationResult,
    apply_migration,
    plan_migration,
)
from leadflow.engine.migration._canaries import canary, clear_canary, set_canary
from leadflow.engine.migration._impact import ChangeImpact, DiffImpact, diff_impact
from leadflow.engine.migration._plan import (
    BLOCKED,
    MOVED,
    OUTCOMES,
    SLA_POLICIES,
    InvalidMigration,
    LeadOutcome,
    MigrationInProgress,
)
from leadflow.engine.migration._runs import MigrationRun, abandon_migration, migration_runs

__all__ = [
    "BLOCKED",
    "MOVED",
    "OUTCOMES",
    "SLA_POLICIES",
    "Canary",
    "ChangeImpact",
    "DiffImpact",
    "InvalidCanary",
    "InvalidMigration",
    "LeadOutcome",
    "MigrationInProgress",
    "MigrationPlan",
    "MigrationResult",
    "MigrationRun",
    "abandon_migration",
    "apply_migration",
    "canary",
    "clear_canary",
    "diff_impact",
    "migration_runs",
    "plan_migration",
    "set_canary",
]
