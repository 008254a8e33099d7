-- Shell completion: the bash script driven the way bash drives it
-- (complete -p, COMP_* and the function it names), the zsh script, and
-- what `tide completion candidates` offers, with names from the plan and
-- from a database on every backend.
local h = require "helpers"
local help = require "tide.cli_help"

local function sorted(t)
  table.sort(t)
  return t
end

local function lines(s)
  local out = {}
  for l in s:gmatch("[^\n]+") do out[#out + 1] = l end
  return out
end

-- The bash script as `tide completion bash` prints it, in a file.
local script
local function bash_script()
  if not script then
    local out, err, code = h.run_tide({ "completion", "bash" })
    assert.equal(0, code, err)
    script = h.tmpname(".bash")
    h.write_file(script, out)
  end
  return script
end

-- What bash offers for `line` (the cursor at its end), run in `cwd`: the
-- registration `complete -p tide` shows, then COMPREPLY as bash would set it.
local function bash_complete(line, cwd, env)
  -- split as bash splits: at blanks, and around the : and = of COMP_WORDBREAKS
  local words = {}
  for w in line:gmatch("%S+") do
    for part in w:gsub("[:=]+", "\0%0\0"):gmatch("[^%z]+") do words[#words + 1] = h.shell_quote(part) end
  end
  local cword = #words - 1
  if line:match("%s$") then words[#words + 1] = "''" cword = cword + 1 end
  local prog = ([[
PATH=%s:$PATH
source %s
complete -p tide
COMP_LINE=%s COMP_POINT=%d COMP_WORDS=(%s) COMP_CWORD=%d
_tide
printf '%%s\n' "${COMPREPLY[@]}"
]]):format(h.shell_quote(h.build), h.shell_quote(bash_script()), h.shell_quote(line), #line,
           table.concat(words, " "), cword)
  local file = h.tmpname(".sh")
  h.write_file(file, prog)
  local envs = {}
  for k, v in pairs(env or {}) do envs[#envs + 1] = k .. "=" .. h.shell_quote(v) end
  local p = io.popen(("cd %s && env %s bash --norc --noprofile %s 2>&1"):format(h.shell_quote(cwd or h.root),
                                                                              table.concat(envs, " "), file))
  local out = p:read("a")
  p:close()
  local l = lines(out)
  local registration = table.remove(l, 1)
  return l, registration
end

local function candidates(line, cwd, env)
  local out, err, code = h.run_tide({ "completion", "candidates", line }, { cwd = cwd, env = env })
  assert.equal(0, code, err)
  return lines(out)
end

local MIGRATIONS = { "create_account", "create_widget", "create_widget_status", "widget_owner", "widget_name_index",
                     "widget_status_into_widget", "drop_widget_status", "create_tag", "account_plan",
                     "widget_soft_delete_unique", "widget_status_flag" }

describe("tide completion", function()
  it("bash: registered for tide, completes commands from cli_help", function()
    local got, registration = bash_complete("tide ")
    assert.equal("complete -o default -F _tide tide", registration)
    assert.same(help.ORDER, got)
    assert.same({ "status", "stamp" }, (bash_complete("tide st")))
  end)

  it("bash: options of the command and the global ones", function()
    local got = bash_complete("tide up --")
    for _, o in ipairs({ "--to", "--sql", "--single-transaction", "--allow-out-of-order", "--url", "--dir", "--json",
                         "--quiet", "--lock-timeout" }) do
      assert.truthy(table.concat(got, " "):find(o, 1, true), o)
    end
    assert.same({ "--applied" }, (bash_complete("tide resolve x --ap")))
    assert.same({ "dot", "mermaid", "svg" }, (bash_complete("tide diagram --format ")))
    -- bash splits --format=m at the =: only what follows it is replaced
    assert.same({ "mermaid" }, (bash_complete("tide diagram --format=m")))
    assert.same({ "bash", "zsh" }, (bash_complete("tide completion ")))
    assert.same({ "init", "check", "run", "purge" }, (bash_complete("tide archive ")))
  end)

  it("bash: migration names from the plan for --to, stamp, resolve and accept; none for new", function()
    local dir = h.root .. "/migrations"
    for _, line in ipairs({ "tide up --to ", "tide down --to ", "tide stamp ", "tide resolve ", "tide accept " }) do
      assert.same(MIGRATIONS, (bash_complete(line, dir .. "/..")), line)
    end
    assert.same({ "create_widget", "create_widget_status" }, (bash_complete("tide --dir " .. dir .. " stamp create_w")))
    assert.same({ "create_widget", "create_widget_status" },
                candidates("tide --dir '" .. dir .. "' accept create_w"))         -- a quoted word
    assert.same({}, (bash_complete("tide new ")))
    -- no plan there: nothing to offer, and no error on the terminal
    assert.same({}, (bash_complete("tide stamp ", h.tmpdir)))
  end)

  it("every command of cli_help is offered, with its options", function()
    assert.same(help.ORDER, candidates("tide "))
    for _, name in ipairs(help.ORDER) do
      local opts = candidates("tide " .. name .. " --")
      for flag in help.COMMANDS[name].synopsis:gmatch("%-%-[%w-]+") do
        assert.truthy(table.concat(opts, " "):find(flag, 1, true), name .. " " .. flag)
      end
    end
  end)

  it("zsh: the script loads, registers _tide, and offers what candidates does", function()
    local zsh = io.popen("command -v zsh"):read("l")
    assert.truthy(zsh, "zsh is not installed (scripts/deps.sh installs it)")
    local out, err, code = h.run_tide({ "completion", "zsh" })
    assert.equal(0, code, err)
    local file = h.tmpname(".zsh")
    h.write_file(file, out)
    -- compdef and compadd stand in for the completion system's own
    local prog = ([[
PATH=%s:$PATH
compdef() { print -r -- "compdef $*" }
compadd() { shift; print -rl -- "$@" }
_files() { print -r -- FILES }
source %s
LBUFFER='tide st'
_tide
LBUFFER='tide stamp nosuch'
_tide
]]):format(h.shell_quote(h.build), h.shell_quote(file))
    local pf = h.tmpname(".zprog")
    h.write_file(pf, prog)
    local p = io.popen("zsh -f " .. pf .. " 2>&1")
    local res = p:read("a")
    p:close()
    assert.equal("compdef _tide tide\nstatus\nstamp\nFILES\n", res)
  end)

  it("names the shells it has a script for", function()
    local out, err, code = h.run_tide({ "completion", "fish" })
    assert.equal(2, code)
    assert.equal("", out)
    assert.equal('tide: completion: no completion for "fish"; the shells are bash, zsh (see tide --help)\n', err)
    out, err, code = h.run_tide({ "completion" })
    assert.equal("", out)
    assert.equal(2, code)
    assert.equal("tide: completion: needs a shell (bash, zsh) (see tide --help)\n", err)
  end)
end)

h.each_backend(describe, it, function(b)
  local url
  setup(function()
    url = b.fresh_url()
    local _, err, code = h.tide_at(url, { "--dir", h.root .. "/migrations", "up" })
    assert.equal(0, code, err)
  end)

  it("table names for inspect and diagram, from --url, TIDE_URL or tide.lua", function()
    local tables = { "account", "tag", "widget", "widget_tag" }
    assert.same(tables, (bash_complete("tide --url " .. url .. " inspect ")))
    assert.same(tables, sorted(bash_complete("tide inspect ", nil, { TIDE_URL = url })))
    assert.same({ "widget", "widget_tag" }, (bash_complete("tide inspect " .. url .. " wid")))
    assert.same(tables, (bash_complete("tide --url=" .. url .. " diagram account ")))
    local dir = h.tmpname(".proj")
    os.execute("mkdir -p " .. dir)
    h.write_file(dir .. "/tide.lua", ("return {url = %q}"):format(url))
    assert.same({ "widget", "widget_tag" }, (bash_complete("tide lint --duplicates w", dir)))
    -- a database that cannot be reached: nothing offered, nothing printed
    assert.same({}, (bash_complete("tide --url sqlite:" .. h.tmpname(".none") .. " inspect ")))
  end)
end)
