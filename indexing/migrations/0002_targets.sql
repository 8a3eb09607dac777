-- Numeric targets extracted from clauses, so the cross-region table is a query, not a rescan.
-- targets_version records which extractor version scanned a clause; a newer extractor
-- rescans lazily.
ALTER TABLE clauses ADD COLUMN targets_version INTEGER NOT NULL DEFAULT 0;

CREATE TABLE targets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    clause_id INTEGER NOT NULL REFERENCES clauses (id) ON DELETE CASCADE,
    plan_id INTEGER NOT NULL REFERENCES plans (id) ON DELETE CASCADE,
    value REAL NOT NULL,
    unit TEXT NOT NULL,
    comparator TEXT NOT NULL,
    measure TEXT NOT NULL,
    raw TEXT NOT NULL,
    span_start INTEGER NOT NULL,
    span_end INTEGER NOT NULL,
    period TEXT,
    indicator TEXT NOT NULL,
    indicator_label TEXT NOT NULL
);
CREATE INDEX targets_plan ON targets (plan_id);
CREATE INDEX targets_indicator ON targets (indicator);
