-- A client cannot outlive its project. The check used to be the application's: an instance that
-- still had a deleted project cached stored a client for it, and the project re-created under the
-- same id then had that client. Now the database refuses a client whose project does not exist,
-- and deleting a project deletes its clients (ON DELETE CASCADE), whichever instance does what:
-- the foreign key's check locks the project row against a concurrent delete.
--
-- The default project's clients (key '', which no created project can have) get a row of their
-- own to refer to; it is never listed, counted or deleted.
INSERT INTO projects (id) VALUES ('') ON CONFLICT (id) DO NOTHING;
-- Clients left behind by a deleted project (the race above) belong to nobody: they go.
DELETE FROM clients WHERE project NOT IN (SELECT id FROM projects);
ALTER TABLE clients ADD CONSTRAINT clients_project_fkey
    FOREIGN KEY (project) REFERENCES projects (id) ON DELETE CASCADE;
