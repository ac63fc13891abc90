-- A project's revision tells the server that its credentials changed (rebuild the providers) and
-- tells a suspension which credentials were refused (it is recorded only while the revision is
-- still the one the refused credentials had). For both, a revision must never be one that the
-- project had before, also across a delete and a re-create of the same id: counting from 0 again
-- made a re-created project look unchanged. SQLite has no sequences, so this one-row table holds
-- the last revision handed out; statements take `last + 1`, and the triggers record every revision
-- written, in the same statement (SQLite has one writer at a time).
CREATE TABLE project_revisions (last INTEGER NOT NULL);
INSERT INTO project_revisions (last) SELECT COALESCE(MAX(revision), 0) FROM projects;
CREATE TRIGGER project_revision_on_insert AFTER INSERT ON projects
BEGIN
    UPDATE project_revisions SET last = MAX(last, NEW.revision);
END;
CREATE TRIGGER project_revision_on_update AFTER UPDATE OF revision ON projects
BEGIN
    UPDATE project_revisions SET last = MAX(last, NEW.revision);
END;
