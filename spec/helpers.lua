-- Shared spec helpers: the backends under test, fresh databases, running
-- the built binary, and asserting on tide error objects.
--
-- Server backends come from the environment that scripts/test.sh sets up:
-- TIDE_TEST_PG_URL / TIDE_TEST_MYSQL_URL point at an admin database on the
-- throwaway servers. TIDE_REQUIRE_BACKENDS=1 (CI) turns a missing backend
-- into a failure instead of a skip.
local core = require "tide.core"

local helpers = {}

helpers.root = os.getenv("TIDE_ROOT") or os.getenv("PWD") or "."
helpers.build = helpers.root .. "/" .. (os.getenv("TIDE_BUILD") or "build")
helpers.tide_bin = helpers.build .. "/tide"
-- under ASan freed memory sits in quarantine, so RSS says nothing there
helpers.sanitized = os.getenv("TIDE_BUILD") == "build/asan"

local tmp_count = 0
--- A fresh path under a per-run temporary directory.
function helpers.tmpname(suffix)
  if not helpers.tmpdir then
    local p = io.popen("mktemp -d")
    helpers.tmpdir = p:read("l")
    p:close()
  end
  tmp_count = tmp_count + 1
  return ("%s/%d%s"):format(helpers.tmpdir, tmp_count, suffix or "")
end

local SERVER_ENV = { postgres = "TIDE_TEST_PG_URL", mysql = "TIDE_TEST_MYSQL_URL" }

local function compiled(name)
  for _, b in ipairs(core.backends) do if b == name then return true end end
  return false
end

local db_count = 0
-- Creates a new empty database on a server backend; returns its URL.
local function fresh_server_db(admin_url)
  -- one database per spec: specs never see each other's tables
  db_count = db_count + 1
  -- the run's temporary directory makes the name unique across concurrent runs
  helpers.tmpname()
  local run = helpers.tmpdir:match("([%w]+)$"):lower()
  local dbname = ("tide_spec_%s_%d"):format(run, db_count)
  local admin = core.open(admin_url)
  admin:exec("DROP DATABASE IF EXISTS " .. admin:quote_ident(dbname))
  admin:exec("CREATE DATABASE " .. admin:quote_ident(dbname))
  admin:close()
  local url = admin_url:gsub("^(%a+://[^/]*/)[^?]*", "%1" .. dbname)
  return url
end

--- The backends to run database specs on: {name =, fresh_url = fn}.
function helpers.backends()
  local list = {
    { name = "sqlite", fresh_url = function() return "sqlite:" .. helpers.tmpname(".db") end },
  }
  local require_all = os.getenv("TIDE_REQUIRE_BACKENDS") == "1"
  for _, name in ipairs({ "postgres", "mysql" }) do
    local admin = os.getenv(SERVER_ENV[name])
    if admin and admin ~= "" and compiled(name) then
      list[#list + 1] = { name = name, admin = admin,
                          fresh_url = function() return fresh_server_db(admin) end }
    elseif require_all then
      list[#list + 1] = { name = name, missing = not compiled(name)
        and ("backend %s is not compiled in"):format(name)
        or ("%s is not set"):format(SERVER_ENV[name]) }
    end
  end
  return list
end

--- Runs `fn(backend)` inside a describe block per backend. A missing
-- required backend becomes a failing test. Busted's describe/it are passed
-- in: they are not globals outside spec files.
function helpers.each_backend(describe, it, fn)
  for _, b in ipairs(helpers.backends()) do
    describe("[" .. b.name .. "]", function()
      if b.missing then
        it("is available", function() error(b.missing) end)
      else
        fn(b)
      end
    end)
  end
end

--- Calls fn and returns the tide error it raised (fails if it did not).
function helpers.catch(fn, ...)
  local ok, err = pcall(fn, ...)
  assert(not ok, "expected an error, got success")
  assert(core.is_error(err), "expected a tide error object, got: " .. tostring(err))
  return err
end

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
helpers.shell_quote = shell_quote

