-- tide.archive and `tide archive run|purge`: a three-level foreign-key
-- chain (instance -> instance_metadata -> instance_metadata_item) on every
-- backend; what moves and what is held is computed here from the seeded
-- data, independently of tide; rows are conserved when the session or the
-- process is killed.
local core = require "tide.core"
local tide = require "tide"
local archive = require "tide.archive"
local h = require "helpers"

local QUIET = function() end

-- child -> {parent, fk column}; children first
local CHAIN = { "instance_metadata_item", "instance_metadata", "instance" }
local PARENT = { instance_metadata_item = { "instance_metadata", "metadata_id" },
                 instance_metadata = { "instance", "instance_id" } }

local function columns(extra)
  local cols = { { "id", "integer", primary_key = true, autoincrement = true } }
  for _, c in ipairs(extra) do                -- copies: the DSL takes its specs apart
    local copy = {}
    for k, v in pairs(c) do copy[k] = v end
    cols[#cols + 1] = copy
  end
  cols[#cols + 1] = { "deleted", "integer", null = false, default = 0 }
  cols[#cols + 1] = { "deleted_at", "datetime" }
  return cols
end

local EXTRA = {
  instance = { { "uuid", "string", length = 36, null = false }, { "host", "string", length = 255 } },
  instance_metadata = { { "instance_id", "integer", null = false }, { "key", "string", length = 255 } },
  instance_metadata_item = { { "metadata_id", "integer", null = false }, { "value", "text" } },
}

-- The chain and its shadows.
local function create_chain(db)
  tide.migrate(db, function(m)
    for i = #CHAIN, 1, -1 do
      local t = CHAIN[i]
      local p = PARENT[t]
      m:create_table(t, columns(EXTRA[t]), p and {
        foreign_keys = { { { p[2] }, p[1], { "id" } } }, indexes = { { p[2] } } } or nil)
      m:create_shadow(t)
    end
  end)
end

-- n instances, 2 metadata each, 2 items per metadata. Deleted: every
-- second instance and all below it; the first metadata of every third
-- live instance; except one live item under every fourth instance's first
-- metadata (which holds the metadata, which holds the instance).
-- Returns the rows as {table = {{id, parent, deleted, day}}}.
local function seed(db, n)
  local rows = { instance = {}, instance_metadata = {}, instance_metadata_item = {} }
  db:begin()
  local mid, iid = 0, 0
  for i = 1, n do
    local del = i % 2 == 0
    local day = 1 + i % 20
    rows.instance[#rows.instance + 1] = { id = i, deleted = del, day = day }
    db:exec("INSERT INTO instance (id, uuid, host, deleted, deleted_at) VALUES (?, ?, ?, ?, ?)", i,
            ("%08d-0000-4000-8000-000000000000"):format(i), "host-" .. (i % 7) .. " ☃ 𝄞",
            del and i or 0, del and ("2026-01-%02d 10:00:00"):format(day) or nil)
    for j = 1, 2 do
      mid = mid + 1
      local mdel = del or (j == 1 and i % 3 == 0)
      rows.instance_metadata[#rows.instance_metadata + 1] = { id = mid, parent = i, deleted = mdel, day = day }
      db:exec(("INSERT INTO instance_metadata (id, instance_id, %s, deleted, deleted_at) VALUES (?, ?, ?, ?, ?)")
                :format(db:quote_ident("key")),
              mid, i, "k'" .. j, mdel and mid or 0, mdel and ("2026-01-%02d 10:00:00"):format(day) or nil)
      for k = 1, 2 do
        iid = iid + 1
        local idel = mdel and not (i % 4 == 0 and j == 1 and k == 1)
        rows.instance_metadata_item[#rows.instance_metadata_item + 1] = { id = iid, parent = mid, deleted = idel,
                                                                          day = day }
        db:exec("INSERT INTO instance_metadata_item (id, metadata_id, value, deleted, deleted_at) " ..
                "VALUES (?, ?, ?, ?, ?)", iid, mid, ("v%d"):rep(k * 3):format(iid, iid, iid, iid, iid, iid),
                idel and iid or 0, idel and ("2026-01-%02d 10:00:00"):format(day) or nil)
      end
    end
  end
  db:commit()
  return rows
end

-- What an archive run must move and hold, per table, simulated from the
-- seeded rows (children first; a row stays if any child row stays).
local function expected(rows, before_day)
  local out, staying = {}, {}
  for _, t in ipairs(CHAIN) do
    local moved, held, stays = 0, 0, {}
    local child = t == "instance" and "instance_metadata" or t == "instance_metadata" and "instance_metadata_item"
    for _, r in ipairs(rows[t]) do
      local candidate = r.deleted and (not before_day or r.day < before_day)
      if candidate and child and staying[child][r.id] then
        held = held + 1
      elseif candidate then
        moved = moved + 1
      end
      if not candidate or (child and staying[child][r.id]) then stays[r.parent or 0] = true end
    end
    staying[t] = stays
    out[t] = { moved = moved, held = held }
  end
  return out
end

-- Every row of each table and its shadow, ordered by id: count and sha256.
local function census(db)
  local out = {}
  for _, t in ipairs(CHAIN) do
    local parts, n = {}, 0
    for _, src in ipairs({ t, "shadow_" .. t }) do
      for r in db:rows(("SELECT * FROM %s ORDER BY id"):format(db:quote_ident(src))) do
        n = n + 1
        parts[#parts + 1] = ("%d|%s|%s|%s|%s"):format(r.id, tostring(r.deleted), tostring(r.deleted_at),
          tostring(r.uuid or r.instance_id or r.metadata_id), tostring(r.host or r.key or r.value))
      end
    end
    table.sort(parts)
    out[t] = { rows = n, sha = core.sha256(table.concat(parts, "\n")) }
  end
  return out
end

local function count(db, t, where)
  return math.tointeger(db:query(("SELECT COUNT(*) AS n FROM %s%s"):format(db:quote_ident(t),
    where and (" WHERE " .. where) or ""))[1].n)
end

-- The moved/held counts of a run result, by table.
local function by_table(res)
  local out = {}
  for _, r in ipairs(res.tables) do out[r.table] = { moved = r.moved, held = r.held } end
  return out
end

h.each_backend(describe, it, function(b)
  local url, db
  before_each(function()
    url = b.fresh_url()
    db = core.open(url)
    create_chain(db)
  end)
  after_each(function() pcall(db.close, db) end)

  it("archives the chain children first, holding deleted parents that still have children", function()
    local rows = seed(db, 40)
    local before = census(db)
    local want = expected(rows)
    local seen = {}
    local res = archive.run(db, { batch = 7, progress = function(p) seen[#seen + 1] = p end })
    assert.same(want, by_table(res))
    assert.same({ "instance_metadata_item", "instance_metadata", "instance" },
                { res.tables[1].table, res.tables[2].table, res.tables[3].table })
    assert.is_true(want.instance.held > 0 and want.instance_metadata.held > 0)
    assert.same(before, census(db))
    for _, t in ipairs(CHAIN) do
      assert.equal(want[t].moved, count(db, "shadow_" .. t))
      assert.equal(want[t].held, count(db, t, "deleted <> 0"))
    end
    assert.is_true(#seen > 3 and seen[#seen].done == true)
    -- a second run finds nothing more to move
    assert.equal(0, archive.run(db).moved)
  end)

  it("--before moves only rows deleted before it; --max-rows stops and the next run carries on", function()
    local rows = seed(db, 40)
    local want = expected(rows, 10)
    local res = archive.run(db, { before = "2026-01-10", batch = 4 })
    assert.same(want, by_table(res))
    for _, t in ipairs(CHAIN) do assert.equal(0, count(db, "shadow_" .. t, "deleted_at >= '2026-01-10'")) end
    local census0 = census(db)
    -- the rest, 9 rows at a time
    local all, runs = expected(rows), 0
    local total = 0
    for _, t in ipairs(CHAIN) do total = total + all[t].moved - want[t].moved end
    repeat
      res = archive.run(db, { max_rows = 9, batch = 4 })
      assert.is_true(res.moved <= 9)
      runs = runs + 1
    until not res.stopped
    assert.equal(math.ceil(total / 9), runs)
    for _, t in ipairs(CHAIN) do assert.equal(all[t].moved, count(db, "shadow_" .. t)) end
    assert.same(census0, census(db))
  end)

  it("purges archived rows older than --before from the shadows, children first", function()
    seed(db, 30)
    archive.run(db)
    local keep = {}
    for _, t in ipairs(CHAIN) do keep[t] = count(db, "shadow_" .. t, "deleted_at >= '2026-01-08'") end
    local order = {}
    local res = archive.purge(db, { before = "2026-01-08", batch = 3,
                                    progress = function(p) if p.done then order[#order + 1] = p.table end end })
    assert.same(CHAIN, order)
    for _, t in ipairs(CHAIN) do assert.equal(keep[t], count(db, "shadow_" .. t)) end
    assert.is_true(res.purged > 0)
    assert.equal(0, archive.purge(db, { before = "2026-01-08" }).purged)
  end)

  it("runs from the command line: summary, --json, --tables", function()
    local rows = seed(db, 20)
    local want = expected(rows)
    local out, err, code = h.tide_at(url, { "archive", "run", "--tables", "instance_metadata_item", "--batch", "5" })
    assert.equal(0, code, err)
    assert.matches("instance_metadata_item%s+shadow_instance_metadata_item%s+" .. want.instance_metadata_item.moved,
                   out)
    -- at a terminal (script(1) gives it one): a progress line per table, rewritten in place;
    -- script runs without the sanitizer pass's preloaded libasan (its own leaks are not ours)
    local p = io.popen(("env -u LD_PRELOAD script -qec %s /dev/null"):format(h.shell_quote(
      ("%s --url %s archive run --batch 3 --tables instance_metadata"):format(h.shell_quote(h.tide_bin),
                                                                             h.shell_quote(url)))))
    local screen = p:read("a")
    p:close()
    assert.matches("\r\27%[Kinstance_metadata: 3 rows, %d+ rows/s", screen)
    assert.matches("\r\27%[Kinstance_metadata: " .. want.instance_metadata.moved .. " rows, " ..
                   want.instance_metadata.held .. " held, %d+ rows/s\r?\n", screen)
    out, err, code = h.tide_at(url, { "--json", "archive", "run" })
    assert.equal(0, code, err)
    -- keys sorted: the run's totals come before the tables' own
    assert.equal(want.instance.moved, tonumber(out:match('"moved":(%d+)')))
    assert.equal(want.instance.held + want.instance_metadata.held, tonumber(out:match('"held":(%d+)')))
    out, err, code = h.tide_at(url, { "archive", "purge", "--before", "2030-01-01T00:00:00" })
    assert.equal(0, code, err)
    assert.matches("purged " .. (want.instance.moved + want.instance_metadata.moved +
                                 want.instance_metadata_item.moved) .. " rows", out)
  end)

  it("--json still reports the rows moved before a failure, and the error", function()
    local rows = seed(db, 20)
    local want = expected(rows)
    -- a deleted metadata row is already archived: its table fails, after the items moved
    local mid
    for _, r in ipairs(rows.instance_metadata) do if r.deleted then mid = r.id break end end
    db:exec("INSERT INTO shadow_instance_metadata SELECT * FROM instance_metadata WHERE id = ?", mid)
    local out, err, code = h.tide_at(url, { "--json", "archive", "run", "--batch", "1000" })
    assert.equal(1, code)
    assert.matches("already in shadow_instance_metadata", err)
    local doc = assert(out:match("^%b{}\n?$"), out)
    assert.matches('"error":"unique_violation: archiving instance_metadata:', doc)
    assert.equal(want.instance_metadata_item.moved, tonumber(doc:match('"moved":(%d+)')))
    assert.matches('"done":true,"held":%d+,"moved":' .. want.instance_metadata_item.moved ..
                   ',"ms":%d+,"shadow":"shadow_instance_metadata_item","table":"instance_metadata_item"', doc)
    assert.equal(want.instance_metadata_item.moved, count(db, "shadow_instance_metadata_item"))
  end)

  it("is not confused by tables and key columns named like its own statement's parts", function()
    tide.migrate(db, function(m)
      m:create_table("tide_batch", { { "tide_n", "integer", primary_key = true }, { "deleted", "integer" } })
      m:create_table("tide_moved", { { "tide_m", "integer", primary_key = true }, { "tide_n", "integer" },
                                     { "deleted", "integer" } },
                     { foreign_keys = { { { "tide_n" }, "tide_batch", { "tide_n" } } } })
    end)
    archive.init(db, { tables = { "tide_batch", "tide_moved" } })
    for i = 1, 7 do db:exec("INSERT INTO tide_batch (tide_n, deleted) VALUES (?, ?)", i, i == 7 and 0 or 1) end
    -- parent 2 keeps a live child (held); parent 4's child is deleted too (both go)
    db:exec("INSERT INTO tide_moved (tide_m, tide_n, deleted) VALUES (1, 2, 0), (2, 4, 1), (3, 7, 1)")
    local res = archive.run(db, { tables = { "tide_batch", "tide_moved" }, batch = 2 })
    assert.same({ tide_moved = { moved = 2, held = 0 }, tide_batch = { moved = 5, held = 1 } }, by_table(res))
    assert.equal(2, count(db, "tide_batch"))
    assert.equal(1, count(db, "tide_moved"))
    assert.equal(5, count(db, "shadow_tide_batch"))
  end)

  it("handles a composite key, a boolean deleted, reserved-word names and an empty table", function()
    tide.migrate(db, function(m)
      m:create_table("select", { { "from", "integer", null = false }, { "group", "string", length = 20, null = false },
                                 { "deleted", "boolean", null = false, default = false }, { "note", "text" } },
                     { primary_key = { "from", "group" } })
      m:create_table("empty", { { "id", "integer", primary_key = true }, { "deleted", "integer" } })
    end)
    assert.same({ "empty", "select" }, archive.init(db, { tables = { "select", "empty" } }).created)
    local sel = db:quote_ident("select")
    local gone = {}
    for i = 1, 9 do
      for _, g in ipairs({ "a", "b b", "c'\"" }) do
        local del = (i + #g) % 3 ~= 0
        db:exec(("INSERT INTO %s (%s, %s, deleted, note) VALUES (?, ?, ?, ?)"):format(sel, db:quote_ident("from"),
                db:quote_ident("group")), i, g, del, "𝄞 " .. i .. g)
        if del then gone[#gone + 1] = i .. "/" .. g end
      end
    end
    local res = archive.run(db, { tables = { "select", "empty" }, batch = 2 })
    assert.same({ select = { moved = #gone, held = 0 }, empty = { moved = 0, held = 0 } }, by_table(res))
    local got = {}
    for r in db:rows(("SELECT %s AS f, %s AS g, note FROM %s ORDER BY 1, 2"):format(db:quote_ident("from"),
                     db:quote_ident("group"), db:quote_ident("shadow_select"))) do
      got[#got + 1] = r.f .. "/" .. r.g
      assert.equal("𝄞 " .. r.f .. r.g, r.note)
    end
    table.sort(gone)
    table.sort(got)
    assert.same(gone, got)
    assert.equal(27 - #gone, count(db, "select"))
  end)

  it("two runs at once move every row exactly once", function()
    local rows = seed(db, 40)
    local census0 = census(db)
    local cmd = ("%s --url %s archive run --batch 3 >/dev/null 2>&1"):format(h.shell_quote(h.tide_bin),
                                                                             h.shell_quote(url))
    local p = io.popen(("(%s; echo a=$?) & (%s; echo b=$?) & wait"):format(cmd, cmd))
    local out = p:read("a")
    p:close()
    assert.matches("a=0", out)
    assert.matches("b=0", out)
    local want = expected(rows)
    for _, t in ipairs(CHAIN) do assert.equal(want[t].moved, count(db, "shadow_" .. t)) end
    assert.same(census0, census(db))
  end)

  describe("refuses, changing nothing,", function()
    local census0
    before_each(function()
      seed(db, 10)
      census0 = census(db)
    end)
    local function unchanged()
      assert.same(census0, census(db))
      for _, t in ipairs(CHAIN) do assert.equal(0, count(db, "shadow_" .. t)) end
    end

    it("a table without deleted, and an unknown table", function()
      db:exec("CREATE TABLE plain (id INTEGER PRIMARY KEY)")
      local _, err, code = h.tide_at(url, { "archive", "run", "--tables", "instance,plain" })
      assert.equal(1, code)
      assert.matches("table plain has no deleted column", err)
      _, err, code = h.tide_at(url, { "archive", "run", "--tables", "instance,nope" })
      assert.equal(1, code)
      assert.matches('no table "nope"', err)
      assert.equal("undefined_object", h.catch(archive.run, db, { tables = { "nope" } }).class)
      unchanged()
    end)

    it("a shadow that has drifted, naming the difference", function()
      assert.same({}, archive.check(db))
      db:exec("ALTER TABLE shadow_instance_metadata ADD COLUMN extra INTEGER")
      assert.matches("shadow_instance_metadata%.extra", archive.check(db)[1])
      local _, err, code = h.tide_at(url, { "archive", "run" })
      assert.equal(1, code)
      assert.matches("shadow_instance_metadata%.extra", err)
      unchanged()
    end)

    it("--before that is not a timestamp, or a table without deleted_at", function()
      for _, bad in ipairs({ "yesterday", "2026-13-01", "2026-02-30", "2026-01-01 25:00:00", "2026-01-01+02" }) do
        local _, err, code = h.tide_at(url, { "archive", "run", "--before", bad })
        assert.equal(2, code, bad)
        assert.matches("%-%-before: .* is not a timestamp", err)
      end
      local _, err, code = h.tide_at(url, { "archive", "purge" })
      assert.equal(2, code)
      assert.matches("needs %-%-before", err)
      for _, bad in ipairs({ { "--batch", "0" }, { "--max-rows", "ten" }, { "--sleep", "-1" }, { "--tables", "a,,b" },
                             { "--batch" }, { "--nope" }, { "extra" } }) do
        _, err, code = h.tide_at(url, { "archive", "run", table.unpack(bad) })
        assert.equal(2, code, table.concat(bad, " "))
        assert.matches("^tide: archive run: ", err)
      end
      _, err, code = h.tide_at(url, { "archive", "move" })
      assert.equal(2, code)
      assert.matches('unknown subcommand "move"', err)
      assert.equal("misuse", h.catch(archive.run, db, { batch = 0 }).class)
      assert.equal("misuse", h.catch(archive.run, db, { tables = "instance" }).class)
      tide.migrate(db, function(m)
        m:create_table("nodate", { { "id", "integer", primary_key = true }, { "deleted", "integer" } })
        m:create_shadow("nodate")
      end)
      _, err, code = h.tide_at(url, { "archive", "run", "--before", "2026-01-01" })
      assert.equal(1, code)
      assert.matches("table nodate has no deleted_at column", err)
      unchanged()
    end)

    it("a row already in its shadow: the batch is refused whole, naming the shadow", function()
      -- item 7 is deleted; a copy of it is already archived
      db:exec("INSERT INTO shadow_instance_metadata_item SELECT * FROM instance_metadata_item WHERE id = 7")
      local _, err, code = h.tide_at(url, { "archive", "run", "--batch", "1000" })
      assert.equal(1, code)
      assert.matches("unique_violation: archiving instance_metadata_item: .*already in shadow_instance_metadata_item",
                     err)
      assert.equal(1, count(db, "shadow_instance_metadata_item"))
      db:exec("DELETE FROM shadow_instance_metadata_item")
      unchanged()
    end)

    it("a foreign-key cycle, naming it", function()
      tide.migrate(db, function(m)
        for _, t in ipairs({ "ca", "cb" }) do
          local cols = { { "id", "integer", primary_key = true }, { "other", "integer" }, { "deleted", "integer" } }
          m:create_table(t, cols)
          m:create_shadow(t)
        end
        m:add_foreign_key("ca", { "other" }, "cb", { "id" })
        m:add_foreign_key("cb", { "other" }, "ca", { "id" })
      end)
      local _, err, code = h.tide_at(url, { "archive", "run" })
      assert.equal(1, code)
      assert.matches("foreign%-key cycle c[ab] <%- c[ab] <%- c[ab]", err)
      unchanged()
    end)
  end)

  if b.name ~= "sqlite" then
    it("conserves every row when its session is killed mid-batch, and finishes (retried)", function()
      local rows = seed(db, 30)
      local census0 = census(db)
      -- each batch's copy sleeps, so that the kill lands inside it
      if b.name == "postgres" then
        db:exec("CREATE FUNCTION tide_slow() RETURNS trigger AS $$ BEGIN PERFORM pg_sleep(0.05); " ..
                "RETURN NULL; END $$ LANGUAGE plpgsql")
        db:exec("CREATE TRIGGER tide_slow AFTER INSERT ON shadow_instance_metadata_item " ..
                "FOR EACH STATEMENT EXECUTE FUNCTION tide_slow()")
      else
        db:exec("CREATE TRIGGER tide_slow BEFORE INSERT ON shadow_instance_metadata_item " ..
                "FOR EACH ROW SET @tide_slow = SLEEP(0.03)")
      end
      local dbname = core.parse_url(url).database
      local find = b.name == "postgres"
        and ("SELECT pid AS id FROM pg_stat_activity WHERE datname = '%s' AND state = 'active' " ..
             "AND query LIKE '%%INSERT INTO%%shadow_instance_metadata_item%%' AND pid <> pg_backend_pid()")
            :format(dbname)
        -- (MariaDB shows the trigger's statement while it runs)
        or ("SELECT ID AS id FROM information_schema.PROCESSLIST WHERE DB = '%s' AND (INFO LIKE " ..
            "'%%INSERT INTO%%shadow_instance_metadata_item%%' OR INFO LIKE '%%@tide_slow%%') AND ID <> CONNECTION_ID()")
            :format(dbname)
      local kill = b.name == "postgres" and "SELECT pg_terminate_backend(%d)" or "KILL %d"
      local marker = h.tmpname(".done")
      -- kills our own session (found by its database, which only this spec uses) three times
      local killer = h.spawn_lua(([[
        local core = require "tide.core"
        local admin = core.open(%q)
        print("ready") io.stdout:flush()
        local kills = 0
        while not io.open(%q) do                    -- until the run has ended
          local r = admin:query(%q)[1]
          if r then
            admin:exec((%q):format(math.tointeger(r.id)))
            kills = kills + 1
            if kills == 3 then break end
            core.sleep(120)
          end
          core.sleep(2)
        end
        print(kills)
      ]]):format(b.admin, marker, find, kill))
      assert.equal("ready", killer.line())
      local sid = h.session_id(db)
      local lines = {}
      local ok, res = pcall(archive.run, db, { batch = 5, log = function(l) lines[#lines + 1] = l end })
      io.open(marker, "w"):close()
      assert(ok, tostring(res))
      -- each kill cuts a statement of ours, and is retried (one that lands
      -- as the run ends may find nothing left to cut)
      local kills = tonumber(killer.wait():match("(%d+)%s*$"))
      assert.is_true(kills >= 1 and #lines >= 1 and #lines <= kills, ("%d kills:\n%s"):format(kills,
                     table.concat(lines, "\n")))
      for _, l in ipairs(lines) do assert.matches("^retry %d+: connection", l) end
      assert.are_not.equal(sid, h.session_id(db))
      assert.same(expected(rows), by_table(res))
      assert.same(census0, census(db))
    end)
  end

  -- (a trigger makes the reference appear; SQLite has a single writer, and
  -- MariaDB forbids a trigger to write a table its statement reads)
  if b.name == "postgres" then
    it("runs a batch again when a reference to one of its rows appears during it", function()
      local rows = seed(db, 20)
      local census0 = census(db)
      -- once (a sequence is not rolled back), copying a metadata row adds an item referring to it
      db:exec("CREATE SEQUENCE tide_once")
      db:exec("CREATE FUNCTION tide_refer() RETURNS trigger AS $$ BEGIN IF nextval('tide_once') = 1 THEN " ..
              "INSERT INTO instance_metadata_item (id, metadata_id, value, deleted) VALUES (100000, NEW.id, " ..
              "'late', 0); END IF; RETURN NEW; END $$ LANGUAGE plpgsql")
      db:exec("CREATE TRIGGER tide_refer BEFORE INSERT ON shadow_instance_metadata FOR EACH ROW " ..
              "EXECUTE FUNCTION tide_refer()")
      local lines = {}
      local res = archive.run(db, { batch = 4, log = function(l) lines[#lines + 1] = l end })
      assert.equal(1, #lines)
      assert.matches("^retry 1: serialization %(archiving instance_metadata: .*a reference appeared", lines[1])
      assert.same(expected(rows), by_table(res))
      assert.same(census0, census(db))
    end)
  end

  it("conserves every row when the process is killed -9 at random moments, 10 times", function()
    local rows = seed(db, 60)
    local census0 = census(db)
    db:close()
    -- how long a run takes to start (MariaDB's catalogs are slow to read
    -- on a busy server): kills land after it, within the run
    local run0 = core.now_ms()
    assert.equal(0, select(3, h.tide_at(url, { "archive", "run", "--max-rows", "1" })))
    local start = (core.now_ms() - run0) / 1000
    local killed = 0
    for run = 1, 10 do
      local delay = start + math.random() * 0.15
      local p = io.popen(("%s --url %s archive run --batch 2 --sleep 15 >/dev/null 2>&1 & pid=$!; sleep %.3f; " ..
                          "kill -9 $pid 2>/dev/null && echo killed; wait $pid 2>/dev/null; true")
                          :format(h.shell_quote(h.tide_bin), h.shell_quote(url), delay))
      if p:read("a"):match("killed") then killed = killed + 1 end
      p:close()
      db = core.open(url)
      assert.same(census0, census(db), "after kill " .. run)
      db:close()
    end
    db = core.open(url)
    local res = archive.run(db, { log = QUIET })
    local want = expected(rows)
    local done = 0
    for _, t in ipairs(CHAIN) do
      assert.equal(want[t].moved, count(db, "shadow_" .. t))
      done = done + want[t].moved
    end
    assert.is_true(res.moved < done, "the killed runs moved nothing")
    assert.same(census0, census(db))
    assert.is_true(killed >= 5, ("only %d of 10 runs were killed mid-way"):format(killed))
  end)
end)

describe("archive.timestamp", function()
  it("normalises dates and timestamps, and refuses anything else", function()
    assert.equal("2026-01-02 00:00:00", archive.timestamp("2026-01-02"))
    assert.equal("2024-02-29 23:59:59.5", archive.timestamp("2024-02-29T23:59:59.5"))
    for _, bad in ipairs({ "2023-02-29", "2026-1-2", "2026-01-02 10:00", "2026-01-02 10:00:00Z", "" }) do
      assert.equal("misuse", h.catch(archive.timestamp, bad).class, bad)
    end
  end)
end)
