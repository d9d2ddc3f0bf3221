-- Whether the source could know every stage boundary of a pull request:
-- its creation/ready time and its reviews. A PR recovered from git history
-- (`extra` has `"reviews_known":false` or `"recovered_from"`) has neither,
-- so its coding, pickup and review stages are NULL, and stage shares, the
-- bottleneck and flow efficiency rest only on PRs with stages_known.
ALTER TABLE link_prs ADD COLUMN stages_known BOOLEAN DEFAULT true;
-- Links written before this version lack it: relink on next use.
DELETE FROM store_meta WHERE key = 'link_fingerprint';
