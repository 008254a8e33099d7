--- tide.cli: the `tide` command line: global options, configuration,
-- commands and exit codes (0 ok, 1 error, 2 usage, 3 pending, 4 attention).
local core = require "tide.core"

-- Modules load on first use, so `tide --version` and `tide help` load none
-- and each command only what it touches.
local function lazy(name)
  return setmetatable({}, { __index = function(_, k) return require(name)[k] end })
end
local tide = lazy "tide"
local ui = lazy "tide.ui"

local cli = {}

local USAGE = [[
usage: tide [--url URL] [--dir DIR] [--json] [-q|-v] COMMAND [ARGS]

commands:
  status                  applied, pending and problems (exit 0 up to date,
                          3 pending, 4 needs attention)
  up [--to NAME] [--sql] [--single-transaction] [--allow-out-of-order]
                          apply pending migrations (--sql: print, touch nothing)
  down [--to NAME | --steps N] [--sql]
                          roll back the last migration (or more)
  new NAME                write migrations/NAME.lua and add it to the plan
  history                 every recorded event
  validate                check the plan and every file (no database)
  stamp NAME              record migrations up to NAME as applied, unrun
  resolve NAME --applied|--rolled-back
                          settle an interrupted migration by hand
  accept NAME             record the edited file of an applied migration
  inspect [URL] [TABLE]   the schema, or one table: columns, keys, indexes
  run FILE [ARGS]         run a Lua script with `tide` and `url` set
  repl [URL]              a Lua/SQL prompt with `db` connected (\\help inside)
  help                    this text

options:
  --url URL     database (else $TIDE_URL, else tide.lua, else sqlite:tide.db)
  --dir DIR     migrations folder (default ./migrations)
  --json        machine-readable output (status, history, inspect)
  --lock-timeout SECONDS  how long to wait for another runner (default 30)
  -q, -v        quieter, more verbose
  --version     print the version
  -h, --help    this text]]

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

local function positive(cmd, opt, v)
  local n = math.tointeger(tonumber(v))
  if not n or n < 0 then usage_error(("%s: %s must be a whole number, got %q"):format(cmd, opt, v)) end
  return n
end

local function looks_like_url(s)
  return s ~= nil and s:match("^%a[%w+.-]*:") ~= nil
