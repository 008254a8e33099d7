-- Crash safety: `tide up` killed with SIGKILL at random moments, then
-- `tide status` and `tide up` again, must end in the schema of a clean run,
-- with every migration applied exactly once (SQLite, PostgreSQL: the
-- migration and its history row commit together) or resumed from the step
-- it was on (MariaDB).
local core = require "tide.core"
local tide = require "tide"
local h = require "helpers"

local RUNS = tonumber(os.getenv("TIDE_CRASH_RUNS")) or 20

local function schema_of(url)
  local db = core.open(url)
  local s = tide.schema.canonical(db:schema())
  local events = db:query("SELECT name, status FROM tide_history ORDER BY id")
  db:close()
  s.tide_history = nil
  return s, events
end

h.each_backend(describe, it, function(b)
  it(("survives kill -9 at random moments, %d times"):format(RUNS), function()
    local dir = h.root .. "/migrations"
    local tide_cmd = h.shell_quote(h.tide_bin) .. " -q --dir " .. h.shell_quote(dir)
    -- clean runs: the reference schema, and how long a run takes (the
    -- fastest of three: the first run after a build pays for a cold cache,
    -- and kill moments past a run's end interrupt nothing)
    local ref_url, took
    for _ = 1, 3 do
      ref_url = b.fresh_url()
      local t0 = core.now_ms()
      assert.equal(0, select(3, h.run_tide({ "--url", ref_url, "--dir", dir, "-q", "up" })))
      took = math.min(took or math.huge, core.now_ms() - t0)
    end
    local reference = schema_of(ref_url)
    local seed = os.time()
    math.randomseed(seed)
    local interrupted = 0
    for run = 1, RUNS do
      local url = b.fresh_url()
      local delay = math.random(0, took) / 1000
      local p = io.popen(("%s --url %s up >/dev/null 2>&1 & pid=$!; sleep %.3f; kill -9 $pid 2>/dev/null " ..
                          "&& echo killed; wait $pid 2>/dev/null; true"):format(tide_cmd, h.shell_quote(url), delay))
      if p:read("a"):match("killed") then
        interrupted = interrupted + 1
      else
        -- the run ended before its kill: runs are quicker now than the
        -- clean ones were (a machine busy then), so later kills come sooner
        took = math.max(1, math.floor(took * 0.6))
      end
      p:close()
      local _, err, code = h.run_tide({ "--url", url, "--dir", dir, "status" })
      -- killed before it created the SQLite file: status says so and creates none
      local no_file = code == 1 and err:match("no database at") ~= nil
      assert.is_true(code == 0 or code == 3 or code == 4 or no_file,
                     ("run %d (seed %d): status exit %s"):format(run, seed, code))
      local out
      out, err, code = h.run_tide({ "--url", url, "--dir", dir, "-q", "up" })
      assert.equal(0, code, ("run %d (seed %d, after %.3f s): %s%s"):format(run, seed, delay, out, err))
      local s, events = schema_of(url)
      assert.same({}, tide.schema.diff(reference, s, { "clean run", "after kill" }))
      local applied = {}
      for _, e in ipairs(events) do
        if e.status == "applied" then applied[e.name] = (applied[e.name] or 0) + 1 end
      end
      local n = 0
      for _, count in pairs(applied) do
        n = n + 1
        assert.equal(1, count, ("run %d: a migration applied twice"):format(run))
      end
      assert.equal(#require("tide.plan").load(dir).entries, n)
      -- the plan's online step is ready once applied: its contract, then up to date
      assert.equal(0, select(3, h.run_tide({ "--url", url, "--dir", dir, "-q", "contract" })))
      assert.equal(0, select(3, h.run_tide({ "--url", url, "--dir", dir, "status" })))
    end
    assert.is_true(interrupted >= RUNS // 2, ("only %d of %d runs were killed mid-way"):format(interrupted, RUNS))
  end)
end)
