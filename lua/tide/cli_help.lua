--- tide.cli_help: the help text of the command line, one source for
-- `tide help [COMMAND]` and docs/cli.md (scripts/gen_docs.lua renders it).
local help = {}

--- The commands in the order usage and the reference list them.
help.ORDER = { "init", "status", "up", "down", "new", "history", "validate", "stamp", "resolve", "accept",
               "contract", "backfill", "inspect", "diagram", "archive", "lint", "check", "diff", "models", "test",
               "run", "repl", "completion", "help" }

--- Exit codes of every command.
help.EXIT_CODES = {
  { 0, "success (status: everything in the plan is applied)" },
  { 1, "error: the database, a migration or the plan failed; one line on stderr" },
  { 2, "usage error: unknown command or option, bad option value; one line on stderr" },
  { 3, "status only: migrations are pending, or a phased migration's contract" },
  { 4, "status: something needs attention (interrupted, edited, out of order, missing); " ..
       "archive check: a shadow table differs from its table, or is missing; lint: findings; " ..
       "check, diff: the schemas differ" },
  { 130, "test: interrupted by Ctrl-C (128 + the signal), the throwaway databases dropped" },
}

--- Global options, taken anywhere on the command line.
help.GLOBAL_OPTIONS = {
  { "--url URL", "database (else $TIDE_URL, else url in ./tide.lua, else sqlite:tide.db)" },
  { "--dir DIR", "migrations folder (else dir in ./tide.lua, else ./migrations)" },
  { "--json", "JSON on stdout (a usage error for run, repl and help)" },
  { "--lock-timeout SECONDS", "wait for another runner, 0 to 86400 (default 30)" },
  { "-q, --quiet", "print nothing but errors" },
  { "-v, --verbose", "each migration run and its time, on stderr (up, down, stamp)" },
  { "--targets FILE", "run status, up, down, contract, backfill, check, archive over each target of FILE " ..
                      "(else ./targets.lua if no URL is set; README, Fleets); exit code: the worst target's" },
  { "--parallel N", "targets at once, 1 to 64 (default 4)" },
  { "--only NAMES, --except NAMES", "the targets named (comma-separated), or all but them" },
  { "--fail-fast", "start no more targets after one fails" },
  { "--version", "print the version" },
  { "-h, --help", "usage, or the help of the command it follows" },
}

