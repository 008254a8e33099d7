-- bench/test_walk's floor: what `tide test --snake` does to the example
-- migrations on SQLite, typed by hand for the sqlite3 shell, the cheapest
-- way SQLite allows (native ALTER TABLE where it can, a hand rebuild where
-- it cannot, no checks, no catalog reads): per migration its seed rows,
-- its up, its check's rows, its down and its up again, each step one
-- transaction with a history row; then every down, newest first.
PRAGMA synchronous = OFF;
PRAGMA foreign_keys = ON;
CREATE TABLE hist (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT, direction TEXT, at TEXT);

-- create_account
BEGIN; CREATE TABLE account (id INTEGER PRIMARY KEY AUTOINCREMENT, email VARCHAR(120) NOT NULL,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP, CONSTRAINT uq_account_email UNIQUE (email));
INSERT INTO hist (name, direction, at) VALUES ('create_account', 'up', datetime()); COMMIT;
INSERT INTO account (email) VALUES ('ann@example.com'), ('bob@example.com');
SELECT email, created_at FROM account WHERE email IN ('ann@example.com', 'bob@example.com') ORDER BY email;
BEGIN; DROP TABLE account; INSERT INTO hist (name, direction, at) VALUES ('create_account', 'down', datetime()); COMMIT;
BEGIN; CREATE TABLE account (id INTEGER PRIMARY KEY AUTOINCREMENT, email VARCHAR(120) NOT NULL,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP, CONSTRAINT uq_account_email UNIQUE (email));
INSERT INTO hist (name, direction, at) VALUES ('create_account', 'up', datetime()); COMMIT;

-- create_widget
INSERT INTO account (email) VALUES ('carol@example.com');
BEGIN; CREATE TABLE widget (id INTEGER PRIMARY KEY AUTOINCREMENT, name VARCHAR(30) NOT NULL,
  deleted BOOLEAN NOT NULL DEFAULT 0);
INSERT INTO hist (name, direction, at) VALUES ('create_widget', 'up', datetime()); COMMIT;
INSERT INTO widget (name) VALUES ('bolt'), ('nut');
SELECT COUNT(*) FROM widget WHERE name IN ('bolt', 'nut') AND deleted = 0;
BEGIN; DROP TABLE widget; INSERT INTO hist (name, direction, at) VALUES ('create_widget', 'down', datetime()); COMMIT;
BEGIN; CREATE TABLE widget (id INTEGER PRIMARY KEY AUTOINCREMENT, name VARCHAR(30) NOT NULL,
  deleted BOOLEAN NOT NULL DEFAULT 0);
INSERT INTO hist (name, direction, at) VALUES ('create_widget', 'up', datetime()); COMMIT;

-- create_widget_status
INSERT INTO widget (name) VALUES ('gear'), ('spring');
BEGIN; CREATE TABLE widget_status (widget_id INTEGER PRIMARY KEY, status INTEGER NOT NULL DEFAULT 0,
  modified VARCHAR(32), FOREIGN KEY (widget_id) REFERENCES widget (id) ON DELETE CASCADE);
INSERT INTO hist (name, direction, at) VALUES ('create_widget_status', 'up', datetime()); COMMIT;
INSERT INTO widget_status (widget_id, status, modified) SELECT id, 1, '2024-05-01 10:00:00' FROM widget WHERE name = 'gear';
INSERT INTO widget_status (widget_id) SELECT id FROM widget WHERE name = 'spring';
BEGIN; DROP TABLE widget_status;
INSERT INTO hist (name, direction, at) VALUES ('create_widget_status', 'down', datetime()); COMMIT;
BEGIN; CREATE TABLE widget_status (widget_id INTEGER PRIMARY KEY, status INTEGER NOT NULL DEFAULT 0,
  modified VARCHAR(32), FOREIGN KEY (widget_id) REFERENCES widget (id) ON DELETE CASCADE);
INSERT INTO hist (name, direction, at) VALUES ('create_widget_status', 'up', datetime()); COMMIT;

