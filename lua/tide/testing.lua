--- tide.testing: every migration tested on every backend, its test beside
-- it in the migration file. A migration may have test hooks (tide.plan.HOOKS):
-- `seed(db)` writes rows just before its up, `check(db)` asserts on them just
-- after, `check_down(db)` after each of its downs. `walk` applies the plan
-- one migration at a time on a throwaway database per backend
-- (`databases`), with `snake` a down and an up again after each, then rolls
-- everything back and requires that no table but tide's is left. The
-- databases are dropped however the walk ends: failed, or interrupted by
-- Ctrl-C (core.interrupts turns the signal into an error, and holds further
-- ones while the cleanup runs).
local core = require "tide.core"
local plan = require "tide.plan"
local runner = require "tide.runner"
local history = require "tide.history"
local dialect = require "tide.dialect"
local throwaway = require "tide.throwaway"

local testing = {}

local function err(class, fmt, ...)
  error(core.error { class = class, message = fmt:format(...) }, 0)
end

local read = plan.read

--- A throwaway database per backend: see tide.throwaway.databases.
testing.databases = throwaway.databases

-- ---- the walk --------------------------------------------------------------

-- The opening "$$" or "$tag$" of a dollar-quoted string at i, or nil (a "$"
-- inside a name, as in a$b$, or a placeholder $1 opens none).
local function dollar_tag(text, i)
  if text:sub(i - 1, i - 1):match("[%w_$]") then return nil end
  return text:match("^%$%$", i) or text:match("^%$[%a_][%w_]*%$", i)
end

