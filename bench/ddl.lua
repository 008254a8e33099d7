-- Driven by bench/ddl (tide run): see there.
local measure = dofile("bench/measure.lua")
local sh = measure.sh
local ROWS = tonumber(os.getenv("ROWS")) or 1000000
local RUNS = 3
local base = "build/bench/ddl-base.db"
local work = "build/bench/ddl-work.db"

os.remove(base)
local db = tide.open("sqlite:" .. base)
tide.migrate(db, function(m)
  m:create_table("item", {
    { "id", "integer", primary_key = true, autoincrement = true },
    { "sku", "string", length = 40, null = false },
    { "qty", "integer", null = false, default = 0 },
    { "price", "decimal", precision = 10, scale = 2 },
    { "note", "text" },
  }, { indexes = { { "sku" } } })
end)
db:exec(("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d) " ..
         "INSERT INTO item (sku, qty, price, note) SELECT 'SKU-' || i, i %% 100, i * 0.5, " ..
         "'a note about item ' || i FROM n"):format(ROWS))
db:close()

-- what a careful DBA writes for the same change (sku VARCHAR(40) -> VARCHAR(60))
local HAND = [[
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;
CREATE TABLE "new_item" (
  "id" INTEGER CONSTRAINT "pk_item" PRIMARY KEY AUTOINCREMENT NOT NULL,
  "sku" VARCHAR(60) NOT NULL,
  "qty" INTEGER NOT NULL DEFAULT 0,
  "price" DECIMAL(10,2),
  "note" TEXT
);
INSERT INTO "new_item" ("id", "sku", "qty", "price", "note")
  SELECT "id", "sku", "qty", "price", "note" FROM "item";
DROP TABLE "item";
ALTER TABLE "new_item" RENAME TO "item";
CREATE INDEX "ix_item_sku" ON "item" ("sku");
PRAGMA foreign_key_check;
COMMIT;
PRAGMA foreign_keys = ON;
]]
local hand_file = "build/bench/ddl-hand.sql"
measure.write(hand_file, HAND)

local function best(prepare, fn) return measure.best(RUNS, fn, prepare) end

local function fresh() sh(("cp %s %s && rm -f %s-journal"):format(base, work, work)) end

local t_raw = best(fresh, function() sh(("sqlite3 %s < %s > /dev/null"):format(work, hand_file)) end)
local t_tide = best(fresh, function()
  local w = tide.open("sqlite:" .. work)
  tide.migrate(w, function(m) m:alter_column("item", "sku", { length = 60 }) end)
  w:close()
end)
local check = tide.open("sqlite:" .. work)
local n = check:query("SELECT count(*) AS n FROM item")[1].n
assert(n == ROWS, "rows after the rebuild: " .. n)
assert(check:describe("item").columns[2].length == 60)
check:close()
print(("ddl: SQLite rebuild (alter_column) of a %d-row table with an index (best of %d)"):format(ROWS, RUNS))
print(("  hand-written SQL in sqlite3   %6d ms"):format(t_raw))
print(("  tide.migrate                  %6d ms"):format(t_tide))
print(("  ratio %.2fx  (target <= 1.3)"):format(t_tide / t_raw))
measure.result(("ddl rebuild of %d rows, sqlite"):format(ROWS), t_tide, "ms",
  "floor: the same rebuild hand-written for sqlite3", t_raw, "<= 1.3")