-- widget_owner (down: SQLite cannot drop a column with a foreign key: rebuilt)
INSERT INTO widget (name) VALUES ('washer');
BEGIN; ALTER TABLE widget ADD COLUMN account_id INTEGER REFERENCES account (id) ON DELETE SET NULL;
INSERT INTO hist (name, direction, at) VALUES ('widget_owner', 'up', datetime()); COMMIT;
INSERT INTO account (email) VALUES ('dave@example.com');
UPDATE widget SET account_id = (SELECT id FROM account WHERE email = 'dave@example.com') WHERE name = 'washer';
DELETE FROM account WHERE email = 'dave@example.com';
PRAGMA foreign_keys = OFF;
BEGIN; CREATE TABLE widget_new (id INTEGER PRIMARY KEY AUTOINCREMENT, name VARCHAR(30) NOT NULL,
  deleted BOOLEAN NOT NULL DEFAULT 0);
INSERT INTO widget_new (id, name, deleted) SELECT id, name, deleted FROM widget;
DROP TABLE widget; ALTER TABLE widget_new RENAME TO widget;
INSERT INTO hist (name, direction, at) VALUES ('widget_owner', 'down', datetime()); COMMIT;
PRAGMA foreign_keys = ON;
BEGIN; ALTER TABLE widget ADD COLUMN account_id INTEGER REFERENCES account (id) ON DELETE SET NULL;
INSERT INTO hist (name, direction, at) VALUES ('widget_owner', 'up', datetime()); COMMIT;

-- widget_name_index
INSERT INTO widget (name) VALUES ('axle'), ('axle');
BEGIN; CREATE INDEX ix_widget_name ON widget (name);
INSERT INTO hist (name, direction, at) VALUES ('widget_name_index', 'up', datetime()); COMMIT;
SELECT COUNT(*) FROM widget WHERE name = 'axle';
BEGIN; DROP INDEX ix_widget_name;
INSERT INTO hist (name, direction, at) VALUES ('widget_name_index', 'down', datetime()); COMMIT;
BEGIN; CREATE INDEX ix_widget_name ON widget (name);
INSERT INTO hist (name, direction, at) VALUES ('widget_name_index', 'up', datetime()); COMMIT;

-- widget_status_into_widget
INSERT INTO widget (name) VALUES ('lever'), ('pulley'), ('wedge'), ('screw');
INSERT INTO widget_status (widget_id, status, modified) SELECT id, 0, '2024-01-31 23:59:59' FROM widget WHERE name = 'lever';
INSERT INTO widget_status (widget_id, status, modified) SELECT id, 1, '2024-02-29 12:00:00' FROM widget WHERE name = 'pulley';
INSERT INTO widget_status (widget_id, status, modified) SELECT id, 2, '2024-05-01 00:00:00' FROM widget WHERE name = 'wedge';
INSERT INTO widget_status (widget_id, status, modified) SELECT id, 3, NULL FROM widget WHERE name = 'screw';
BEGIN; ALTER TABLE widget ADD COLUMN status INTEGER NOT NULL DEFAULT 0; ALTER TABLE widget ADD COLUMN modified_at DATETIME;
UPDATE widget SET status = s.status, modified_at = s.modified FROM widget_status s WHERE s.widget_id = widget.id;
INSERT INTO hist (name, direction, at) VALUES ('widget_status_into_widget', 'up', datetime()); COMMIT;
SELECT status, modified_at FROM widget WHERE name IN ('lever', 'pulley', 'wedge', 'screw');
BEGIN; ALTER TABLE widget DROP COLUMN modified_at; ALTER TABLE widget DROP COLUMN status;
INSERT INTO hist (name, direction, at) VALUES ('widget_status_into_widget', 'down', datetime()); COMMIT;
BEGIN; ALTER TABLE widget ADD COLUMN status INTEGER NOT NULL DEFAULT 0; ALTER TABLE widget ADD COLUMN modified_at DATETIME;
UPDATE widget SET status = s.status, modified_at = s.modified FROM widget_status s WHERE s.widget_id = widget.id;
INSERT INTO hist (name, direction, at) VALUES ('widget_status_into_widget', 'up', datetime()); COMMIT;

