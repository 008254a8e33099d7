-- Hostile command lines: every case asserts the exact exit code, a message
-- fragment, and that the database did not change (on every backend).
local core = require "tide.core"
local h = require "helpers"

local write = h.write_file

-- A migrations folder: {name = source} plus the plan's text.
local function folder(files, plan_text)
  local dir = h.tmpname(".mig")
  os.execute("mkdir -p " .. dir)
  for name, src in pairs(files) do write(dir .. "/" .. name .. ".lua", src) end
  if plan_text then write(dir .. "/tide.plan", plan_text) end
  return dir
end

local A = 'return { up = function(m) m:create_table("ta", {{"id", "integer", primary_key = true}}) end,\n' ..
          '  down = function(m) m:drop_table("ta") end }\n'

-- Migration b's source, running `body` in up.
local function b_with(body)
  return "return { up = function(m)\n" .. body .. "\nend, down = function(m) end }\n"
end

-- Everything a failed command might have changed: the schema and the history.
local function snapshot(url)
  local path = url:match("^sqlite:(.*)$")
  if path then
    local f = io.open(path, "rb")
    if not f then return "no file" end
    f:close()
  end
  local db = core.open(url)
  local s = { schema = db:schema(), history = {} }
  if s.schema.tide_history then
    s.history = db:query("SELECT id, name, direction, status, step, checksum FROM tide_history ORDER BY id")
  end
  db:close()
  return s
end

-- What a migration that failed at run time may change: its own "failed"
-- event. The user's tables and the applied migrations stay as they were.
local function applied_state(url)
  local s = snapshot(url)
  local latest = {}
  for _, e in ipairs(s.history) do latest[e.name] = e.direction .. " " .. e.status end
  for name, state in pairs(latest) do if state == "up failed" then latest[name] = nil end end
  s.schema.tide_history = nil
  return { schema = s.schema, applied = latest }
end

-- One line of error, after the runner's progress lines.
local function one_line(err)
  err = err:gsub("^applying [^\n]*\n", "")
  assert.matches("^tide: [^\n]+\n$", err)
  assert.not_matches("table: 0x", err)
  assert.not_matches("tide: nil", err)
end

describe("hostile command lines without a database", function()
  local cases = {
    { {}, 2, "no command given" },
    { { "frobnicate" }, 2, 'unknown command "frobnicate"' },
    { { "--bogus", "status" }, 2, "unknown option --bogus" },
    { { "--url" }, 2, "--url needs a value" },
    { { "help", "nosuch" }, 2, 'help: unknown command "nosuch"' },
    { { "help", "up", "down" }, 2, "help: takes at most one COMMAND" },
    { { "-q", "-v", "status" }, 2, "-q and -v contradict" },
    { { "--json", "help" }, 2, "--json: help has no JSON output" },
    { { "--json", "run", "x.lua" }, 2, "--json: run has no JSON output" },
    { { "--json", "repl" }, 2, "--json: repl has no JSON output" },
    { { "new" }, 2, "new: needs exactly one migration NAME" },
    { { "new", "bad name" }, 1, "bad migration name" },
  }
  for _, c in ipairs(cases) do
    it("tide " .. table.concat(c[1], " ") .. " exits " .. c[2], function()
      local dir = h.tmpname(".none")
      local out, err, code = h.run_tide({ "--dir", dir, table.unpack(c[1]) })
      assert.equal(c[2], code, err)
      assert.equal("", out)
      one_line(err)
      assert.truthy(err:find(c[3], 1, true), err)
      assert.is_nil(io.open(dir .. "/tide.plan"))
    end)
  end
end)

describe("read-only commands on a missing SQLite file", function()
  -- (up --sql previews such a file as empty: spec/read_only_spec.lua)
  for _, args in ipairs({ { "status" }, { "history" }, { "inspect" },
                          { "down", "--sql" }, { "--json", "status" } }) do
    it("tide " .. table.concat(args, " ") .. " says so and creates nothing", function()
      local dir = folder({ a = A }, "a\n")
      local path = h.tmpname(".db")
      local out, err, code = h.run_tide({ "--url", "sqlite:" .. path, "--dir", dir, table.unpack(args) })
      assert.equal(1, code, err)
      assert.equal("", out)
      one_line(err)
      assert.truthy(err:find("no database at " .. path, 1, true), err)
      assert.is_nil(io.open(path))
    end)
  end
end)

