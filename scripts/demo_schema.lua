-- Demo schema for scripts/demo.sh, run by `tide run` (globals: tide, url).
local db <close> = tide.open(url)
db:exec([[CREATE TABLE owner (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  email VARCHAR(120) NOT NULL,
  CONSTRAINT uq_owner_email UNIQUE (email))]])
db:exec([[CREATE TABLE widget (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name VARCHAR(30) NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0,
  owner_id INTEGER,
  created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT uq_widget_name_deleted UNIQUE (name, deleted),
  CONSTRAINT fk_widget_owner_id_owner FOREIGN KEY (owner_id) REFERENCES owner (id)
    ON DELETE CASCADE)]])
db:exec("CREATE INDEX ix_widget_created_at ON widget (created_at)")
db:exec("INSERT INTO owner (email) VALUES (?)", "ada@example.com")
db:exec("INSERT INTO widget (name, owner_id) VALUES (?, ?)", "spanner", 1)
print(("demo: created %s with %d tables"):format(url, #db:tables()))
