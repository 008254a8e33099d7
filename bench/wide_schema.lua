-- The schema bench/introspect and bench/check read: n tables t<i> x 10
-- columns, each with a primary key, an index on c1 and a foreign key to
-- t<i-1> (t0001 to itself); as SQL for the database's own client, and as
-- the models file (tide.models) that declares the same schema.
local wide = {}

local function name(i) return ("t%04d"):format(i) end

--- The DDL for `backend`, in one transaction.
function wide.ddl(backend, n)
  local out = {}
  for i = 1, n do
    local t, ref = name(i), name(math.max(i - 1, 1))
    out[#out + 1] = ([[CREATE TABLE %s (id INTEGER NOT NULL, ref_id INTEGER, c1 VARCHAR(40) NOT NULL,
      c2 INTEGER DEFAULT 0, c3 BIGINT, c4 TEXT, c5 DECIMAL(10,2), c6 DATE, c7 BOOLEAN, c8 VARCHAR(200),
      CONSTRAINT pk_%s PRIMARY KEY (id),
      CONSTRAINT fk_%s_ref_id_%s FOREIGN KEY (ref_id) REFERENCES %s (id));]]):format(
      t, t, t, ref, ref)
    out[#out + 1] = ("CREATE INDEX ix_%s_c1 ON %s (c1);"):format(t, t)
  end
  if backend == "mysql" then table.insert(out, 1, "SET FOREIGN_KEY_CHECKS = 0;") end
  table.insert(out, 1, backend == "mysql" and "START TRANSACTION;" or "BEGIN;")
  out[#out + 1] = "COMMIT;"
  return table.concat(out, "\n")
end

--- The models file of the same schema.
function wide.models(n)
  local out = {}
  for i = 1, n do
    out[#out + 1] = ([[create_table(%q, {
  { "id", "integer", primary_key = true }, { "ref_id", "integer" },
  { "c1", "string", length = 40, null = false }, { "c2", "integer", default = 0 }, { "c3", "bigint" },
  { "c4", "text" }, { "c5", "decimal", precision = 10, scale = 2 }, { "c6", "date" }, { "c7", "boolean" },
  { "c8", "string", length = 200 },
}, { indexes = { { "c1" } }, foreign_keys = { { { "ref_id" }, %q, { "id" } } } })
]]):format(name(i), name(math.max(i - 1, 1)))
  end
  return table.concat(out)
end

return wide
