-- The five record types of EVENTS.md, one table each. Timestamps are UTC.
-- List fields (commits, parents, labels, services) were JSON arrays as text
-- here; 003_lists.sql makes them VARCHAR[] (NULL when the record did not
-- give them). Unknown fields are in `extra` (JSON text).
CREATE TABLE deployments (
    source VARCHAR NOT NULL, id VARCHAR NOT NULL, service VARCHAR NOT NULL, repo VARCHAR,
    environment VARCHAR NOT NULL, status VARCHAR NOT NULL,
    started_at TIMESTAMP, finished_at TIMESTAMP, commit_sha VARCHAR NOT NULL, commits VARCHAR,
    kind VARCHAR NOT NULL, actor VARCHAR, url VARCHAR, ref VARCHAR, labels VARCHAR, extra VARCHAR
);
CREATE TABLE commits (
    source VARCHAR NOT NULL, repo VARCHAR NOT NULL, sha VARCHAR NOT NULL, parents VARCHAR,
    authored_at TIMESTAMP NOT NULL, committed_at TIMESTAMP, author VARCHAR, message VARCHAR, extra VARCHAR
);
CREATE TABLE pull_requests (
    source VARCHAR NOT NULL, repo VARCHAR NOT NULL, number BIGINT NOT NULL, title VARCHAR,
    author VARCHAR, base VARCHAR, head VARCHAR, labels VARCHAR,
    created_at TIMESTAMP NOT NULL, ready_at TIMESTAMP, merged_at TIMESTAMP, closed_at TIMESTAMP,
    merge_commit_sha VARCHAR, commits VARCHAR, first_commit_at TIMESTAMP,
    additions BIGINT, deletions BIGINT, extra VARCHAR
);
CREATE TABLE reviews (
    source VARCHAR NOT NULL, repo VARCHAR NOT NULL, pr BIGINT NOT NULL, id VARCHAR NOT NULL,
    author VARCHAR NOT NULL, state VARCHAR NOT NULL, submitted_at TIMESTAMP NOT NULL, extra VARCHAR
);
CREATE TABLE incidents (
    source VARCHAR NOT NULL, id VARCHAR NOT NULL, services VARCHAR NOT NULL, title VARCHAR,
    severity VARCHAR, url VARCHAR, created_at TIMESTAMP NOT NULL, acknowledged_at TIMESTAMP,
    resolved_at TIMESTAMP, deployment_id VARCHAR, deployment_source VARCHAR, extra VARCHAR
);
-- Where each connector stopped, saved in the same transaction as its data.
CREATE TABLE sync_cursors (source_name VARCHAR PRIMARY KEY, cursor VARCHAR NOT NULL, updated_at TIMESTAMP NOT NULL);
-- Small facts about the store itself (link fingerprint, ...).
CREATE TABLE store_meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
