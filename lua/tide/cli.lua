--- tide.cli: the `tide` command line: global options, configuration,
-- commands and exit codes (0 ok, 1 error, 2 usage, 3 pending, 4 attention).
local core = require "tide.core"

-- Modules load on first use, so `tide --version` and `tide help` load none
-- and each command only what it touches.
local lazy = require "tide.lazy"
local tide = lazy "tide"
local ui = lazy "tide.ui"

local cli = {}

local EXIT = { ok = 0, error = 1, usage = 2, pending = 3, attention = 4 }
cli.EXIT = EXIT

-- A usage error: reported with the usage text, exit 2.
local function usage_error(msg)
  error(setmetatable({ usage = msg }, { __tostring = function(e) return e.usage end }), 0)
end

local function out(ctx, s)
  if not ctx.quiet then io.stdout:write(s, "\n") end
end

--- Reads tide.lua from the current directory, if any: {url = ..., dir = ...}.
local function project_config()
  local f = io.open("tide.lua", "r")
  if not f then return {} end
  local src = f:read("a")
  f:close()
  local chunk, err = load(src, "@tide.lua", "t", {})
  if not chunk then error(err, 0) end             -- already "tide.lua:LINE: ..."
  local ok, cfg = pcall(chunk)
  if not ok then error("tide.lua: " .. tostring(cfg), 0) end
  if type(cfg) ~= "table" then error("tide.lua: must return a table {url = ..., dir = ...}", 0) end
  return cfg
end

local function resolve_url(ctx)
  if ctx.url then return ctx.url end
  local env = os.getenv("TIDE_URL")
  if env and env ~= "" then return env end
  local cfg = project_config()
  return cfg.url or "sqlite:tide.db"
end

local function resolve_dir(ctx)
  return ctx.dir or project_config().dir or "migrations"
end

