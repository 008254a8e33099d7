-- Driven by bench/inspect_json (tide run): see there.
local measure = dofile("bench/measure.lua")
local sh, write = measure.sh, measure.write
local TABLES = tonumber(os.getenv("TABLES")) or 2000
local RUNS = tonumber(os.getenv("RUNS")) or 9
local ROUNDS = tonumber(os.getenv("ROUNDS")) or 3
local db = "build/bench/inspect_json.db"

-- t<i>: id, ref_id (FK to t<i-1>), c1..c8; an index on c1
local out = { "BEGIN;" }
for i = 1, TABLES do
  local t, ref = ("t%04d"):format(i), ("t%04d"):format(math.max(i - 1, 1))
  out[#out + 1] = ([[CREATE TABLE %s (id INTEGER NOT NULL, ref_id INTEGER, c1 VARCHAR(40) NOT NULL,
    c2 INTEGER DEFAULT 0, c3 BIGINT, c4 TEXT, c5 DECIMAL(10,2), c6 DATE, c7 BOOLEAN, c8 VARCHAR(200),
    CONSTRAINT pk_%s PRIMARY KEY (id), CONSTRAINT fk_%s_ref_id_%s FOREIGN KEY (ref_id) REFERENCES %s (id));
CREATE INDEX ix_%s_c1 ON %s (c1);]]):format(t, t, t, ref, ref, t, t)
end
out[#out + 1] = "COMMIT;"
os.remove(db)
write("build/bench/inspect_json.sql", table.concat(out, "\n"))
sh(("sqlite3 %s < build/bench/inspect_json.sql"):format(db))

-- the floor: the catalog as JSON straight from SQLite
write("build/bench/inspect_json-floor.sql", [[
SELECT json_object('backend', 'sqlite', 'tables', json_group_object(m.name, json_object(
  'sql', m.sql,
  'columns', (SELECT json_group_array(json_object('name', c.name, 'type', c.type,
      'notnull', c."notnull", 'default', c.dflt_value, 'pk', c.pk)) FROM pragma_table_info(m.name) c),
  'foreign_keys', (SELECT json_group_array(json_object('id', f.id, 'seq', f.seq, 'table', f."table",
      'from', f."from", 'to', f."to", 'on_update', f.on_update, 'on_delete', f.on_delete))
    FROM pragma_foreign_key_list(m.name) f),
  'indexes', (SELECT json_group_array(json_object('name', i.name, 'unique', i."unique",
      'origin', i.origin, 'partial', i.partial,
      'columns', (SELECT json_group_array(x.name) FROM pragma_index_info(i.name) x)))
    FROM pragma_index_list(m.name) i))))
FROM sqlite_schema m WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite%';
]])

local r = measure.race(ROUNDS, RUNS, {
  tide = { ("build/tide inspect --json sqlite:%s"):format(db) },
  floor = { ("sqlite3 %s '.read build/bench/inspect_json-floor.sql'"):format(db) },
})
print(("inspect_json: tide inspect --json of %d tables x 10 columns on SQLite, whole process, " ..
  "median (best) of %d, best of %d interleaved rounds"):format(TABLES, RUNS, ROUNDS))
print(("  tide %7.1f ms (%.1f)   sqlite3 shell, catalog as JSON %7.1f ms (%.1f)   ratio %.2fx" ..
  " (target <= 1.3)"):format(r.tide[1], r.tide[2], r.floor[1], r.floor[2], r.tide[1] / r.floor[1]))
measure.result(("inspect --json of %d tables, sqlite (median)"):format(TABLES), r.tide[1], "ms",
  "floor: sqlite3 shell, catalog as JSON", r.floor[1], "<= 1.3")
-- instructions: the steady figure on a shared machine
local ti = measure.instructions(("build/tide inspect --json sqlite:%s"):format(db))
local fi = measure.instructions(("sqlite3 %s '.read build/bench/inspect_json-floor.sql'"):format(db))
if ti then
  print(("  instructions: tide %.0fM   sqlite3 shell, catalog as JSON %.0fM   ratio %.2fx (target <= 1.3)")
    :format(ti / 1e6, fi / 1e6, ti / fi))
  measure.result(("inspect --json of %d tables, sqlite (instructions)"):format(TABLES), ti / 1e6, "M instr",
    "floor: sqlite3 shell, catalog as JSON", fi / 1e6, "<= 1.3")
end

-- the peer, with PEERS=1 (SQLAlchemy 1.4, Debian's, takes minutes here):
-- the first python3 that has SQLAlchemy (a pyenv shim may hide Debian's)
local python
for _, py in ipairs(os.getenv("PEERS") == "1" and { "python3", "/usr/bin/python3" } or {}) do
  if not python and os.execute(py .. " -c 'import sqlalchemy' 2>/dev/null") then python = py end
end
if not python then print("  SQLAlchemy inspector to JSON: not run (PEERS=1 runs it; issue 10 measured 4.3 s)") end
if python then
  write("build/bench/inspect_json-sqlalchemy.py", ([[
import json, sqlalchemy
engine = sqlalchemy.create_engine("sqlite:///%s")
insp = sqlalchemy.inspect(engine)
print(json.dumps({t: {"columns": insp.get_columns(t), "pk": insp.get_pk_constraint(t),
                      "foreign_keys": insp.get_foreign_keys(t), "indexes": insp.get_indexes(t),
                      "uniques": insp.get_unique_constraints(t)}
                  for t in insp.get_table_names()}, default=str))
]]):format(db))
  local sa_m = measure.spawn(1, python .. " build/bench/inspect_json-sqlalchemy.py")
  print(("  SQLAlchemy inspector to JSON %7.1f ms (one run), the best peer: tide is %.1fx faster")
    :format(sa_m, sa_m / r.tide[1]))
  measure.result(("inspect --json of %d tables, sqlite (median)"):format(TABLES), r.tide[1], "ms",
    "peer: SQLAlchemy inspector to JSON", sa_m, "<= 1.0")
end