h.each_backend(describe, it, function(b)
  local url, dir
  local function tide(args)
    return h.run_tide({ "--url", url, "--dir", dir, table.unpack(args) })
  end
  -- a database with migration a applied, and a fresh folder holding a
  before_each(function()
    url = b.fresh_url()
    dir = folder({ a = A }, "a\n")
    local _, err, code = tide({ "up" })
    assert.equal(0, code, err)
  end)

  -- Runs args against a folder made by setup(), expecting exit code and message.
  local function refused(args, code_want, fragment, setup, loose)
    if setup then dir = setup() end
    local before = loose and applied_state(url) or snapshot(url)
    local out, err, code = tide(args)
    assert.equal(code_want, code, err)
    assert.equal("", out)
    one_line(err)
    assert.truthy(err:find(fragment, 1, true), err)
    assert.same(before, loose and applied_state(url) or snapshot(url))
  end

  local function with_b(src, plan_text)
    return function() return folder({ a = A, b = src }, plan_text or "a\nb\n") end
  end

  it("--lock-timeout out of range is a usage error in seconds", function()
    refused({ "--lock-timeout", "100000", "up" }, 2, "--lock-timeout must be seconds from 0 to 86400")
    refused({ "--lock-timeout", "-1", "down" }, 2, 'got "-1"')
    refused({ "--lock-timeout", "abc", "stamp", "a" }, 2, 'got "abc"')
  end)

  it("--steps must be a whole number of at least 1", function()
    for _, v in ipairs({ "0", "-1", "abc", "1.5" }) do
      refused({ "down", "--steps", v }, 2, ("down: --steps must be a whole number of at least 1, got %q"):format(v))
    end
    refused({ "down", "--steps", "1", "--to", "a" }, 2, "give --to or --steps, not both")
  end)

  it("unknown options and stray arguments are usage errors", function()
    refused({ "up", "--frobnicate" }, 2, "up: unknown option --frobnicate")
    refused({ "up", "extra" }, 2, "up: unexpected extra")
    refused({ "status", "extra" }, 2, "status: takes no arguments")
    refused({ "resolve", "a" }, 2, "resolve: give --applied or --rolled-back")
    refused({ "resolve", "a", "--applied", "--rolled-back" }, 2, "resolve: give --applied or --rolled-back")
    refused({ "--json", "up", "--sql" }, 2, "up: --sql prints SQL; it does not go with --json")
  end)

  it("a missing plan", function()
    refused({ "up" }, 1, "no plan file", function() return folder({}, nil) end)
  end)

  it("a malformed plan line", function()
    refused({ "up" }, 1, 'tide.plan:2: bad migration name "b c"', with_b(b_with(""), "a\nb c\n"))
  end)

  it("a name listed twice", function()
    refused({ "up" }, 1, 'tide.plan:3: migration "a" is listed twice (first on line 1)',
            with_b(b_with(""), "a\nb\na\n"))
  end)

  it("an unresolved merge conflict in the plan", function()
    refused({ "status" }, 1, "unresolved merge conflict", with_b(b_with(""), "a\n<<<<<<< HEAD\nb\n"))
  end)

  it("a migration file with a syntax error", function()
    refused({ "up" }, 1, "b.lua:3:", with_b("return { up = function(m)\n  m:create_table(\nend }\n"))
  end)

  it("a migration returning a non-table", function()
    refused({ "up" }, 1, "b.lua: must return a table", with_b("return 42\n"))
  end)

  it("a migration raising nil", function()
    refused({ "up" }, 1, "migration b raised a non-string error (nil)", with_b(b_with("error(nil)")), true)
  end)

  it("a migration raising a table", function()
    refused({ "up" }, 1, "migration b raised a non-string error (table)", with_b(b_with("error({})")), true)
  end)

  it("a migration raising a table whose __tostring fails", function()
    refused({ "up" }, 1, "migration b raised a non-string error (table)", with_b(b_with(
      'error(setmetatable({}, {__tostring = function() error("x") end}))')), true)
    -- the history records the failure too, not a migration left running
    local db = core.open(url)
    local last = db:query("SELECT name, status, message FROM tide_history ORDER BY id DESC")[1]
    db:close()
    assert.same({ name = "b", status = "failed", message = "raised a non-string error (table)" }, last)
  end)

  it("a migration raising after DDL: rolled back, or (MariaDB) interrupted at its step", function()
    local setup = with_b(b_with('m:create_table("tb", {{"id", "integer"}})\nm.db:exec("SELECT 1")\nerror({})'))
    if b.name ~= "mysql" then
      refused({ "up" }, 1, "migration b raised a non-string error (table)", setup, true)
      return
    end
    dir = setup()
    local _, err, code = tide({ "up" })
    assert.equal(1, code, err)
    one_line(err)
    assert.truthy(err:find("migration b raised a non-string error (table)", 1, true), err)
    local out
    out, err, code = tide({ "status" })
    assert.equal(4, code, err)
    assert.matches("b interrupted at step %d", out)
  end)

  it("stamp, resolve and accept of a migration not in the plan", function()
    refused({ "stamp", "nosuch" }, 1, 'no migration "nosuch" in the plan')
    refused({ "resolve", "nosuch", "--applied" }, 1, 'no migration "nosuch" in the plan')
    refused({ "accept", "a" }, 1, "a is unchanged")
  end)

  it("down --to a migration that is not applied", function()
    refused({ "down", "--to", "b" }, 1, "b is not applied", with_b(b_with("")))
  end)

  it("--json on every command that has it prints one JSON document", function()
    local read_only = { { "status" }, { "history" }, { "inspect" }, { "validate" } }
    for _, args in ipairs(read_only) do
      local before = snapshot(url)
      local out, err, code = tide({ "--json", table.unpack(args) })
      assert.equal(0, code, err)
      assert.matches("^{.*}\n$", out)
      assert.same(before, snapshot(url))
    end
    local out, err, code = tide({ "--json", "down" })
    assert.equal(0, code, err)
    assert.matches('^{.*"rolled_back":%[{.*"name":"a".*}%].*}\n$', out)
    out, err, code = tide({ "--json", "up" })
    assert.equal(0, code, err)
    assert.matches('^{.*"applied":%[{.*"name":"a".*"status":"applied".*}%].*}\n$', out)
    out, err, code = tide({ "--json", "stamp", "a" })
    assert.equal(0, code, err)
    assert.equal(('{"backend":"%s","stamped":[],"url":"%s"}\n'):format(b.name, out:match('"url":"([^"]*)"')), out)
    out, err, code = tide({ "--json", "new", "c" })
    assert.equal(0, code, err)
    assert.matches('^{"created":".*c%.lua"}\n$', out)
  end)

  it("a failing up with --json still reports what ran, as JSON", function()
    dir = with_b(b_with("error({})"))()
    local out, err, code = tide({ "--json", "up" })
    assert.equal(1, code)
    one_line(err)
    assert.matches('"error":"migration b raised a non%-string error %(table%)"', out)
    assert.matches('"name":"b"', out)
  end)
end)
