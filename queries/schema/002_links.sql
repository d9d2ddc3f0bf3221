-- Links materialised after every import or sync (METRICS.md, "Linking"),
-- so that the metric queries in queries/metrics/ stay simple aggregations.

-- Counted deployments: production, status success, with their failure,
-- recovery and rework state (which do not depend on the report window).
CREATE TABLE link_deployments (
    source VARCHAR NOT NULL, id VARCHAR NOT NULL, service VARCHAR NOT NULL, repo VARCHAR,
    commit_sha VARCHAR NOT NULL, finished_at TIMESTAMP NOT NULL, kind VARCHAR NOT NULL,
    seq BIGINT NOT NULL,              -- position in the service's deployment order
    is_rollback BOOLEAN NOT NULL,
    rolled_back_by VARCHAR,           -- id of the first rollback that undid it
    incidents BIGINT NOT NULL,        -- incidents attributed to it
    failed BOOLEAN NOT NULL,
    open BOOLEAN NOT NULL,            -- failed, and an attributed incident is unresolved
    recovered_at TIMESTAMP,           -- when a failed deployment was recovered
    changes BIGINT NOT NULL,
    rework BOOLEAN NOT NULL
);
-- Changes: each (service, commit) with the deployment that first brought it
-- to production, and when its work started (NULL when unknown).
CREATE TABLE link_changes (
    service VARCHAR NOT NULL, repo VARCHAR, sha VARCHAR NOT NULL,
    deployment_source VARCHAR NOT NULL, deployment_id VARCHAR NOT NULL, deployed_at TIMESTAMP NOT NULL,
    start_at TIMESTAMP, pr_number BIGINT
);
-- Which counted deployment each incident is attributed to.
CREATE TABLE link_incidents (
    incident_source VARCHAR NOT NULL, incident_id VARCHAR NOT NULL,
    deployment_source VARCHAR NOT NULL, deployment_id VARCHAR NOT NULL, how VARCHAR NOT NULL
);
-- One row per (incident, affected service), for service and team filters.
CREATE TABLE link_incident_services (incident_source VARCHAR NOT NULL, incident_id VARCHAR NOT NULL, service VARCHAR NOT NULL);
-- Value-stream stages of every pull request, in hours (NULL when undefined).
CREATE TABLE link_prs (
    repo VARCHAR NOT NULL, number BIGINT NOT NULL, title VARCHAR, author VARCHAR,
    created_at TIMESTAMP NOT NULL, merged_at TIMESTAMP, first_commit_at TIMESTAMP, ready_at TIMESTAMP NOT NULL,
    first_review_at TIMESTAMP, deployed_at TIMESTAMP,
    coding_hours DOUBLE, pickup_hours DOUBLE, review_hours DOUBLE, deploy_hours DOUBLE, cycle_hours DOUBLE
);
