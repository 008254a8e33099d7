-- Hostile cases of introspection (db:schema / describe / schema_json):
-- a caller's transaction left as it was, SQLite's catalog read as one
-- snapshot while another connection changes it, and names of main never
-- shadowed by TEMP ones.
local core = require "tide.core"
local ui = require "tide.ui"
local h = require "helpers"

h.each_backend(describe, it, function(b)
  it("introspection keeps the caller's transaction and savepoint, and leaves none of its own", function()
    local db = core.open(b.fresh_url())
    db:exec("CREATE TABLE t (a INTEGER)")
    assert.is_table(db:schema().t)
    assert.is_false(db:in_transaction())
    db:begin()
    db:exec("INSERT INTO t VALUES (1)")
    db:savepoint("sp")
    db:exec("INSERT INTO t VALUES (2)")
    assert.is_table(db:describe("t"))
    db:schema_json(ui.portable_type)
    assert.is_true(db:in_transaction())
    db:rollback_to("sp")
    db:release("sp")
    assert.equal(1, #db:query("SELECT a FROM t"))
    db:rollback()
    assert.equal(0, #db:query("SELECT a FROM t"))
    assert.is_false(db:in_transaction())
    db:close()
  end)
end)

h.each_backend(describe, it, function(b)
  it("describe of a name holding a NUL byte is no table, not the table named by its head", function()
    local db = core.open(b.fresh_url())
    db:exec("CREATE TABLE t (a INTEGER)")
    local e = h.catch(db.describe, db, "t\0junk")
    assert.equal("undefined_object", e.class)
    assert.matches("no such table: t (the name holds a NUL byte)", e.message, 1, true)
    assert.equal("a", db:describe("t").columns[1].name)
    db:close()
  end)
end)

h.each_backend(describe, it, function(b)
  if b.name ~= "sqlite" then return end

  it("a TEMP or attached table or index of the same name does not shadow the table of main", function()
    local db = core.open(b.fresh_url())
    db:exec("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT REFERENCES t (a))")
    db:exec("CREATE INDEX ix ON t (b)")
    local expected = core.json(db:describe("t"))
    db:exec("CREATE TEMP TABLE t (zzz INTEGER UNIQUE)")
    db:exec("CREATE TEMP TABLE u (q INTEGER)")
    db:exec("CREATE INDEX temp.ix ON u (q)")
    db:exec("ATTACH '" .. h.tmpname(".db") .. "' AS aux")
    db:exec("CREATE TABLE aux.t (other INTEGER)")
    db:exec("CREATE TABLE aux.only_aux (x INTEGER)")
    assert.same({ "t" }, db:tables())
    assert.equal(expected, core.json(db:describe("t")))
    assert.equal(expected, core.json(db:schema().t))
    assert.is_nil(db:schema().u)
    assert.matches('"columns":["b"],"name":"ix"', db:schema_json(ui.portable_type), 1, true)
    db:close()
  end)

  it("reads every constraint of the CREATE text, however many and however long", function()
    local db = core.open(b.fresh_url())
    local defs, checks = {}, {}
    for i = 1, 100 do
      defs[i] = ("c%d TEXT COLLATE NOCASE"):format(i)
      checks[i] = ("CONSTRAINT ck%d CHECK (c%d <> 'x')"):format(i, i)
    end
    db:exec("CREATE TABLE w (" .. table.concat(defs, ", ") .. ", " .. table.concat(checks, ", ") .. ")")
    local d = db:describe("w")
    assert.equal(100, #d.checks)
    assert.same({ name = "ck100", expression = "c100 <> 'x'" }, d.checks[100])
    for _, c in ipairs(d.columns) do assert.equal("NOCASE", c.collation, c.name) end
    -- a long CHECK with a 4-byte character where a 1 KB buffer cut it once
    local expr = "a <> '" .. ("x"):rep(1016) .. "\u{1F600}" .. ("y"):rep(500) .. "'"
    local long = ("n"):rep(200)
    db:exec(('CREATE TABLE l ("%s" TEXT COLLATE RTRIM, a TEXT, CONSTRAINT "%s" UNIQUE ("%s", a), CHECK (%s))')
      :format(long, long, long, expr))
    d = db:describe("l")
    assert.equal(expr, d.checks[1].expression)
    assert.equal("RTRIM", d.columns[1].collation)
    assert.equal(long, d.uniques[1].name)
    local s = db:schema()
    for _, t in pairs(s) do
      for _, c in ipairs(t.columns) do c.portable_type = ui.portable_type(c) end
    end
    assert.equal(core.json({ backend = "sqlite", tables = s }), db:schema_json(ui.portable_type))
    db:close()
  end)

  it("names each foreign key by its own constraint when two share their columns", function()
    local db = core.open(b.fresh_url())
    db:exec("CREATE TABLE p1 (id INTEGER PRIMARY KEY)")
    db:exec([[CREATE TABLE "p ""2" (id INTEGER PRIMARY KEY)]])
    db:exec([[CREATE TABLE c (a INTEGER CONSTRAINT fk_col REFERENCES P1 (id), b INTEGER,
      CONSTRAINT fk_one FOREIGN KEY (b) REFERENCES p1 (id),
      CONSTRAINT fk_two FOREIGN KEY (b) REFERENCES "p ""2" (id))]])
    local names = {}
    for _, f in ipairs(db:describe("c").foreign_keys) do
      names[#names + 1] = f.name .. " " .. table.concat(f.columns, ",") .. " -> " .. f.ref_table
    end
    table.sort(names)
    assert.same({ "fk_col a -> P1", "fk_one b -> p1", 'fk_two b -> p "2' }, names)
    db:close()
  end)

  it("schema_json writes a portable type holding a NUL byte whole, as core.json does", function()
    local db = core.open(b.fresh_url())
    db:exec("CREATE TABLE t (a INTEGER, b TEXT)")
    local s = db:schema()
    for _, c in ipairs(s.t.columns) do c.portable_type = "x\0y" end
    assert.equal(core.json({ backend = "sqlite", tables = s }),
                 db:schema_json(function() return "x\0y" end))
    db:close()
  end)

  it("shows virtual tables but not the shadow tables they keep their data in", function()
    local db = core.open(b.fresh_url())
    db:exec("CREATE TABLE docs_note (a INTEGER)")           -- looks like a shadow name, is not
    db:exec("CREATE VIRTUAL TABLE docs USING fts5 (body)")
    db:exec("CREATE VIRTUAL TABLE geo USING rtree (id, x0, x1)")
    assert.same({ "docs", "docs_note", "geo" }, db:tables())
    local names = {}
    for name in pairs(db:schema()) do names[#names + 1] = name end
    table.sort(names)
    assert.same({ "docs", "docs_note", "geo" }, names)
    assert.equal("undefined_object", h.catch(db.describe, db, "docs_data").class)
    assert.equal("undefined_object", h.catch(db.describe, db, "geo_node").class)
    assert.is_nil(db:schema_json(ui.portable_type):find("docs_content", 1, true))
    db:close()
  end)

  it("introspection inside a db:rows() loop of a writing statement leaves its rows whole", function()
    local db = core.open(b.fresh_url())
    db:exec("CREATE TABLE t (a INTEGER)")
    db:exec("INSERT INTO t VALUES (1), (2), (3)")
    db:exec("CREATE TABLE u (a INTEGER)")
    local n = 0
    for _ in db:rows("INSERT INTO u SELECT a FROM t RETURNING a") do
      n = n + 1
      assert.is_table(db:schema().u)
      assert.is_string(db:schema_json(ui.portable_type))
    end
    assert.equal(3, n)
    assert.equal(3, db:query("SELECT count(*) AS n FROM u")[1].n)
    assert.is_false(db:in_transaction())
    db:close()
  end)

  it("an error while reading the catalog leaves no read transaction open", function()
    local path = h.tmpname(".db")
    local db = core.open("sqlite:" .. path)
    db:exec("CREATE TABLE t (a INTEGER)")
    db:exec("PRAGMA writable_schema = ON")
    db:exec("INSERT INTO sqlite_schema VALUES ('table', 'vx', 'vx', 0, "
      .. "'CREATE VIRTUAL TABLE vx USING no_such_module (a)')")
    db:close()
    db = core.open("sqlite:" .. path)
    local e = h.catch(db.schema, db)
    assert.equal("undefined_object", e.class)
    assert.matches("no such module: no_such_module", e.message, 1, true)
    assert.is_false(db:in_transaction())
    e = h.catch(db.schema_json, db, ui.portable_type)
    assert.matches("no such module: no_such_module", e.message, 1, true)
    assert.is_false(db:in_transaction())
    assert.equal("a", db:describe("t").columns[1].name)      -- still usable
    db:close()
  end)

  it("reads one snapshot of the catalog while another connection changes it", function()
    local path = h.tmpname(".db")
    local done = h.tmpname(".done")
    local db = core.open("sqlite:" .. path)
    db:exec("PRAGMA journal_mode = WAL")
    -- enough tables that the four catalog queries take a while each
    for i = 1, 100 do db:exec(("CREATE TABLE f%d (a INTEGER PRIMARY KEY, b TEXT UNIQUE)"):format(i)) end
    -- t2 flips between two shapes, each written in one transaction: with an
    -- index, a foreign key and a primary key, or with none of them
    local writer = h.spawn_lua(([[
      local core = require "tide.core"
      local db = core.open("sqlite:%s")
      db:exec("PRAGMA synchronous = OFF")
      for _ = 1, 400 do
        for _, q in ipairs({ "BEGIN IMMEDIATE", "DROP TABLE IF EXISTS t2",
            "CREATE TABLE t2 (a INTEGER PRIMARY KEY, b INTEGER REFERENCES t2 (a))",
            "CREATE INDEX ix2 ON t2 (b)", "COMMIT",
            "BEGIN IMMEDIATE", "DROP TABLE t2", "CREATE TABLE t2 (a INTEGER)", "COMMIT" }) do
          db:exec(q)
        end
      end
      io.open(%q, "w"):close()
    ]]):format(path, done))
    local calls, mixed, failed = 0, {}, {}
    while not h.read_file(done) or calls < 10 do
      local ok, s = pcall(db.schema, db)
      calls = calls + 1
      if not ok then
        failed[#failed + 1] = type(s) == "table" and s.message or tostring(s)
      elseif s.t2 then
        local full = #s.t2.columns == 2
        if (#s.t2.indexes == 1) ~= full or (#s.t2.foreign_keys == 1) ~= full
          or (s.t2.primary_key ~= nil) ~= full then
          mixed[#mixed + 1] = core.json(s.t2)
        end
      end
    end
    local out, code = writer.wait()
    assert.equal(0, code, out)
    assert.same({}, failed)
    assert.same({}, mixed)
    assert.is_false(db:in_transaction())
    db:close()
  end)
end)