-- drop_widget_status
INSERT INTO widget (name, status) VALUES ('hinge', 2);
BEGIN; DROP TABLE widget_status;
INSERT INTO hist (name, direction, at) VALUES ('drop_widget_status', 'up', datetime()); COMMIT;
SELECT status FROM widget WHERE name = 'hinge';
BEGIN; CREATE TABLE widget_status (widget_id INTEGER PRIMARY KEY, status INTEGER NOT NULL DEFAULT 0,
  modified VARCHAR(32), FOREIGN KEY (widget_id) REFERENCES widget (id) ON DELETE CASCADE);
INSERT INTO widget_status (widget_id, status) SELECT id, status FROM widget;
INSERT INTO hist (name, direction, at) VALUES ('drop_widget_status', 'down', datetime()); COMMIT;
BEGIN; DROP TABLE widget_status;
INSERT INTO hist (name, direction, at) VALUES ('drop_widget_status', 'up', datetime()); COMMIT;

-- create_tag
INSERT INTO widget (name) VALUES ('bracket');
BEGIN; CREATE TABLE tag (id INTEGER PRIMARY KEY AUTOINCREMENT, label VARCHAR(40) NOT NULL, CONSTRAINT uq_tag_label UNIQUE (label));
CREATE TABLE widget_tag (widget_id INTEGER NOT NULL, tag_id INTEGER NOT NULL, PRIMARY KEY (widget_id, tag_id),
  FOREIGN KEY (widget_id) REFERENCES widget (id) ON DELETE CASCADE, FOREIGN KEY (tag_id) REFERENCES tag (id) ON DELETE CASCADE);
INSERT INTO hist (name, direction, at) VALUES ('create_tag', 'up', datetime()); COMMIT;
INSERT INTO tag (label) VALUES ('red'), ('blue');
INSERT INTO widget_tag (widget_id, tag_id) SELECT w.id, t.id FROM widget w, tag t WHERE w.name = 'bracket';
DELETE FROM tag WHERE label = 'blue';
BEGIN; DROP TABLE widget_tag; DROP TABLE tag;
INSERT INTO hist (name, direction, at) VALUES ('create_tag', 'down', datetime()); COMMIT;
BEGIN; CREATE TABLE tag (id INTEGER PRIMARY KEY AUTOINCREMENT, label VARCHAR(40) NOT NULL, CONSTRAINT uq_tag_label UNIQUE (label));
CREATE TABLE widget_tag (widget_id INTEGER NOT NULL, tag_id INTEGER NOT NULL, PRIMARY KEY (widget_id, tag_id),
  FOREIGN KEY (widget_id) REFERENCES widget (id) ON DELETE CASCADE, FOREIGN KEY (tag_id) REFERENCES tag (id) ON DELETE CASCADE);
INSERT INTO hist (name, direction, at) VALUES ('create_tag', 'up', datetime()); COMMIT;

-- account_plan
INSERT INTO account (email) VALUES ('frank@example.com');
BEGIN; ALTER TABLE account ADD COLUMN plan VARCHAR(20) NOT NULL DEFAULT 'free' CHECK (plan IN ('free', 'team'));
INSERT INTO hist (name, direction, at) VALUES ('account_plan', 'up', datetime()); COMMIT;
UPDATE account SET plan = 'team' WHERE email = 'frank@example.com';
BEGIN; ALTER TABLE account DROP COLUMN plan;
INSERT INTO hist (name, direction, at) VALUES ('account_plan', 'down', datetime()); COMMIT;
BEGIN; ALTER TABLE account ADD COLUMN plan VARCHAR(20) NOT NULL DEFAULT 'free' CHECK (plan IN ('free', 'team'));
INSERT INTO hist (name, direction, at) VALUES ('account_plan', 'up', datetime()); COMMIT;

