-- The README's main command (scripts/demo.sh) works from any directory and
-- exits 0, twice in a row: the example plan applied, what is ready
-- contracted, the status up to date.
local h = require "helpers"

describe("scripts/demo.sh", function()
  it("applies the example plan to tide.db in the current directory and exits 0, also when run again", function()
    local dir = h.tmpname(".demo")
    os.execute("mkdir -p " .. h.shell_quote(dir))
    local cmd = ("cd %s && env -u LD_PRELOAD %s/scripts/demo.sh 2>&1"):format(h.shell_quote(dir), h.shell_quote(h.root))
    for run = 1, 2 do
      local p = io.popen(cmd)
      local out = p:read("a")
      local ok, _, code = p:close()
      assert.is_true(ok, ("run %d exited %s:\n%s"):format(run, tostring(code), out))
      assert.matches("widget_status_flag%s+contracted", out)
    end
    assert.is_not_nil(h.read_file(dir .. "/tide.db"))
  end)
end)
