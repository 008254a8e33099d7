-- Hostile fleets, on a fleet holding one database of each backend: a
-- targets list with holes, ${ENV} edge cases, a child killed by a signal
-- (with terminal escapes on its stderr), a migration printing a fake report
-- line, and the parent stopped by SIGTERM while its children migrate.
local h = require "helpers"

local function missing_backend()
  for _, b in ipairs(h.backends()) do if b.missing then return b.missing end end
end

-- A fleet of one new database on each backend: {{name, url}}.
local function fresh_fleet()
  local list = {}
  for _, b in ipairs(h.backends()) do list[#list + 1] = { b.name, b.fresh_url() } end
  return list
end

local targets_file = h.targets_file

local row_of = h.row_of

-- The pid of the process running this code (a migration: the child tide).
local SELF_PID = 'io.open("/proc/self/stat"):read("a"):match("^%d+")'

-- Whether process pid runs (a zombie nobody has reaped yet has ended).
local function alive(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  local stat = f and f:read("a")
  if f then f:close() end
  return stat ~= nil and stat:match("^%d+ %b() (%a)") ~= "Z"
end

describe("hostile fleet", function()
  local missing = missing_backend()
  if missing then
    if os.getenv("TIDE_REQUIRE_BACKENDS") == "1" then it("has its backends", function() error(missing) end) end
    return
  end
  local dir = h.migrations({ h.table_migration("0001_a", "a") })

  it("refuses a targets list with a nil entry or a key that is not a position, running nothing", function()
    local lite = h.tmpname(".db")
    for _, case in ipairs({
      -- a misspelt variable is nil: the target after it was dropped silently
      { ("local a = { name = 'a', url = %q }\nreturn { a, b_misspelt, { name = 'c', url = %q } }"):format(
          "sqlite:" .. lite, "sqlite:" .. lite), "target 2 is nil" },
      { ("return { { name = 'a', url = %q }, extra = { name = 'c', url = %q } }"):format(
          "sqlite:" .. lite, "sqlite:" .. lite), 'the list holds a key "extra"' },
      { ("return { [0] = { name = 'a', url = %q } , { name = 'c', url = %q } }"):format(
          "sqlite:" .. lite, "sqlite:" .. lite), "the list holds a key 0" },
    }) do
      local path = h.tmpname(".lua")
      h.write_file(path, case[1])
      local _, err, code = h.run_tide({ "--targets", path, "--dir", dir, "up" })
      assert.are.equal(1, code, err)
      assert.matches("^tide: misuse: " .. path:gsub("%p", "%%%0") .. ": " .. case[2]:gsub("%p", "%%%0"), err)
      assert.is_nil(h.read_file(lite))
    end
    -- a directory opens, but cannot be read
    local _, err, code = h.run_tide({ "--targets", h.root, "--dir", dir, "up" })
    assert.are.equal(1, code, err)
    assert.matches("^tide: misuse: targets file: " .. h.root:gsub("%p", "%%%0") .. ": Is a directory\n$", err)
  end)

  it("expands ${ENV} once, and refuses a reference that is no variable name instead of sending it", function()
    local base = h.tmpname(".envdir")
    os.execute("mkdir -p " .. h.shell_quote(base))
    local path = h.tmpname(".lua")
    h.write_file(path, 'return { { name = "x", url = "sqlite:${FLEET_HOSTILE_A}" } }')
    -- the value holds a reference of its own: kept as text, not expanded again
    local _, err, code = h.run_tide({ "--targets", path, "--dir", dir, "up" },
      { env = { FLEET_HOSTILE_A = base .. "/${FLEET_HOSTILE_B}.db", FLEET_HOSTILE_B = "other" } })
    assert.are.equal(0, code, err)
    assert.is_not_nil(h.read_file(base .. "/${FLEET_HOSTILE_B}.db"))
    assert.is_nil(h.read_file(base .. "/other.db"))
    for _, t in ipairs(fresh_fleet()) do
      local b = t[2]
      if b:match("://") then
        local bad = b:gsub("^(%a+://[^:/@]+):[^@]*@", "%1:${PG-PASS}@")
        h.write_file(path, ("return { { name = 'x', url = %q } }"):format(bad))
        _, err, code = h.run_tide({ "--targets", path, "--dir", dir, "up" })
        assert.are.equal(1, code, err)
        assert.matches(": target x: ${PG%-PASS} is not an environment variable name", err)
        assert.are.same({}, h.user_tables(b))
      end
    end
  end)

  it("answers 1, not 128 + the signal, when a child is killed, and names the signal", function()
    -- its last words: a line that looks like tide's own, with terminal escapes
    local killer = h.migrations({ { "0001_die", ([[io.stderr:write("tide: \27]0;retitled\7\27[2Jcleared\n")
      io.stderr:flush()
      os.execute('kill -9 ' .. %s)]]):format(SELF_PID) } })
    local list = fresh_fleet()
    local out, err, code = h.run_tide({ "--targets", targets_file(list), "--dir", killer, "up" })
    assert.are.equal(1, code, err)
    for _, t in ipairs(list) do
      assert.matches("failed %(killed by signal 9%): \\x1B%]0;retitled\\x07\\x1B%[2Jcleared", row_of(out, t[1]))
    end
    assert.is_nil(out:find("\27", 1, true))
  end)

  it("never runs a child's output as code: a migration writing a fake report line", function()
    local liar = h.migrations({ { "0001_liar", [[
      io.stderr:write('\30tide-fleet {["after"]={["applied"]=99,["pending"]=0,["last"]="fake"}}\n')
      io.stderr:write("\30tide-fleet (function() while true do end end)()\n")
      m:create_table("t", {{"id", "integer", primary_key = true}})]] } })
    local list = fresh_fleet()
    -- bounded: before the fix the parent looped forever on the second line
    local p = io.popen(("timeout 60 %s --targets %s --dir %s up 2>&1; echo $?"):format(
      h.shell_quote(h.tide_bin), h.shell_quote(targets_file(list)), h.shell_quote(liar)), "r")
    local out = p:read("a")
    p:close()
    assert.matches("\n0\n$", out)
    for _, t in ipairs(list) do assert.matches("%s0001_liar %(1/1%)%s+[%d.]+ s%s+ok", row_of(out, t[1])) end
    assert.is_nil(out:find("fake", 1, true))
  end)

  -- A fleet whose every child blocks (each writes its pid first), its parent
  -- sent `signal` once all are blocked: {code, stderr, pids}.
  local function signal_blocked_fleet(signal)
    local marks, fifo = h.tmpname(".marks"), h.tmpname(".fifo")
    os.execute(("mkdir -p %s && mkfifo %s"):format(h.shell_quote(marks), h.shell_quote(fifo)))
    -- each child writes its pid, then blocks opening a FIFO no one writes
    local blocker = h.migrations({ { "0001_block", ([[
      local pid = %s
      local f = io.open(%q .. "/" .. pid .. ".tmp", "w") f:write(pid) f:close()
      os.rename(%q .. "/" .. pid .. ".tmp", %q .. "/" .. pid)
      io.open(%q, "r")]]):format(SELF_PID, marks, marks, marks, fifo) } })
    local list = fresh_fleet()
    local errfile = h.tmpname(".err")
    local p = io.popen(("%s --targets %s --dir %s up --parallel %d >/dev/null 2>%s & echo $!; wait $!; echo $?")
      :format(h.shell_quote(h.tide_bin), h.shell_quote(targets_file(list)), h.shell_quote(blocker), #list,
              h.shell_quote(errfile)), "r")
    local parent = p:read("l")
    local pids
    for _ = 1, 600 do                                  -- every child blocked (at most 60 s)
      pids = {}
      local ls = io.popen("ls " .. h.shell_quote(marks))
      for name in ls:lines() do if name:match("^%d+$") then pids[#pids + 1] = name end end
      ls:close()
      if #pids == #list then break end
      os.execute("sleep 0.1")
    end
    assert.are.equal(#list, #pids)
    os.execute("kill -" .. signal .. " " .. parent)
    local code = tonumber(p:read("l"))
    p:close()
    return code, h.read_file(errfile), pids
  end

  it("ends its running children when it is stopped by SIGTERM", function()
    local code, err, pids = signal_blocked_fleet("TERM")
    assert.are.equal(1, code)
    assert.matches("^tide: interrupted by SIGTERM: " .. #pids .. " target%(s%) stopped\n$", err)
    for _, pid in ipairs(pids) do assert.is_false(alive(pid), "child " .. pid .. " still running") end
  end)

  it("leaves no child running when it is killed outright (kill -9)", function()
    local code, _, pids = signal_blocked_fleet("KILL")
    assert.are.equal(137, code)
    for _, pid in ipairs(pids) do
      for _ = 1, 100 do                                -- the kernel's SIGTERM: at most 10 s to end
        if not alive(pid) then break end
        os.execute("sleep 0.1")
      end
      assert.is_false(alive(pid), "child " .. pid .. " still running")
    end
  end)
end)
