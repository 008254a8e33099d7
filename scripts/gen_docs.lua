-- Generates docs/migrations.md (every DSL operation with the SQL each
-- backend gets, rendered by tide itself), docs/cli.md and docs/tide.1 (from
-- tide.cli_help), so none can drift from the code; and, when Graphviz is
-- installed, docs/example-schema.svg (the example migrations' schema).
--   build/tide run scripts/gen_docs.lua OUTDIR        (make docs: OUTDIR = docs)
-- spec/docs_spec.lua regenerates both and compares them with docs/.
local tide = require "tide"
local help = require "tide.cli_help"

local outdir = arg and arg[1]
if not outdir then
  io.stderr:write("usage: tide run scripts/gen_docs.lua OUTDIR\n")
  return 2
end

local BACKENDS = { { "sqlite", "SQLite" }, { "postgres", "PostgreSQL" }, { "mysql", "MariaDB" } }

-- The tables every example starts from.
local BASE = [[
m:create_table("owner", {
  {"id", "integer", primary_key = true, autoincrement = true},
  {"name", "string", length = 50, null = false},
})
m:create_table("widget", {
  {"id", "integer", primary_key = true, autoincrement = true},
  {"name", "string", length = 30, null = false},
  {"owner_id", "integer"},
  {"price", "decimal", precision = 10, scale = 2},
  {"status", "integer", null = false, default = 0},
})]]

-- Each operation: what it does, its example (Lua, m in scope), and what
-- must exist before it (besides BASE).
local OPS = {
  { "create_table", [[
`m:create_table(name, columns, opts)`: a table. A column is `{name, type,
length =, precision =, scale =, size =, values =, collation =, null = false, default =,
primary_key = true, autoincrement = true}`; portable types: integer bigint
smallint boolean string text float double decimal date datetime time blob
json uuid enum inet.
`{"state", "enum", values = {"new", "done"}}` is ENUM('new', 'done') on
MariaDB, TEXT with a CHECK named like the column elsewhere (a CHECK, not
PostgreSQL's CREATE TYPE: it is altered and dropped with its column); values
are distinct regardless of case, non-empty, without trailing spaces or
4-byte characters (MariaDB keeps none of those as given).
`collation = "binary"` on string and text compares bytes (case and accents
told apart): utf8mb4_bin on MariaDB, COLLATE "C" on PostgreSQL, COLLATE
BINARY on SQLite.
`inet` (an IPv4 or IPv6 address, with or without a prefix length) is
PostgreSQL's INET and a VARCHAR(43) elsewhere; a string of 43 from a backend
without INET compares equal to an inet.
`size = "medium" | "long"` on text is MEDIUMTEXT / LONGTEXT on MariaDB
(plain text is TEXT there, at most 65,535 bytes), TEXT elsewhere.
`precision = 0..6` on datetime and time is its fractional seconds (6 unless
given).
`default = m.now` is the current time. opts: `primary_key = {cols}`,
`uniques = {{cols}}`, `indexes = {{cols, unique =, where =, lengths =}}`,
`foreign_keys = {{cols, ref_table, ref_cols, on_delete =, on_update =}}`,
`checks = {{name, expression}}`.]], [[
m:create_table("tag", {
  {"id", "integer", primary_key = true, autoincrement = true},
  {"widget_id", "integer", null = false},
  {"label", "string", length = 40, null = false},
  {"created_at", "datetime", null = false, default = m.now},
}, {
  uniques = {{"widget_id", "label"}},
  foreign_keys = {{{"widget_id"}, "widget", {"id"}, on_delete = "cascade"}},
})]] },
  { "drop_table", [[
`m:drop_table(name)`: refused while another table's foreign key points at it.]],
    [[m:drop_table("widget")]] },
  { "rename_table", [[`m:rename_table(old, new)`.]], [[m:rename_table("widget", "gadget")]] },
  { "add_column", [[
`m:add_column(table, column)`: a column spec as in create_table. A NOT NULL
column needs a default (existing rows need a value); a primary key or
autoincrement column cannot be added to an existing table.]],
    [[m:add_column("widget", {"weight", "double", null = false, default = 0})]] },
  { "drop_column", [[
`m:drop_column(table, column)`: refused while an index, key or check uses it.]],
    [[m:drop_column("widget", "price")]] },
  { "rename_column", [[`m:rename_column(table, old, new)`.]],
    [[m:rename_column("widget", "name", "title")]] },
  { "alter_column", [[
`m:alter_column(table, column, changes)`: changes among `type`, `length`,
`precision`, `scale`, `size`, `values` (an enum's whole new list),
`collation`, `null`, `default` (`m.none` removes a default, a text size or a
collation); the rest of the
column stays as it is. Rows whose value would not fit refuse the change.]],
    [[m:alter_column("widget", "name", {length = 60, null = true})]] },
  { "create_index", [[
`m:create_index(table, columns, opts)`: opts `unique = true`, `name =`,
`where =` (a partial index; not on MariaDB), `lengths = {name = 100}` (on
MariaDB the index covers that many leading characters of a string column;
elsewhere the whole column, and prefix lengths are compared only between
backends that have them; not on a unique index). The default name is
`ix_TABLE_COLUMNS`. `concurrently = true` builds it while writes go on:
CREATE INDEX CONCURRENTLY on PostgreSQL, which cannot run in a transaction,
so the runner journals it as a step of its own and it must be alone in its
migration (or phase); `ALGORITHM=INPLACE LOCK=NONE` on MariaDB (an error
rather than a silent table copy); a plain index on SQLite.]],
    [[m:create_index("widget", {"owner_id", "status"})
m:create_index("widget", {"name"}, {concurrently = true})]] },
  { "drop_index", [[`m:drop_index(table, columns or name)`.]],
    [[m:drop_index("widget", {"owner_id"})]], [[m:create_index("widget", {"owner_id"})]] },
  { "add_unique", [[
`m:add_unique(table, columns, opts)`: a UNIQUE constraint, named
`uq_TABLE_COLUMNS` unless opts.name. With `remove_duplicates = "newest"` (or
`"oldest"`) the duplicates the constraint would refuse go first, in the same
step, as remove_duplicates does; it returns how many rows that changed. On a
soft-delete table that needs `deleted` in the key, holding the id (after
soft_delete_to_id): the soft-deleted rows keep their key, so any other key
is refused before a row changes (MariaDB would have committed the removal
before the constraint failed).]],
    [[m:add_unique("widget", {"owner_id", "name"})]] },
  { "drop_unique", [[`m:drop_unique(table, columns or name)`.]],
    [[m:drop_unique("widget", {"name"})]], [[m:add_unique("widget", {"name"})]] },
  { "add_foreign_key", [[
`m:add_foreign_key(table, columns, ref_table, ref_columns, opts)`: opts
`on_delete`, `on_update` (cascade, set null, set default, restrict, no action),
`name`. Default name `fk_TABLE_COLUMNS_REF`.]],
    [[m:add_foreign_key("widget", {"owner_id"}, "owner", {"id"}, {on_delete = "set null"})]] },
  { "drop_foreign_key", [[`m:drop_foreign_key(table, columns or name)`.]],
    [[m:drop_foreign_key("widget", {"owner_id"})]],
    [[m:add_foreign_key("widget", {"owner_id"}, "owner", {"id"})]] },
  { "add_check", [[
`m:add_check(table, name, expression)`: the constraint is named `ck_TABLE_NAME`.]],
    [[m:add_check("widget", "price_positive", "price >= 0")]] },
  { "drop_check", [[`m:drop_check(table, name)`.]],
    [[m:drop_check("widget", "price_positive")]], [[m:add_check("widget", "price_positive", "price >= 0")]] },
  { "soft_delete_to_id", [[
`m:soft_delete_to_id(table)`: a soft-delete column `deleted` (boolean, or a
0/1 integer) takes the type of the table's id (a one-column integer primary
key): deleted rows get their own id, live rows 0 (NULL stays NULL), so that
`UNIQUE(name, deleted)` allows one live row per name and any number of
deleted ones. One statement converts every row (PostgreSQL: ALTER ... USING;
MariaDB: MODIFY, then one UPDATE; SQLite: the rebuild computes the value as it
copies). Indexes, unique constraints and foreign keys stay; a check, foreign
key or partial index that reads `deleted` is refused (its meaning would
change). Running it again changes nothing.]],
    [[m:soft_delete_to_id("widget")]],
    [[m:add_column("widget", {"deleted", "boolean", null = false, default = false})]] },
  { "soft_delete_to_flag", [[
`m:soft_delete_to_flag(table, {type = "boolean"})`: the way back, for `down`:
`deleted <> 0` becomes TRUE (or 1 for `type = "smallint"` or `"integer"`).]],
    [[m:soft_delete_to_flag("widget")]],
    [[m:add_column("widget", {"deleted", "integer", null = false, default = 0})]] },
  { "remove_duplicates", [[
`m:remove_duplicates(table, columns, {keep = "newest" | "oldest"})`: among the
live rows (`deleted` = 0 or FALSE) that share `columns` (none of them NULL:
NULLs never conflict), keeps the one with the highest id ("newest") or the
lowest ("oldest") and soft-deletes the others (`deleted` = their id, or TRUE
for a boolean flag), or deletes them where the table has no `deleted`. One
statement for the whole table; it returns how many rows it changed (nil where
nothing ran: `tide.sql`, `--sql`) and the runner logs it. Running it again
finds none. What it soft-deleted cannot be told from other deleted rows, so
`down` cannot bring them back. `tide lint --duplicates TABLE COL...` counts the
groups first. A row whose id is 0 is refused (`deleted` = 0 is live), and so is a
delete that foreign keys would follow to other rows (ON DELETE CASCADE or
SET NULL): repoint those first.]],
    [[local n = m:remove_duplicates("widget", {"name"}, {keep = "newest"})]],
    [[m:add_column("widget", {"deleted", "integer", null = false, default = 0})]] },
  { "create_shadow", [[
`m:create_shadow(table)`: `shadow_TABLE`, where soft-deleted rows of a table
with a `deleted` column are archived (`tide archive`): the same columns,
types, defaults and primary key; no foreign keys, unique constraints,
checks, indexes or autoincrement. From then on add_column, drop_column,
rename_column, alter_column and rename_table on the table apply to its
shadow in the same step, and drop_table drops both.]], [[
m:create_shadow("widget")
m:add_column("widget", {"note", "text"})]],
    [[m:add_column("widget", {"deleted", "integer", null = false, default = 0})]] },
  { "drop_shadow", [[`m:drop_shadow(table)`: drops `shadow_TABLE` and the rows archived in it.]],
    [[m:drop_shadow("widget")]],
    [[m:add_column("widget", {"deleted", "integer", null = false, default = 0})
m:create_shadow("widget")]] },
  { "sql", [[
`m:sql{sqlite =, postgres =, mysql =, default =}`: raw SQL for the backend
(a string or a list of statements), `default` for the others. tide cannot
check raw SQL against its schema model, nor tell on MariaDB whether an
interrupted raw step took effect (`tide resolve` settles it).]], [[
m:sql{
  postgres = "CREATE EXTENSION IF NOT EXISTS pg_trgm",
  default = {},
}]] },
}

local function compile(src, what)
  local fn, err = load("local m = ...\n" .. src, "=" .. what, "t", _ENV)
  if not fn then error(err, 0) end
  return fn
end

local function statements(list)
  local out = {}
  for _, s in ipairs(list) do out[#out + 1] = s .. ";" end
  return #out > 0 and table.concat(out, "\n") or "-- (nothing)"
end

-- The SQL op makes on each backend after BASE and its setup. SQLite runs
-- it for real (in memory), so rebuilds show the table's actual definition.
local function render(op)
  local base, setup, body = compile(BASE, "base"), compile(op[4] or "", "setup"), compile(op[3], op[1])
  local out = {}
  for _, b in ipairs(BACKENDS) do
    local sql
    if b[1] == "sqlite" then
      local db <close> = tide.open("sqlite::memory:")
      tide.migrate(db, base)
      tide.migrate(db, setup)
      sql = tide.migrate(db, body)
    else
      local before = #tide.sql(b[1], function(m) base(m) setup(m) end)
      local all = tide.sql(b[1], function(m) base(m) setup(m) body(m) end)
      sql = table.move(all, before + 1, #all, 1, {})
    end
    out[#out + 1] = ("%s:\n\n```sql\n%s\n```\n"):format(b[2], statements(sql))
  end
  return table.concat(out, "\n")
end

local function migrations_md()
  local parts = { [[
<!-- Generated by scripts/gen_docs.lua (make docs) from tide itself; do not edit. -->
# Writing migrations

A migration is a file `migrations/NAME.lua` named on a line of
`migrations/tide.plan` (oldest first; `tide new NAME` writes both). It returns
a table:

```lua
return {
  description = "widgets get a status",
  up = function(m)
    m:add_column("widget", {"status", "integer", null = false, default = 0})
  end,
  down = function(m)
    m:drop_column("widget", "status")
  end,
}
```

`up` (and `down`, which `tide down` needs) receive `m`, the DSL. Every
operation is checked against tide's model of the schema before any SQL
reaches the database: a missing table or column, a duplicate name, an index
on a text column, a column still in use fail with one line naming the
migration, the operation and its arguments. On SQLite and PostgreSQL a
migration runs in one transaction with its history row; on MariaDB each DDL
statement commits by itself and tide records the step reached (see
docs/DESIGN.md). A migration must not commit or roll back itself, and must
not touch tide's own tables (`tide_history`).

Its tests live beside it, as hooks: `seed = function(db) ... end` writes
rows for the schema as it is before `up`, `check = function(db) ... end`
asserts on them after `up` (any error fails it), and `check_down =
function(db) ... end` asserts after each `down`. `tide test` runs them on a
throwaway database per backend (see cli.md); a failure names the migration,
the hook and its line. The files in `migrations/` are examples.

Names of keys and indexes are deterministic (`pk_`, `uq_`, `ix_`, `fk_`,
`ck_` + table and columns, cut to 63 characters with a hash suffix), so the
same migration gives the same schema on every backend.

Below, every operation with an example and the SQL each backend gets. The
examples start from this schema:

```lua
]] .. BASE .. [[

```

What SQLite's ALTER TABLE cannot do is a table rebuild: a new table, the rows
copied, the old one dropped, the new one renamed, indexes and triggers made
again, all inside the migration's transaction, with foreign keys checked
before the commit. Consecutive operations on one table share one rebuild.
]] }
  for _, op in ipairs(OPS) do
    parts[#parts + 1] = ("## %s\n\n%s\n\n```lua\n%s\n```\n\n%s"):format(op[1], op[2], op[3], render(op))
  end
  parts[#parts + 1] = [[
## Data steps: m.db

`m.db` is the connection, inside the migration's transaction: `m.db:exec(sql,
...)`, `m.db:query(sql, ...)`, `m.db:rows(sql, ...)` with `?` placeholders
(values are always bound). A queued SQLite rebuild runs first, so a data step
sees the schema so far. The SQL is yours, run as written; `tide up --sql`
stops listing a migration at its first data step, since what follows may
depend on the data.

```lua
up = function(m)
  m:add_column("widget", {"status", "integer", null = false, default = 0})
  m.db:exec("UPDATE widget SET status = ? WHERE price IS NULL", 2)
end
```

On MariaDB a data step is not rolled back with the migration when a later
step fails: write data steps so that running them again is harmless, or
settle an interruption with `tide resolve`.

## Phased migrations: expand, migrate, contract

A change that must not stop a running application is split in phases
(`tide.phases`), instead of `up`:

```lua
local tide = require "tide"
local PENDING = "status_flag IS NULL OR status_flag <> (status <> 0)"
return {
  expand = function(m) m:add_column("widget", {"status_flag", "boolean"}) end,   -- tide up
  migrate = tide.phases.batches {                                                 -- tide backfill
    table = "widget", where = PENDING,
    update = function(db, rows)
      db:exec("UPDATE widget SET status_flag = (status <> 0) WHERE id >= ? AND id <= ? AND (" ..
              PENDING .. ")", rows[1].id, rows[#rows].id)
    end },
  ready = function(db)                                                            -- gates tide contract
    local n = db:query("SELECT COUNT(*) AS n FROM widget WHERE " .. PENDING)[1].n
    return n == 0, n .. " widget rows still to migrate"
  end,
  contract = function(m) m:drop_column("widget", "status") end,                   -- tide contract
  down = function(m) m:drop_column("widget", "status_flag") end,                  -- undoes expand
}
```

`tide up` runs `expand` (and plain migrations); an expand that drops,
renames or narrows what old code uses is refused before anything runs
("move it to contract"). `migrate(db, state, opts)` does one batch and
returns true while work remains (false or nil when done; anything else is
refused); `state` is a table of plain values kept in
the history with each batch, so `tide backfill` resumes where it stopped.
`tide.phases.batches{table, where, update, columns, batch}` walks the
primary key in batches, locking each batch's rows; `update_range =
function(db, first, last)` instead of `update` gets only the keys of each
batch's first and last rows, the cheap form when the update is computed
in SQL (no row read into Lua; on PostgreSQL compare a `real` key with
`CAST(? AS real)`: it reads back as its shortest decimal). `tide contract` runs
`contract` once `ready(db)` returns true (a boolean: a count of rows left
is refused), or without `ready` once the backfill ran to its end and no row
matches the `where` of its `batches`. `tide status` shows the phase and exits 3
while a contract is pending. `tide.objects` is the application's side:
an object declared over the old and new columns reads the new one, falling
back to the old one while it is NULL, and writes both until the contract
(see `migrations/widget_status_flag.lua`).

## Trying an operation without a database

```lua
local tide = require "tide"
print(table.concat(tide.sql("postgres", function(m)
  m:create_index("widget", {"owner_id"})
end), ";\n"))
```

`tide.sql(dialect, fn)` renders without a database ("sqlite", "postgres",
"mysql"); a SQLite rebuild needs the table's definition, so it needs a
database: `tide.migrate(db, fn)` runs fn and returns the SQL that ran.
]]
  return table.concat(parts, "\n")
end

local function cli_md()
  local parts = { [[
<!-- Generated by scripts/gen_docs.lua (make docs) from lua/tide/cli_help.lua; do not edit. -->
# The tide command line

`tide help` prints the usage below; `tide help COMMAND` (or `tide COMMAND
--help`) prints the section of that command.

```
]] .. help.usage() .. "\n```\n" }
  parts[#parts + 1] = "## Exit codes\n\n| code | meaning |\n| --- | --- |"
  for _, e in ipairs(help.EXIT_CODES) do parts[#parts + 1] = ("| %d | %s |"):format(e[1], e[2]) end
  parts[#parts + 1] = "\n## Global options\n\n| option | |\n| --- | --- |"
  for _, o in ipairs(help.GLOBAL_OPTIONS) do
    parts[#parts + 1] = ("| `%s` | %s |"):format(o[1], (o[2]:gsub("|", "\\|")))
  end
  parts[#parts + 1] = ""
  for _, name in ipairs(help.ORDER) do
    parts[#parts + 1] = ("## %s\n\n```\n%s\n```\n"):format(name, help.command(name))
  end
  return table.concat(parts, "\n")
end

local function write(name, text)
  local f = assert(io.open(outdir .. "/" .. name, "w"))
  f:write(text)
  f:close()
end

-- The schema of the example in migrations/ (with the shadow `tide archive
-- init` gives its soft-deleted table), drawn by tide.diagram.
local function example_svg()
  local diagram = require "tide.diagram"
  if not diagram.have_dot() then
    io.stderr:write("gen_docs: ", diagram.NO_DOT, "; docs/example-schema.svg left as it is\n")
    return nil
  end
  local root = (arg[0] or ""):match("^(.*)/scripts/[^/]*$") or "."
  local db <close> = tide.open("sqlite::memory:")
  require("tide.runner").up(db, require("tide.plan").load(root .. "/migrations"))
  require("tide.shadow").init(db)
  return diagram.render(db, "svg")
end

write("migrations.md", migrations_md())
write("cli.md", cli_md())
write("tide.1", require("tide.cli_man").page())
local svg = example_svg()
if svg then write("example-schema.svg", svg) end
return 0
