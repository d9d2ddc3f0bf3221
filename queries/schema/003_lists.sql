-- List fields (deployment commits and labels, commit parents, pull request
-- labels and commits, incident services) become DuckDB lists (VARCHAR[])
-- instead of JSON arrays as text: written in bulk from Arrow, read without
-- parsing, unnested in SQL. Existing JSON text is converted in place (the
-- bundled DuckDB has no JSON extension: the strings are taken out of the
-- array text, with \" and \\ unescaped).
CREATE MACRO flowmeter_json_list(t) AS
    CASE WHEN t IS NULL THEN NULL
         ELSE list_transform(regexp_extract_all(t, '"((?:[^"\\]|\\.)*)"', 1),
                             lambda x: replace(replace(x, '\"', '"'), '\\', '\'))
    END;
ALTER TABLE deployments ALTER commits TYPE VARCHAR[] USING flowmeter_json_list(commits);
ALTER TABLE deployments ALTER labels TYPE VARCHAR[] USING flowmeter_json_list(labels);
ALTER TABLE commits ALTER parents TYPE VARCHAR[] USING flowmeter_json_list(parents);
ALTER TABLE pull_requests ALTER labels TYPE VARCHAR[] USING flowmeter_json_list(labels);
ALTER TABLE pull_requests ALTER commits TYPE VARCHAR[] USING flowmeter_json_list(commits);
ALTER TABLE incidents ALTER services TYPE VARCHAR[] USING flowmeter_json_list(services);
DROP MACRO flowmeter_json_list;
