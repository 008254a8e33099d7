-- db:insert_or_get and db:upsert (tide.unique) on every backend: concurrent
-- callers in real processes, the select-then-insert race it replaces, soft
-- deletes, the unique-key check and its cache, and bad input.
local core = require "tide.core"
local tide = require "tide"
local h = require "helpers"

-- table `name`: an autoincrement id, `cols`, then `deleted` (an integer,
-- 0 while live, unless given), with `uniques`
local function soft_table(m, name, cols, uniques, deleted)
  local all = { { "id", "integer", primary_key = true, autoincrement = true } }
  for _, c in ipairs(cols) do all[#all + 1] = c end
  all[#all + 1] = deleted or { "deleted", "integer", null = false, default = 0 }
  m:create_table(name, all, { uniques = uniques })
end

-- widget: the deleted = id soft-delete scheme, UNIQUE(name, deleted)
local function widget(m, name, opts)
  opts = opts or {}
  soft_table(m, name or "widget", {
    { "name", "string", length = 40, null = false },
    { "color", "string", length = 40 },
    { "size", "integer" },
  }, opts.uniques or { { "name", "deleted" } })
end

local function count(db, sql, ...)
  return db:query("SELECT COUNT(*) AS n FROM " .. sql, ...)[1].n
end

-- N processes, each `calls` calls on `keys` keys in the same order (so they
-- meet on every key), started together; `call` is Lua code calling with db,
-- t and key k, leaving the id in `id`. Returns {key -> {id seen -> true}}.
local function race(url, t, call, n, calls, keys)
  local go = h.tmpname(".go")
  local procs = {}
  for p = 1, n do
    procs[p] = h.spawn_lua(([[
      local core = require "tide.core"
      local tide = require "tide"
      local db = core.open(%q)
      local t, out = %q, {}
      print("ready") io.stdout:flush()
      while not io.open(%q) do core.sleep(1) end
      for i = 1, %d do
        local k = "key " .. (i %% %d)
        local id
        %s
        out[#out + 1] = k .. "=" .. tostring(id)
      end
      print(table.concat(out, "\n"))
    ]]):format(url, t, go, calls, keys, call))
    assert.equal("ready", procs[p].line(), "worker " .. p .. " did not start")
  end
  h.write_file(go, "")
  local seen, lines = {}, 0
  for p = 1, n do
    local out, code = procs[p].wait()
    assert.equal(0, code, "worker " .. p .. " failed:\n" .. out)
    for k, id in out:gmatch("(key %d+)=(%d+)") do
      seen[k] = seen[k] or {}
      seen[k][id] = true
      lines = lines + 1
    end
  end
  assert.equal(n * calls, lines)
  return seen
end

h.each_backend(describe, it, function(b)
  local url, db
  local function fresh()
    url = b.fresh_url()
    db = core.open(url)
    tide.migrate(db, function(m) widget(m) end)
  end
  local function close() db:close() end
  describe("on a fresh database", function()
    before_each(fresh)
    after_each(close)

    it("inserts, then gets the same row; created says which", function()
      local id, created = db:insert_or_get("widget", { name = "spanner", color = "red" }, { key = { "name" } })
      assert.is_true(created)
      local id2, created2 = db:insert_or_get("widget", { name = "spanner", color = "blue" }, { key = { "name" } })
      assert.equal(id, id2)
      assert.is_false(created2)
      local rows = db:query("SELECT id, name, color, deleted FROM widget")
      assert.same({ { id = id, name = "spanner", color = "red", deleted = 0 } }, rows)
    end)

    it("8 processes x 300 calls on 20 keys: 20 rows, one id per key, no error", function()
      if b.name == "sqlite" then db:query("PRAGMA journal_mode = WAL") end
      local seen = race(url, "widget",
        'id = db:insert_or_get(t, {name = k, color = "c"}, {key = {"name"}})', 8, 300, 20)
      local keys = 0
      for k, ids in pairs(seen) do
        keys = keys + 1
        local list = {}
        for id in pairs(ids) do list[#list + 1] = id end
        assert.equal(1, #list, k .. " got several ids: " .. table.concat(list, ", "))
        local rows = db:query("SELECT id FROM widget WHERE name = ?", k)
        assert.same({ { id = math.tointeger(list[1]) } }, rows)
      end
      assert.equal(20, keys)
      assert.equal(20, count(db, "widget"))
    end)

    it("the same, each call in a transaction of its own", function()
      if b.name == "sqlite" then db:query("PRAGMA journal_mode = WAL") end
      local seen = race(url, "widget", [[
        id = db:transaction(function() return (db:insert_or_get(t, {name = k}, {key = {"name"}})) end)
      ]], 8, 300, 20)
      for k, ids in pairs(seen) do
        local n = 0
        for _ in pairs(ids) do n = n + 1 end
        assert.equal(1, n, k .. " got several ids")
      end
      assert.equal(20, count(db, "widget"))
    end)

    it("the same workload as select-then-insert without the constraint makes duplicates", function()
      tide.migrate(db, function(m) widget(m, "loose", { uniques = {} }) end)
      -- a service does some work between its SELECT and its INSERT: 5 ms here
      local seen = race(url, "loose", [[
        local row = db:query("SELECT id FROM loose WHERE name = ? AND deleted = 0", k)[1]
        if row then id = row.id
        else
          core.sleep(5)
          local _; _, id = db:exec("INSERT INTO loose (name, color) VALUES (?, 'c')", k)
        end
      ]], 8, 300, 20)
      local ids = 0
      for _, set in pairs(seen) do for _ in pairs(set) do ids = ids + 1 end end
      local rows = count(db, "loose")
      assert.is_true(rows > 20, "no duplicate this time: " .. rows .. " rows")
      assert.is_true(ids > 20)          -- callers of one key went away with different ids
    end)

    -- a caller blocked behind another session's uncommitted insert of its
    -- key: PostgreSQL and MariaDB show the wait, so no timing is involved
    for _, ending in ipairs({ "commit", "rollback" }) do
      it("a caller waiting on an uncommitted insert of its key, which then does " .. ending, function()
        if b.name == "sqlite" then return end        -- nothing shows a waiting SQLite caller
        db:begin()
        local _, other_id = db:exec("INSERT INTO widget (name) VALUES ('k')")
        if b.name == "postgres" then other_id = db:query("SELECT id FROM widget WHERE name = 'k'")[1].id end
        local p = h.spawn_lua(([[
          local core = require "tide.core"
          local db = core.open(%q)
          local me = db:query(db.backend == "postgres" and "SELECT pg_backend_pid() AS me"
                              or "SELECT CONNECTION_ID() AS me")[1].me
          -- information_schema is slow to answer on a loaded server: wait long
          if db.backend == "mysql" then db:exec("SET SESSION innodb_lock_wait_timeout = 600") end
          db:insert_or_get("widget", { name = "warm" }, { key = { "name" } })  -- read the table now
          print(me) io.stdout:flush()
          local id, created = db:insert_or_get("widget", { name = "k" }, { key = { "name" } })
          print(id, created)
        ]]):format(url))
        local me = assert(tonumber(p.line()))
        local watch <close> = core.open(url)
        local WAITING = b.name == "postgres"
          and "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE pid = ? AND wait_event_type = 'Lock'"
          or "SELECT COUNT(*) AS n FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id = ? " ..
             "AND trx_state = 'LOCK WAIT'"
        local polls = 0
        while watch:query(WAITING, me)[1].n == 0 do
          polls = polls + 1
          if polls > 1000 then
            db:rollback()
            error("the caller never waited; it said: " .. p.wait())
          end
          -- InnoDB refreshes INNODB_TRX only when it was not read for 100 ms:
          -- polled faster, it never shows the wait
          core.sleep(b.name == "mysql" and 150 or 10)
        end
        db[ending](db)
        local out, code = p.wait()
        assert.equal(0, code, out)
        local id, created = out:match("^(%d+)%s+(%a+)")
        assert.equal(1, count(db, "widget WHERE name = 'k'"))
        local row = db:query("SELECT id FROM widget WHERE name = 'k'")[1]
        assert.equal(row.id, tonumber(id))
        if ending == "commit" then
          assert.equal(other_id, row.id)
          assert.equal("false", created)
        else
          assert.equal("true", created)
        end
      end)
    end

    it("works inside a transaction, and its rollback takes the row away", function()
      local id1, id2
      db:transaction(function()
        id1 = db:insert_or_get("widget", { name = "a" }, { key = { "name" } })
        id2 = db:insert_or_get("widget", { name = "a" }, { key = { "name" } })
      end)
      assert.equal(id1, id2)
      db:begin()
      local id3, created = db:insert_or_get("widget", { name = "b" }, { key = { "name" } })
      assert.is_true(created)
      assert.equal(id3, (db:insert_or_get("widget", { name = "b" }, { key = { "name" } })))
      db:rollback()
      assert.equal(0, count(db, "widget WHERE name = 'b'"))
      assert.equal(1, count(db, "widget"))
    end)

    it("a conflict inside a transaction leaves the transaction usable", function()
      db:insert_or_get("widget", { name = "a" }, { key = { "name" } })
      db:begin()
      local _, created = db:insert_or_get("widget", { name = "a" }, { key = { "name" } })
      assert.is_false(created)
      db:exec("INSERT INTO widget (name) VALUES ('after')")   -- PostgreSQL: not aborted
      db:commit()
      assert.equal(2, count(db, "widget"))
    end)

    it("a soft-deleted row with the key does not block a new one", function()
      local old = db:insert_or_get("widget", { name = "a", color = "red" }, { key = { "name" } })
      db:exec("UPDATE widget SET deleted = id WHERE id = ?", old)
      local new, created = db:insert_or_get("widget", { name = "a", color = "blue" }, { key = { "name" } })
      assert.is_true(created)
      assert.not_equal(old, new)
      assert.equal(new, (db:insert_or_get("widget", { name = "a" }, { key = { "name" } })))
      -- upsert leaves the deleted row alone too
      assert.equal(new, db:upsert("widget", { name = "a", color = "green" },
                                  { key = { "name" }, update = { "color" } }))
      assert.same({ { id = old, color = "red" }, { id = new, color = "green" } },
        db:query("SELECT id, color FROM widget ORDER BY id"))
    end)

    it("a boolean deleted column: the key holds deleted = false", function()
      tide.migrate(db, function(m)
        soft_table(m, "tag", { { "name", "string", length = 20, null = false } }, { { "name", "deleted" } },
                   { "deleted", "boolean", null = false, default = false })
      end)
      local id = db:insert_or_get("tag", { name = "x" }, { key = { "name" } })
      assert.equal(id, (db:insert_or_get("tag", { name = "x", deleted = false }, { key = { "name" } })))
      db:exec("UPDATE tag SET deleted = ? WHERE id = ?", true, id)
      local id2, created = db:insert_or_get("tag", { name = "x" }, { key = { "name" } })
      assert.is_true(created)
      assert.not_equal(id, id2)
    end)

    it("upsert updates the listed columns only", function()
      local id = db:insert_or_get("widget", { name = "a", color = "red", size = 1 }, { key = { "name" } })
      local id2 = db:upsert("widget", { name = "a", color = "blue", size = 9 },
                            { key = { "name" }, update = { "color" } })
      assert.equal(id, id2)
      assert.same({ { id = id, name = "a", color = "blue", size = 1, deleted = 0 } },
        db:query("SELECT id, name, color, size, deleted FROM widget"))
      local id3 = db:upsert("widget", { name = "b", color = "x", size = 2 },
                            { key = { "name" }, update = { "color", "size" } })
      assert.not_equal(id, id3)
      assert.same({ { color = "x", size = 2 } }, db:query("SELECT color, size FROM widget WHERE id = ?", id3))
    end)

    it("a key of several columns, given in any order", function()
      tide.migrate(db, function(m)
        widget(m, "part", { uniques = { { "deleted", "color", "name" } } })
      end)
      local a = db:insert_or_get("part", { name = "n", color = "red" }, { key = { "name", "color" } })
      local b2 = db:insert_or_get("part", { name = "n", color = "blue" }, { key = { "color", "name" } })
      assert.not_equal(a, b2)
      assert.equal(a, (db:insert_or_get("part", { color = "red", name = "n" }, { key = { "color", "name" } })))
    end)

    it("a conflict on another unique key raises its unique_violation", function()
      tide.migrate(db, function(m)
        widget(m, "gadget", { uniques = { { "name", "deleted" }, { "color" } } })
      end)
      db:insert_or_get("gadget", { name = "a", color = "red" }, { key = { "name" } })
      local e = h.catch(db.insert_or_get, db, "gadget", { name = "b", color = "red" }, { key = { "name" } })
      assert.equal("unique_violation", e.class)
      e = h.catch(db.upsert, db, "gadget", { name = "b", color = "red" }, { key = { "name" }, update = { "color" } })
      assert.equal("unique_violation", e.class)
      assert.equal(1, count(db, "gadget"))
      assert.same({ { name = "a", color = "red" } }, db:query("SELECT name, color FROM gadget"))
    end)

    it("a unique key narrower than the key: the row in the way is a unique_violation", function()
      -- UNIQUE(name) on a soft-delete table: a deleted name blocks it forever
      tide.migrate(db, function(m) widget(m, "narrow", { uniques = { { "name" } } }) end)
      local id = db:insert_or_get("narrow", { name = "a" }, { key = { "name" } })
      assert.equal(id, (db:insert_or_get("narrow", { name = "a" }, { key = { "name" } })))
      db:exec("UPDATE narrow SET deleted = id")
      assert.equal("unique_violation",
                   h.catch(db.insert_or_get, db, "narrow", { name = "a" }, { key = { "name" } }).class)
      assert.equal("unique_violation", h.catch(db.upsert, db, "narrow", { name = "a", color = "x" },
        { key = { "name" }, update = { "color" } }).class)
      assert.equal(1, count(db, "narrow"))
    end)

    it("refuses a key that no unique constraint or unique index covers", function()
      local e = h.catch(db.insert_or_get, db, "widget", { name = "a", color = "red" }, { key = { "color" } })
      assert.equal("misuse", e.class)
      assert.equal("insert_or_get: no unique constraint or unique index of widget covers the key " ..
        '(color, deleted): add one, e.g. m:add_unique("widget", {"color", "deleted"})', e.message)
      assert.equal("widget", e.table)
      e = h.catch(db.upsert, db, "widget", { name = "a", color = "red" }, { key = { "color" }, update = { "name" } })
      assert.matches("no unique constraint or unique index of widget covers the key %(color, deleted%)", e.message)
      assert.equal(0, count(db, "widget"))
    end)

    it("a partial unique index does not count as covering", function()
      if b.name == "mysql" then return end             -- MariaDB has none
      db:exec("CREATE UNIQUE INDEX ix_color_live ON widget (color) WHERE color <> 'x'")
      assert.matches("covers the key %(color, deleted%)",
        h.catch(db.insert_or_get, db, "widget", { name = "a", color = "red" }, { key = { "color" } }).message)
    end)

    it("sees a unique index added or dropped through the connection", function()
      assert.matches("covers the key", h.catch(db.insert_or_get, db, "widget",
        { name = "a", color = "red" }, { key = { "color" } }).message)
      local changes = db:schema_changes()
      tide.migrate(db, function(m) m:add_unique("widget", { "color", "deleted" }) end)
      assert.is_true(db:schema_changes() > changes)
      local id = db:insert_or_get("widget", { name = "a", color = "red" }, { key = { "color" } })
      assert.equal(id, (db:insert_or_get("widget", { name = "b", color = "red" }, { key = { "color" } })))
      tide.migrate(db, function(m) m:drop_unique("widget", "uq_widget_color_deleted") end)
      assert.matches("covers the key", h.catch(db.insert_or_get, db, "widget",
        { name = "c", color = "red" }, { key = { "color" } }).message)
      assert.equal(1, count(db, "widget"))
    end)

    it("DDL by another session: an error on PostgreSQL and SQLite, unique.forget on MariaDB", function()
      tide.migrate(db, function(m) widget(m, "gizmo") end)
      db:insert_or_get("widget", { name = "a" }, { key = { "name" } })       -- cached
      db:insert_or_get("gizmo", { name = "a" }, { key = { "name" } })
      local other <close> = core.open(url)
      tide.migrate(other, function(m) m:drop_unique("widget", "uq_widget_name_deleted") end)
      if b.name == "mysql" then
        -- nothing tells: ON DUPLICATE KEY without a key just inserts
        require("tide.unique").forget(db)
      else
        -- a row there is still found; a new one needs the INSERT, which tells
        assert.is_false(select(2, db:insert_or_get("widget", { name = "a" }, { key = { "name" } })))
      end
      local e = h.catch(db.insert_or_get, db, "widget", { name = "new" }, { key = { "name" } })
      assert.matches("^insert_or_get: no unique constraint or unique index of widget covers the key", e.message)
      assert.equal(1, count(db, "widget"))
      db:insert_or_get("gizmo", { name = "b" }, { key = { "name" } })        -- cached again
      tide.migrate(other, function(m) m:drop_table("gizmo") end)     -- this one the error tells
      e = h.catch(db.insert_or_get, db, "gizmo", { name = "a" }, { key = { "name" } })
      assert.equal('insert_or_get: no table "gizmo"', e.message)
    end)

    it("a reconnect drops the statements kept for the old session", function()
      local id = db:insert_or_get("widget", { name = "a" }, { key = { "name" } })
      local n = db:schema_changes()
      db:reconnect()
      assert.equal(n + 1, db:schema_changes())
      assert.equal(id, (db:insert_or_get("widget", { name = "a" }, { key = { "name" } })))
      assert.equal(id, db:upsert("widget", { name = "a", color = "x" }, { key = { "name" }, update = { "color" } }))
    end)

    it("a statement that cannot change the schema leaves the cache", function()
      local n = db:schema_changes()
      db:exec("INSERT INTO widget (name, color) VALUES ('created_at', 'drop_me')")
      db:query("SELECT id, name AS created FROM widget WHERE color = ?", "x")
      assert.equal(n, db:schema_changes())
      db:exec("create table other_t (id INTEGER PRIMARY KEY)")             -- any case
      assert.equal(n + 1, db:schema_changes())
      local st = db:prepare("/* x */ DROP TABLE other_t")
      assert.equal(n + 1, db:schema_changes())                             -- counted when it runs
      st:exec()
      assert.equal(n + 2, db:schema_changes())
    end)

    it("values with a 4-byte character and a NUL byte round trip", function()
      tide.migrate(db, function(m)
        soft_table(m, "file", { { "name", "string", length = 40, null = false }, { "body", "blob" } },
                   { { "name", "deleted" } })
      end)
      local name, body = "caf\u{E9} \u{1F600} \u{10FFFF}", "a\0b\0\255"
      local id, created = db:insert_or_get("file", { name = name, body = body }, { key = { "name" } })
      assert.is_true(created)
      local id2, created2 = db:insert_or_get("file", { name = name, body = "other" }, { key = { "name" } })
      assert.equal(id, id2)
      assert.is_false(created2)
      assert.same({ { name = name, body = body } }, db:query("SELECT name, body FROM file"))
      assert.equal(id, db:upsert("file", { name = name, body = body .. "\0" },
                                 { key = { "name" }, update = { "body" } }))
      assert.equal(body .. "\0", db:query("SELECT body FROM file")[1].body)
    end)

    it("MariaDB: an unsigned BIGINT id and unsigned columns (made by hand)", function()
      if b.name ~= "mysql" then return end
      db:exec("CREATE TABLE u (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, name VARCHAR(10) NOT NULL, " ..
              "n INT UNSIGNED, UNIQUE (name))")
      local id, created = db:insert_or_get("u", { name = "a", n = 1 }, { key = { "name" } })
      assert.is_true(created)
      assert.same({ id, false }, { db:insert_or_get("u", { name = "a" }, { key = { "name" } }) })
      assert.equal(id, db:upsert("u", { name = "a", n = 4000000000 }, { key = { "name" }, update = { "n" } }))
      assert.equal(4000000000, db:query("SELECT n FROM u")[1].n)
    end)

    it("odd table and column names", function()
      tide.migrate(db, function(m)
        soft_table(m, 'select "odd" `t`', { { "from", "string", length = 20, null = false }, { "a b'c", "integer" } },
                   { { "from", "deleted" } })
      end)
      local t = 'select "odd" `t`'
      local id = db:insert_or_get(t, { from = "x", ["a b'c"] = 1 }, { key = { "from" } })
      assert.equal(id, db:upsert(t, { from = "x", ["a b'c"] = 2 }, { key = { "from" }, update = { "a b'c" } }))
      assert.equal(2, db:query("SELECT * FROM " .. db:quote_ident(t))[1]["a b'c"])
    end)

  end)

  -- bad input changes nothing: one database for all of it
  describe("bad input", function()
    setup(fresh)
    teardown(close)
    -- calls db:METHOD(...) and checks it is refused with class and a message
    -- matching pattern, the table left empty
    local function refused(method, class, pattern, ...)
      local e = h.catch(db[method], db, ...)
      assert.equal(class, e.class)
      assert.matches(pattern, e.message)
      assert.equal(0, count(db, "widget"))
      return e
    end
    local function ig(...) return refused("insert_or_get", ...) end
    local function up(...) return refused("upsert", ...) end
    local K = { key = { "name" } }
    local A = { name = "a" }

    it("an unknown table", function()
      local e = ig("undefined_object", '^insert_or_get: no table "widgets"$', "widgets", A, K)
      assert.equal("widgets", e.table)
    end)
    it("a key naming an unknown column", function()
      ig("undefined_object", '^insert_or_get: widget has no column "nme" %(in key%)$', "widget", A,
         { key = { "nme" } })
    end)
    it("values naming an unknown column", function()
      ig("undefined_object", '^insert_or_get: widget has no column "colour" %(in values%)$', "widget",
         { name = "a", colour = "red" }, K)
    end)
    it("values missing a key column", function()
      ig("misuse", "^insert_or_get: key column widget.name is NULL %(missing from values, or nil%): " ..
         "NULLs never conflict, so the key could not hold$", "widget", { color = "red" }, K)
    end)
    it("a NULL (nil) in a key column", function()
      local name = nil
      ig("misuse", "key column widget.name is NULL", "widget", { name = name, color = "red" }, K)
      up("misuse", "^upsert: key column widget.name is NULL", "widget", { name = name, color = "red" },
         { key = { "name" }, update = { "color" } })
    end)
    it("a key value of the wrong type", function()
      ig("misuse", "^insert_or_get: key column widget.name is string, got integer 5$", "widget", { name = 5 }, K)
    end)
    it("a value that is not a value", function()
      ig("misuse", "values.color is a table", "widget", { name = "a", color = {} }, K)
    end)
    it("values setting the primary key, or a deleted row", function()
      ig("misuse", 'values sets the primary key "id"', "widget", { id = 7, name = "a" }, K)
      ig("misuse", "values.deleted must be 0", "widget", { name = "a", deleted = 3 }, K)
    end)
    it("malformed options", function()
      ig("misuse", "opts must be a table", "widget", A)
      ig("misuse", "opts.key must be a non%-empty list of column names, got an empty table", "widget", A,
         { key = {} })
      ig("misuse", "opts.key must be a non%-empty list of column names, got string", "widget", A,
         { key = "name" })
      ig("misuse", 'unknown option "keys" %(key%)', "widget", A, { keys = { "name" } })
      ig("misuse", 'key names "name" twice', "widget", A, { key = { "name", "name" } })
      ig("misuse", "table must be a non%-empty string, got nil", nil, A, K)
      ig("misuse", "values must be a table of column = value, got string", "widget", "a", K)
    end)
    it("upsert: a missing, unknown or key update column", function()
      up("misuse", "opts.update must be a non%-empty list", "widget", A, K)
      up("undefined_object", 'widget has no column "colr" %(in update%)', "widget", A,
         { key = { "name" }, update = { "colr" } })
      up("misuse", 'update names "name", which identifies the row', "widget", A,
         { key = { "name" }, update = { "name" } })
      up("misuse", 'update names "color", which values does not set', "widget", A,
         { key = { "name" }, update = { "color" } })
    end)
    it("a table without a single-column integer primary key", function()
      db:exec("CREATE TABLE nopk (name VARCHAR(10) NOT NULL, UNIQUE (name))")
      ig("misuse", "^insert_or_get: nopk needs a single%-column integer primary key", "nopk", A, K)
    end)
    it("a deleted column of an unexpected type", function()
      db:exec("CREATE TABLE textdel (id INTEGER PRIMARY KEY, name VARCHAR(10) NOT NULL, " ..
              "deleted VARCHAR(10), UNIQUE (name, deleted))")
      ig("misuse", "textdel.deleted is string: a soft%-delete column must be an integer", "textdel", A, K)
    end)
  end)
end)