--- Runs the built binary with args (and optional env table, cwd);
-- returns stdout, stderr, exit code.
function helpers.run_tide(args, opts)
  opts = opts or {}
  local parts = {}
  for k, v in pairs(opts.env or {}) do parts[#parts + 1] = k .. "=" .. shell_quote(v) end
  parts[#parts + 1] = shell_quote(helpers.tide_bin)
  for _, a in ipairs(args) do parts[#parts + 1] = shell_quote(a) end
  local errfile = helpers.tmpname(".err")
  local cmd = table.concat(parts, " ") .. " 2>" .. errfile
  if opts.cwd then cmd = "cd " .. shell_quote(opts.cwd) .. " && " .. cmd end
  if opts.stdin then cmd = "printf '%s' " .. shell_quote(opts.stdin) .. " | (" .. cmd .. ")" end
  local p = io.popen(cmd, "r")
  local out = p:read("a")
  local _, _, code = p:close()
  local f = io.open(errfile)
  local err = f and f:read("a") or ""
  if f then f:close() end
  return out, err, code
end

local function lua_command(src, env)
  local file = helpers.tmpname(".lua")
  local f = assert(io.open(file, "w"))
  f:write(src)
  f:close()
  local root = helpers.root
  local parts = {}
  -- Under the sanitizer pass, LeakSanitizer's tracer crashes now and then
  -- at the exit of these worker processes on a loaded machine ("Tracer
  -- caught signal 11", an open upstream bug; no leak found). The same C
  -- code is leak-checked in the spec process itself, so workers skip it.
  local asan = os.getenv("ASAN_OPTIONS")
  if asan then parts[1] = "ASAN_OPTIONS=" .. shell_quote(asan .. ":detect_leaks=0") end
  for k, v in pairs(env or {}) do parts[#parts + 1] = k .. "=" .. shell_quote(v) end
  return ("%s LUA_PATH=%s LUA_CPATH=%s lua5.4 %s 2>&1"):format(table.concat(parts, " "),
    shell_quote(root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;;"),
    shell_quote(helpers.build .. "/lib/?.so;;"), shell_quote(file))
end

--- Starts a Lua snippet in another process; returns a handle whose
-- :line() reads one line of its output and :wait() the rest and its exit code.
function helpers.spawn_lua(src, env)
  local p = io.popen(lua_command(src, env), "r")
  return {
    line = function() return p:read("l") end,
    wait = function()
      local out = p:read("a")
      local _, _, code = p:close()
      return out, code
    end,
  }
end

--- A URL for another user or database on the same server as admin_url.
function helpers.server_url(admin_url, parts)
  local u = core.parse_url(admin_url)
  for k, v in pairs(parts) do u[k] = v or nil end
  local auth = u.user and (u.user .. (u.password and (":" .. u.password) or "") .. "@") or ""
  return ("%s://%s%s%s/%s"):format(u.scheme, auth, u.host or "", u.port and (":" .. u.port) or "",
                                    u.database or "")
end

--- Runs a Lua snippet in a separate lua5.4 process with tide on its paths;
-- returns stdout and exit code.
function helpers.run_lua(src, env)
  return helpers.spawn_lua(src, env).wait()
end

--- The bytes of file `path`, or nil if it does not exist.
function helpers.read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

--- Writes `text` to `path`.
function helpers.write_file(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

--- The arguments of `tide test` of folder dir on backend b only (its server
-- URL given), then args.
function helpers.test_args(b, dir, args)
  local full = { "--dir", dir, "test", "--backends", b.name }
  if b.admin then
    full[#full + 1] = "--url-" .. b.name
    full[#full + 1] = b.admin
  end
  for _, a in ipairs(args or {}) do full[#full + 1] = a end
  return full
end

--- Starts the built binary with args, its output (stderr too) on a pipe;
-- returns the pipe (read it, then close it for the exit code) and its pid.
function helpers.spawn_tide(args)
  local quoted = {}
  for _, a in ipairs(args) do quoted[#quoted + 1] = shell_quote(a) end
  local p = io.popen(("sh -c 'echo $$; exec \"$0\" \"$@\"' %s %s 2>&1"):format(shell_quote(helpers.tide_bin),
    table.concat(quoted, " ")), "r")
  return p, p:read("l")
end

--- Sends SIGINT to a spawn_tide process (pipe p, pid) and waits for it: what
-- it printed and its exit code. One that does not stop within 60 s is
-- killed (exit 137).
function helpers.interrupt_tide(p, pid)
  os.execute("kill -INT " .. pid)
  local w = io.popen(("(sleep 60; kill -9 %s) >/dev/null 2>&1 & echo $!"):format(pid))
  local watchdog = w:read("l")
  w:close()
  local out = p:read("a")
  local _, _, code = p:close()
  os.execute("kill " .. watchdog .. " 2>/dev/null")     -- before the pid can be another's
  return out, code
end

--- The bytes of file `path` once it exists (nil after 60 s without it).
function helpers.wait_file(path)
  local t0 = core.now_ms()
  while not helpers.read_file(path) and core.now_ms() - t0 < 60000 do core.sleep(5) end
  return helpers.read_file(path)
end

--- Whether database `name` on backend b's server (a file for SQLite) exists.
function helpers.database_exists(b, name)
  if not b.admin then return helpers.read_file(name) ~= nil end
  local sql = b.name == "postgres" and "SELECT 1 AS x FROM pg_database WHERE datname = ?"
    or "SELECT 1 AS x FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?"
  return #helpers.query_at(b.admin, sql, name) > 0
end

--- A migrations folder from a list of {name, up_body, down_body or false,
-- extra = more fields of the migration table (Lua source)};
-- returns its path.
function helpers.migrations(migs)
  local files = {}
  for i, mg in ipairs(migs) do
    files[i] = { mg[1], ("return {\n  up = function(m)\n%s\n  end,\n%s}\n"):format(
      mg[2], (mg[3] and ("  down = function(m)\n%s\n  end,\n"):format(mg[3]) or "") .. (mg.extra or "")) }
  end
  return helpers.migration_files(files)
end

--- A migrations folder from a list of {name, source} (whole files);
-- returns its path.
function helpers.migration_files(migs)
  local dir = helpers.tmpname(".mig")
  os.execute("mkdir -p " .. dir)
  local plan = {}
  for _, mg in ipairs(migs) do
    plan[#plan + 1] = mg[1]
    helpers.write_file(dir .. "/" .. mg[1] .. ".lua", mg[2])
  end
  helpers.write_file(dir .. "/tide.plan", table.concat(plan, "\n") .. "\n")
  return dir
end

--- The column names of table t at url, sorted.
function helpers.column_names(url, t)
  local db <close> = core.open(url)
  local out = {}
  for _, c in ipairs(db:describe(t).columns) do out[#out + 1] = c.name end
  table.sort(out)
  return out
end

--- Inserts rows with ids 1..n into table t at url, in one transaction.
function helpers.fill_ids(url, t, n)
  local db <close> = core.open(url)
  db:begin()
  for i = 1, n do db:exec(("INSERT INTO %s (id) VALUES (?)"):format(db:quote_ident(t)), i) end
  db:commit()
end

--- A migration {name, up, down} creating (and dropping) table t(id).
function helpers.table_migration(name, t)
  return { name, ('m:create_table(%q, {{"id", "integer", primary_key = true}})'):format(t),
           ("m:drop_table(%q)"):format(t) }
end

--- A TCP listener on 127.0.0.1 that accepts and never answers: returns its
-- port and a function that stops it.
function helpers.silent_server()
  local marker = helpers.tmpname(".stop")
  local p = helpers.spawn_lua(([[
    local socket = require "socket"
    local s = assert(socket.bind("127.0.0.1", 0))
    print((select(2, s:getsockname())))
    io.stdout:flush()
    s:settimeout(0.05)
    local conns = {}
    while not io.open(%q) do
      local c = s:accept()
      if c then conns[#conns + 1] = c end
    end
  ]]):format(marker))
  return tonumber(p.line()), function() io.open(marker, "w"):close() p.wait() end
end

--- Runs the tide binary on database `url` with args; see run_tide.
function helpers.tide_at(url, args, opts)
  local full = { "--url", url }
  for _, a in ipairs(args) do full[#full + 1] = a end
  return helpers.run_tide(full, opts)
end

--- The tables of `url`, tide's own left out, sorted.
function helpers.user_tables(url)
  local db <close> = core.open(url)
  local out = {}
  for _, n in ipairs(db:tables()) do if n ~= "tide_history" and n ~= "tide_lock" then out[#out + 1] = n end end
  table.sort(out)
  return out
end

--- The server session id of connection db (PostgreSQL's backend pid,
-- MariaDB's connection id): what a spec kills to cut its own session.
function helpers.session_id(db)
  if db.backend == "postgres" then return db:query("SELECT pg_backend_pid() AS id")[1].id end
  return math.tointeger(db:query("SELECT CONNECTION_ID() AS id")[1].id)
end

--- The rows `sql` returns on `url`, through a connection of its own.
function helpers.query_at(url, sql, ...)
  local db <close> = core.open(url)
  return db:query(sql, ...)
end

--- Asserts that the canonical schemas saved per backend ({backend =
-- schema}) are all the same as SQLite's (and, in CI, that all three ran).
function helpers.assert_same_schemas(saved)
  local diff = require("tide.schema").diff
  assert(type(saved) == "table" and type(saved.sqlite) == "table", "no schema saved on sqlite")
  local n = 0
  for name, c in pairs(saved) do
    if name ~= "sqlite" then
      n = n + 1
      local d = diff(saved.sqlite, c, { "sqlite", name })
      assert(next(d) == nil, table.concat(d, "\n"))
    end
  end
  if os.getenv("TIDE_REQUIRE_BACKENDS") == "1" then assert(n == 2, ("%d server backends ran"):format(n)) end
end

--- A fleet's targets file from a list of {name, url}; returns its path.
function helpers.targets_file(list)
  local parts = {}
  for _, t in ipairs(list) do parts[#parts + 1] = ("  { name = %q, url = %q },"):format(t[1], t[2]) end
  local path = helpers.tmpname(".lua")
  helpers.write_file(path, "return {\n" .. table.concat(parts, "\n") .. "\n}\n")
  return path
end

--- The line of a table printed by tide whose first column is `name`.
function helpers.row_of(out, name)
  for line in out:gmatch("[^\n]+") do
    if line:match("^" .. name .. "%s") then return line end
  end
end

return helpers
