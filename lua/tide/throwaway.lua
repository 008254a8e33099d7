--- tide.throwaway: throwaway databases, one per backend, for tide test and
-- for specs of your own: SQLite a temporary file; PostgreSQL and MariaDB a
-- fresh database on a server given, else on the server of $TIDE_TEST_PG_URL
-- / $TIDE_TEST_MYSQL_URL, else on throwaway servers started with `make
-- test`'s scripts/servers.sh (and stopped with them). What is backend
-- specific (the statements, the environment variable, that SQLite needs no
-- server) is the dialect's.
local core = require "tide.core"
local plan = require "tide.plan"
local dialect = require "tide.dialect"

local throwaway = {}

local function err(class, fmt, ...)
  error(core.error { class = class, message = fmt:format(...) }, 0)
end

local read = plan.read

local function shell_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local function dirname(path) return path:match("^(.*)/[^/]*$") or "." end

-- ---- throwaway servers ---------------------------------------------------

-- Where a tide binary named `exe` (its argv[0]) is: as given, or on $PATH.
local function exe_dir(exe)
  if exe:find("/", 1, true) then return dirname(exe) end
  for dir in (os.getenv("PATH") or ""):gmatch("[^:]+") do
    if read(dir .. "/" .. exe) then return dir end
  end
end

