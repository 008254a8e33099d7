-- Hostile shell completion: table names that are globs, words with spaces
-- or shell code (on every backend, through the bash and zsh scripts), a
-- server that accepts and never answers, a SQLite file held locked.
local core = require "tide.core"
local h = require "helpers"

local q = h.shell_quote

local function lines(s)
  local out = {}
  for l in s:gmatch("[^\n]+") do out[#out + 1] = l end
  return out
end

local function script(shell)
  local out, err, code = h.run_tide({ "completion", shell })
  assert.equal(0, code, err)
  local file = h.tmpname("." .. shell)
  h.write_file(file, out)
  return file
end

-- COMPREPLY of the bash script for `line` (a trailing space starts a new
-- word), in cwd, where files named like the tables lie about; `last` is
-- the word being completed as bash has it, when it holds a blank.
local function bash_reply(line, cwd, last)
  local words = {}
  for w in (last and line:sub(1, -#last - 1) or line):gmatch("%S+") do words[#words + 1] = q(w) end
  if last or line:match(" $") then words[#words + 1] = q(last or "") end
  local prog = ([[
PATH=%s:$PATH
source %s
COMP_LINE=%s COMP_POINT=%d COMP_WORDS=(%s) COMP_CWORD=%d
_tide
printf '%%s\n' "${COMPREPLY[@]}"
]]):format(q(h.build), q(script("bash")), q(line), #line, table.concat(words, " "), #words - 1)
  local file = h.tmpname(".sh")
  h.write_file(file, prog)
  local p = io.popen(("cd %s && bash --norc --noprofile %s 2>&1"):format(q(cwd), q(file)))
  local out = p:read("a")
  p:close()
  local got = lines(out)
  table.sort(got)
  return got
end

-- What zsh puts on its command line after `line` and a Tab, driven in a
-- pseudo-terminal with the real completion system.
local function zsh_line(line, cwd)
  local prog = ([[
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "PS1='> '; autoload -U compinit; compinit -u -D; source %s"
zpty -w -n z %s$'\t\C-a print -r -- XX \x27\C-e\x27\n'
zpty -r z out $'*XX %s*\n*'
print -r -- ${${out##*XX }%%%%$'\r'*}
zpty -d z
]]):format(script("zsh"), q(line), line:match("^%S+"))
  local file = h.tmpname(".zsh")
  h.write_file(file, prog)
  local p = io.popen(("cd %s && PATH=%s:$PATH timeout 60 zsh -f %s 2>&1"):format(q(cwd), q(h.build), q(file)))
  local out = p:read("a")
  p:close()
  return out
end

local ODD = { "*", "a b", "$(touch pwned)", "[ab]", "x;y" }

h.each_backend(describe, it, function(b)
  it("offers a table named like a glob or like shell code as one quoted word", function()
    local url = b.fresh_url()
    local db = core.open(url)
    for _, t in ipairs(ODD) do db:exec(("CREATE TABLE %s (id integer)"):format(db:quote_ident(t))) end
    db:close()
    local cwd = h.tmpname(".cwd")
    os.execute("mkdir -p " .. q(cwd) .. " && cd " .. q(cwd) .. " && touch abc zzz a")
    assert.same({ "\\$\\(touch\\ pwned\\)", "\\*", "\\[ab\\]", "a\\ b", "x\\;y" },
                bash_reply("tide --url " .. url .. " inspect ", cwd))
    assert.same({ "a\\ b" }, bash_reply("tide --url " .. url .. " inspect a", cwd))
    -- a word typed with its blank escaped narrows as the name it is
    assert.same({ "a\\ b" }, bash_reply("tide --url " .. url .. " inspect a\\ ", cwd, "a\\ "))
    if b.name == "sqlite" then
      local zsh = zsh_line("tide --url " .. url .. " inspect a", cwd)
      assert.equal("tide --url " .. url .. " inspect a\\ b\n", zsh)
    end
    assert.is_nil(io.open(cwd .. "/pwned"))
  end)
end)

describe("hostile completion", function()
  -- Runs a completion in at most `limit` seconds: true when it finished.
  local function finishes(line, limit)
    local p = io.popen(("timeout %d %s completion candidates %s >/dev/null 2>&1; echo $?")
                         :format(limit, q(h.tide_bin), q(line)))
    local rc = p:read("a")
    p:close()
    return rc == "0\n"
  end

  it("a server that accepts and never answers holds it for its own limit, not the URL's", function()
    local port, stop = h.silent_server()
    local ok1 = finishes(("tide --url postgres://u:s3cret@127.0.0.1:%d/db?connect_timeout=600 inspect ")
                           :format(port), 30)
    local ok2 = finishes(("tide --url mysql://u:s3cret@127.0.0.1:%d/db?connect_timeout=600&read_timeout=600 inspect ")
                           :format(port), 30)
    stop()
    assert.is_true(ok1, "postgres")
    assert.is_true(ok2, "mysql")
  end)

  it("a SQLite file another connection holds locked: nothing offered, soon", function()
    local path = h.tmpname(".db")
    local db = core.open("sqlite:" .. path)
    db:exec("CREATE TABLE t (id integer)")
    db:exec("BEGIN EXCLUSIVE")
    db:exec("INSERT INTO t VALUES (1)")
    local ok = finishes("tide --url sqlite:" .. path .. "?busy_timeout=600000 inspect ", 30)
    db:exec("ROLLBACK")
    db:close()
    assert.is_true(ok)
  end)
end)
