-- A `tide repl` at a real terminal, for specs: a tmux session to type into
-- (send-keys) and read back (capture-pane).
local core = require "tide.core"
local h = require "helpers"

-- tmux without the ASan pass's preload: a sanitized tmux server checks for
-- leaks as it exits, slowly enough that the next session can reach the
-- dying server ("server exited unexpectedly"). The tide under test is built
-- with the sanitizers and needs no preload.
local TMUX = "env -u LD_PRELOAD tmux"

local terminal = {}

--- A tide repl on `url` in a tmux pane; the pane shows "exit=N" when it ends.
-- Returns {keys(...), screen(), wait_for(pattern, ms), close()}.
function terminal.open(url)
  local name = ("tide%d"):format(math.random(1, 1e9))
  local home = h.tmpname(".home")
  os.execute("mkdir -p " .. home)
  local cmd = ("HOME=%s %s repl %s; echo exit=$?; sleep 60"):format(home, h.shell_quote(h.tide_bin),
                                                                 h.shell_quote(url))
  assert(os.execute((TMUX .. " new-session -d -s %s -x 150 -y 50 %s"):format(name, h.shell_quote(cmd))))
  local t = {}
  function t.keys(...)                            -- literal text, or {key names}
    for _, k in ipairs({ ... }) do
      if type(k) == "table" then
        os.execute((TMUX .. " send-keys -t %s %s"):format(name, table.concat(k, " ")))
      else
        -- tmux reads a trailing ";" as its own separator: send those as hex
        for part, semi in k:gmatch("([^;]*)(;?)") do
          if part ~= "" then os.execute((TMUX .. " send-keys -t %s -l %s"):format(name, h.shell_quote(part))) end
          if semi ~= "" then os.execute((TMUX .. " send-keys -t %s -H 3b"):format(name)) end
        end
      end
    end
  end
  function t.screen()
    local p = io.popen((TMUX .. " capture-pane -t %s -p -S -200"):format(name))
    local s = p:read("a")
    p:close()
    return s
  end
  -- polls the screen for a pattern (a deadline, not a measured time)
  function t.wait_for(pattern, ms)
    local deadline = core.now_ms() + (ms or 10000)
    repeat
      local s = t.screen()
      if s:find(pattern) then return s end
      core.sleep(20)
    until core.now_ms() > deadline
    error(("screen never showed %q:\n%s"):format(pattern, t.screen()), 2)
  end
  function t.close() os.execute((TMUX .. " kill-session -t %s 2>/dev/null"):format(name)) end
  return t
end

--- Runs the tide binary with args at a terminal of its own (script(1)
-- gives it a pty), without the sanitizer pass's preloaded libasan (script's
-- own leaks are not ours). Returns every byte written to the terminal,
-- stdout and stderr as one stream, and the exit code. cols: the width of
-- that terminal (else whatever script's pty has).
function terminal.capture(args, cols)
  local words = { cols and ("stty cols %d rows 24;"):format(cols) or "", h.shell_quote(h.tide_bin) }
  for _, a in ipairs(args) do words[#words + 1] = h.shell_quote(a) end
  -- a terminal that redraws lines, whatever TERM the suite runs under (a dumb one gets none)
  local p = io.popen(("env -u LD_PRELOAD TERM=xterm script -qec %s /dev/null")
                       :format(h.shell_quote(table.concat(words, " "))))
  local out = p:read("a")
  local _, _, code = p:close()
  return out, code
end

return terminal