-- Command options: spec maps "--name" to "flag" or "value"; returns the
-- options found and the remaining words.
local function options(cmd, args, spec)
  local opts, rest = {}, {}
  local i = 1
  while i <= #args do
    local a = args[i]
    local name, value = a:match("^(%-%-[%w-]+)=(.*)$")
    name = name or a
    local kind = spec[name]
    if kind == "flag" and not value then
      opts[name:sub(3):gsub("-", "_")] = true
    elseif kind == "value" then
      if not value then
        i = i + 1
        value = args[i]
        if not value then usage_error(("%s: %s needs a value"):format(cmd, name)) end
      end
      opts[name:sub(3):gsub("-", "_")] = value
    elseif a:sub(1, 1) == "-" then
      usage_error(("%s: unknown option %s"):format(cmd, a))
    else
      rest[#rest + 1] = a
    end
    i = i + 1
  end
  return opts, rest
end

-- A count option (--steps): a whole number, at least 1.
local function count(cmd, opt, v)
  local n = math.tointeger(tonumber(v))
  if not n or n < 1 then
    usage_error(("%s: %s must be a whole number of at least 1, got %q"):format(cmd, opt, v))
  end
  return n
end

-- The longest lock wait the drivers accept, in seconds (a day).
local MAX_LOCK_TIMEOUT = 86400

-- --lock-timeout: seconds (fractions allowed), 0 to a day; returns milliseconds.
local function lock_timeout_ms(v)
  local n = v:match("^%d*%.?%d*$") and tonumber(v)
  if not n or n > MAX_LOCK_TIMEOUT then
    usage_error(("--lock-timeout must be seconds from 0 to %d, got %q"):format(MAX_LOCK_TIMEOUT, v))
  end
  return math.floor(n * 1000)
end

local function looks_like_url(s)
  return s ~= nil and s:match("^%a[%w+.-]*:") ~= nil
end

-- Opens url for a command that only reads. A SQLite file must exist (it is
-- never created by a typo): it is opened with mode=rw unless the URL gives a
-- mode; not mode=ro, which cannot roll back the journal a killed runner
-- left, so status would fail exactly when it is needed. Returns the
-- connection and the URL to show.
local function open_readonly(url)
  local u = core.parse_url(url)
  if u.scheme ~= "sqlite" or u.database == ":memory:" then
    local db = tide.open(url)
    return db, db.url
  end
  -- a parameter named like a password is hidden here as everywhere else
  local shown = core.redact_url(url)
  local f = io.open(u.database, "rb")
  if not f then
    error(core.error { class = "connection", message = ("no database at %s (%s)"):format(u.database, shown) }, 0)
  end
  f:close()
  if url:find("[?&]mode=") then return tide.open(url), shown end
  return tide.open(url .. (url:find("?", 1, true) and "&" or "?") .. "mode=rw"), shown
end

-- Commands that act on what history records (down, stamp, resolve,
-- accept) need the database to exist as well: a mistyped SQLite path must
-- not leave an empty database (with a history table) behind.
local open_existing = open_readonly

-- ---- inspect ----------------------------------------------------------

local function with_portable_types(desc)
  for _, c in ipairs(desc.columns) do c.portable_type = ui.portable_type(c) end
  return desc
end

local no_options

local function cmd_inspect(ctx, args)
  no_options("inspect", args)
  local url, tname
  if looks_like_url(args[1]) then url, tname = args[1], args[2] else tname = args[1] end
  if args[3] or (not url and args[2]) then usage_error("inspect: too many arguments") end
  local db <close>, shown = open_readonly(url or resolve_url(ctx))
  if tname then
    local d = db:describe(tname)
    if ctx.json then
      out(ctx, ui.json({ backend = db.backend, table = with_portable_types(d) }))
    else
      out(ctx, ui.describe_table(d))
    end
    return EXIT.ok
  end
  if ctx.json then
    -- the driver's direct path when it has one: the same text as below
    local text = db:schema_json(ui.portable_type)
    if not text then
      local s = db:schema()
      for _, d in pairs(s) do with_portable_types(d) end
      text = ui.json({ backend = db.backend, tables = s })
    end
    out(ctx, text)
    return EXIT.ok
  end
  local s = db:schema()
  local names = {}
  for n in pairs(s) do names[#names + 1] = n end
  table.sort(names)
  local parts = { ("%s (%s): %d table%s"):format(shown, db.backend, #names,
                                                   #names == 1 and "" or "s") }
  for _, n in ipairs(names) do parts[#parts + 1] = "\n" .. ui.describe_table(s[n]) end
  out(ctx, table.concat(parts, "\n"))
  return EXIT.ok
end

-- ---- lint -------------------------------------------------------------

-- tide lint [--duplicates TABLE COL...]: exit 4 when something is found.
local function cmd_lint(ctx, args)
  local o, rest = options("lint", args, { ["--duplicates"] = "value" })
  if o.duplicates and #rest == 0 then usage_error("lint: --duplicates TABLE needs at least one COLUMN") end
  if not o.duplicates and #rest > 0 then usage_error("lint: takes no arguments (but --duplicates TABLE COL...)") end
  local lint = require "tide.lint"
  local db <close>, shown = open_readonly(resolve_url(ctx))
  local report = { url = shown, backend = db.backend }
  if o.duplicates then
    local d = lint.duplicates(db, o.duplicates, rest)
    report.findings, report.duplicates = d.findings, { table = d.table, columns = d.columns,
                                                       groups = d.groups, extra = d.extra }
    if not ctx.json and #d.findings == 0 then
      out(ctx, ("%s (%s): no live duplicates"):format(d.table, table.concat(d.columns, ", ")))
    end
  else
    report.findings = lint.schema(db)
    -- and the pending migrations, when there is a plan
    local okp, p = pcall(require("tide.plan").load, resolve_dir(ctx))
    if okp then
      for _, f in ipairs(require("tide.runner").lint(db, p)) do report.findings[#report.findings + 1] = f end
    end
  end
  if ctx.json then
    out(ctx, ui.json(report))
  else
    for _, f in ipairs(report.findings) do out(ctx, lint.format(f)) end
  end
  return #report.findings > 0 and EXIT.attention or EXIT.ok
end

-- tide run FILE [ARGS]: a Lua script with the globals `tide`, `url` (the
-- configured database) and `arg` (FILE's arguments), for tooling.
local function cmd_run(ctx, args)
  local file = args[1]
  if not file then usage_error("run: needs a FILE") end
  local env = setmetatable({ tide = require "tide", url = resolve_url(ctx), arg = { [0] = file } },
                           { __index = _G })
  for i = 2, #args do env.arg[i - 1] = args[i] end
  local chunk, err = loadfile(file, "t", env)
  if not chunk then error(err, 0) end
  local code = chunk(table.unpack(env.arg))
  return math.type(code) == "integer" and code or EXIT.ok
end

-- ---- migrations -------------------------------------------------------

local plan = lazy "tide.plan"
local runner = lazy "tide.runner"
local history = lazy "tide.history"

local function plural(n, word) return ("%d %s%s"):format(n, word, n == 1 and "" or "s") end

-- The runner's options. Its log lines also tell which migration is running,
-- so that an error without a message can still name it.
-- On a terminal the migration being run is one redrawn progress line
-- (`applying 345/1000 name`) instead of a line each.
local function runner_opts(ctx, o)
  local live = not ctx.quiet and ui.live_stderr()
  return { lock_timeout_ms = ctx.lock_timeout_ms,
           log = function(msg)
             local name = msg:match("^applying (.+)$") or msg:match("^rolling back (.+)$")
             ctx.running = name or ctx.running
             if ctx.quiet or (live and name) then return end
             if live then ui.progress_clear() end
             io.stderr:write(msg, "\n")
           end,
           progress = live and function(i, n, name, direction)
             ui.progress(("%s %d/%d %s"):format(direction == "up" and "applying" or "rolling back", i, n, name))
           end or nil,
           to = o.to, steps = o.steps and count("down", "--steps", o.steps),
           allow_out_of_order = o.allow_out_of_order, single_transaction = o.single_transaction }
end

-- Runs fn(...) and then clears the progress line it drew; a failure keeps
-- the line (it names the migration that failed) and ends it.
local function with_progress(ro, fn, ...)
  if not ro.progress then return fn(...) end
  local res = table.pack(pcall(fn, ...))
  if res[1] then ui.progress_clear() else io.stderr:write("\n") end
  if not res[1] then error(res[2], 0) end
  return table.unpack(res, 2, res.n)
end

-- The id of the newest history event (0 if none): what a run adds comes after.
local function last_event_id(db)
  local events = history.events(db)
  return #events > 0 and events[#events].id or 0
end

-- Runs fn (a runner call) and reports the history events it added: on
-- stderr with -v, as JSON under `key` with --json. Returns fn's result;
-- its error is raised again after the report.
local function reported(ctx, db, shown, key, fn)
  if not (ctx.verbose or ctx.json) then return fn() end   -- nothing to report: no reads
  local since = last_event_id(db)
  local ok, res = pcall(fn)
  local events = {}
  local okh, all = pcall(history.events, db)
  for _, e in ipairs(okh and all or {}) do
    if e.id > since then
      events[#events + 1] = { name = e.name, direction = e.direction, status = e.status,
                              duration_ms = e.duration_ms, message = e.message }
    end
  end
  if ctx.verbose then
    for _, e in ipairs(events) do
      io.stderr:write(("%s: %s %s%s\n"):format(e.name, e.direction, e.status,
                                               e.duration_ms and (" in " .. e.duration_ms .. " ms") or ""))
    end
  end
  if ctx.json then
    out(ctx, ui.json({ url = shown, backend = db.backend, [key] = events,
                       error = not ok and cli.error_message(res, ctx) or nil }))
  end
  if not ok then error(res, 0) end
  return res
end

-- Exit code of a status: problems first, then pending migrations and
-- contracts not yet run.
local function status_code(st)
  if #st.problems > 0 then return EXIT.attention end
  for _, s in ipairs(st.entries) do
    if s.state ~= "applied" then return EXIT.pending end
  end
  return runner.contract_pending(st) and EXIT.pending or EXIT.ok
end

-- The phase of each applied phased migration (tide.phases.label), with
-- ready's message: name -> {phase, message}.
local function phase_labels(st, db)
  local labels = {}
  for _, s in ipairs(st.entries) do
    if s.phase then
      local label, msg = require("tide.phases").label(db, s)
      labels[s.name] = { phase = label, message = msg }
    end
  end
  return labels
end

local function status_report(ctx, st, db, shown)
  local phases = phase_labels(st, db)
  if ctx.json then
    local migrations = {}
    for _, s in ipairs(st.entries) do
      local ph = phases[s.name]
      migrations[#migrations + 1] = { name = s.name, state = s.state, checksum = s.entry.checksum,
                                      applied_at = s.state == "applied" and s.event.finished_at or nil,
                                      step = s.state == "interrupted" and s.event.step or nil,
                                      phase = ph and ph.phase, ready_message = ph and ph.message }
    end
    local problems = {}
    for _, p in ipairs(st.problems) do
      problems[#problems + 1] = { kind = p.kind, name = p.name, message = p.message }
    end
    out(ctx, ui.json({ url = shown, backend = db.backend, code = status_code(st), migrations = migrations,
                       problems = problems, cluster = st.cluster }))
    return
  end
  local rows = {}
  for _, s in ipairs(st.entries) do
    local when = s.state == "applied" and (s.event.finished_at or "") or ""
    local state = s.state == "applied" and ui.colour("green", "applied")
      or s.state == "pending" and ui.colour("yellow", "pending") or ui.colour("red", s.state)
    local ph = phases[s.name]
    if ph then
      state = ph.phase == "contracted" and ui.colour("green", "contracted") or
        ui.colour("yellow", ph.phase .. (ph.message and (" (" .. ph.message .. ")") or ""))
    end
    rows[#rows + 1] = { s.name, state, when }
  end
  local pending = 0
  for _, s in ipairs(st.entries) do if s.state ~= "applied" then pending = pending + 1 end end
  local lines = { ("%s (%s): %s, %d applied, %d pending"):format(shown, db.backend,
    plural(#st.entries, "migration"), #st.entries - pending, pending) }
  if #rows > 0 then lines[#lines + 1] = ui.table({ "migration", "state", "applied at" }, rows, { indent = "  " }) end
  local c = st.cluster
  if c then
    lines[#lines + 1] = ("galera: node %s, cluster size %d (%s, %s); lock: %s"):format(c.node, c.size,
      tostring(c.status), c.ready and "ready" or "not ready",
      c.lock and ("held by " .. require("tide.galera").describe(c.lock)) or "free")
  end
  for _, p in ipairs(st.problems) do lines[#lines + 1] = ui.colour("red", "problem: ") .. p.message end
  out(ctx, table.concat(lines, "\n"))
end

local function cmd_status(ctx, args)
  local _, rest = options("status", args, {})
  if #rest > 0 then usage_error("status: takes no arguments") end
  local p = plan.load(resolve_dir(ctx))
  local db <close>, shown = open_readonly(resolve_url(ctx))
  local st = runner.status(db, p)
  st.cluster = runner.cluster_status(db)
  status_report(ctx, st, db, shown)
  return status_code(st)
end

-- The path of a SQLite URL whose file does not exist yet, else nil.
local function missing_sqlite_file(url)
  local u = core.parse_url(url)
  if u.scheme ~= "sqlite" or u.database == ":memory:" then return nil end
  local f = io.open(u.database, "rb")
  if f then f:close() return nil end
  return u.database
end

-- up --sql / down --sql: what would run, touching nothing. `up --sql` for a
-- SQLite file that does not exist yet previews the whole plan on an empty
-- in-memory database (what `up` would run on the file it creates), and
-- creates no file.
local function print_sql(ctx, direction, o, ro)
  if ctx.json then usage_error(direction .. ": --sql prints SQL; it does not go with --json") end
  local p = plan.load(resolve_dir(ctx))
  local url = resolve_url(ctx)
  local db <close> = direction == "up" and missing_sqlite_file(url) and tide.open("sqlite::memory:")
                     or open_readonly(url)
  out(ctx, table.concat(runner.sql(db, p, direction, ro or { to = o.to }), "\n"))
  return EXIT.ok
end

local function cmd_up(ctx, args)
  local o, rest = options("up", args, { ["--to"] = "value", ["--sql"] = "flag",
    ["--single-transaction"] = "flag", ["--allow-out-of-order"] = "flag" })
  if #rest > 0 then usage_error("up: unexpected " .. rest[1]) end
  if o.sql then return print_sql(ctx, "up", o) end
  local ro = runner_opts(ctx, o)
  local p = plan.load(resolve_dir(ctx))
  local db <close> = tide.open(resolve_url(ctx))
  local n = reported(ctx, db, db.url, "applied", function() return with_progress(ro, runner.up, db, p, ro) end)
  if not ctx.json then out(ctx, n == 0 and "up to date" or ("applied " .. plural(n, "migration"))) end
  return EXIT.ok
end

local function cmd_down(ctx, args)
  local o, rest = options("down", args, { ["--to"] = "value", ["--steps"] = "value", ["--sql"] = "flag" })
  if #rest > 0 then usage_error("down: unexpected " .. rest[1]) end
  if o.to and o.steps then usage_error("down: give --to or --steps, not both") end
  local ro = runner_opts(ctx, o)
  if o.sql then return print_sql(ctx, "down", o, ro) end
  local p = plan.load(resolve_dir(ctx))
  local db <close>, shown = open_existing(resolve_url(ctx))
  local n = reported(ctx, db, shown, "rolled_back", function() return with_progress(ro, runner.down, db, p, ro) end)
  if not ctx.json then out(ctx, "rolled back " .. plural(n, "migration")) end
  return EXIT.ok
end

local function one_name(cmd, args, spec)
  local o, rest = options(cmd, args, spec or {})
  if #rest ~= 1 then usage_error(cmd .. ": needs exactly one migration NAME") end
  return rest[1], o
end

local new_auto        -- tide new NAME --auto (below, with the models commands)

local function cmd_new(ctx, args)
  for _, a in ipairs(args) do if a == "--auto" then return new_auto(ctx, args) end end
  local name = one_name("new", args)
  local file = plan.new(resolve_dir(ctx), name)
  out(ctx, ctx.json and ui.json({ created = file }) or ("created " .. file))
  return EXIT.ok
end

-- Every problem of the plan and its files, instead of only the first.
local function cmd_validate(ctx, args)
  local _, rest = options("validate", args, {})
  if #rest > 0 then usage_error("validate: takes no arguments") end
  local dir = resolve_dir(ctx)
  local migrations, problems = {}, {}
  local ok, p = pcall(plan.load, dir)
  if not ok then
    problems[1] = { message = cli.error_message(p, ctx) }
  else
    for _, e in ipairs(p.entries) do
      migrations[#migrations + 1] = { name = e.name, file = e.file, checksum = e.checksum }
      local cok, cerr = pcall(plan.compile, e)
      if not cok then problems[#problems + 1] = { name = e.name, message = cli.error_message(cerr, ctx) } end
    end
  end
  if ctx.json then
    out(ctx, ui.json({ dir = dir, valid = #problems == 0, migrations = migrations, problems = problems }))
  elseif #problems == 0 then
    out(ctx, ("%s: %s, all valid"):format(dir, plural(#migrations, "migration")))
  else
    for _, pr in ipairs(problems) do io.stderr:write("tide: ", pr.message, "\n") end
  end
  return #problems == 0 and EXIT.ok or EXIT.error
end

local function cmd_history(ctx, args)
  local _, rest = options("history", args, {})
  if #rest > 0 then usage_error("history: takes no arguments") end
  local db <close>, shown = open_readonly(resolve_url(ctx))
  local events = history.events(db)
  if ctx.json then
    out(ctx, ui.json({ url = shown, events = events }))
    return EXIT.ok
  end
  local rows = {}
  for _, e in ipairs(events) do
    rows[#rows + 1] = { tostring(e.id), e.name, e.direction, e.status,
                        e.steps and (e.step .. "/" .. e.steps) or tostring(e.step), e.started_at,
                        e.duration_ms and (e.duration_ms .. " ms") or "", e.who or "", e.message or "" }
  end
  out(ctx, #rows == 0 and "no history yet" or ui.table({ "id", "migration", "direction", "status", "step",
    "started", "took", "by", "note" }, rows, { max_width = 60 }))
  return EXIT.ok
end

local function cmd_stamp(ctx, args)
  local name = one_name("stamp", args)
  local ro = runner_opts(ctx, {})
  local p = plan.load(resolve_dir(ctx))
  local db <close>, shown = open_existing(resolve_url(ctx))
  local n = reported(ctx, db, shown, "stamped", function() return runner.stamp(db, p, name, ro) end)
  if not ctx.json then out(ctx, ("stamped %s as applied"):format(plural(n, "migration"))) end
  return EXIT.ok
end

local function cmd_resolve(ctx, args)
  local name, o = one_name("resolve", args, { ["--applied"] = "flag", ["--rolled-back"] = "flag" })
  if (o.applied and o.rolled_back) or not (o.applied or o.rolled_back) then
    usage_error("resolve: give --applied or --rolled-back")
  end
  local ro = runner_opts(ctx, {})
  local p = plan.load(resolve_dir(ctx))
  local db <close> = open_existing(resolve_url(ctx))
  local as = o.applied and "applied" or "rolled_back"
  runner.resolve(db, p, name, as, ro)
  out(ctx, ctx.json and ui.json({ name = name, resolved_as = as })
           or ("%s resolved as %s"):format(name, o.applied and "applied" or "rolled back"))
  return EXIT.ok
end

local function cmd_accept(ctx, args)
  local name = one_name("accept", args)
  local ro = runner_opts(ctx, {})
  local p = plan.load(resolve_dir(ctx))
  local db <close> = open_existing(resolve_url(ctx))
  runner.accept(db, p, name, ro)
  out(ctx, ctx.json and ui.json({ name = name, accepted = true }) or (name .. ": the edited file is accepted"))
  return EXIT.ok
end

-- tide repl [URL]: see tide.repl
local function cmd_repl(ctx, args)
  local _, rest = options("repl", args, {})
  if #rest > 1 then usage_error("repl: takes at most a URL") end
  local db <close> = tide.open(rest[1] or resolve_url(ctx))
  return require("tide.repl").run(db, { interactive = core.isatty(0) and core.isatty(1) })
end

-- ---- models -----------------------------------------------------------

local tide_models = lazy "tide.models"

-- The models file: --models FILE, else `models` in tide.lua, else
-- models.lua beside the plan.
local function models_file(ctx, o)
  return o.models or project_config().models or (resolve_dir(ctx) .. "/" .. tide_models.FILE)
end

-- Differences as --json or one line each (a control character in a name
-- shown as "?": a newline must not make a line of its own); exit 0 when
-- none, else 4.
local function differences(ctx, report, diffs, same)
  report.in_sync, report.differences = #diffs == 0, diffs
  if ctx.json then out(ctx, ui.json(report))
  elseif #diffs == 0 then out(ctx, same)
  else for _, d in ipairs(diffs) do out(ctx, (d:gsub("%c", "?"))) end end
  return #diffs == 0 and EXIT.ok or EXIT.attention
end

-- tide check [--models FILE]: the database at --url against the models.
local function cmd_check(ctx, args)
  local o, rest = options("check", args, { ["--models"] = "value" })
  if #rest > 0 then usage_error("check: unexpected " .. rest[1]) end
  local file = models_file(ctx, o)
  local db <close>, shown = open_readonly(resolve_url(ctx))
  return differences(ctx, { url = shown, backend = db.backend, models = file }, tide_models.diff(db, file),
                     ("%s (%s): in sync with %s"):format(shown, db.backend, file))
end

-- tide diff URL_A URL_B: two databases, any backends, in canonical form.
local function cmd_diff(ctx, args)
  local _, rest = options("diff", args, {})
  if #rest ~= 2 then usage_error("diff: needs two database URLs") end
  local a <close>, shown_a = open_readonly(rest[1])
  local b <close>, shown_b = open_readonly(rest[2])
  local labels = { shown_a, shown_b }
  if shown_a == shown_b then labels = { shown_a .. " (A)", shown_b .. " (B)" } end
  return differences(ctx, { a = { url = shown_a, backend = a.backend }, b = { url = shown_b, backend = b.backend } },
                     tide_models.compare(a, b, labels),
                     ("%s (%s) and %s (%s): the same schema"):format(shown_a, a.backend, shown_b, b.backend))
end

-- tide models create [URL] [--models FILE]: the whole schema from the models.
local function models_create(ctx, args)
  local o, rest = options("models create", args, { ["--models"] = "value" })
  if #rest > 1 then usage_error("models create: takes at most a URL") end
  local file = models_file(ctx, o)
  local mdl = tide_models.load(file)
  local db <close> = tide.open(rest[1] or resolve_url(ctx))
  tide_models.create(db, mdl, { lock_timeout_ms = ctx.lock_timeout_ms })
  local n = #mdl.order
  out(ctx, ctx.json and ui.json({ url = db.url, backend = db.backend, models = file, created = n })
           or ("%s (%s): created %s from %s"):format(db.url, db.backend, plural(n, "table"), file))
  return EXIT.ok
end

local function cmd_models(ctx, args)
  if args[1] ~= "create" then usage_error("models: needs the subcommand create") end
  return models_create(ctx, table.move(args, 2, #args, 1, {}))
end

-- tide new NAME --auto [--models FILE]: a migration from the database at
-- --url to the models (tide.auto_migration); nothing written when in sync.
function new_auto(ctx, args)
  local name, o = one_name("new", args, { ["--auto"] = "flag", ["--models"] = "value" })
  local file = models_file(ctx, o)
  local mdl = tide_models.load(file)
  local db <close>, shown = open_readonly(resolve_url(ctx))
  local source, n, hand, in_sync = require("tide.auto_migration").source(db, mdl, name, shown)
  if in_sync then
    out(ctx, ctx.json and ui.json({ created = false, in_sync = true })
             or ("%s (%s): in sync with %s, no migration written"):format(shown, db.backend, file))
    return EXIT.ok
  end
  local path = plan.new(resolve_dir(ctx), name, source)
  out(ctx, ctx.json and ui.json({ created = path, operations = n, by_hand = hand })
           or ("created %s (%s from %s)"):format(path, plural(n, "operation"), file))
  -- its up may destroy what its down cannot rebuild: exit 4 until read
  for _, note in ipairs(hand) do io.stderr:write(("tide: %s: by hand: %s\n"):format(path, note)) end
  return #hand > 0 and EXIT.attention or EXIT.ok
end

-- ---- archive ----------------------------------------------------------

local shadow = lazy "tide.shadow"

-- The tables named on the command line, or nil for "every one".
local function archive_tables(cmd, args)
  local _, tables = options(cmd, args, {})
  return #tables > 0 and tables or nil
end

-- tide archive init [TABLE...]: see tide.shadow.init
local function archive_init(ctx, args)
  local tables = archive_tables("archive init", args)
  local db <close> = tide.open(resolve_url(ctx))
  local res = shadow.init(db, { tables = tables, lock_timeout_ms = ctx.lock_timeout_ms })
  if ctx.json then
    out(ctx, ui.json({ url = db.url, backend = db.backend, created = res.created, skipped = res.skipped }))
    return EXIT.ok
  end
  for _, t in ipairs(res.created) do out(ctx, ("%s: created %s"):format(t, shadow.name(t))) end
  for _, t in ipairs(res.skipped) do out(ctx, ("%s: skipped, %s exists and is in sync"):format(t, shadow.name(t))) end
  if #res.created + #res.skipped == 0 then out(ctx, ("no table has a %q column"):format(shadow.DELETED)) end
  return EXIT.ok
end

-- tide archive check [TABLE...]: see tide.shadow.check
local function archive_check(ctx, args)
  local tables = archive_tables("archive check", args)
  local db <close>, shown = open_readonly(resolve_url(ctx))
  local diffs = shadow.check(db, tables)
  if ctx.json then
    out(ctx, ui.json({ url = shown, backend = db.backend, in_sync = #diffs == 0, differences = diffs }))
  elseif #diffs == 0 then
    out(ctx, "shadow tables in sync")
  else
    out(ctx, table.concat(diffs, "\n"))
  end
  return #diffs == 0 and EXIT.ok or EXIT.attention
end

-- A comma-separated list of table names (--tables a,b).
local function table_list(cmd, v)
  if not v then return nil end
  local names = {}
  for n in (v .. ","):gmatch("([^,]*),") do
    if n == "" then usage_error(("%s: --tables has an empty name in %q"):format(cmd, v)) end
    names[#names + 1] = n
  end
  return names
end

-- A whole-number option: at least `min`.
local function whole_opt(cmd, opt, v, min)
  if v == nil then return nil end
  local n = v:match("^%d+$") and math.tointeger(tonumber(v))
  if not n or n < min then
    usage_error(("%s: %s must be a whole number of at least %d, got %q"):format(cmd, opt, min, v))
  end
  return n
end

local ARCHIVE_OPTS = { ["--tables"] = "value", ["--before"] = "value", ["--max-rows"] = "value",
                       ["--batch"] = "value", ["--sleep"] = "value" }

-- The library options of `archive run|purge` from the command line.
local function archive_opts(ctx, cmd, args)
  local o, rest = options(cmd, args, ARCHIVE_OPTS)
  if #rest > 0 then usage_error(("%s: unexpected %s"):format(cmd, rest[1])) end
  local lib = require "tide.archive"
  if o.before then
    local ok, e = pcall(lib.timestamp, o.before, "--before")
    if not ok then usage_error(cmd .. ": " .. e.message) end
  end
  local t0 = core.now_ms()
  -- per table, the last progress seen: what --json reports if the run fails
  local seen = { tables = {}, total = 0 }
  local function progress(p)
    if not seen.tables[p.table] then seen.tables[#seen.tables + 1] = p.table end
    seen.tables[p.table], seen.total = p, p.total
    if ctx.json or ctx.quiet then return end
    local secs = math.max(core.now_ms() - t0, 1) / 1000
    ui.progress(("%s: %d rows%s, %d rows/s"):format(p.table, p.rows,
      p.held and p.held > 0 and (", " .. p.held .. " held") or "", math.floor(p.total / secs)), p.done)
  end
  return { tables = table_list(cmd, o.tables), before = o.before,
           max_rows = whole_opt(cmd, "--max-rows", o.max_rows, 1), batch = whole_opt(cmd, "--batch", o.batch, 1),
           sleep = whole_opt(cmd, "--sleep", o.sleep, 0), progress = progress,
           log = function(line) if not ctx.quiet then io.stderr:write("tide: ", line, "\n") end end,
           seen = seen }, lib
end

-- Runs lib[fn] (run or purge) and prints its summary: per table, then the
-- total. With --json a failure still prints one object: the rows each
-- table had moved in committed batches before it, and the error.
local function archive_report(ctx, db, lib, fn, o, verb, key)
  local ok, res = pcall(lib[fn], db, o)
  if not ok then
    if ctx.json then
      local tables = {}
      for i, t in ipairs(o.seen.tables) do
        local p = o.seen.tables[t]
        tables[i] = { table = t, shadow = shadow.name(t), [key] = p.rows,
                      held = p.held, ms = p.elapsed_ms, done = p.done or false }
      end
      out(ctx, ui.json({ url = db.url, backend = db.backend, tables = tables, [key] = o.seen.total,
                         error = cli.error_message(res, ctx) }))
    end
    error(res, 0)
  end
  if ctx.json then
    out(ctx, ui.json({ url = db.url, backend = db.backend, tables = res.tables, [key] = res[key],
                       held = res.held, stopped = res.stopped }))
    return
  end
  local rows = {}
  for _, r in ipairs(res.tables) do
    rows[#rows + 1] = { r.table, r.shadow, tostring(r[key]), r.held and tostring(r.held) or "",
                        ("%.1f s"):format(r.ms / 1000) }
  end
  local lines = {}
  if #rows > 0 then
    lines[1] = ui.table({ "table", "shadow", verb, res.held and "held" or "", "took" }, rows)
  end
  lines[#lines + 1] = ("%s %s%s"):format(verb, plural(res[key], "row"),
    res.stopped and " (stopped at --max-rows)" or "")
  out(ctx, table.concat(lines, "\n"))
end

local function archive_run(ctx, args)
  local o, lib = archive_opts(ctx, "archive run", args)
  local db <close> = tide.open(resolve_url(ctx))
  archive_report(ctx, db, lib, "run", o, "moved", "moved")
  return EXIT.ok
end

local function archive_purge(ctx, args)
  local o, lib = archive_opts(ctx, "archive purge", args)
  if not o.before then usage_error("archive purge: needs --before TIMESTAMP") end
  local db <close> = tide.open(resolve_url(ctx))
  archive_report(ctx, db, lib, "purge", o, "purged", "purged")
  return EXIT.ok
end

-- tide archive SUBCOMMAND: one entry per subcommand
local ARCHIVE = {
  init = archive_init,
  check = archive_check,
  run = archive_run,
  purge = archive_purge,
}

local function cmd_archive(ctx, args)
  local names = {}
  for k in pairs(ARCHIVE) do names[#names + 1] = k end
  table.sort(names)
  local sub = args[1]
  if not sub then usage_error(("archive: needs a subcommand (%s)"):format(table.concat(names, ", "))) end
  local fn = ARCHIVE[sub]
  if not fn then usage_error(("archive: unknown subcommand %q (%s)"):format(sub, table.concat(names, ", "))) end
  return fn(ctx, table.move(args, 2, #args, 1, {}))
end

-- ---- phased migrations (tide.phases) -------------------------------

-- tide contract [NAME]: see tide.runner.contract
local function cmd_contract(ctx, args)
  local o, rest = options("contract", args, {})
  if #rest > 1 then usage_error("contract: takes at most one migration NAME") end
  local ro = runner_opts(ctx, o)
  local p = plan.load(resolve_dir(ctx))
  local db <close>, shown = open_existing(resolve_url(ctx))
  local n = reported(ctx, db, shown, "contracted", function() return runner.contract(db, p, rest[1], ro) end)
  if not ctx.json then out(ctx, n == 0 and "nothing to contract" or ("contracted " .. plural(n, "migration"))) end
  return EXIT.ok
end

local BACKFILL_OPTS = { ["--batch"] = "value", ["--sleep"] = "value", ["--rows-per-second"] = "value",
                        ["--max-seconds"] = "value", ["--max-lag"] = "value" }

-- tide backfill [NAME] [--batch N] [--sleep MS] [--rows-per-second N]
-- [--max-seconds N] [--max-lag MS]: see tide.runner.backfill
local function cmd_backfill(ctx, args)
  local o, rest = options("backfill", args, BACKFILL_OPTS)
  if #rest > 1 then usage_error("backfill: takes at most one migration NAME") end
  local t0 = core.now_ms()
  local function progress(pr)
    if ctx.json or ctx.quiet then return end
    local secs = math.max(core.now_ms() - t0, 1) / 1000
    local rate = pr.rows / secs
    local left = pr.total and pr.done and math.max(pr.total - pr.done, 0)
    ui.progress(("%s: %d rows%s, %d rows/s%s"):format(pr.name, pr.done or pr.rows,
      pr.total and (" of " .. pr.total) or "", math.floor(rate),
      left and rate > 0 and not pr.finished and (", ETA %d s"):format(math.ceil(left / rate)) or ""), pr.finished)
  end
  local ro = {
    batch = whole_opt("backfill", "--batch", o.batch, 1), sleep = whole_opt("backfill", "--sleep", o.sleep, 0),
    rows_per_second = whole_opt("backfill", "--rows-per-second", o.rows_per_second, 1),
    max_seconds = whole_opt("backfill", "--max-seconds", o.max_seconds, 1),
    max_lag_ms = whole_opt("backfill", "--max-lag", o.max_lag, 0),
    lock_timeout_ms = ctx.lock_timeout_ms, progress = progress,
    log = function(line) if not ctx.quiet then io.stderr:write("tide: ", line, "\n") end end,
  }
  local p = plan.load(resolve_dir(ctx))
  local db <close>, shown = open_existing(resolve_url(ctx))
  local res = runner.backfill(db, p, rest[1], ro)
  if ctx.json then
    out(ctx, ui.json({ url = shown, backend = db.backend, backfills = res }))
    return EXIT.ok
  end
  for _, r in ipairs(res) do
    local batches = ("%d batch%s"):format(r.batches, r.batches == 1 and "" or "es")
    out(ctx, ("%s: %s in %s, %.1f s%s"):format(r.name, plural(r.rows, "row"), batches,
      r.ms / 1000, r.finished and ", done" or r.stopped and ", stopped at --max-seconds (run again to go on)" or ""))
  end
  if #res == 0 then out(ctx, "nothing to backfill") end
  return EXIT.ok
end

-- ---- starting a project, completion, diagrams ---------------------------

-- tide init [DIR]: see tide.scaffold.init
local function cmd_init(ctx, args)
  local _, rest = options("init", args, {})
  if #rest > 1 then usage_error("init: takes at most a DIR") end
  local written = require("tide.scaffold").init(rest[1] or ".")
  out(ctx, ctx.json and ui.json({ created = written }) or ("created " .. table.concat(written, ", ")))
  return EXIT.ok
end

-- Completion's own limits on the connection, whatever the URL asks for: a
-- server that does not answer, or a SQLite file another process holds
-- locked, must not hold the shell for long.
local COMPLETION_LIMITS = { sqlite = { busy_timeout = 1000 }, postgres = { connect_timeout = 2 },
                            mysql = { connect_timeout = 2, read_timeout = 2 } }

local function within_completion_limits(url)
  for k, v in pairs(COMPLETION_LIMITS[core.parse_url(url).scheme] or {}) do
    url = url:gsub("([?&])" .. k .. "=[^&]*&?", "%1"):gsub("[?&]$", "")
    url = url .. (url:find("?", 1, true) and "&" or "?") .. k .. "=" .. v
  end
  return url
end

-- What completion needs from the project: the plan's migrations and the
-- database's tables, at the --dir/--url the line gives (else configured).
-- A completion has nothing to offer rather than an error to print.
local function completion_source(ctx)
  return {
    migrations = function(found)
      local ok, names = pcall(plan.names, found.dir or resolve_dir(ctx))   -- tide.lua may be broken
      return ok and names or {}
    end,
    tables = function(found)
      local ok, names = pcall(function()
        local db <close> = open_readonly(within_completion_limits(found.url or resolve_url(ctx)))
        local list = {}
        for _, t in ipairs(db:tables()) do if t ~= history.TABLE then list[#list + 1] = t end end
        return list
      end)
      return ok and names or {}
    end,
  }
end

-- tide completion bash|zsh, and `candidates LINE` (what the scripts call)
local function cmd_completion(ctx, args)
  local completion = require "tide.completion"
  local shells = table.concat(completion.SHELLS, ", ")
  if args[1] == "candidates" then
    if #args ~= 2 then usage_error("completion candidates: needs the LINE") end
    for _, c in ipairs(completion.candidates(args[2], completion_source(ctx))) do io.stdout:write(c, "\n") end
    return EXIT.ok
  end
  if #args ~= 1 then usage_error(("completion: needs a shell (%s)"):format(shells)) end
  local script = completion.script(args[1])
  if not script then usage_error(("completion: no completion for %q; the shells are %s"):format(args[1], shells)) end
  io.stdout:write(script)
  return EXIT.ok
end

-- tide diagram [URL] [TABLE...] [--format dot|mermaid|svg]
local function cmd_diagram(ctx, args)
  local diagram = require "tide.diagram"
  local o, rest = options("diagram", args, { ["--format"] = "value" })
  local format = o.format or "dot"
  local known = false
  for _, f in ipairs(diagram.FORMATS) do known = known or f == format end
  if not known then
    usage_error(("diagram: --format must be %s, got %q"):format(table.concat(diagram.FORMATS, ", "), format))
  end
  local url
  if looks_like_url(rest[1]) then url = table.remove(rest, 1) end
  local db <close>, shown = open_readonly(url or resolve_url(ctx))
  out(ctx, (diagram.render(db, format, rest, shown):gsub("\n$", "")))
  return EXIT.ok
end

-- ---- test -------------------------------------------------------------

-- --backends a,b: names of backends compiled in, each once.
local function backend_list(v)
  local known, list, seen = {}, {}, {}
  for _, b in ipairs(core.backends) do known[b] = true end
  for name in (v .. ","):gmatch("([^,]*),") do
    if not known[name] then
      usage_error(("test: --backends: unknown backend %q (%s)"):format(name, table.concat(core.backends, ", ")))
    end
    if seen[name] then usage_error(("test: --backends: %s is named twice"):format(name)) end
    seen[name] = true
    list[#list + 1] = name
  end
  return list
end

-- tide test: see tide.testing. Exit 0 all passed, 1 a failure, 128 + the
-- signal when interrupted (the throwaway databases dropped).
local function cmd_test(ctx, args)
  local dialect = require "tide.dialect"
  local spec = { ["--backends"] = "value", ["--data"] = "value", ["--snake"] = "flag", ["--models"] = "value" }
  for _, b in ipairs(core.backends) do
    if not dialect.named(b).embedded then spec["--url-" .. b] = "value" end
  end
  local o, rest = options("test", args, spec)
  if #rest > 0 then usage_error("test: unexpected " .. rest[1]) end
  local backends = o.backends and backend_list(o.backends) or core.backends
  local urls, chosen = {}, {}
  for _, b in ipairs(backends) do chosen[b] = true end
  for _, b in ipairs(core.backends) do
    local v = o["url_" .. b]
    if v == "" then usage_error(("test: --url-%s needs a URL"):format(b)) end
    if v and not chosen[b] then usage_error(("test: --url-%s is given but %s is not in --backends"):format(b, b)) end
    urls[b] = v
  end
  local dir = resolve_dir(ctx)
  -- the models file as tide check finds it; the default one only if it exists
  local models = models_file(ctx, o)
  if not o.models and not project_config().models then
    local f = io.open(models, "r")
    if f then f:close() else models = nil end
  end
  local testing = require "tide.testing"
  local report = testing.walk { dir = dir, backends = backends, urls = urls, snake = o.snake, data = o.data,
    models = models, log = ctx.verbose and function(line) io.stderr:write(line, "\n") end, held = true }
  out(ctx, ctx.json and ui.json(report) or testing.render(report, ui))
  io.stdout:flush()
  core.interrupts("release")            -- Ctrl-C pressed again was held until the report was out
  if report.interrupted then return 128 + report.signal end
  return report.ok and EXIT.ok or EXIT.error
end

-- tide help [COMMAND]
local function cmd_help(ctx, args)
  local help = require "tide.cli_help"
  if #args > 1 then usage_error("help: takes at most one COMMAND") end
  if not args[1] then out(ctx, help.usage()) return EXIT.ok end
  local text = help.command(args[1])
  if not text then usage_error(("help: unknown command %q"):format(args[1])) end
  out(ctx, text)
  return EXIT.ok
end

local FLEET_OPTS

-- ---- fleets -----------------------------------------------------------

local fleet = lazy "tide.fleet"

-- Commands that run over a fleet (a targets file): each target runs the
-- command in a child process of its own. A command joins by its name here.
local FLEET = { status = true, up = true, down = true, archive = true, check = true, contract = true,
                backfill = true }
cli.FLEET = FLEET

-- The targets file of this run: --targets, else ./targets.lua when no URL
-- is configured (--url, TIDE_URL); nil for a single database.
local function targets_file(ctx)
  if ctx.targets then return ctx.targets end
  if ctx.url or (os.getenv("TIDE_URL") or "") ~= "" then return nil end
  local f = io.open(fleet.DEFAULT_FILE, "r")
  if not f then return nil end
  f:close()
  return fleet.DEFAULT_FILE
end

-- The last applied migration and the counts, read on db (opened
-- read-only from the configured URL when nil; kept open for the next call);
-- nil when the database cannot be read (a SQLite file not made yet).
local function applied_state(ctx, held)
  local ok, res = pcall(function()
    held.plan = held.plan or plan.load(resolve_dir(ctx))
    held.db = held.db or open_readonly(resolve_url(ctx))
    local st = runner.status(held.db, held.plan)
    local n, last = 0, nil
    for _, s in ipairs(st.entries) do
      if s.state == "applied" then n, last = n + 1, s.name end
    end
    return { applied = n, pending = #st.entries - n, last = last }
  end)
  return ok and res or nil
end

-- The child's side: runs the command between two reads of what is applied
-- (on one connection of their own: a connection costs more than the reads),
-- and reports them on the last line of stderr.
local function fleet_child(ctx, fn, args)
  local held <close> = setmetatable({}, { __close = function(h) if h.db then h.db:close() end end })
  local before = applied_state(ctx, held)
  local ok, code = pcall(fn, ctx, args)
  local after = applied_state(ctx, held)
  local function lit(v)
    if type(v) == "table" then
      local parts = {}
      for k, x in pairs(v) do parts[#parts + 1] = ("[%q]=%s"):format(k, lit(x)) end
      return "{" .. table.concat(parts, ",") .. "}"
    end
    -- %q writes a newline as a backslash and a newline: the report is one line
    return type(v) == "string" and (("%q"):format(v):gsub("\\\n", "\\n")) or tostring(v)
  end
  io.stderr:write(fleet.REPORT_MARK, lit({ before = before, after = after }), "\n")
  if not ok then error(code, 0) end
  return code
end

-- What to show for a target: the last applied migration, or "-".
local function shown_state(st)
  if not st then return "-" end
  return st.last and ("%s (%d/%d)"):format(st.last, st.applied, st.applied + st.pending)
    or ("none (0/%d)"):format(st.pending)
end

local RESULT = { [0] = "ok", [3] = "pending", [4] = "attention" }

-- The one-line result of a target.
local function result_text(r)
  if r.skipped then return "skipped (--fail-fast)" end
  if RESULT[r.code] then return RESULT[r.code] end
  local msg
  for line in r.stderr:gmatch("[^\n]+") do msg = line:match("^tide: (.*)") or msg end
  -- the child's own error line is printable already; a line a migration
  -- wrote (the child killed before its own) may not be
  msg = msg and ui.printable(msg)
  -- core.wait gives 128 + N for a child ended by signal N
  local how = r.code > 128 and ("killed by signal %d"):format(r.code - 128) or ("exit %d"):format(r.code)
  return ("failed (%s)%s"):format(how, msg and (": " .. msg) or "")
end

-- Runs command `cmd` over the targets of `file`; exit code: the worst.
local function run_fleet(ctx, file, cmd, args)
  if ctx.url then usage_error("--targets and --url do not go together") end
  local parallel = 4
  if ctx.parallel then
    parallel = ctx.parallel:match("^%d+$") and math.tointeger(tonumber(ctx.parallel))
    if not parallel or parallel < 1 or parallel > 64 then
      usage_error(("--parallel must be a whole number from 1 to 64, got %q"):format(ctx.parallel))
    end
  end
  local targets = fleet.select(fleet.load(file), ctx.only, ctx.except)
  local dir = resolve_dir(ctx)
  -- the program: this binary, or the interpreter and script that run tide
  local prefix, lo = {}, 0
  while arg and arg[lo - 1] do lo = lo - 1 end
  for i = lo, 0 do prefix[#prefix + 1] = arg and arg[i] end
  if #prefix == 0 then prefix = { "tide" } end
  local function argv_for(t)
    local argv = table.move(prefix, 1, #prefix, 1, {})
    -- the child's output is shown with -v only: its logs are kept then
    for _, a in ipairs({ "--dir", dir, ctx.verbose and "-v" or "-q" }) do argv[#argv + 1] = a end
    if ctx.lock_timeout then argv[#argv + 1] = "--lock-timeout=" .. ctx.lock_timeout end
    argv[#argv + 1] = cmd
    table.move(args, 1, #args, #argv + 1, argv)
    return argv, { TIDE_URL = t.url, TIDE_FLEET_CHILD = "1" }
  end
  local done, tty = 0, core.isatty(2) and not ctx.quiet and not ctx.json
  local results = fleet.run(targets, argv_for, { parallel = parallel, fail_fast = ctx.fail_fast,
    on_done = function(r)
      done = done + 1
      if tty then
        io.stderr:write(("[%d/%d] %s: %s (%.1f s)\n"):format(done, #targets, r.name, result_text(r), r.ms / 1000))
      end
    end })
  local code, rows, list = EXIT.ok, {}, {}
  for _, r in ipairs(results) do
    code = r.skipped and fleet.worse(code, EXIT.error) or fleet.worse(code, r.code)
    local rep = r.report or {}
    rows[#rows + 1] = { r.name, shown_state(rep.before), shown_state(rep.after),
                        r.ms and ("%.1f s"):format(r.ms / 1000) or "-", result_text(r) }
    list[#list + 1] = { name = r.name, url = r.url, before = rep.before, after = rep.after, ms = r.ms,
                        code = r.code, skipped = r.skipped or nil, result = result_text(r) }
    if ctx.verbose and not r.skipped then
      for line in (r.stdout .. r.stderr):gmatch("[^\n]+") do io.stderr:write(r.name, ": ", line, "\n") end
    end
  end
  if ctx.json then
    out(ctx, ui.json({ command = table.concat({ cmd, table.unpack(args) }, " "), code = code, targets = list }))
  else
    out(ctx, ui.table({ "target", "before", "after", "time", "result" }, rows))
  end
  return code
end

local COMMANDS = {
  status = cmd_status, up = cmd_up, down = cmd_down, new = cmd_new, history = cmd_history,
  validate = cmd_validate, stamp = cmd_stamp, resolve = cmd_resolve, accept = cmd_accept,
  inspect = cmd_inspect, lint = cmd_lint,
  check = cmd_check, diff = cmd_diff, models = cmd_models,
  archive = cmd_archive,
  test = cmd_test,
  contract = cmd_contract, backfill = cmd_backfill,
  run = cmd_run,
  repl = cmd_repl,
  help = cmd_help,
  init = cmd_init,
  completion = cmd_completion,
  diagram = cmd_diagram,
}

--- The names of every command, sorted (completion and the man page take
-- theirs from tide.cli_help; a spec checks the two agree).
function cli.commands()
  local names = {}
  for k in pairs(COMMANDS) do names[#names + 1] = k end
  table.sort(names)
  return names
end

-- Commands with a JSON output; --json with any other is a usage error.
local JSON = { status = true, up = true, down = true, new = true, history = true, validate = true,
               stamp = true, resolve = true, accept = true, inspect = true, archive = true,
               lint = true, init = true, test = true, contract = true, backfill = true, check = true,
               diff = true, models = true }

-- Global options of a fleet run (tide.fleet), each taking a value.
FLEET_OPTS = { ["--targets"] = true, ["--parallel"] = true, ["--only"] = true, ["--except"] = true }

-- Takes the global options from anywhere in argv; the first other word is
-- the command, the rest (command options included) its arguments. -h after
-- a command asks for that command's help.
local function parse(argv)
  local ctx, rest, cmd = {}, {}, nil
  local i = 1
  while i <= #argv do
    local a = argv[i]
    local name, value = a:match("^(%-%-[%w-]+)=(.*)$")
    name = name or a
    if name == "--url" or name == "--dir" or name == "--lock-timeout" or FLEET_OPTS[name] then
      if not value then
        i = i + 1
        value = argv[i]
        if not value then usage_error(name .. " needs a value") end
      end
      ctx[name:sub(3):gsub("-", "_")] = value
    elseif a == "--json" then ctx.json = true
    elseif a == "--fail-fast" then ctx.fail_fast = true
    elseif a == "-q" or a == "--quiet" then ctx.quiet = true
    elseif a == "-v" or a == "--verbose" then ctx.verbose = true
    elseif a == "-h" or a == "--help" then return ctx, "help", { COMMANDS[cmd] and cmd or nil }
    elseif a == "--version" then return ctx, "version", {}
    elseif not cmd and a:sub(1, 1) == "-" then usage_error("unknown option " .. a)
    elseif not cmd then cmd = a
    else rest[#rest + 1] = a end
    i = i + 1
  end
  if ctx.quiet and ctx.verbose then usage_error("-q and -v contradict each other") end
  if ctx.lock_timeout then ctx.lock_timeout_ms = lock_timeout_ms(ctx.lock_timeout) end
  return ctx, cmd, rest
end

-- Rejects options a command does not take.
function no_options(cmd, args)
  for _, a in ipairs(args) do
    if a:sub(1, 1) == "-" then usage_error(("%s: unknown option %s"):format(cmd, a)) end
  end
end

-- What to call a value raised that is not a string or a tide error.
local function describe_raised(e, ctx)
  if type(e) == "table" or type(e) == "userdata" then
    local mt = getmetatable(e)
    if type(mt) == "table" and mt.__tostring then
      local ok, s = pcall(tostring, e)
      if ok and type(s) == "string" then return s end
    end
  end
  local who = ctx and ctx.running and ("migration " .. ctx.running) or "something"
  return ("%s raised a non-string error (%s)"):format(who, type(e))
end

--- One line for an error value of any type: a string, a tide error, or
-- anything a migration raised (nil, a table, a table whose __tostring fails).
function cli.error_message(e, ctx)
  if type(e) == "string" then return e end
  if core.is_error(e) then return tostring(e) end
  return describe_raised(e, ctx)
end

--- Runs the command line `argv` (without the program name); returns the
-- exit code. Errors are printed as one line on stderr.
function cli.main(argv)
  local ctx = {}
  local ok, code = xpcall(function()
    local cmd, args
    ctx, cmd, args = parse(argv)
    if cmd == "version" then
      io.stdout:write("tide ", core.version, "\n")
      return EXIT.ok
    end
    if not cmd then usage_error("no command given") end
    local fn = COMMANDS[cmd]
    if not fn then usage_error(("unknown command %q"):format(cmd)) end
    if ctx.json and not JSON[cmd] then usage_error(("--json: %s has no JSON output"):format(cmd)) end
    local file = FLEET[cmd] and targets_file(ctx)
    if file then return run_fleet(ctx, file, cmd, args) end
    for _, o in ipairs({ "targets", "parallel", "only", "except", "fail_fast" }) do
      if ctx[o] then
        local opt = "--" .. o:gsub("_", "-")
        usage_error(FLEET[cmd] and ("%s needs a targets file (--targets FILE or ./%s)"):format(opt, fleet.DEFAULT_FILE)
          or ("%s: %s does not run over a fleet"):format(opt, cmd))
      end
    end
    if os.getenv("TIDE_FLEET_CHILD") then return fleet_child(ctx, fn, args) end
    local code = fn(ctx, args)
    -- output that did not reach its file (a full disk) is a failure, not a
    -- truncated diagram or report with exit 0
    local flushed, e = io.stdout:flush()
    if not flushed then error("cannot write the output: " .. tostring(e), 0) end
    return code
  end, function(e)
    if type(e) == "table" and getmetatable(e) and rawget(e, "usage") then return e end
    if type(e) == "string" and os.getenv("TIDE_DEBUG") then return debug.traceback(e, 2) end
    return { raised = e }
  end)
  if ok then return code or EXIT.ok end
  if code.usage then
    io.stderr:write("tide: ", code.usage, " (see tide --help)\n")
    return EXIT.usage
  end
  local msg = type(code) == "string" and code or cli.error_message(code.raised, ctx)
  if os.getenv("TIDE_DEBUG") == nil then
    -- one line (the traceback with TIDE_DEBUG=1); it may quote a row's
    -- value or a name: no escape of theirs reaches the terminal
    msg = ui.printable(msg:match("^[^\n]*"))
  end
  io.stderr:write("tide: ", msg, "\n")
  return EXIT.error
end

return cli