--- The script `make test` starts its servers with: $TIDE_SERVERS_SCRIPT,
-- else scripts/servers.sh of the source tree the modules or the binary come
-- from, else share/tide/servers.sh beside an installed binary; or nil.
function throwaway.servers_script()
  local env = os.getenv("TIDE_SERVERS_SCRIPT")
  if env and env ~= "" then return env end
  local candidates = {}
  local mod = package.searchpath("tide.throwaway", package.path)  -- ROOT/lua/tide/throwaway.lua
  if mod then candidates[1] = dirname(mod) .. "/../../scripts/servers.sh" end
  local bin = arg and arg[0] and exe_dir(arg[0])
  if bin then
    candidates[#candidates + 1] = bin .. "/../scripts/servers.sh"        -- ROOT/build/tide
    candidates[#candidates + 1] = bin .. "/../share/tide/servers.sh"     -- PREFIX/bin/tide
  end
  for _, c in ipairs(candidates) do
    if read(c) then return c end
  end
end

-- The longest wait for throwaway servers to start (initdb, InnoDB's files).
local SERVERS_TIMEOUT_MS = 300000

-- Starts the servers of `make test` in a child shell that stops them when
-- its standard input closes: when stop() closes it, or when this process
-- ends in any way (even killed), or on Ctrl-C (the script's own trap).
-- Returns {env = {NAME = URL}, ms, stop}.
local function start_servers(log)
  local script = throwaway.servers_script()
  if not script then
    err("misuse", "no servers script to start throwaway servers with (set TIDE_SERVERS_SCRIPT to " ..
        "tide's scripts/servers.sh, or give the server URLs)")
  end
  local envfile = os.tmpname()
  os.remove(envfile)
  -- the file of the URLs (with the servers' password) is removed by the
  -- child too, once tide is done, whenever that was: interrupted before it
  -- read the file, even killed, tide would leave it behind
  local f = shell_quote(envfile)
  local body = ([[exec 1>&2
. %s && servers_start
env | grep '^TIDE_TEST_' > %s.part; mv %s.part %s
read -r _ || true
rm -f %s]]):format(shell_quote(script), f, f, f, f)
  local t0 = core.now_ms()
  if log then log(("starting throwaway servers (%s)"):format(script)) end
  local child = assert(io.popen("bash -c " .. shell_quote(body), "w"))
  local servers = { env = {}, stop = function() child:close() end }
  local text
  local ok, e = pcall(function()
    while core.now_ms() - t0 < SERVERS_TIMEOUT_MS do
      text = read(envfile)
      if text then break end
      core.sleep(50)
    end
  end)
  if not ok then
    core.interrupts("hold")
    servers.stop()
    error(e, 0)
  end
  os.remove(envfile)
  for k, v in (text or ""):gmatch("([%w_]+)=([^\n]*)") do servers.env[k] = v end
  servers.ms = core.now_ms() - t0
  return servers
end

-- ---- throwaway databases -------------------------------------------------

--- A name no other run picks: tide_test_ and 12 hex digits (a field, so
-- that a spec can make two runs collide).
function throwaway.unique_name()
  local seed = ("%d %s %s %.9f"):format(core.now_ms(), tostring({}), math.random(), os.clock())
  return "tide_test_" .. core.sha256(seed):sub(1, 12)
end

-- url with its database part replaced by `name`.
local function with_database(url, name)
  local head, tail = url:match("^(%a[%w+.-]*://[^/?]*)/?[^?]*(.*)$")
  if not head then err("misuse", "not a server URL: %s", core.redact_url(url)) end
  return head .. "/" .. name .. tail
end

local DATABASES = {}
DATABASES.__index = DATABASES

--- Drops every database of the set, once, newest first, then stops the
-- servers it started (their databases go with them). Returns the problems,
-- one line each (an empty list when all went).
function DATABASES:drop()
  local problems = {}
  for i = #self, 1, -1 do
    local t = self[i]
    if t.url and not t.dropped then
      t.dropped = true
      local t0 = core.now_ms()
      local ok, e = pcall(function()
        if t.file then
          for _, suffix in ipairs({ "", "-wal", "-shm", "-journal" }) do os.remove(t.file .. suffix) end
        elseif not t.on_own_server then
          local admin <close> = core.open(t.admin)
          admin:exec(dialect.named(t.backend):drop_database_sql(t.name))
        end
      end)
      t.drop_ms = core.now_ms() - t0
      if not ok then
        problems[#problems + 1] = ("%s: could not drop the throwaway database %s: %s"):format(t.backend,
          t.name, tostring(e))
      end
    end
  end
  if self.servers then
    self.servers.stop()
    self.servers = nil
  end
  return problems
end
DATABASES.__close = DATABASES.drop

-- Adds to `set` one throwaway database of `name` (a backend): {backend,
-- url, shown, name, create_ms}, with `error` when it cannot be made.
local function provision(set, name, opts)
  local d = dialect.named(name)
  local t = { backend = name }
  set[#set + 1] = t                  -- in the set before it exists: an interrupt still drops it
  local t0 = core.now_ms()
  local ok, e = pcall(function()
    if d.embedded then
      t.file = os.tmpname()                    -- an empty file is an empty database
      t.name, t.url = t.file, name .. ":" .. t.file
      t.shown = t.url
      return
    end
    local admin_url = opts.urls and opts.urls[name]
    local env = os.getenv(d.test_url_env or "")
    if not admin_url and env and env ~= "" then admin_url = env end
    if not admin_url then
      if not set.servers then
        set.servers = start_servers(opts.log)
        t0 = core.now_ms()                     -- the servers' start is reported apart
      end
      admin_url = set.servers.env[d.test_url_env]
      if not admin_url or admin_url == "" then
        err("connection", "the throwaway %s server did not start (see the servers' messages above)", name)
      end
      t.on_own_server = true
    end
    -- refused before it is opened: opening a sqlite: URL would make its file
    local scheme = core.parse_url(admin_url).scheme
    if scheme ~= name then
      err("misuse", "the %s URL %s is a %s database", name, core.redact_url(admin_url), scheme)
    end
    local admin <close> = core.open(admin_url)
    t.name, t.admin = throwaway.unique_name(), admin_url
    t.url = with_database(admin_url, t.name)
    t.shown = core.redact_url(t.url)
    -- a CREATE refused (the name taken, no right to create) made nothing to
    -- drop: never drop a database of another's; interrupted, it may have
    local made, e = pcall(admin.exec, admin, d:create_database_sql(t.name))
    if not made and not core.interrupts("state") then t.url = nil end
    if not made then error(e, 0) end
  end)
  t.create_ms = core.now_ms() - t0
  if not ok then
    t.error, t.error_class = ("%s: %s"):format(name, tostring(e)), core.is_error(e) and e.class or "other"
    if core.interrupts("state") then error(e, 0) end
  end
end

--- A throwaway database per backend, for specs of your own on every backend:
-- SQLite a temporary file; PostgreSQL and MariaDB a fresh database
-- (tide_test_ + 12 hex digits) on the server at opts.urls[backend], else at
-- $TIDE_TEST_PG_URL / $TIDE_TEST_MYSQL_URL, else on throwaway servers
-- started with `make test`'s scripts/servers.sh. opts.backends: the list
-- (default every backend compiled in). Returns an array of {backend, url,
-- shown (the URL without its password), name, create_ms}, with `error`
-- (one line) for one that could not be made; `:drop()` (also its __close)
-- drops them all. A database that cannot be made does not stop the others.
function throwaway.databases(opts)
  opts = opts or {}
  if opts.backends ~= nil and type(opts.backends) ~= "table" then
    err("misuse", "databases: backends must be a list of backend names, not a %s", type(opts.backends))
  end
  local set = setmetatable({}, DATABASES)
  local ok, e = pcall(function()
    for _, name in ipairs(opts.backends or core.backends) do provision(set, name, opts) end
  end)
  if not ok then
    core.interrupts("hold")
    set:drop()
    error(e, 0)
  end
  if set.servers then set.servers_ms = set.servers.ms end
  return set
end

return throwaway
