-- Which paths a commit or pull request changed and who owns them
-- (CODEOWNERS handles), flowmeter extensions to EVENTS.md that the git,
-- GitHub and GitLab connectors fill: teams' `paths` and `owners` match
-- them, so a monorepo's changes count for the teams owning their code.
-- NULL when the source did not say (every record stored before).
ALTER TABLE commits ADD COLUMN files VARCHAR[];
ALTER TABLE commits ADD COLUMN owners VARCHAR[];
ALTER TABLE pull_requests ADD COLUMN files VARCHAR[];
ALTER TABLE pull_requests ADD COLUMN owners VARCHAR[];