end

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
  local db <close> = tide.open(url or resolve_url(ctx))
  if tname then
    local d = db:describe(tname)
    if ctx.json then
      out(ctx, ui.json({ backend = db.backend, table = with_portable_types(d) }))
    else
      out(ctx, ui.describe_table(d))
    end
    return EXIT.ok
  end
  local s = db:schema()
  local names = {}
  for n in pairs(s) do names[#names + 1] = n end
  table.sort(names)
  if ctx.json then
    for _, n in ipairs(names) do with_portable_types(s[n]) end
    out(ctx, ui.json({ backend = db.backend, tables = s }))
    return EXIT.ok
  end
  local parts = { ("%s (%s): %d table%s"):format(db.url, db.backend, #names,
                                                   #names == 1 and "" or "s") }
  for _, n in ipairs(names) do parts[#parts + 1] = "\n" .. ui.describe_table(s[n]) end
  out(ctx, table.concat(parts, "\n"))
  return EXIT.ok
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

local function runner_opts(ctx, o)
  return { lock_timeout_ms = ctx.lock_timeout and positive("tide", "--lock-timeout", ctx.lock_timeout) * 1000,
           log = not ctx.quiet and function(msg) io.stderr:write(msg, "\n") end or nil,
           to = o.to, steps = o.steps and positive("down", "--steps", o.steps),
           allow_out_of_order = o.allow_out_of_order, single_transaction = o.single_transaction }
end

local function status_report(ctx, st, db)
  if ctx.json then
    local migrations = {}
    for _, s in ipairs(st.entries) do
      migrations[#migrations + 1] = { name = s.name, state = s.state, checksum = s.entry.checksum,
                                      applied_at = s.state == "applied" and s.event.finished_at or nil,
                                      step = s.state == "interrupted" and s.event.step or nil }
    end
    local problems = {}
    for _, p in ipairs(st.problems) do
      problems[#problems + 1] = { kind = p.kind, name = p.name, message = p.message }
    end
    out(ctx, ui.json({ url = db.url, backend = db.backend, code = st.code, migrations = migrations,
                       problems = problems }))
    return
  end
  local rows = {}
  for _, s in ipairs(st.entries) do
    local when = s.state == "applied" and (s.event.finished_at or "") or ""
    local state = s.state == "applied" and ui.colour("green", "applied")
      or s.state == "pending" and ui.colour("yellow", "pending") or ui.colour("red", s.state)
    rows[#rows + 1] = { s.name, state, when }
  end
  local pending = 0
  for _, s in ipairs(st.entries) do if s.state ~= "applied" then pending = pending + 1 end end
  local lines = { ("%s (%s): %d migration%s, %d applied, %d pending"):format(db.url, db.backend,
    #st.entries, #st.entries == 1 and "" or "s", #st.entries - pending, pending) }
  if #rows > 0 then lines[#lines + 1] = ui.table({ "migration", "state", "applied at" }, rows, { indent = "  " }) end
  for _, p in ipairs(st.problems) do lines[#lines + 1] = ui.colour("red", "problem: ") .. p.message end
  out(ctx, table.concat(lines, "\n"))
end

local function cmd_status(ctx, args)
  local _, rest = options("status", args, {})
  if #rest > 0 then usage_error("status: takes no arguments") end
  local p = plan.load(resolve_dir(ctx))
  local db <close> = tide.open(resolve_url(ctx))
  local st = runner.status(db, p)
  status_report(ctx, st, db)
  return st.code
end

local function cmd_up(ctx, args)
  local o, rest = options("up", args, { ["--to"] = "value", ["--sql"] = "flag",
    ["--single-transaction"] = "flag", ["--allow-out-of-order"] = "flag" })
  if #rest > 0 then usage_error("up: unexpected " .. rest[1]) end
  local p = plan.load(resolve_dir(ctx))
  local db <close> = tide.open(resolve_url(ctx))
  if o.sql then
    out(ctx, table.concat(runner.sql(db, p, "up", { to = o.to }), "\n"))
    return EXIT.ok
  end
  local n = runner.up(db, p, runner_opts(ctx, o))
  out(ctx, n == 0 and "up to date" or ("applied %d migration%s"):format(n, n == 1 and "" or "s"))
  return EXIT.ok
end

local function cmd_down(ctx, args)
  local o, rest = options("down", args, { ["--to"] = "value", ["--steps"] = "value", ["--sql"] = "flag" })
  if #rest > 0 then usage_error("down: unexpected " .. rest[1]) end
  if o.to and o.steps then usage_error("down: give --to or --steps, not both") end
  local p = plan.load(resolve_dir(ctx))
  local db <close> = tide.open(resolve_url(ctx))
  local ro = runner_opts(ctx, o)
  if o.sql then
    out(ctx, table.concat(runner.sql(db, p, "down", ro), "\n"))
    return EXIT.ok
  end
  local n = runner.down(db, p, ro)
  out(ctx, ("rolled back %d migration%s"):format(n, n == 1 and "" or "s"))
  return EXIT.ok
end

local function one_name(cmd, args, spec)
  local o, rest = options(cmd, args, spec or {})
  if #rest ~= 1 then usage_error(cmd .. ": needs exactly one migration NAME") end
  return rest[1], o
end

local function cmd_new(ctx, args)
  local name = one_name("new", args)
  out(ctx, "created " .. plan.new(resolve_dir(ctx), name))
  return EXIT.ok
end

local function cmd_validate(ctx, args)
  local _, rest = options("validate", args, {})
  if #rest > 0 then usage_error("validate: takes no arguments") end
  local p = plan.validate(resolve_dir(ctx))
  out(ctx, ("%s: %d migration%s, all valid"):format(p.dir, #p.entries, #p.entries == 1 and "" or "s"))
  return EXIT.ok
end

local function cmd_history(ctx, args)
  local _, rest = options("history", args, {})
  if #rest > 0 then usage_error("history: takes no arguments") end
  local db <close> = tide.open(resolve_url(ctx))
  local events = require("tide.history").events(db)
  if ctx.json then
    out(ctx, ui.json({ url = db.url, events = events }))
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
  local db <close> = tide.open(resolve_url(ctx))
  local n = runner.stamp(db, plan.load(resolve_dir(ctx)), name, runner_opts(ctx, {}))
  out(ctx, ("stamped %d migration%s as applied"):format(n, n == 1 and "" or "s"))
  return EXIT.ok
end

local function cmd_resolve(ctx, args)
  local name, o = one_name("resolve", args, { ["--applied"] = "flag", ["--rolled-back"] = "flag" })
  if (o.applied and o.rolled_back) or not (o.applied or o.rolled_back) then
    usage_error("resolve: give --applied or --rolled-back")
  end
  local db <close> = tide.open(resolve_url(ctx))
  runner.resolve(db, plan.load(resolve_dir(ctx)), name, o.applied and "applied" or "rolled_back",
                 runner_opts(ctx, {}))
  out(ctx, ("%s resolved as %s"):format(name, o.applied and "applied" or "rolled back"))
  return EXIT.ok
end

local function cmd_accept(ctx, args)
  local name = one_name("accept", args)
  local db <close> = tide.open(resolve_url(ctx))
  runner.accept(db, plan.load(resolve_dir(ctx)), name, runner_opts(ctx, {}))
  out(ctx, name .. ": the edited file is accepted")
  return EXIT.ok
end

-- tide repl [URL]: see tide.repl
local function cmd_repl(ctx, args)
  local _, rest = options("repl", args, {})
  if #rest > 1 then usage_error("repl: takes at most a URL") end
  local db <close> = tide.open(rest[1] or resolve_url(ctx))
  return require("tide.repl").run(db, { interactive = core.isatty(0) and core.isatty(1) })
end

local COMMANDS = {
  status = cmd_status, up = cmd_up, down = cmd_down, new = cmd_new, history = cmd_history,
  validate = cmd_validate, stamp = cmd_stamp, resolve = cmd_resolve, accept = cmd_accept,
  inspect = cmd_inspect,
  run = cmd_run,
  repl = cmd_repl,
  help = function(ctx) out(ctx, USAGE) return EXIT.ok end,
}

-- Takes the global options from anywhere in argv; the first other word is
-- the command, the rest (command options included) its arguments.
local function parse(argv)
  local ctx, rest, cmd = {}, {}, nil
  local i = 1
  while i <= #argv do
    local a = argv[i]
    local name, value = a:match("^(%-%-[%w-]+)=(.*)$")
    name = name or a
    if name == "--url" or name == "--dir" or name == "--lock-timeout" then
      if not value then
        i = i + 1
        value = argv[i]
        if not value then usage_error(name .. " needs a value") end
      end
      ctx[name:sub(3):gsub("-", "_")] = value
    elseif a == "--json" then ctx.json = true
    elseif a == "-q" or a == "--quiet" then ctx.quiet = true
    elseif a == "-v" or a == "--verbose" then ctx.verbose = true
    elseif a == "-h" or a == "--help" then return ctx, "help", {}
    elseif a == "--version" then return ctx, "version", {}
    elseif not cmd and a:sub(1, 1) == "-" then usage_error("unknown option " .. a)
    elseif not cmd then cmd = a
    else rest[#rest + 1] = a end
    i = i + 1
  end
  return ctx, cmd, rest
end

-- Rejects options a command does not take.
function no_options(cmd, args)
  for _, a in ipairs(args) do
    if a:sub(1, 1) == "-" then usage_error(("%s: unknown option %s"):format(cmd, a)) end
  end
end

--- Runs the command line `argv` (without the program name); returns the
-- exit code. Errors are printed as one line on stderr.
function cli.main(argv)
  local ok, code = xpcall(function()
    local ctx, cmd, args = parse(argv)
    if cmd == "version" then
      io.stdout:write("tide ", core.version, "\n")
      return EXIT.ok
    end
    if not cmd then usage_error("no command given") end
    local fn = COMMANDS[cmd]
    if not fn then usage_error(("unknown command %q"):format(cmd)) end
    return fn(ctx, args)
  end, function(e)
    if type(e) == "table" then return e end
    return debug.traceback(tostring(e), 2)
  end)
  if ok then return code or EXIT.ok end
  if type(code) == "table" and code.usage then
    io.stderr:write("tide: ", code.usage, " (see tide --help)\n")
    return EXIT.usage
  end
  local msg = tostring(code)
  if os.getenv("TIDE_DEBUG") == nil and type(code) == "string" then
    msg = msg:match("^[^\n]*")             -- one line; the traceback with TIDE_DEBUG=1
  end
  io.stderr:write("tide: ", msg, "\n")
  return EXIT.error
end

return cli
