-- Hostile tide diagram, on every backend: tables and columns named with
-- quotes, markup, backslashes, newlines, terminal escapes, unicode or a
-- Graphviz keyword, composite and self-referencing foreign keys; the DOT
-- must render with no warning, every foreign key an edge between the right
-- columns, and no raw control character reach the output; \diagram in the
-- REPL must not report a file it could not write.
local core = require "tide.core"
local h = require "helpers"

local q = h.shell_quote

-- Runs sh; returns stdout, stderr and the exit code.
local function sh(cmd)
  local errf = h.tmpname(".err")
  local p = io.popen(("env -u LD_PRELOAD sh -c %s 2>%s"):format(q(cmd), errf))
  local out = p:read("a")
  local _, _, code = p:close()
  return out, h.read_file(errf) or "", code
end

local ESC = "t\27[31mred\7"
local ODD = 'a"b<c>&{d}|e\\f'

h.each_backend(describe, it, function(b)
  it("odd names: valid DOT whose edges reach the right columns, Mermaid a line per item, no raw escapes", function()
    local url = b.fresh_url()
    local db = core.open(url)
    local function qi(n) return db:quote_ident(n) end
    for _, k in ipairs({ "graph", "subgraph", "strict", "digraph" }) do
      db:exec(("CREATE TABLE %s (id INTEGER PRIMARY KEY)"):format(qi(k)))
    end
    -- node: a composite key and a composite foreign key to itself
    db:exec(("CREATE TABLE %s (id INTEGER NOT NULL, sub INTEGER NOT NULL, parent INTEGER, psub INTEGER, " ..
             "PRIMARY KEY (id, sub), FOREIGN KEY (parent, psub) REFERENCES %s (id, sub))")
      :format(qi("node"), qi("node")))
    db:exec(("CREATE TABLE %s (id INTEGER PRIMARY KEY, %s INTEGER, %s INTEGER, %s INTEGER, " ..
             "FOREIGN KEY (%s, %s) REFERENCES %s (id, sub))")
      :format(qi(ODD), qi('c"o<l>'), qi("back\\slash"), qi("new\nline"), qi("back\\slash"), qi("new\nline"),
              qi("node")))
    db:exec(("CREATE TABLE %s (id INTEGER PRIMARY KEY, %s INTEGER, %s INTEGER, FOREIGN KEY (%s) REFERENCES %s (id))")
      :format(qi(ESC), qi("ctl\1x"), qi("über"), qi("ctl\1x"), qi("graph")))
    db:close()

    local dotfile = h.tmpname(".dot")
    local _, err, code = sh(("%s diagram %s > %s"):format(q(h.tide_bin), q(url), q(dotfile)))
    assert.equal(0, code, err)
    local dot = h.read_file(dotfile)
    assert.is_nil(dot:find("[%z\1-\9\11-\31\127]"), "a raw control character in the DOT")
    -- Graphviz reads it without a word to say
    local out
    out, err, code = sh("dot -Tsvg " .. q(dotfile))
    assert.equal(0, code, err)
    assert.equal("", err)
    assert.matches("t\\x1B[31mred\\x07", out, 1, true)
    -- each foreign key one edge, from its first column's row to the referenced column's row
    local rows = {}
    for name, label in dot:gmatch('\n  ("[^\n]-") %[label=<(.-)>%];') do
      rows[name] = {}
      for i, cell in label:gmatch('PORT="l(%d+)">(.-)</TD>') do rows[name][i] = cell:gsub("</?U>", "") end
    end
    local edges = {}
    for f, fi, t, ti in dot:gmatch('\n  ("[^\n]-"):r(%d+):e %-> ("[^\n]-"):l(%d+):w') do
      edges[#edges + 1] = rows[f][fi] .. " -> " .. rows[t][ti]
    end
    table.sort(edges)
    assert.same({ "back\\slash integer -> id integer", "ctl\\x01x integer -> id integer",
                  "parent integer -> id integer" }, edges)
    assert.truthy(dot:find('\n  "a\\"b<c>&{d}|e\\\\f" [label=<', 1, true))
    assert.truthy(dot:find("<B>a&quot;b&lt;c&gt;&amp;{d}|e\\f</B>", 1, true))

    -- Mermaid: every line an entity, an attribute, an end or a relation
    out, err, code = h.run_tide({ "diagram", url, "--format", "mermaid" })
    assert.equal(0, code, err)
    assert.is_nil(out:find("[%z\1-\9\11-\31\127]"), "a raw control character in the Mermaid")
    local n = 0
    for line in out:gmatch("[^\n]+") do
      n = n + 1
      assert.truthy(line == "erDiagram" or line == "  }" or line:match('^  "[^"\n]*" {$') or line:match("^  [%w_]+ {$")
                    or line:match("^    [%w_()%-]+ [%w_()%-]+") or line:match('^  %S.* [|}][|o]%-%-o{ .* : "[^"]*"$'),
                    line)
    end
    assert.is_true(n > 20)
  end)
end)

h.each_backend(describe, it, function(b)
  -- what Mermaid 11's parser refused (checked with mermaid.parse by hand):
  -- an entity bare named like its keywords, % or \ inside a quoted name, a
  -- column named like a key marker
  it("Mermaid: a table named like a keyword, % and \\ in a name, columns named pk, fk, uk", function()
    local url = b.fresh_url()
    local db = core.open(url)
    for _, t in ipairs({ "one", "many", "to", "end", "style", "erDiagram", "50%", "a\\b" }) do
      db:exec(("CREATE TABLE %s (id INTEGER PRIMARY KEY, pk INTEGER, %s INTEGER, uk INTEGER)")
        :format(db:quote_ident(t), db:quote_ident("FK")))
    end
    db:close()
    local out, err, code = h.run_tide({ "diagram", url, "--format", "mermaid" })
    assert.equal(0, code, err)
    local entities, attributes = {}, {}
    for line in out:gmatch("[^\n]+") do
      local e = line:match("^  (.-) {$")
      if e then entities[#entities + 1] = e end
      local a = line:match("^    %S+ (%S+)")
      if a then attributes[a] = true end
    end
    table.sort(entities)
    assert.same({ '"50_"', '"a/b"', '"end"', '"erDiagram"', '"many"', '"one"', '"style"', '"to"' }, entities)
    assert.same({ id = true, pk_ = true, FK_ = true, uk_ = true }, attributes)
  end)
end)

-- A SQLite database holding table t.
local function one_table()
  local url = "sqlite:" .. h.tmpname(".db")
  local db = core.open(url)
  db:exec("CREATE TABLE t (id INTEGER PRIMARY KEY)")
  db:close()
  return url
end

describe("hostile tide diagram", function()
  it("to a full disk fails and says so, instead of exit 0 with a cut file", function()
    local url = one_table()
    for _, format in ipairs({ "dot", "svg" }) do
      local _, err, code = sh(("%s diagram %s --format %s > /dev/full"):format(q(h.tide_bin), q(url), format))
      assert.equal(1, code, format)
      assert.equal("tide: cannot write the output: No space left on device\n", err)
    end
  end)
end)

describe("hostile \\diagram in the REPL", function()
  it("says so when the file cannot be written, instead of 'wrote'", function()
    local url = one_table()
    local dir = h.tmpname(".repl")
    os.execute("mkdir -p " .. q(dir) .. " && ln -s /dev/full " .. q(dir .. "/t.dot") ..
               " && ln -s /dev/full " .. q(dir .. "/t.svg"))
    local out, err, code = h.run_tide({ "repl", url }, { cwd = dir, stdin = "\\diagram t\n",
                                                         env = { LD_PRELOAD = "" } })
    assert.equal(1, code, out)
    assert.equal("", out)
    assert.matches("cannot write t%.[sd][vo][gt]: No space left on device", err)
  end)
end)
