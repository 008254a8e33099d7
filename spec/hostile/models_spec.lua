-- Hostile models files and `tide new --auto` on schemas it cannot fully
-- write, on every backend: a models file that ends the process or raises
-- something odd is a one-line error naming it (never "in sync"); a type the
-- DSL has no name for, a narrowing change, are said in the migration (and a
-- note to write by hand makes the exit 4), never left to fail after the
-- data is gone.
local core = require "tide.core"
local h = require "helpers"

-- A models file from its source; returns its path.
local function models_file(src)
  local path = h.tmpname(".models.lua")
  h.write_file(path, src)
  return path
end

local ONE = 'create_table("one", { { "id", "integer", primary_key = true } })\n'

-- The tables and columns of url, tide's own left out.
local function snapshot(url)
  local db <close> = core.open(url)
  local s = db:schema()
  s.tide_history = nil
  return s
end

-- A folder with an empty plan.
local function empty_plan()
  local dir = h.migrations({})
  h.write_file(dir .. "/tide.plan", "")
  return dir
end

h.each_backend(describe, it, function(b)
  local url

  -- The database at url built from models `from` alone (kept dropped), and
  -- `tide new NAME --auto` to models `to` written in a fresh plan: returns
  -- the plan's folder, the migration's text, stdout, stderr and exit code.
  local function auto_from(from, to, name)
    h.query_at(url, "DROP TABLE kept")
    local _, err, code = h.tide_at(url, { "models", "create", "--models", from })
    assert.equal(0, code, err)
    local dir = empty_plan()
    local out
    out, err, code = h.tide_at(url, { "--dir", dir, "new", name, "--auto", "--models", to })
    return dir, h.read_file(dir .. "/" .. name .. ".lua"), out, err, code
  end
  before_each(function()
    url = b.fresh_url()
    local db <close> = core.open(url)
    db:exec("CREATE TABLE kept (id INTEGER PRIMARY KEY)")
  end)

  it("refuses a models file that ends the process, raises a non-string or cannot be built everywhere", function()
    local before = snapshot(url)
    local cases = {
      { "os.exit(0)\n" .. ONE, "os.exit inside a models file" },
      { ONE .. "os.exit(3)\n", "os.exit inside a models file" },
      { ONE .. 'require("os").exit(0)\n', "os.exit inside a models file" },
      { "error({ 1, 2 })\n", "raised a table, not a message" },
      { "error()\n", "raised a nil, not a message" },
      { "error(42)\n", "raised a number, not a message" },
      { 'require("no_such_models_module")\n', ":1: module 'no_such_models_module' not found\n$" },
      { "\27Lua", "attempt to load a binary chunk" },
      -- what one backend would build and another refuse
      { 'create_table("a", { { "id", "integer", primary_key = true }, { "ID", "integer" } })\n',
        'table "a": column "ID": the same name as column "id" but for case' },
      { ONE .. 'create_table("One", { { "id", "integer", primary_key = true } })\n',
        'the same name as table "' },
      { ONE .. 'create_table("b", { { "id", "string", length = 5, primary_key = true } },\n' ..
        '  { foreign_keys = { { { "id" }, "one", { "id" } } } })\n',
        ':2: create_table(b): foreign key (id) -> one(id): column "id" is string, one.id is integer' },
      { ONE .. 'create_table("c", { { "id", "integer", primary_key = true }, { "Ref", "bigint" } },\n' ..
        '  { foreign_keys = { { { "Ref" }, "one", { "id" } } } })\n',
        ':2: create_table(c): foreign key (Ref) -> one(id): column "Ref" is bigint, one.id is integer' },
      -- a key to a table declared later
      { 'create_table("c", { { "id", "integer", primary_key = true }, { "Ref", "bigint" } },\n' ..
        '  { foreign_keys = { { { "Ref" }, "one", { "id" } } } })\n' .. ONE,
        ':1: create_table(c): foreign key (Ref) -> one(id): column "Ref" is bigint, one.id is integer' },
    }
    for _, c in ipairs(cases) do
      local file = models_file(c[1])
      for _, cmd in ipairs({ { "check" }, { "models", "create" }, { "new", "x", "--auto" } }) do
        local args = { "--dir", empty_plan() }
        for _, a in ipairs(cmd) do args[#args + 1] = a end
        args[#args + 1] = "--models"
        args[#args + 1] = file
        local out, err, code = h.tide_at(url, args)
        local what = table.concat(cmd, " ") .. " on " .. c[1]
        assert.equal(1, code, what .. out .. err)
        assert.equal("", out, what)
        assert.matches("^tide: %a+: [^\n]*" .. file:gsub("%p", "%%%0"), err, nil, false)
        assert.matches(c[2], err, 1, c[2]:sub(-1) ~= "$")
        assert.not_matches("tide.plan", err, 1, true)
        assert.not_matches("table: 0x", err, 1, true)
        assert.same(before, snapshot(url), what)
      end
    end
  end)

  it("reads a models file with a UTF-8 byte order mark or a #! line, as lua does", function()
    for _, head in ipairs({ "\239\187\191", "#!/usr/bin/env tide\n", "\239\187\191#!tide\n" }) do
      local file = models_file(head .. 'create_table("kept", { { "id", "integer", primary_key = true } })\n' ..
                               'create_table(1)\n')
      local _, err, code = h.tide_at(url, { "check", "--models", file })
      assert.equal(1, code, err)
      -- the line numbers are the file's
      assert.matches(":" .. (head:find("\n") and 3 or 2) .. ": create_table needs a table name first", err, 1, true)
      h.write_file(file, head .. 'create_table("kept", { { "id", "integer", primary_key = true } })\n')
      local out
      out, err, code = h.tide_at(url, { "check", "--models", file })
      assert.equal(0, code, out .. err)
    end
  end)

  it("says what the DSL cannot write, exits 4, and names each column", function()
    local db <close> = core.open(url)
    local raw = { sqlite = "CREATE TABLE r (id INTEGER PRIMARY KEY, v, d NUMERIC)",
                  postgres = "CREATE TABLE r (id INTEGER PRIMARY KEY, v TSVECTOR, d NUMERIC, s VARCHAR)",
                  mysql = "CREATE TABLE r (id INTEGER PRIMARY KEY, v YEAR)" }
    db:exec(raw[b.name])
    local before = snapshot(url)
    local dir = empty_plan()
    local kept = models_file('create_table("kept", { { "id", "integer", primary_key = true } })')
    local out, err, code = h.tide_at(url, { "--dir", dir, "new", "gone", "--auto", "--models", kept })
    assert.equal(4, code, out .. err)
    assert.matches("created", out)
    local text = h.read_file(dir .. "/gone.lua")
    local want = { sqlite = "r.v: a column without a type has no portable type",
                   postgres = "r.v: type tsvector has no portable type", mysql = "r.v: type year has no portable type" }
    assert.matches("tide: [^\n]*gone.lua: by hand: " .. want[b.name]:gsub("%p", "%%%0"), err)
    assert.matches("-- tide: by hand: " .. want[b.name], text, 1, true)
    if b.name ~= "mysql" then
      assert.matches("r.d: a decimal without a precision: the DSL would make it (10,0)", err, 1, true)
    end
    if b.name == "postgres" then assert.matches("r.s: a string without a length", err, 1, true) end
    -- --json lists the notes too
    local _
    out, _, code = h.tide_at(url, { "--json", "--dir", empty_plan(), "new", "gone", "--auto", "--models", kept })
    assert.equal(4, code)
    assert.matches('"by_hand":["r.v: ', out, 1, true)
    -- writing the migration changed nothing
    assert.same(before, snapshot(url))
  end)

  it("keeps a name with a newline inside its comment: the database's names never become code", function()
    local db <close> = core.open(url)
    local name = "x\nerror('pwned')"
    db:exec(("CREATE TABLE r (id INTEGER PRIMARY KEY, %s INTEGER DEFAULT (1+2))"):format(db:quote_ident(name)))
    local dir = empty_plan()
    local kept = models_file('create_table("kept", { { "id", "integer", primary_key = true } })')
    local out, err, code = h.tide_at(url, { "--dir", dir, "new", "gone", "--auto", "--models", kept })
    assert.equal(4, code, out .. err)
    local text = h.read_file(dir .. "/gone.lua")
    assert.matches("\n *%-%- tide: by hand: r%.x%?error%('pwned'%): default [^\n]*\n", text)
    assert.matches(": by hand: r.x?error('pwned'): default", err, 1, true)
    -- up drops r, down makes it again (without the default, by hand): no "pwned"
    local _
    _, err, code = h.tide_at(url, { "--dir", dir, "up", "-q" })
    assert.equal(0, code, err)
    _, err, code = h.tide_at(url, { "--dir", dir, "down", "-q" })
    assert.equal(0, code, err)
    assert.same({ "id", name }, (function()
      local cols = {}
      for i, c in ipairs(db:describe("r").columns) do cols[i] = c.name end
      return cols
    end)())
  end)

  it("prints a difference on one line even when a name holds a newline", function()
    local db <close> = core.open(url)
    db:exec(("ALTER TABLE kept ADD %s INTEGER"):format(db:quote_ident("a\nb: table only in models")))
    local kept = models_file('create_table("kept", { { "id", "integer", primary_key = true } })')
    local out, err, code = h.tide_at(url, { "check", "--models", kept })
    assert.equal(4, code, err)
    assert.equal("kept.a?b: table only in models: column only in database\n", out)
    out, err, code = h.tide_at(url, { "--json", "check", "--models", kept })
    assert.equal(4, code, err)
    assert.matches('"kept.a\\nb: table only in models: column only in database"', out, 1, true)
  end)

  it("models create on a database holding some of the tables (or a view) says which, and changes nothing", function()
    local db <close> = core.open(url)
    db:exec("CREATE TABLE b (id INTEGER PRIMARY KEY)")
    db:exec("CREATE TABLE d (id INTEGER PRIMARY KEY)")
    -- a view of a table's name: MariaDB would have made a, c before failing
    db:exec("CREATE VIEW e AS SELECT 1 AS one")
    local before = snapshot(url)
    local file = models_file('create_table("a", { { "id", "integer", primary_key = true } })\n' ..
                             'create_table("b", { { "id", "integer", primary_key = true } })\n' ..
                             'create_table("c", { { "id", "integer", primary_key = true } })\n' ..
                             'create_table("d", { { "id", "integer", primary_key = true } })\n' ..
                             'create_table("e", { { "id", "integer", primary_key = true } })\n')
    local out, err, code = h.tide_at(url, { "models", "create", "--models", file })
    assert.equal(1, code, out .. err)
    assert.matches("^tide: misuse: [^\n]*: 3 of the 5 tables of [^\n]* exist already %(b, d, e%): [^\n]*tide new " ..
                   "%-%-auto\n$", err)
    assert.same(before, snapshot(url))
  end)

  it("writes a check as it reads on every backend, not as this one's catalog prints it", function()
    local with = models_file([[
create_table("k", {
  { "id", "integer", primary_key = true },
  { "s", "string", length = 20 },
  { "n", "integer" },
}, { checks = { { "s_ok", "s <> 'it''s' AND s <> 'a\\b' AND s <> 'é😀'" }, { "n_pos", "n > 0 OR n IS NULL" } } })
]])
    -- the database has k, the models not: up drops it, down makes it again
    local dir, text, out, err, code = auto_from(with, models_file(""), "drop_k")
    assert.equal(0, code, out .. err)
    assert.matches([["s <> 'it''s' and s <> 'a\\b' and s <> 'é😀'"]], text, 1, true)
    -- the migration written here runs here and on SQLite
    for _, there in ipairs({ url, "sqlite:" .. h.tmpname(".db") }) do
      err, code = select(2, h.tide_at(there, { "models", "create", "--models", with }))
      if there == url then code = 0 end
      assert.equal(0, code, err)
      for _, step in ipairs({ "up", "down" }) do
        err, code = select(2, h.tide_at(there, { "--dir", dir, step, "-q" }))
        assert.equal(0, code, step .. " on " .. there .. ": " .. err .. "\n" .. text)
      end
      out, err, code = h.tide_at(there, { "check", "--models", with })
      assert.equal(0, code, out .. err)
    end
  end)

  it("a check naming a \"quoted\" column checks the column on every backend (MariaDB: not a string)", function()
    h.query_at(url, "DROP TABLE kept")
    local file = models_file([==[
create_table("q", { { "id", "integer", primary_key = true }, { "n", "integer" }, { "s", "string", length = 10 } },
  { checks = { { "n_pos", '"n" > 0' }, { "s_ok", [["s" <> 'say "hi"' AND "s" <> '`']] } } })
]==])
    local out, err, code = h.tide_at(url, { "models", "create", "--models", file })
    assert.equal(0, code, out .. err)
    out, err, code = h.tide_at(url, { "check", "--models", file })
    assert.equal(0, code, out .. err)
    local db <close> = core.open(url)
    db:exec("INSERT INTO q (id, n, s) VALUES (1, 1, 'ok')")
    assert.is_not_nil(h.catch(db.exec, db, "INSERT INTO q (id, n, s) VALUES (2, -1, 'ok')"))
    assert.is_not_nil(h.catch(db.exec, db, "INSERT INTO q (id, n, s) VALUES (3, 1, '`')"))
    assert.equal(1, #db:query("SELECT id FROM q"))
  end)

  it("a NOT NULL default with a 4-byte character on an empty table is in sync, here and against SQLite", function()
    local file = models_file('create_table("e", { { "id", "integer", primary_key = true },\n' ..
                             '  { "c", "string", length = 5, null = false, default = "😀" } })\n')
    local out, err, code = h.tide_at(url, { "models", "create", "--models", file })
    assert.equal(0, code, out .. err)
    out, err, code = h.tide_at(url, { "check", "--models", file })
    assert.equal(4, code, out .. err)            -- kept: in the database only
    assert.equal("kept: table only in database\n", out)
    local lite = "sqlite:" .. h.tmpname(".db")
    local _
    _, err, code = h.tide_at(lite, { "models", "create", "--models", file })
    assert.equal(0, code, err)
    h.query_at(lite, "CREATE TABLE kept (id INTEGER PRIMARY KEY)")
    out, err, code = h.run_tide({ "diff", url, lite })
    assert.equal(0, code, out .. err)
  end)

  it("changes the type of columns a foreign key uses, and back, keeping the rows (MariaDB refuses it under the key)",
     function()
    local function pc(n)
      return models_file(([[
create_table("p", { { "id", "integer", primary_key = true }, { "code", "string", length = %d, null = false } },
  { uniques = { { "code" } } })
create_table("c", { { "id", "integer", primary_key = true }, { "pcode", "string", length = %d } },
  { foreign_keys = { { { "pcode" }, "p", { "code" }, on_delete = "cascade" } } })
]]):format(n, n))
    end
    local narrow, wide = pc(10), pc(20)
    local dir, text, _, err, code = auto_from(narrow, wide, "widen")
    assert.equal(0, code, err)
    h.query_at(url, "INSERT INTO p (id, code) VALUES (1, 'x')")
    h.query_at(url, "INSERT INTO c (id, pcode) VALUES (1, 'x')")
    for _, step in ipairs({ { "up", wide }, { "down", narrow } }) do
      _, err, code = h.tide_at(url, { "--dir", dir, step[1], "-q" })
      assert.equal(0, code, step[1] .. ": " .. err .. "\n" .. text)
      local out
      out, err, code = h.tide_at(url, { "check", "--models", step[2] })
      assert.equal(0, code, out .. err)
      assert.same({ { id = 1, pcode = "x" } }, h.query_at(url, "SELECT id, pcode FROM c"))
    end
  end)

  it("notes a NOT NULL column without a default it would add (the DSL refuses it), up or down", function()
    local with = models_file('create_table("t", { { "id", "integer", primary_key = true },\n' ..
                             '  { "x", "integer", null = false } })\n')
    local without = models_file('create_table("t", { { "id", "integer", primary_key = true } })\n')
    -- dropping x: its down would add it back
    local _, text, out, err, code = auto_from(with, without, "drop_x")
    assert.equal(4, code, out .. err)
    assert.matches("by hand: t.x: NOT NULL without a default: add it nullable, fill it", err, 1, true)
    local down = text:match("down = function%(m%)(.*)$")
    assert.matches("-- tide: by hand: t.x: NOT NULL without a default", down, 1, true)
  end)

  it("does not call a database in sync when its only difference is one the DSL cannot write", function()
    local function pk(cols)
      return models_file('create_table("t", { { "a", "integer", null = false }, { "b", "integer", null = false } },' ..
                         ' { primary_key = ' .. cols .. ' })\n' ..
                         'create_table("kept", { { "id", "integer", primary_key = true } })\n')
    end
    local db <close> = core.open(url)
    db:exec("CREATE TABLE t (a INTEGER NOT NULL, b INTEGER NOT NULL, PRIMARY KEY (a))")
    local dir = empty_plan()
    local out, err, code = h.tide_at(url, { "--dir", dir, "new", "pk", "--auto", "--models", pk('{ "a", "b" }') })
    assert.equal(4, code, out .. err)
    assert.matches("created [^\n]*pk.lua %(0 operations", out)
    assert.matches("by hand: t: primary key (a) -> (a, b)", err, 1, true)
    assert.matches("-- tide: by hand: t: primary key (a) -> (a, b)", h.read_file(dir .. "/pk.lua"), 1, true)
    -- and in sync is in sync
    out, err, code = h.tide_at(url, { "--dir", dir, "new", "same", "--auto", "--models", pk('{ "a" }') })
    assert.equal(0, code, out .. err)
    assert.matches("in sync", out)
  end)

  it("flags a change some rows may not fit, and not one every row fits", function()
    local dir = empty_plan()
    local from = models_file([[
create_table("item", {
  { "id", "integer", primary_key = true },
  { "qty", "bigint" }, { "small", "smallint" }, { "note", "string", length = 100 },
  { "price", "decimal", precision = 10, scale = 2 }, { "kind", "enum", values = { "a", "b" } },
  { "label", "string", length = 10 },
})
]])
    local to = models_file([[
create_table("item", {
  { "id", "integer", primary_key = true },
  { "qty", "integer" }, { "small", "integer" }, { "note", "string", length = 10, null = false },
  { "price", "decimal", precision = 10, scale = 1 }, { "kind", "enum", values = { "a" } },
  { "label", "string", length = 20 },
})
]])
    local _, err, code = h.tide_at(url, { "models", "create", "--models", from })
    -- kept exists: models create refuses nothing else; the models lack it
    assert.equal(0, code, err)
    local out
    out, err, code = h.tide_at(url, { "--dir", dir, "new", "narrow", "--auto", "--models", to })
    assert.equal(0, code, out .. err)
    local text = h.read_file(dir .. "/narrow.lua")
    local up = text:match("up = function%(m%)(.-)down = function")
    for _, line in ipairs({ "item.qty: bigint -> integer", "item.note: string(100) -> string(10), NOT NULL",
                            "item.price: decimal(10,2) -> decimal(10,1)", "item.kind: value \"b\" dropped" }) do
      assert.matches("-- tide: narrows, data may not fit: " .. line, up, 1, true)
    end
    -- widening: smallint -> integer, string(10) -> string(20)
    assert.not_matches("item.small:", up, 1, true)
    assert.not_matches("item.label:", up, 1, true)
    -- and the way back narrows what up widened
    local down = text:match("down = function%(m%)(.*)$")
    assert.matches("-- tide: narrows, data may not fit: item.small: integer -> smallint", down, 1, true)
    assert.matches("-- tide: narrows, data may not fit: item.label: string(20) -> string(10)", down, 1, true)
  end)
end)