-- widget_soft_delete_unique (SQLite keeps any value in any column: no rebuild)
INSERT INTO widget (name, deleted) VALUES ('sprocket', 0), ('sprocket', 0), ('sprocket', 1), ('sprocket', 0);
BEGIN; UPDATE widget SET deleted = CASE WHEN deleted <> 0 THEN id ELSE 0 END;
UPDATE widget SET deleted = id WHERE deleted = 0 AND id NOT IN (SELECT MAX(id) FROM widget WHERE deleted = 0 GROUP BY name);
CREATE UNIQUE INDEX uq_widget_name_deleted ON widget (name, deleted);
INSERT INTO hist (name, direction, at) VALUES ('widget_soft_delete_unique', 'up', datetime()); COMMIT;
SELECT id, deleted FROM widget WHERE name = 'sprocket' ORDER BY id;
BEGIN; DROP INDEX uq_widget_name_deleted; UPDATE widget SET deleted = deleted <> 0;
INSERT INTO hist (name, direction, at) VALUES ('widget_soft_delete_unique', 'down', datetime()); COMMIT;
BEGIN; UPDATE widget SET deleted = CASE WHEN deleted <> 0 THEN id ELSE 0 END;
UPDATE widget SET deleted = id WHERE deleted = 0 AND id NOT IN (SELECT MAX(id) FROM widget WHERE deleted = 0 GROUP BY name);
CREATE UNIQUE INDEX uq_widget_name_deleted ON widget (name, deleted);
INSERT INTO hist (name, direction, at) VALUES ('widget_soft_delete_unique', 'up', datetime()); COMMIT;

-- every down, newest first
BEGIN; DROP INDEX uq_widget_name_deleted; UPDATE widget SET deleted = deleted <> 0;
INSERT INTO hist (name, direction, at) VALUES ('widget_soft_delete_unique', 'down', datetime()); COMMIT;
BEGIN; ALTER TABLE account DROP COLUMN plan;
INSERT INTO hist (name, direction, at) VALUES ('account_plan', 'down', datetime()); COMMIT;
BEGIN; DROP TABLE widget_tag; DROP TABLE tag;
INSERT INTO hist (name, direction, at) VALUES ('create_tag', 'down', datetime()); COMMIT;
BEGIN; CREATE TABLE widget_status (widget_id INTEGER PRIMARY KEY, status INTEGER NOT NULL DEFAULT 0,
  modified VARCHAR(32), FOREIGN KEY (widget_id) REFERENCES widget (id) ON DELETE CASCADE);
INSERT INTO widget_status (widget_id, status) SELECT id, status FROM widget;
INSERT INTO hist (name, direction, at) VALUES ('drop_widget_status', 'down', datetime()); COMMIT;
BEGIN; ALTER TABLE widget DROP COLUMN modified_at; ALTER TABLE widget DROP COLUMN status;
INSERT INTO hist (name, direction, at) VALUES ('widget_status_into_widget', 'down', datetime()); COMMIT;
BEGIN; DROP INDEX ix_widget_name;
INSERT INTO hist (name, direction, at) VALUES ('widget_name_index', 'down', datetime()); COMMIT;
PRAGMA foreign_keys = OFF;
BEGIN; CREATE TABLE widget_new (id INTEGER PRIMARY KEY AUTOINCREMENT, name VARCHAR(30) NOT NULL,
  deleted BOOLEAN NOT NULL DEFAULT 0);
INSERT INTO widget_new (id, name, deleted) SELECT id, name, deleted FROM widget;
DROP TABLE widget; ALTER TABLE widget_new RENAME TO widget;
INSERT INTO hist (name, direction, at) VALUES ('widget_owner', 'down', datetime()); COMMIT;
PRAGMA foreign_keys = ON;
BEGIN; DROP TABLE widget_status;
INSERT INTO hist (name, direction, at) VALUES ('create_widget_status', 'down', datetime()); COMMIT;
BEGIN; DROP TABLE widget; INSERT INTO hist (name, direction, at) VALUES ('create_widget', 'down', datetime()); COMMIT;
BEGIN; DROP TABLE account; INSERT INTO hist (name, direction, at) VALUES ('create_account', 'down', datetime()); COMMIT;
SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN ('hist', 'sqlite_sequence');
