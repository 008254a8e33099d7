--- tide.fleet: one command over many databases (a targets file). Each
-- target runs in a child `tide` process of its own (its own connection,
-- lock and history), at most `parallel` at a time; one Lua loop drives the
-- children through non-blocking pipes (core.spawn, core.poll), so a slow
-- target never holds up the others and no threads are needed.
local core = require "tide.core"

local fleet = {}

--- The file read when no --targets is given.
fleet.DEFAULT_FILE = "targets.lua"

-- A child reports what it saw on its last stderr line, after this mark.
fleet.REPORT_MARK = "\30tide-fleet "

local function misuse(fmt, ...)
  error(core.error { class = "misuse", message = fmt:format(...) }, 0)
end

-- ${NAME} references in s, replaced from getenv (once: a value holding
-- "${X}" stays as it is); the names unset (or empty) are collected in
-- `unset`. A reference that is no variable name (${PG-PASS}) is refused
-- rather than kept as text, which would be a wrong password sent to the
-- server (a literal "${" in a URL is written %24{).
local function expand(s, getenv, unset, where)
  return (s:gsub("%${([^}]*)}", function(name)
    if not name:match("^[%a_][%w_]*$") then
      misuse("%s: ${%s} is not an environment variable name (letters, digits, '_'; write a literal $ as %%24)",
             where, name)
    end
    local v = getenv(name)
    if v == nil or v == "" then unset[#unset + 1] = name return "" end
    return v
  end))
end

--- Reads a targets file: `return { {name = "cell1", url = "..."}, ... }`.
-- URLs may hold ${ENV} references; every unset one is named before
-- anything runs. Returns {{name, url}} in file order. `getenv` defaults
-- to os.getenv.
function fleet.load(path, getenv)
  getenv = getenv or os.getenv
  local f, oerr = io.open(path, "r")
  if not f then misuse("targets file: %s", oerr) end
  local src, rerr = f:read("a")
  f:close()
  if not src then misuse("targets file: %s: %s", path, rerr) end    -- a directory
  local chunk, cerr = load(src, "@" .. path, "t", {})
  if not chunk then misuse("%s", cerr) end                      -- "path:LINE: ..."
  local ok, list = pcall(chunk)
  if not ok then misuse("%s: %s", path, tostring(list)) end
  if type(list) ~= "table" or #list == 0 then
    misuse("%s: must return a non-empty list {{name = ..., url = ...}, ...}", path)
  end
  -- a nil in the list (a misspelt variable) or a key that is not a
  -- position would drop a target silently
  local last = 0
  for k in pairs(list) do
    if math.type(k) ~= "integer" or k < 1 then
      misuse("%s: the list holds a key %s: targets go in a plain list {{...}, {...}}", path,
             type(k) == "string" and ("%q"):format(k) or tostring(k))
    end
    last = math.max(last, k)
  end
  for i = 1, last do
    if list[i] == nil then misuse("%s: target %d is nil (a misspelt variable?)", path, i) end
  end
  local targets, seen, unset = {}, {}, {}
  for i, t in ipairs(list) do
    if type(t) ~= "table" then misuse("%s: target %d is not a table", path, i) end
    for k in pairs(t) do
      if k ~= "name" and k ~= "url" then misuse("%s: target %d: unknown field %s", path, i, tostring(k)) end
    end
    if type(t.name) ~= "string" or not t.name:match("^[%w_.-]+$") then
      misuse("%s: target %d: name must be letters, digits, '_', '.' or '-', got %s", path, i,
             type(t.name) == "string" and ("%q"):format(t.name) or type(t.name))
    end
    if seen[t.name] then misuse("%s: target %d: duplicate name %q (also target %d)", path, i, t.name, seen[t.name]) end
    seen[t.name] = i
    if type(t.url) ~= "string" or t.url == "" then misuse("%s: target %s: needs a url", path, t.name) end
    if t.url:find("%z") then misuse("%s: target %s: the url holds a NUL byte", path, t.name) end
    local missing = {}
    local url = expand(t.url, getenv, missing, ("%s: target %s"):format(path, t.name))
    for _, name in ipairs(missing) do unset[#unset + 1] = ("${%s} (target %s)"):format(name, t.name) end
    targets[i] = { name = t.name, url = url }
  end
  if #unset > 0 then misuse("%s: not set in the environment: %s", path, table.concat(unset, ", ")) end
  return targets
end

local function name_list(opt, v, known)
  local names = {}
  for n in (v .. ","):gmatch("([^,]*),") do
    if not known[n] then misuse("%s: no target named %q", opt, n) end
    names[n] = true
  end
  return names
end

--- The targets --only and --except leave (comma-separated names; an
-- unknown name is refused).
function fleet.select(targets, only, except)
  local known = {}
  for _, t in ipairs(targets) do known[t.name] = true end
  local keep = only and name_list("--only", only, known)
  local drop = except and name_list("--except", except, known) or {}
  local out = {}
  for _, t in ipairs(targets) do
    if (not keep or keep[t.name]) and not drop[t.name] then out[#out + 1] = t end
  end
  if #out == 0 then misuse("--only/--except leave no target") end
  return out
end

-- Exit codes from best to worst: ok, pending, attention, error, usage.
local RANK = { [0] = 0, [3] = 1, [4] = 2, [1] = 3, [2] = 4 }

--- The worse of two exit codes; a code tide never gives (a child killed:
-- 128 + the signal) counts as an error, 1, not passed on as the fleet's.
function fleet.worse(a, b)
  a, b = RANK[a] and a or 1, RANK[b] and b or 1
  return (RANK[b] > RANK[a]) and b or a
end

-- One state of a report line ({applied, pending, last}), read by patterns:
-- the line is a child's output, never run as code (a migration can write
-- anything to stderr, a loop that would hang the parent included).
local function state_of(line, key)
  local body = line:match('%["' .. key .. '"%]=(%b{})')
  if not body then return nil end
  local applied = math.tointeger(tonumber(body:match('%["applied"%]=(%d+)')))
  local pending = math.tointeger(tonumber(body:match('%["pending"%]=(%d+)')))
  if not applied or not pending then return nil end
  return { applied = applied, pending = pending, last = body:match('%["last"%]="([%w_.%-]+)"') }
end

-- The report line a child wrote (its last: what a migration printed before
-- cannot pass for it), decoded, and its stderr without that line.
local function report_of(stderr)
  local at, from = nil, 1
  while true do
    local i = stderr:find(fleet.REPORT_MARK, from, true)
    if not i then break end
    at, from = i, i + 1
  end
  if not at then return nil, stderr end
  local line = stderr:sub(at + #fleet.REPORT_MARK):match("^[^\n]*")
  return { before = state_of(line, "before"), after = state_of(line, "after") },
         stderr:sub(1, at - 1) .. stderr:sub(at + #fleet.REPORT_MARK + #line + 1)
end

--- Runs argv_for(target) (-> argv, env) for every target, at most opts.parallel at once.
-- opts.fail_fast: after a failure (exit 1 or 2) no new target starts;
-- opts.on_done(result) is called as each target ends. Returns the results
-- in target order: {name, url, code, ms, stdout, stderr, report, skipped}.
function fleet.run(targets, argv_for, opts)
  local results, running, next_i, failed = {}, {}, 1, false
  local function start(i)
    local t = targets[i]
    local pid, out_fd, err_fd = core.spawn(argv_for(t))   -- argv, env
    running[#running + 1] = { i = i, pid = pid, fds = { [out_fd] = {}, [err_fd] = {} },
                              out_fd = out_fd, err_fd = err_fd, t0 = core.now_ms() }
  end
  local function finish(r)
    local code = core.wait(r.pid)
    local stderr = table.concat(r.fds[r.err_fd])
    local report, rest = report_of(stderr)
    local t = targets[r.i]
    local res = { name = t.name, url = core.redact_url(t.url), code = code, ms = core.now_ms() - r.t0,
                  stdout = table.concat(r.fds[r.out_fd]), stderr = rest, report = report }
    results[r.i] = res
    if code == 1 or code == 2 or code > 4 then failed = true end
    if opts.on_done then opts.on_done(res) end
  end
  local function drive()
    while true do
      -- a signal's error can be swallowed by a pcall inside the loop: the
      -- recorded signal is checked here too
      if core.interrupts("state") then error("interrupted", 0) end
      while #running < opts.parallel and next_i <= #targets and not (failed and opts.fail_fast) do
        start(next_i)
        next_i = next_i + 1
      end
      if #running == 0 then break end
      local fds = {}
      for _, r in ipairs(running) do
        for fd, buf in pairs(r.fds) do if not buf.eof then fds[#fds + 1] = fd end end
      end
      local ready = {}
      for _, fd in ipairs(core.poll(fds, -1)) do ready[fd] = true end
      for k = #running, 1, -1 do
        local r = running[k]
        local open = 0
        for fd, buf in pairs(r.fds) do
          if ready[fd] then
            local s = core.read_fd(fd)
            if s == nil then buf.eof = true else buf[#buf + 1] = s end
          end
          if not buf.eof then open = open + 1 end
        end
        if open == 0 then
          table.remove(running, k)
          finish(r)
        end
      end
    end
  end
  -- Ctrl-C, SIGTERM or SIGHUP (or an error here) ends the children still
  -- running, and waits for them: none is left migrating on its own.
  core.interrupts("catch")
  local ok, err = pcall(drive)
  local signal = core.interrupts("hold")
  if not ok then
    -- the signal's error carries a position in this file: said plainly
    if signal then err = ("interrupted by %s: %d target(s) stopped"):format(signal, #running) end
    for _, r in ipairs(running) do core.terminate(r.pid) end
    for _, r in ipairs(running) do
      core.wait(r.pid)
      for fd, buf in pairs(r.fds) do if not buf.eof then core.close_fd(fd) end end
    end
  end
  core.interrupts("release")
  if not ok then error(err, 0) end
  for i = next_i, #targets do
    local t = targets[i]
    results[i] = { name = t.name, url = core.redact_url(t.url), skipped = true }
  end
  return results
end

return fleet