--- Per command: synopsis, one-line summary, and the body (options,
-- what it does, examples), as plain text.
help.COMMANDS = {
  init = {
    synopsis = "tide init [DIR]",
    summary = "start a project: tide.lua, migrations/tide.plan, .gitignore",
    body = [[
Writes, in DIR (default: the current directory), tide.lua (the database URL,
the migrations folder and commented options), migrations/tide.plan (an
empty plan) and a line for the SQLite default, tide.db, in .gitignore (added
to an existing one). Refused, writing nothing, where DIR already has a plan
or a tide.lua. `tide new NAME` then writes the first migration.

--json: {created: [PATH]}.

Example:
  tide init myservice && cd myservice && tide new create_widget]],
  },
  status = {
    synopsis = "tide status",
    summary = "applied, pending and problems",
    body = [[
Lists every migration of the plan with its state (applied, pending,
interrupted) and the problems found: an applied file edited since, a pending
migration before an applied one, an applied migration gone from the plan, a
MariaDB migration interrupted at step k of n. Read-only: a missing SQLite
database is an error ("no database at PATH"), never created.

A phased migration (expand / migrate / ready / contract) once applied shows
its phase: expanded, migrating N% (its backfill so far), ready (its ready
holds; with ready's message when it does not), contracted.

On a MariaDB Galera node it also shows the node, the cluster's size and
state, and who holds the runner's lock (host, pid, node, heartbeat; stale
when the heartbeat is older than 30 s, its node left the cluster, or its
session on this node is gone).

Exit codes: 0 up to date, 3 pending (or a contract not yet run), 4 needs
attention.
--json: {url, backend, migrations: [{name, state, checksum, applied_at, step,
phase, ready_message}], problems: [{kind, name, message}], cluster: {node,
size, status, ready, lock}}.
Over a fleet (--targets): {command, code, targets: [{name, url, before, after,
ms, code, result}]}.

Examples:
  tide status
  tide --json status | jq '.migrations[] | select(.state != "applied")']],
  },
  up = {
    synopsis = "tide up [--to NAME] [--sql] [--single-transaction] [--allow-out-of-order]",
    summary = "apply pending migrations",
    body = [[
Applies the pending migrations, oldest first, each in its own transaction
where the backend's DDL is transactional (SQLite, PostgreSQL). On MariaDB an
interrupted migration is resumed after its last completed step.

  --to NAME               stop after NAME
  --sql                   print the SQL instead of running it (read-only; a
                          data step ends the listing of its migration; a
                          SQLite file not made yet is previewed as empty)
  --single-transaction    everything in one transaction (not on MariaDB)
  --allow-out-of-order    apply a pending migration that comes before an
                          applied one

--json: {url, backend, applied: [{name, direction, status, duration_ms, message}],
error} (error only when it failed; what ran until then is listed).

Examples:
  tide up
  tide up --to add_widget_status --sql]],
  },
  down = {
    synopsis = "tide down [--to NAME | --steps N] [--sql]",
    summary = "roll back the last migration (or more)",
    body = [[
Rolls back applied migrations, newest first, with their down functions.
The down of a phased migration's expand is refused, changing nothing,
while a backfill runs (it would drop what the backfill writes).

  --steps N     the last N applied migrations (N >= 1, default 1)
  --to NAME     every applied migration after NAME (NAME stays applied)
  --sql         print the SQL instead of running it (read-only)

--json: {url, backend, rolled_back: [{name, direction, status, duration_ms, message}],
error} (error only when it failed; what ran until then is listed).

Examples:
  tide down
  tide down --steps 3 --sql]],
  },
  new = {
    synopsis = "tide new NAME [--auto [--models FILE]]",
    summary = "write migrations/NAME.lua and add it to the plan",
    body = [[
Writes a skeleton migration file and appends NAME to tide.plan (creating the
folder and the plan if needed), and prints the file's path. The skeleton
shows the DSL and the test hooks (seed, check) in comments. NAME: letters,
digits, _ . -

  --auto          instead, a migration whose up brings the database at --url
                  to the models (see tide check) and whose down brings it
                  back, in the DSL, referenced tables first. A dropped and an
                  added column of the same type are written as rename_column
                  ("-- tide: rename guessed"); drop_table and drop_column say
                  "-- tide: destroys data"; a change of type or NOT NULL that
                  some rows may not fit says "-- tide: narrows"; what the DSL
                  cannot do (a primary key change, a type with no portable
                  name) is a "-- tide: by hand" comment, also printed on
                  stderr, and the exit is 4. Read it before applying.
                  Nothing is written when the database is in sync.
  --models FILE   the models file (else models in ./tide.lua, else
                  models.lua in the migrations folder)

--json: {created: PATH} (with --auto also operations and by_hand, the
notes; created false when in sync).

Examples:
  tide new add_widget_status
  tide --url postgres://localhost/app new sync_models --auto]],
  },
  history = {
    synopsis = "tide history",
    summary = "every recorded event",
    body = [[
Every event of tide_history, oldest first: each run, failure, resume, stamp,
resolve and accept, never overwritten. Read-only.

--json: {url, events: [{id, name, checksum, direction, status, step, steps,
step_op, started_at, finished_at, duration_ms, who, tide_version, message}]}.

Example:
  tide history]],
  },
  validate = {
    synopsis = "tide validate",
    summary = "check the plan and every file (no database)",
    body = [[
Reads the plan and compiles every migration file it names: bad or duplicate
names, missing files, files not in the plan, syntax errors, files not
returning {up = function(m) ... end}. Needs no database. Every problem is
reported, one line each; exit 1 if there is any.

--json: {dir, valid, migrations: [{name, file, checksum}], problems: [{name, message}]}.

Example:
  tide validate]],
  },
  stamp = {
    synopsis = "tide stamp NAME",
    summary = "record migrations up to NAME as applied, unrun",
    body = [[
Records every migration up to NAME as applied without running it: for
adopting a database whose schema already has them.

--json: {url, backend, stamped: [{name, direction, status, message}]}.

Example:
  tide stamp create_widget]],
  },
  resolve = {
    synopsis = "tide resolve NAME --applied|--rolled-back",
    summary = "settle an interrupted migration by hand",
    body = [[
A MariaDB migration interrupted at a step tide cannot judge (raw SQL, a data
step) is settled by hand: check the database, finish or undo the step
yourself, then record the outcome. So is a phased migration whose contract
was interrupted: --applied records the contract done, --rolled-back records
it undone (the contract is pending again); nothing runs.

  --applied       the migration is now fully applied
  --rolled-back   the migration is now fully undone

--json: {name, resolved_as}.

Example:
  tide resolve widget_backfill --applied]],
  },
  accept = {
    synopsis = "tide accept NAME",
    summary = "record the edited file of an applied migration",
    body = [[
An applied migration whose file changed is a problem (status exit 4, up
refuses). After checking the edit changes nothing that ran, accept records the
new checksum.

--json: {name, accepted}.

Example:
  tide accept create_widget]],
  },
  inspect = {
    synopsis = "tide inspect [URL] [TABLE]",
    summary = "the schema, or one table: columns, keys, indexes",
    body = [[
Every table, or one: columns with portable and raw types, keys, indexes,
foreign keys and checks. URL defaults to the configured database. Read-only.

--json: {backend, tables: {NAME: description}} or {backend, table: description}.

Examples:
  tide inspect
  tide inspect postgres://app@db/app widget --json]],
  },
  diagram = {
    synopsis = "tide diagram [URL] [TABLE...] [--format dot|mermaid|svg]",
    summary = "the schema as a diagram: tables, keys, foreign keys",
    body = [[
Draws the tables with their columns (PK and FK marked), an edge for each
foreign key from the referencing table to the referenced one, and a dashed
edge from each shadow table to its soft-deleted table. With TABLEs, those
and the tables their foreign keys link them to. URL defaults to the
configured database. Read-only; tide_history is left out.

  --format dot       Graphviz DOT (the default)
  --format mermaid   a Mermaid erDiagram (renders on GitHub in ```mermaid)
  --format svg       an SVG, drawn by Graphviz's `dot` (apt-get install
                     graphviz; without it the error says so)

Examples:
  tide diagram --format svg > schema.svg
  tide diagram postgres://app@db/app widget --format mermaid]],
  },
  archive = {
    synopsis = "tide archive init|check|run|purge [ARGS]",
    summary = "shadow tables for soft-deleted rows: init, check, run, purge",
    body = [[
A table with a `deleted` column (soft deletes) gets a shadow table,
shadow_TABLE, with the same columns and types and the same primary key, and
no foreign keys, unique constraints, checks, indexes or autoincrement. Once
a table has one, the migration DSL applies add_column, drop_column,
rename_column, alter_column and rename_table to the shadow too, and
drop_table drops both (m:create_shadow(TABLE) makes one in a migration).

  init [TABLE...]         create the missing shadows (of every table with a
                          `deleted` column, or of the TABLEs named), in one
                          transaction where DDL is; a shadow that exists and
                          is in sync is skipped and reported, one that
                          differs is refused
  check [TABLE...]        compare every shadow with its table (columns in
                          order, types, nullability, primary key) and list
                          each difference, and each table with `deleted`
                          and no shadow; read-only
  run [OPTIONS]           move rows whose `deleted` is not 0 into their
                          shadows, children before parents; a deleted row
                          that a row still references stays, counted as held
  purge --before TIMESTAMP [OPTIONS]
                          delete archived rows whose deleted_at is before
                          TIMESTAMP from the shadows, children first

Options of run and purge:
  --tables T,...          only these tables (default: every table with a
                          `deleted` column; for purge, every table with a shadow)
  --before TIMESTAMP      only rows whose deleted_at is before it
                          (YYYY-MM-DD[ HH:MM:SS], UTC); required by purge
  --max-rows N            stop cleanly after N rows
  --batch N               rows per transaction (default 1000)
  --sleep MS              pause between batches

Each batch of run and purge is one transaction (copy into the shadow, delete
from the table), found by keyset on the primary key and retried on a lost
connection or a deadlock: a killed run leaves each row in exactly one table,
and the next run carries on. Refused before anything moves: an unknown
table, a table without `deleted` (or `deleted_at` with --before), a shadow
out of sync with its table, a foreign-key cycle. A terminal shows the
progress on stderr, then a summary per table.

Exit codes (check): 0 in sync, 4 a difference was found.
--json: init {url, backend, created: [TABLE], skipped: [TABLE]};
check {url, backend, in_sync, differences: [TEXT]};
run {url, backend, tables: [{table, shadow, moved, held, ms}], moved, held,
stopped}; purge the same with purged for moved and no held. When a run or
purge fails, --json still prints {url, backend, tables, moved, error}: what
committed batches moved before the failure (exit 1).

Examples:
  tide archive init
  tide archive check --json
  tide archive run --before 2026-01-01 --batch 5000
  tide archive purge --before 2025-01-01 --tables instances]],
  },
  contract = {
    synopsis = "tide contract [NAME]",
    summary = "run the contract phase of phased migrations that are ready",
    body = [[
Runs the contract phase (what old code needed, removed) of each applied
phased migration not yet contracted, in plan order, or of NAME alone, each
once its ready(db) holds (without ready: once its backfill has run to the
end and, for tide.phases.batches with a where, no row matches it any more).
One that is not ready is refused with ready's message, and the run
stops there (those before it stay contracted). Refused, changing nothing,
while a backfill runs (it holds the backfill lock; contract holds it in
turn, so no backfill starts meanwhile). Locking, transactions and
the MariaDB journal are those of `up`; each contract is an event of the
history. `down` refuses a contracted migration.

--json: {url, backend, contracted: [{name, direction, status, duration_ms,
message}], error}.

Examples:
  tide contract
  tide contract widget_status_flag]],
  },
  backfill = {
    synopsis = "tide backfill [NAME] [--batch N] [--sleep MS] [--rows-per-second N] [--max-seconds N] " ..
               "[--max-lag MS]",
    summary = "run the migrate step of phased migrations, in batches",
    body = [[
Runs the migrate step of each applied phased migration not yet contracted
(or NAME's), one batch per transaction, until it says it is done. Its state
(tide.phases.batches: the last key, rows done, the total) is saved in the
history with each batch, in the batch's transaction: a backfill stopped or
killed resumes where it was and does no batch twice. A batch that fails
for a passing reason is retried (tide.retry). A pass that finished while
ready still counts rows (old code wrote behind it) is followed by a new
pass. One backfill per database at a time (a lock of its own: `up` and
`contract` go on).

  --batch N              rows per batch (default the migration's, else 1000)
  --sleep MS             pause between batches
  --rows-per-second N    at most N rows a second on average
  --max-seconds N        stop after N seconds (run again to go on)
  --max-lag MS           PostgreSQL: wait while a streaming replica's replay
                         lag (pg_stat_replication) exceeds MS; no effect
                         without replicas, or on other backends

A progress line with rows/s and ETA on a terminal.
--json: {url, backend, backfills: [{name, batches, rows, ms, finished, stopped}]}.

Examples:
  tide backfill --batch 500 --sleep 50
  tide backfill widget_status_flag --max-seconds 600 --json]],
  },
  lint = {
    synopsis = "tide lint [--duplicates TABLE COLUMN...]",
    summary = "schema findings: soft-delete tables without a usable unique key",
    body = [[
Reads the schema and lists, one line each, what a migration should fix,
naming the table, the columns and the DSL call to write:
  - a soft-delete table (one with a column `deleted`) whose unique
    constraint leaves out `deleted`: a deleted row keeps its key taken;
  - a unique constraint that includes `deleted` while it is a boolean flag:
    a second deleted row with the same key is refused (m:soft_delete_to_id);
  - a soft-delete table with no unique key besides the primary key.
With a plan, the pending migrations too, checked in order against the
schema (up to a data step), each finding naming its migration:
  - error: a destructive operation (drop or rename a table or column,
    narrowing a type, NOT NULL without a default, rewriting soft-deleted
    rows, m:sql that drops, truncates or renames) inside a phased
    migration's expand: move it to contract (`up`
    refuses it before anything runs);
  - an operation that blocks or rewrites a populated table on this backend
    (PostgreSQL: create_index without concurrently, add_unique, a type
    change, SET NOT NULL, a foreign key; MariaDB: a type change or a
    foreign key, ALGORITHM=COPY; SQLite: a table rebuild), with the safer
    form (`up` prints these as warnings).
Read-only.

  --duplicates TABLE COLUMN...   instead, count the groups of live rows
                                 (deleted = 0, no NULL in the columns) that
                                 share the columns: what a unique constraint
                                 on them would refuse

Exit codes: 0 nothing found, 4 findings.
--json: {url, backend, findings: [{rule, table, columns, message, fix, level,
migration}]}, and
with --duplicates also duplicates: {table, columns, groups, extra}.

Examples:
  tide lint
  tide lint --duplicates widget name]],
  },
  check = {
    synopsis = "tide check [--models FILE]",
    summary = "the database against the models: one line per difference",
    body = [[
Compares the schema of the database at --url with the models file, in
canonical form (the same models compare equal on every backend): missing or
extra tables and columns, types, nullability, defaults, autoincrement,
collations, primary keys, uniques, indexes, foreign keys and checks, one
readable line each:
  widget.name: string(30) in models, string(60) in database
  widget: index ix_widget_name only in models
tide's own tables are left out, and so are the shadow tables (tide archive)
of model tables. The order of a table's columns is not compared (the DSL
adds a column last). Read-only.

A models file is Lua: one create_table(NAME, COLUMNS, OPTIONS) per table,
with the arguments of the DSL's m:create_table (`now` is m.now), tables in
any order. It is checked as a migration would be; a mistake is one line
naming the file and line, the table and the column.

  --models FILE   the models file (else models in ./tide.lua, else
                  models.lua in the migrations folder)

Exit codes: 0 in sync, 4 differences, 1 a bad models file or database.
--json: {url, backend, models, in_sync, differences: [LINE]}.

Examples:
  tide check
  tide --url mysql://db/app --json check --models app/models.lua]],
  },
  diff = {
    synopsis = "tide diff URL_A URL_B",
    summary = "two databases, any backends, compared in canonical form",
    body = [[
Compares the schemas of two databases, of any backends (SQLite against
MariaDB is the point), in canonical form, with the lines of tide check
("X in URL_A, Y in URL_B"; column order compared too). tide's own tables are
left out. Read-only.

Exit codes: 0 the same schema, 4 differences.
--json: {a: {url, backend}, b: {url, backend}, in_sync, differences: [LINE]}.

Example:
  tide diff sqlite:test.db mysql://localhost/app]],
  },
  models = {
    synopsis = "tide models create [URL] [--models FILE]",
    summary = "build the whole schema from the models",
    body = [[
Creates every table of the models file on the database (URL, else --url),
referenced tables first, in one transaction where the backend's DDL allows
(SQLite, PostgreSQL), holding the runner's lock: the schema a unit test
runs on, fast and without migration history. Refused before anything is
created if a table exists already.

  --models FILE   the models file (else models in ./tide.lua, else
                  models.lua in the migrations folder)

--json: {url, backend, models, created: N}.

Example:
  tide models create sqlite:test.db]],
  },
  test = {
    synopsis = "tide test [--backends B,...] [--url-postgres URL] [--url-mysql URL] [--data FILE] [--snake] " ..
               "[--models FILE]",
    summary = "test every migration on a throwaway database per backend",
    body = [[
For each backend, a throwaway database: SQLite a temporary file; PostgreSQL
and MariaDB a fresh database (tide_test_ and 12 hex digits) made on the
server at --url-BACKEND, else at $TIDE_TEST_PG_URL / $TIDE_TEST_MYSQL_URL,
else on throwaway servers started with tide's scripts/servers.sh (what `make
test` uses; found beside the binary, or at $TIDE_SERVERS_SCRIPT) and stopped
at the end. Then, for each migration in plan order: its seed(db) hook, its
up (a phased migration: its expand, then its backfill, and its ready(db)
must hold; its contract is not walked), its check(db) hook; with --snake
also its down, check_down(db) and its up again. An SQL --data file is split
at each ';' outside strings, quoted names and comments. At the end the
schema is compared with models.lua (--models, else DIR/models.lua if there
is one), every migration is rolled back (newest first, check_down after
each) and no table but tide's may be left. A backend
stops at its first failure; the others still run. The databases are dropped
however the walk ends, Ctrl-C included.

A migration file's test hooks, beside up and down:
  seed = function(db) ... end         rows for the schema as it is before up
  check = function(db) ... end        asserts after up (any error fails it)
  check_down = function(db) ... end   asserts after each down
db is the connection (db:exec, db:query, ...). A failure names the
migration, the hook and its line.

  --backends B,...     sqlite, postgres, mysql (default: every one compiled in)
  --url-postgres URL   the server to make the PostgreSQL database on
  --url-mysql URL      the server to make the MariaDB database on
  --snake              down and up again after each migration
  --data FILE          rows loaded after the migration FILE names: a Lua file
                       returning {after = "NAME", load = function(db) end},
                       or an SQL file whose first line is "-- after: NAME"
                       (each statement ends with ; at the end of a line; they
                       run in one transaction); the slowest three migrations
                       are named
  --models FILE        the models the final schema must equal
  -v                   each step on stderr

Prints a table: a row per migration (and step), a column per backend, with
the time of each up, then the databases' creation times and the first
failure in full: backend, migration, hook or step, the hook's file, line and
text, the error class, message and SQL.

Exit codes: 0 all passed, 1 a failure (or a server that cannot be reached),
128 + the signal when interrupted (130 for Ctrl-C).
--json: {ok, migrations, rows, snake, backends: [{backend, url, name, status,
create_ms, drop_ms, ms, results: {ROW: {status, phase, ms: {PHASE: ms}}},
failure}], failure: {backend, migration, phase, class, message, sql, file,
line, source}, slowest: [{migration, backend, ms}], servers_ms,
drop_problems, interrupted}.

Examples:
  tide test --snake
  tide test --backends sqlite,postgres --url-postgres postgres://me@localhost/postgres
  tide test --data fixtures/widgets.sql --json]],
  },
  run = {
    synopsis = "tide run FILE [ARGS]",
    summary = "run a Lua script with `tide` and `url` set",
    body = [[
Runs a Lua script with the globals `tide` (the library), `url` (the
configured database) and `arg` (FILE and ARGS). An integer the script returns
is the exit code. --json is a usage error.

Example:
  tide run scripts/report.lua 2026-01]],
  },
  repl = {
    synopsis = "tide repl [URL]",
    summary = "a Lua/SQL prompt with `db` connected",
    body = [[
A Lua 5.4 prompt with `db` connected and `tide` loaded; \help inside lists
its commands (\dt, \d TABLE, \sql, ...). Without a terminal it reads
standard input. --json is a usage error.

Example:
  echo '\dt' | tide repl sqlite:app.db]],
  },
  completion = {
    synopsis = "tide completion bash|zsh",
    summary = "a shell completion script",
    body = [[
Prints the completion script of the shell: commands, options, migration
names of the plan (for --to, stamp, resolve, accept) and table names of the
configured database (inspect, diagram). make install puts both where the
shells look; otherwise:

  source <(tide completion bash)      in ~/.bashrc
  source <(tide completion zsh)       in ~/.zshrc, after compinit

The scripts call `tide completion candidates LINE`, which prints the words
that complete LINE (the command line up to the cursor), one per line.

Example:
  tide completion bash > /etc/bash_completion.d/tide]],
  },
  help = {
    synopsis = "tide help [COMMAND]",
    summary = "this text, or one command's",
    body = [[
Without COMMAND, the usage; with it, that command's help (the same text as
`tide COMMAND --help`). An unknown COMMAND is a usage error.

Example:
  tide help up]],
  },
}

local function column(rows, indent)
  local w = 0
  for _, r in ipairs(rows) do w = math.max(w, #tostring(r[1])) end
  local out = {}
  for _, r in ipairs(rows) do
    out[#out + 1] = indent .. tostring(r[1]) .. string.rep(" ", w - #tostring(r[1]) + 2) .. r[2]
  end
  return table.concat(out, "\n")
end

--- The usage text (`tide help`, `tide --help`).
function help.usage()
  local cmds = {}
  for _, name in ipairs(help.ORDER) do
    local c = help.COMMANDS[name]
    cmds[#cmds + 1] = { c.synopsis:gsub("^tide ", ""), c.summary }
  end
  local lines = { "usage: tide [--url URL] [--dir DIR] [--json] [-q|-v] COMMAND [ARGS]", "",
                  "commands:" }
  for _, c in ipairs(cmds) do
    lines[#lines + 1] = "  " .. c[1]
    lines[#lines + 1] = "      " .. c[2]
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] = "options:"
  lines[#lines + 1] = column(help.GLOBAL_OPTIONS, "  ")
  lines[#lines + 1] = ""
  lines[#lines + 1] = "exit codes:"
  lines[#lines + 1] = column(help.EXIT_CODES, "  ")
  lines[#lines + 1] = ""
  lines[#lines + 1] = "`tide help COMMAND` describes one command."
  return table.concat(lines, "\n")
end

--- The help of one command, or nil if there is no such command.
function help.command(name)
  local c = help.COMMANDS[name]
  if not c then return nil end
  return ("usage: %s\n\n%s.\n\n%s"):format(c.synopsis, c.summary:gsub("^%l", string.upper), c.body)
end

return help
