-- The built `tide` binary: exit codes, usage, inspect.
local core = require "tide.core"
local h = require "helpers"

describe("tide binary", function()
  it("prints its version and help", function()
    local out, _, code = h.run_tide({ "--version" })
    assert.equal(0, code)
    assert.equal("tide " .. core.version .. "\n", out)
    out, _, code = h.run_tide({ "--help" })
    assert.equal(0, code)
    assert.matches("usage: tide", out)
  end)

  it("exits 2 on usage errors with one line", function()
    for _, args in ipairs({ {}, { "frobnicate" }, { "--bogus", "inspect" }, { "--url" },
                            { "inspect", "--nope" } }) do
      local out, err, code = h.run_tide(args)
      assert.equal(2, code)
      assert.equal("", out)
      assert.matches("^tide: [^\n]+\n$", err)
    end
  end)

  it("help COMMAND prints that command's help, the same as COMMAND --help", function()
    local help = require "tide.cli_help"
    for _, name in ipairs(help.ORDER) do
      local out, err, code = h.run_tide({ "help", name })
      assert.equal(0, code, err)
      assert.equal(help.command(name) .. "\n", out)
      assert.matches("^usage: tide " .. name, out)
    end
    assert.equal(h.run_tide({ "help", "down" }), (h.run_tide({ "down", "--help" })))
    local out, _, code = h.run_tide({ "help" })
    assert.equal(0, code)
    assert.equal(help.usage() .. "\n", out)
    local err
    out, err, code = h.run_tide({ "help", "nosuch" })
    assert.equal(2, code)
    assert.equal("", out)
    assert.equal('tide: help: unknown command "nosuch" (see tide --help)\n', err)
  end)

  it("-v reports each migration run on stderr; -q prints nothing", function()
    local dir = h.tmpname(".mig")
    local url = "sqlite:" .. h.tmpname(".db")
    assert.equal(0, select(3, h.run_tide({ "--dir", dir, "new", "first" })))
    local out, err, code = h.run_tide({ "--url", url, "--dir", dir, "-v", "up" })
    assert.equal(0, code, err)
    assert.equal("applied 1 migration\n", out)
    assert.matches("\nfirst: up applied in %d+ ms\n$", err)
    out, err, code = h.run_tide({ "--url", url, "--dir", dir, "-v", "down" })
    assert.equal(0, code, err)
    assert.equal("rolled back 1 migration\n", out)
    assert.matches("\nfirst: down applied in %d+ ms\n$", err)
    out, err, code = h.run_tide({ "--url", url, "--dir", dir, "-q", "up" })
    assert.equal(0, code, err)
    assert.equal("", out .. err)
  end)

  it("read-only commands work on a SQLite file a killed writer left with a hot journal", function()
    local path = h.tmpname(".db")
    local _, code = h.run_lua(([[
      local db = require("tide.core").open("sqlite:%s")
      db:exec("PRAGMA cache_size = 10")
      db:exec("CREATE TABLE t (x TEXT)")
      db:begin()
      for _ = 1, 20000 do db:exec("INSERT INTO t VALUES (?)", ("x"):rep(100)) end
      os.exit(0, false)          -- no rollback, no close: the journal stays
    ]]):format(path))
    assert.equal(0, code)
    assert.truthy(io.open(path .. "-journal"), "expected a hot journal")
    local out, err
    out, err, code = h.run_tide({ "inspect", "sqlite:" .. path })
    assert.equal(0, code, err)
    assert.matches(": 1 table\n", out)
  end)

  it("validate reports every broken file, and as JSON", function()
    local dir = h.tmpname(".mig")
    os.execute("mkdir -p " .. dir)
    for name, src in pairs({ a = "return 1\n", b = "return {\n", c = "return { up = function() end }\n" }) do
      local f = assert(io.open(dir .. "/" .. name .. ".lua", "w"))
      f:write(src)
      f:close()
    end
    local f = assert(io.open(dir .. "/tide.plan", "w"))
    f:write("a\nb\nc\n")
    f:close()
    local out, err, code = h.run_tide({ "--dir", dir, "validate" })
    assert.equal(1, code)
    assert.equal("", out)
    assert.matches("^tide: [^\n]*a%.lua: must return a table[^\n]*\ntide: [^\n]*b%.lua:2: [^\n]*\n$", err)
    out, err, code = h.run_tide({ "--dir", dir, "--json", "validate" })
    assert.equal(1, code, err)
    assert.matches('"problems":%[{"message":"[^"]*a%.lua: must return a table[^"]*","name":"a"},' ..
                   '{"message":"[^"]*b%.lua:2:[^"]*","name":"b"}%]', out)
    assert.matches('"valid":false', out)
    assert.matches('"name":"c"', out)
  end)

  it("runs from any directory without LUA_PATH", function()
    local out, _, code = h.run_tide({ "--version" },
                                    { cwd = "/", env = { LUA_PATH = ";;", LUA_CPATH = ";;" } })
    assert.equal(0, code)
    assert.matches("^tide ", out)
  end)

  describe("run", function()
    it("runs a script with tide, url and arg set, and its exit code", function()
      local script = h.tmpname(".lua")
      local f = io.open(script, "w")
      f:write([[
        local db <close> = tide.open(url)
        db:exec("CREATE TABLE x (v INTEGER)")
        print(url, arg[1], #db:tables())
        return tonumber(arg[2])
      ]])
      f:close()
      local url = "sqlite:" .. h.tmpname(".db")
      local out, _, code = h.run_tide({ "--url", url, "run", script, "hello", "5" })
      assert.equal(5, code)
      assert.equal(url .. "\thello\t1\n", out)
    end)
    -- the binary skips lua_close at exit only when no connection is open
    it("closes a connection the script left open at exit (its WAL is checkpointed away)", function()
      local script, db = h.tmpname(".lua"), h.tmpname(".db")
      local f = io.open(script, "w")
      f:write([[
        local db = tide.open(url)
        db:exec("PRAGMA journal_mode = WAL")
        db:exec("CREATE TABLE x (v INTEGER)")
        db:exec("INSERT INTO x VALUES (1)")
      ]])
      f:close()
      local _, err, code = h.run_tide({ "--url", "sqlite:" .. db, "run", script })
      assert.equal(0, code, err)
      assert.is_nil(io.open(db .. "-wal"))
      assert.equal(1, h.query_at("sqlite:" .. db, "SELECT count(*) AS n FROM x")[1].n)
    end)
    it("flushes a file the script left open, with no connection open at exit", function()
      local script, out = h.tmpname(".lua"), h.tmpname(".txt")
      local f = io.open(script, "w")
      f:write(("local o = io.open(%q, 'w') o:write(('x'):rep(100000), 'end')"):format(out))
      f:close()
      local _, err, code = h.run_tide({ "run", script })
      assert.equal(0, code, err)
      f = io.open(out)
      assert.equal(("x"):rep(100000) .. "end", f:read("a"))
      f:close()
    end)
    it("reports a script's syntax error with file and line", function()
      local script = h.tmpname(".lua")
      local f = io.open(script, "w")
      f:write("local x = \n  = 2\n")
      f:close()
      local _, err, code = h.run_tide({ "run", script })
      assert.equal(1, code)
      assert.matches("^tide: " .. script:gsub("%p", "%%%0") .. ":2: ", err)
    end)
  end)

  describe("inspect", function()
    local url
    before_each(function()
      url = "sqlite:" .. h.tmpname(".db")
      local db = core.open(url)
      db:exec("CREATE TABLE owner (id INTEGER PRIMARY KEY)")
      db:exec([[CREATE TABLE widget (id INTEGER PRIMARY KEY, name VARCHAR(30) NOT NULL,
        owner_id INTEGER, CONSTRAINT uq_widget_name UNIQUE (name),
        CONSTRAINT fk_widget_owner_id_owner FOREIGN KEY (owner_id) REFERENCES owner (id))]])
      db:exec("CREATE INDEX ix_widget_owner_id ON widget (owner_id)")
      db:close()
    end)

    it("lists the whole schema", function()
      local out, _, code = h.run_tide({ "inspect", url })
      assert.equal(0, code)
      assert.matches("2 tables", out)
      assert.matches("table owner", out)
      assert.matches("table widget", out)
    end)

    it("shows one table aligned", function()
      local out, _, code = h.run_tide({ "inspect", url, "widget" })
      assert.equal(0, code)
      local expected = table.concat({
        "table widget",
        "  column    type        raw type     nullable  default",
        "  id        integer     INTEGER      not null           primary key",
        "  name      string(30)  VARCHAR(30)  not null",
        "  owner_id  integer     INTEGER      null",
        "",
        "  constraint   name                      definition",
        "  primary key                            (id)",
        "  unique       uq_widget_name            (name)",
        "  index        ix_widget_owner_id        (owner_id)",
        "  foreign key  fk_widget_owner_id_owner  (owner_id) -> owner (id) on delete no action " ..
        "on update no action",
      }, "\n") .. "\n"
      assert.equal(expected, out)
    end)

    it("takes the URL from --url and TIDE_URL", function()
      local out, _, code = h.run_tide({ "--url", url, "inspect", "owner" })
      assert.equal(0, code)
      assert.matches("table owner", out)
      out, _, code = h.run_tide({ "inspect", "owner" }, { env = { TIDE_URL = url } })
      assert.equal(0, code)
      assert.matches("table owner", out)
    end)

    it("prints JSON with --json", function()
      local out, _, code = h.run_tide({ "inspect", url, "widget", "--json" })
      assert.equal(0, code)
      assert.matches('^{"backend":"sqlite","table":{', out)
      assert.matches('"name":"uq_widget_name"', out)
      assert.matches('"portable_type":"string%(30%)"', out)
    end)

    it("fails with one line for an unknown table or a bad URL", function()
      local out, err, code = h.run_tide({ "inspect", url, "nope" })
      assert.equal(1, code)
      assert.equal("", out)
      assert.equal("tide: undefined_object: no such table: nope\n", err)
      out, err, code = h.run_tide({ "inspect", "oracle://x" })
      assert.equal(1, code)
      assert.equal("", out)
      assert.matches('^tide: misuse: unknown URL scheme "oracle"', err)
      out, err, code = h.run_tide({ "inspect", "sqlite:/no/such/dir/x.db" })
      assert.equal("", out)
      assert.equal(1, code)
      assert.equal("tide: connection: no database at /no/such/dir/x.db (sqlite:/no/such/dir/x.db)\n", err)
    end)
  end)
end)

h.each_backend(describe, it, function(b)
  it("tide inspect shows a table the same way", function()
    local url = b.fresh_url()
    local db = core.open(url)
    db:exec("CREATE TABLE owner (id INTEGER NOT NULL, CONSTRAINT pk_owner PRIMARY KEY (id))")
    db:exec([[CREATE TABLE widget (id INTEGER NOT NULL, name VARCHAR(30) NOT NULL,
      owner_id INTEGER, CONSTRAINT pk_widget PRIMARY KEY (id),
      CONSTRAINT uq_widget_name UNIQUE (name),
      CONSTRAINT fk_widget_owner_id_owner FOREIGN KEY (owner_id) REFERENCES owner (id))]])
    db:close()
    local out, err, code = h.run_tide({ "inspect", url, "widget" })
    assert.equal(0, code, err)
    for _, col in ipairs({ { "id", "integer", "not null" }, { "name", "string%(30%)", "not null" },
                           { "owner_id", "integer", "null" } }) do
      local line = out:match("\n  " .. col[1] .. "%s+" .. col[2] .. " [^\n]*")
      assert.is_string(line, col[1])
      assert.matches("  " .. col[3] .. "  ", line .. "  ")
    end
    assert.matches("unique%s+uq_widget_name%s+%(name%)", out)
    assert.matches("foreign key%s+fk_widget_owner_id_owner%s+%(owner_id%) %-> owner %(id%)", out)
    assert.not_matches("tide%-secret%-pw", out)
    out, err, code = h.run_tide({ "inspect", url })
    assert.equal(0, code, err)
    assert.matches("%(" .. b.name .. "%): 2 tables", out)
  end)
end)
