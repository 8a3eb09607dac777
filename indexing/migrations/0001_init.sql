-- Plans, their clauses and task-table fields, set-aside boilerplate, and the embedding cache.
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO meta (key, value) VALUES ('generation', '0');

CREATE TABLE plans (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    format TEXT NOT NULL,
    content_hash TEXT NOT NULL UNIQUE,
    title TEXT,
    unit TEXT,
    level TEXT,
    province TEXT,
    period TEXT,
    year INTEGER,
    year_end INTEGER,
    doc_number TEXT,
    issued TEXT,
    parents TEXT NOT NULL DEFAULT '[]',
    notes TEXT NOT NULL DEFAULT '[]',
    ingested_at TEXT NOT NULL
);
CREATE INDEX plans_source ON plans (source);

-- AUTOINCREMENT: clause ids are the vector-index ids and must never be reused.
CREATE TABLE clauses (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    plan_id INTEGER NOT NULL REFERENCES plans (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    label TEXT,
    section TEXT NOT NULL,
    path TEXT NOT NULL,
    kind TEXT NOT NULL,
    area TEXT,
    area_source TEXT,
    text TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    lex_tokens TEXT,
    UNIQUE (plan_id, position)
);
CREATE INDEX clauses_plan ON clauses (plan_id);
CREATE INDEX clauses_hash ON clauses (text_hash);

CREATE TABLE table_fields (
    clause_id INTEGER PRIMARY KEY REFERENCES clauses (id) ON DELETE CASCADE,
    responsible TEXT,
    partners TEXT,
    deadline TEXT,
    output TEXT
);

CREATE TABLE boilerplate (
    plan_id INTEGER NOT NULL REFERENCES plans (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX boilerplate_plan ON boilerplate (plan_id);

CREATE TABLE embeddings (
    model_id TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    dim INTEGER NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (model_id, text_hash)
);
