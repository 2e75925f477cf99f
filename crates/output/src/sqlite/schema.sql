-- kspan's SQLite schema (docs/sqlite.md). Ids are lowercase hex as in OTLP: trace ids 32
-- digits, span ids 16. Times are Unix nanoseconds; durations and activity are nanoseconds.

-- One row per trace (one request end to end).
CREATE TABLE traces (
    trace_id      TEXT PRIMARY KEY,
    root_span_id  TEXT NOT NULL,
    root_service  TEXT NOT NULL,
    root_name     TEXT NOT NULL,
    start_unix_ns INTEGER NOT NULL,
    duration_ns   INTEGER NOT NULL,
    span_count    INTEGER NOT NULL,
    partial       INTEGER NOT NULL  -- 1 when any of its spans is partial
);

-- One row per span, with the kernel activity kspan attributed to it.
CREATE TABLE spans (
    span_id          TEXT PRIMARY KEY,
    trace_id         TEXT NOT NULL REFERENCES traces(trace_id),
    parent_id        TEXT REFERENCES spans(span_id),  -- NULL for a trace's root
    kind             TEXT NOT NULL CHECK (kind IN ('server', 'client')),
    service          TEXT NOT NULL,
    name             TEXT NOT NULL,   -- protocol name (GET /compose) when the heads give one
    pid              INTEGER NOT NULL,
    tid              INTEGER NOT NULL,
    start_unix_ns    INTEGER NOT NULL,
    end_unix_ns      INTEGER NOT NULL,
    duration_ns      INTEGER NOT NULL,
    local_address    TEXT,
    local_port       INTEGER,
    peer_address     TEXT,
    peer_port        INTEGER,
    error            TEXT,            -- why it failed (connection reset, HTTP status 503, …)
    link_evidence    TEXT,            -- why it has its parent (bytes, wakeup, …); NULL for a root
    link_confidence  REAL,            -- probability that the parent is right
    link_candidates  INTEGER,         -- requests in progress that could have been the parent
    partial          INTEGER NOT NULL,
    cpu_ns           INTEGER NOT NULL,
    runnable_ns      INTEGER NOT NULL,
    blocked_net_ns   INTEGER NOT NULL,
    blocked_io_ns    INTEGER NOT NULL,
    blocked_futex_ns INTEGER NOT NULL,
    blocked_other_ns INTEGER NOT NULL,
    bytes_in         INTEGER NOT NULL,
    bytes_out        INTEGER NOT NULL
);

-- Every thread that worked in a span's context, the starting one at position 0.
CREATE TABLE span_threads (
    span_id  TEXT NOT NULL REFERENCES spans(span_id),
    position INTEGER NOT NULL,
    tid      INTEGER NOT NULL,
    PRIMARY KEY (span_id, position)
);

-- Events attributed to a span, per event type (only those that occurred).
CREATE TABLE span_events (
    span_id TEXT NOT NULL REFERENCES spans(span_id),
    event   TEXT NOT NULL,  -- system:event
    count   INTEGER NOT NULL,
    PRIMARY KEY (span_id, event)
);

-- Sums of the fields asked for with --sum, per span.
CREATE TABLE span_sums (
    span_id TEXT NOT NULL REFERENCES spans(span_id),
    field   TEXT NOT NULL,  -- system:event:field
    sum     INTEGER NOT NULL,
    PRIMARY KEY (span_id, field)
);

-- The protocol attributes of a span, from the payload heads (http.request.method,
-- url.path, http.response.status_code, db.system, db.operation.name, db.query.text).
CREATE TABLE span_attributes (
    span_id TEXT NOT NULL REFERENCES spans(span_id),
    key     TEXT NOT NULL,
    value   NOT NULL  -- TEXT or INTEGER, as the attribute is
);

CREATE INDEX spans_by_trace ON spans (trace_id);
CREATE INDEX spans_by_parent ON spans (parent_id);
CREATE INDEX span_attributes_by_span ON span_attributes (span_id);