-- The statements of SQL text: split at each ";" outside a quoted string or
-- name ('...', "...", `...`, a quote doubled inside; PostgreSQL's
-- $tag$...$tag$) and outside a comment (-- to the end of the line,
-- /* ... */); comments and empty statements left out.
local function sql_statements(text)
  local stmts, cur, i, n = {}, {}, 1, #text
  local function flush()
    local stmt = table.concat(cur):match("^%s*(.-)%s*$")
    if stmt ~= "" then stmts[#stmts + 1] = stmt end
    cur = {}
  end
  while i <= n do
    local c = text:sub(i, i)
    local j
    if c == "'" or c == '"' or c == "`" then
      j = i
      repeat j = (text:find(c, j + 1, true) or n) + 1 until text:sub(j, j) ~= c or j > n
      cur[#cur + 1] = text:sub(i, j - 1)
    elseif c == "$" and dollar_tag(text, i) then
      local tag = dollar_tag(text, i)
      j = (select(2, text:find(tag, i + #tag, true)) or n) + 1
      cur[#cur + 1] = text:sub(i, j - 1)
    elseif text:sub(i, i + 1) == "--" then
      j = (text:find("\n", i, true) or n) + 1
    elseif text:sub(i, i + 1) == "/*" then
      j = (select(2, text:find("*/", i + 2, true)) or n) + 1
    elseif c == ";" then
      flush()
      j = i + 1
    else
      j = text:find("[;'\"`%-/$]", i + 1) or n + 1
      cur[#cur + 1] = text:sub(i, j - 1)
    end
    i = j
  end
  flush()
  return stmts
end

-- A dataset for `data`: a Lua file returning {after = MIGRATION, load =
-- function(db)}, or an SQL file whose first line is "-- after: MIGRATION"
-- (its statements split by sql_statements). Returns
-- {file, after, load}.
local function load_data(path, p)
  local text = read(path)
  if not text then err("misuse", "--data %s: no such file", path) end
  local data = { file = path, source = text }
  if path:match("%.lua$") then
    local chunk, msg = load(text, "@" .. path, "t", setmetatable({}, { __index = _G }))
    if not chunk then err("syntax", "%s", msg) end
    local ok, v = pcall(chunk)
    if not ok then err("misuse", "%s: %s", path, tostring(v)) end
    if type(v) ~= "table" or type(v.after) ~= "string" or type(v.load) ~= "function" then
      err("misuse", '%s: must return {after = "MIGRATION", load = function(db) ... end}', path)
    end
    data.after, data.load = v.after, v.load
  elseif path:match("%.sql$") then
    data.after = text:match("^%-%-%s*after:%s*([^%s]+)")
    if not data.after then err("misuse", '%s: an SQL data file starts with the line "-- after: MIGRATION"', path) end
    local stmts = sql_statements(text)
    data.load = function(db)
      db:begin()
      local ok, e = pcall(function() for _, s in ipairs(stmts) do db:exec(s) end end)
      if ok then db:commit() else pcall(db.rollback, db) error(e, 0) end
    end
  else
    err("misuse", "--data %s: a .lua or .sql file", path)
  end
  for _, e in ipairs(p.entries) do
    if e.name == data.after then return data end
  end
  err("misuse", "%s: after = %q is not a migration of %s/%s", path, data.after, p.dir, plan.FILE)
end

-- The plan of p's first i entries (up compiles every file of its plan).
local function prefix(p, i)
  return { dir = p.dir, entries = table.move(p.entries, 1, i, 1, {}) }
end

local function table_set(db)
  local out = {}
  for _, t in ipairs(db:tables()) do out[t] = true end
  return out
end

-- Calls hook(db) (a test hook, or a data file's load); returns ok, the
-- error and the line of `file` where it failed (the innermost frame in
-- that file: an assert's own line, or the line whose database call raised).
-- What a hook must not change in tide's history: its row count and last id
-- (nil before the first up made the table).
local function history_mark(db)
  local ok, rows = pcall(db.query, db, "SELECT COUNT(*) AS n, MAX(id) AS last FROM " .. history.TABLE)
  return ok and ("%s %s"):format(rows[1].n, rows[1].last) or nil
end

-- Where db's unqualified names go (the dialect's place_sql), or nil.
local function place(db)
  local sql = dialect.named(db.backend).place_sql
  return sql and tostring(db:query(sql)[1].place)
end

local function run_hook(hook, db, file)
  local line
  local mark, at = history_mark(db), place(db)
  local ok, e = xpcall(hook, function(e)
    for level = 1, 200 do
      local info = debug.getinfo(level, "Sl")
      if not info then break end
      if info.source == "@" .. file and info.currentline > 0 then
        line = info.currentline
        break
      end
    end
    return e
  end, db)
  -- the walk goes on with db: a hook must leave it open
  local open, in_tx = pcall(db.in_transaction, db)
  if ok and not open then
    return false, core.error { class = "misuse", message = "the hook closed the database connection (db:close())" },
      line
  end
  -- the walk's migrations must go on in the throwaway database (never in
  -- another of the server's: USE, SET search_path)
  local now = ok and place(db)
  if ok and now ~= at then
    return false, core.error { class = "misuse", message = ("the hook moved the connection from %s to %s, " ..
      "where the migrations would have gone on"):format(at, now) }, line
  end
  -- the runner owns the transactions: one left open would hold what follows
  if ok and in_tx then
    pcall(db.rollback, db)
    ok, e = false, core.error { class = "misuse", message = "the hook left a transaction open (rolled back)" }
  end
  -- the runner owns the history too: a hook writing it would fail a later
  -- step, under the wrong migration's name
  if ok and mark and history_mark(db) ~= mark then
    ok, e = false, core.error { class = "misuse", message = ("the hook changed tide's own table %s"):format(
      history.TABLE) }
  end
  return ok, e, line
end

-- A failure as reported: {backend, migration, phase, class, message, sql,
-- operation, and for a hook file, line and source (the text of that line)}.
local function failure_of(backend, migration, phase, e, entry, line)
  local f = { backend = backend, migration = migration, phase = phase, line = line }
  if entry and line then
    f.file = entry.file
    local n = 0
    for text in (entry.source .. "\n"):gmatch("([^\n]*)\n") do
      n = n + 1
      if n == line then f.source = text:match("^%s*(.-)%s*$") break end
    end
  end
  if core.is_error(e) then
    f.class, f.message, f.sql, f.operation = e.class, e.message, e.sql or e.statement, e.operation
  elseif type(e) == "string" then
    f.class, f.message = "lua", e
  else
    f.class, f.message = "lua", ("raised a non-string error (%s)"):format(type(e))
  end
  return f
end

-- MODELS STEP (issue 14): whether the schema equals models.lua. Runs only
-- when the caller gives its path (opts.models); returns the differences,
-- one line each (an empty list when the schema matches).
local function models_differences(db, path)
  local models = require "tide.models"
  return models.diff(db, models.load(path))
end

-- The rows of the report, in the walk's order: each migration, the data
-- load after the migration it names, the models comparison, the rollback.
local function report_rows(p, data, models)
  local rows = {}
  for _, e in ipairs(p.entries) do
    rows[#rows + 1] = e.name
    if data and data.after == e.name then rows[#rows + 1] = "data " .. data.file end
  end
  if models then rows[#rows + 1] = "schema = " .. models end
  rows[#rows + 1] = "roll back to empty"
  return rows
end

-- Walks one backend's throwaway database t; returns its report: {backend,
-- url, name, status = ok|failed|error, results = {row -> {status, phase
-- (the one that failed), ms = {phase -> ms}}}, failure, create_ms, ms}.
local function walk_backend(t, p, migs, opts, r)
  r.backend, r.url, r.name, r.create_ms, r.results, r.status = t.backend, t.shown, t.name, t.create_ms, {}, "ok"
  if t.error then
    r.status, r.failure = "error", { backend = t.backend, phase = "database", class = t.error_class,
                                     message = t.error }
    return r
  end
  local t_start = core.now_ms()
  local db <close> = core.open(t.url)
  -- Ctrl-C also cancels db's running statement, until db closes (after this)
  core.interrupts("catch", db)
  local _ <close> = setmetatable({}, { __close = function() core.interrupts("catch") end })
  local session = dialect.named(t.backend).throwaway_session_sql
  if session then db:exec(session) end
  local log = opts.log and function(msg) opts.log(t.backend .. ": " .. msg) end
  -- the runner's schema model, kept from one call to the next unless
  -- something else (a hook) changed the schema in between
  local kept = {}
  local function run(fn, plan_, o)
    o = o or {}
    o.retry_max_elapsed_ms, o.log = 5000, log
    if kept.model and kept.changes == db:schema_changes() then o.model = kept.model end
    local ok, e = pcall(fn, db, plan_, o)
    kept.model, kept.changes = ok and o.model or nil, db:schema_changes()
    if not ok then error(e, 0) end
  end
  local made_by = {}
  -- runs one phase of row `name`; false (and r.failure set) when it failed
  local function phase(name, label, fn, hook_of, migration)
    local res = r.results[name] or { status = "ok", ms = {} }
    r.results[name] = res
    if core.interrupts("state") then error("interrupted", 0) end
    local t0 = core.now_ms()
    local ok, e, line
    if hook_of then ok, e, line = run_hook(fn, db, hook_of.file) else ok, e = pcall(fn) end
    res.ms[label] = (res.ms[label] or 0) + core.now_ms() - t0
    if core.interrupts("state") then
      res.status, res.phase, r.status, r.ms = "interrupted", label, "interrupted", core.now_ms() - t_start
      error("interrupted", 0)
    end
    if not ok then
      res.status, res.phase = "failed", label
      r.status, r.failure = "failed", failure_of(t.backend, migration or name, label, e, hook_of, line)
    end
    return ok
  end
  local function down_one(row, e, mig)
    return phase(row, "down", function() run(runner.down, p, { steps = 1 }) end, nil, e.name) and
      (not mig.check_down or phase(row, "check_down", mig.check_down, e, e.name))
  end
  local function finish() r.ms = core.now_ms() - t_start return r end
  for i, e in ipairs(p.entries) do
    local mig = migs[i]
    local ok = (not mig.seed or phase(e.name, "seed", mig.seed, e))
      and phase(e.name, "up", function()
        local before = table_set(db)
        run(runner.up, prefix(p, i))
        for name in pairs(table_set(db)) do if not before[name] then made_by[name] = e.name end end
      end)
      and (not mig.migrate or phase(e.name, "backfill", function()
        -- a phased migration's data step, then its ready(db) (its contract
        -- is not walked: no down undoes it)
        runner.backfill(db, prefix(p, i), e.name, { log = log })
        local ready, msg = true, nil
        if mig.ready then ready, msg = mig.ready(db) end
        if not ready then err("other", "%s is not ready after its backfill: %s", e.name, tostring(msg)) end
      end))
      and (not mig.check or phase(e.name, "check", mig.check, e))
      and (not opts.snake or down_one(e.name, e, mig) and
           phase(e.name, "up again", function() run(runner.up, prefix(p, i)) end))
      and (not (opts.data and opts.data.after == e.name) or
           phase("data " .. opts.data.file, "load", opts.data.load, opts.data))
    if not ok then return finish() end
  end
  if opts.models and not phase("schema = " .. opts.models, "models", function()
    local diffs = models_differences(db, opts.models)
    if #diffs > 0 then
      err("other", "the schema differs from %s: %s", opts.models, table.concat(diffs, "; "))
    end
  end) then return finish() end
  local row = "roll back to empty"
  for i = #p.entries, 1, -1 do
    if not down_one(row, p.entries[i], migs[i]) then return finish() end
  end
  phase(row, "empty", function()
    local left = {}
    for _, name in ipairs(db:tables()) do
      if name ~= history.TABLE then
        left[#left + 1] = made_by[name] and ("%s (made by %s)"):format(name, made_by[name]) or name
      end
    end
    table.sort(left)
    if #left > 0 then
      err("other", "after rolling every migration back, %s left: %s (a down that does not undo its up?)",
          #left == 1 and "a table is" or #left .. " tables are", table.concat(left, ", "))
    end
  end)
  return finish()
end

--- Tests every migration of opts.dir on a throwaway database per backend
-- (see databases): per migration, in plan order, its seed(db), its up, its
-- check(db); with opts.snake then its down, check_down(db) and its up
-- again. opts.data (a file, see `tide test --data`) loads rows after the
-- migration it names; opts.models (a models.lua path) is compared with the
-- schema at the end. Then every migration is rolled back (check_down after
-- each) and no table but tide's may be left. A backend stops at its first
-- failure; the others still run. opts: dir, backends, urls, snake, data,
-- models, log(line), held (signals stay held when it returns: the caller
-- reports, then calls core.interrupts("release"), so that Ctrl-C pressed
-- again does not kill it before the report is out). Every file is compiled
-- before any database is made.
-- Returns {ok, migrations = {names}, rows = {the report's rows}, backends
-- = {per backend: status, results = {row -> {status, phase, ms}}, failure,
-- create_ms, drop_ms, ms}, failure (the first), slowest, servers_ms,
-- drop_problems, interrupted and signal (when a signal stopped it)}.
function testing.walk(opts)
  local p = plan.load(opts.dir or "migrations")
  local migs = {}
  for i, e in ipairs(p.entries) do migs[i] = plan.compile(e) end
  local data = opts.data and load_data(opts.data, p)
  local wopts = { snake = opts.snake, data = data, models = opts.models, log = opts.log }
  local report = { migrations = {}, rows = report_rows(p, data, opts.models), backends = {},
                   snake = opts.snake and true or false, models = opts.models,
                   data = data and { file = data.file, after = data.after } or nil }
  for i, e in ipairs(p.entries) do report.migrations[i] = e.name end
  core.interrupts("catch")
  local set
  local ok, e = pcall(function()
    set = testing.databases({ backends = opts.backends, urls = opts.urls, log = opts.log })
    report.servers_ms = set.servers_ms
    for i, t in ipairs(set) do report.backends[i] = { backend = t.backend, create_ms = t.create_ms, results = {},
                                                       status = "not run" } end
    for i, t in ipairs(set) do
      local r = report.backends[i]
      local okb, eb = pcall(walk_backend, t, p, migs, wopts, r)
      if not okb then
        if core.interrupts("state") then error(eb, 0) end
        r.status, r.failure = "failed", failure_of(t.backend, nil, "walk", eb)
      end
      report.failure = report.failure or r.failure
    end
  end)
  core.interrupts("hold")
  if set then
    report.drop_problems = set:drop()
    for i, t in ipairs(set) do
      if report.backends[i] then report.backends[i].drop_ms = t.drop_ms end
    end
  end
  report.interrupted, report.signal = core.interrupts(opts.held and "state" or "release")
  if not ok and not report.interrupted then
    if opts.held then core.interrupts("release") end
    error(e, 0)
  end
  report.ok = not report.interrupted and report.failure == nil and #(report.drop_problems or {}) == 0
  -- the slowest migrations (their up), across backends
  local times = {}
  for _, r in ipairs(report.backends) do
    for _, name in ipairs(report.migrations) do
      local res = r.results[name]
      if res and res.ms.up then times[#times + 1] = { migration = name, backend = r.backend, ms = res.ms.up } end
    end
  end
  table.sort(times, function(a, b)
    if a.ms ~= b.ms then return a.ms > b.ms end
    return a.migration .. a.backend < b.migration .. b.backend
  end)
  report.slowest = table.move(times, 1, math.min(3, #times), 1, {})
  return report
end

-- ---- the report --------------------------------------------------------------

-- A cell of the table: "ok N ms" (the migration's up, the data's load, or
-- the whole step), "FAILED phase", or "-" (not reached).
local function cell(res)
  if not res then return "-" end
  if res.status ~= "ok" then return res.status:upper() .. " " .. res.phase end
  local ms = res.ms.up or res.ms.load
  if not ms then
    ms = 0
    for _, v in pairs(res.ms) do ms = ms + v end
  end
  return ("ok %d ms"):format(ms)
end

--- The failure `f` in full, as lines of text.
function testing.describe_failure(f)
  local where = f.migration and (f.migration .. ", " .. f.phase) or f.phase
  local lines = { ("FAILED on %s: %s"):format(f.backend, where) }
  if f.file and f.line then
    lines[#lines + 1] = ("  at:          %s:%d (the %s hook): %s"):format(f.file, f.line, f.phase, f.source or "")
  end
  lines[#lines + 1] = ("  error class: %s"):format(f.class == "lua" and "lua (an error of the hook's own)" or f.class)
  lines[#lines + 1] = ("  message:     %s"):format(f.message)
  if f.operation then lines[#lines + 1] = ("  operation:   %s"):format(f.operation) end
  if f.sql then lines[#lines + 1] = ("  SQL:         %s"):format(f.sql) end
  return table.concat(lines, "\n")
end

--- The report as text (`ui` is tide.ui): the table (a row per migration
-- and step, a column per backend), the databases' creation times, with data
-- the slowest migrations, the first failure in full.
function testing.render(report, ui)
  local headers = { "migration" }
  for _, r in ipairs(report.backends) do headers[#headers + 1] = r.backend end
  local rows = {}
  for _, name in ipairs(report.rows) do
    local row = { name }
    for _, r in ipairs(report.backends) do row[#row + 1] = cell(r.results[name]) end
    rows[#rows + 1] = row
  end
  local lines = { ui.table(headers, rows) }
  local dbs = {}
  for _, r in ipairs(report.backends) do
    dbs[#dbs + 1] = r.status == "error" and (r.backend .. " none")
      or r.status == "not run" and ("%s %d ms (not walked)"):format(r.backend, r.create_ms or 0)
      or ("%s %d ms (walk %d ms)"):format(r.backend, r.create_ms or 0, r.ms or 0)
  end
  lines[#lines + 1] = "databases created: " .. table.concat(dbs, ", ") ..
    (report.servers_ms and (("; throwaway servers started in %.1f s"):format(report.servers_ms / 1000)) or "")
  if report.data and #report.slowest > 0 then
    local s = {}
    for _, t in ipairs(report.slowest) do s[#s + 1] = ("%s on %s %d ms"):format(t.migration, t.backend, t.ms) end
    lines[#lines + 1] = "slowest with data: " .. table.concat(s, ", ")
  end
  for _, r in ipairs(report.backends) do
    if r.status == "error" then lines[#lines + 1] = r.failure.message end
  end
  for _, pr in ipairs(report.drop_problems or {}) do lines[#lines + 1] = pr end
  local first
  for _, r in ipairs(report.backends) do
    if r.status == "failed" and not first then
      first = r.failure
      lines[#lines + 1] = testing.describe_failure(first)
    elseif r.status == "failed" then
      local f = r.failure
      lines[#lines + 1] = ("also FAILED on %s: %s, %s%s: %s"):format(f.backend, f.migration or "-", f.phase,
        f.line and (" (line %d)"):format(f.line) or "", f.message)
    end
  end
  if report.interrupted then
    lines[#lines + 1] = ("interrupted by %s: the throwaway databases were dropped"):format(report.interrupted)
  elseif report.ok then
    lines[#lines + 1] = ("all passed: %d migration%s on %d backend%s%s"):format(#report.migrations,
      #report.migrations == 1 and "" or "s", #report.backends,
      #report.backends == 1 and "" or "s", report.snake and ", down and up again after each" or "")
  end
  return table.concat(lines, "\n")
end

return testing
