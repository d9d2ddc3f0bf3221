-- How many review records each pull request has (any state, any time,
-- self-reviews included): the coverage count of merged pull requests
-- "without review data" reads it instead of joining every review.
ALTER TABLE link_prs ADD COLUMN reviews BIGINT DEFAULT 0;
-- Links written before this version lack it: relink on next use.
DELETE FROM store_meta WHERE key = 'link_fingerprint';
