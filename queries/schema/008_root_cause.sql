-- The commit that caused an incident, a flowmeter extension to EVENTS.md
-- (`root_cause`): the `four-keys` profile fails the deployments that
-- shipped it, as Four Keys does. NULL when the source did not say.
ALTER TABLE incidents ADD COLUMN root_cause VARCHAR;
