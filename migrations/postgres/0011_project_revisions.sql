-- A project's revision tells every instance that its credentials changed (rebuild the providers)
-- and tells a suspension which credentials were refused (it is recorded only while the revision
-- is still the one the refused credentials had). For both, a revision must never be one that the
-- project had before, also across a delete and a re-create of the same id: counting from 0 again
-- made a re-created project look unchanged to an instance that had cached the deleted one. Every
-- new revision is therefore taken from one sequence, which never goes back.
CREATE SEQUENCE project_revisions;
SELECT setval('project_revisions', COALESCE((SELECT MAX(revision) FROM projects), 0) + 1, false);
ALTER TABLE projects ALTER COLUMN revision SET DEFAULT nextval('project_revisions');
