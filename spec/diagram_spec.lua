-- tide diagram: the example story's schema drawn on every backend, its
-- edges checked against the foreign keys the database reports.
local core = require "tide.core"
local h = require "helpers"

local function set(list)
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end

-- What DOT text draws: nodes, foreign-key edges "from.col -> to.col", shadow
-- edges. An edge leaves the port r<i> of column i and arrives at l<i>.
local function parse_dot(text)
  local g = { nodes = {}, fks = {}, shadows = {} }
  local columns = {}
  for line in text:gmatch("[^\n]+") do
    local node = line:match('^  "([^"]+)" %[label=<')
    if node then
      g.nodes[#g.nodes + 1] = node
      columns[node] = {}
      for i, cell in line:gmatch('PORT="l(%d+)">(.-)</TD>') do
        columns[node][i] = cell:gsub("</?U>", ""):match("^%S+")
      end
    end
    local f, fi, t, ti = line:match('^  "([^"]+)":r(%d+):e %-> "([^"]+)":l(%d+):w %[')
    if f then g.fks[#g.fks + 1] = ("%s.%s -> %s.%s"):format(f, columns[f][fi], t, columns[t][ti]) end
    local s, b = line:match('^  "([^"]+)" %-> "([^"]+)" %[style=dashed')
    if s then g.shadows[#g.shadows + 1] = s .. " -> " .. b end
  end
  return g
end

-- What a Mermaid erDiagram draws: entities, "parent <- child (cols)", shadows.
local function parse_mermaid(text)
  local g = { nodes = {}, fks = {}, shadows = {} }
  assert.equal("erDiagram", text:match("^[^\n]+"))
  for line in text:gmatch("[^\n]+") do
    local node = line:match('^  "([^"]+)" {$')
    if node then g.nodes[#g.nodes + 1] = node end
    local p, c, cols = line:match('^  "([^"]+)" |[|o]%-%-o{ "([^"]+)" : "([^"]+)"$')
    if p then g.fks[#g.fks + 1] = ("%s <- %s (%s)"):format(p, c, cols) end
    local b, s = line:match('^  "([^"]+)" ||%.%.o| "([^"]+)" : "shadow"$')
    if b then g.shadows[#g.shadows + 1] = s .. " -> " .. b end
  end
  return g
end

local function diagram(url, args, opts)
  local full = { "diagram", url }
  for _, a in ipairs(args or {}) do full[#full + 1] = a end
  return h.run_tide(full, opts)
end

-- Graphviz's dot runs without the sanitizer pass's preloaded libasan (its
-- own leaks are not ours); the tide under test links its own.
local NO_PRELOAD = { LD_PRELOAD = "" }

-- A directory holding no `dot`, for a PATH without Graphviz.
local function path_without_dot()
  local dir = h.tmpname(".bin")
  os.execute("mkdir -p " .. dir)
  return dir
end

h.each_backend(describe, it, function(b)
  local url, fks, tables
  setup(function()
    url = b.fresh_url()
    local _, err, code = h.tide_at(url, { "--dir", h.root .. "/migrations", "up" })
    assert.equal(0, code, err)
    _, err, code = h.tide_at(url, { "archive", "init" })        -- widget is soft-deleted: it gets a shadow
    assert.equal(0, code, err)
    local db <close> = core.open(url)
    fks = { dot = {}, mermaid = {} }
    for name, d in pairs(db:schema()) do
      for _, fk in ipairs(d.foreign_keys) do
        fks.dot[#fks.dot + 1] = ("%s.%s -> %s.%s"):format(name, fk.columns[1], fk.ref_table, fk.ref_columns[1])
        fks.mermaid[#fks.mermaid + 1] = ("%s <- %s (%s)"):format(fk.ref_table, name, table.concat(fk.columns, ","))
      end
    end
    tables = h.user_tables(url)
  end)

  it("DOT: every table, an edge per foreign key, a dashed edge per shadow", function()
    local out, err, code = diagram(url, {})
    assert.equal(0, code, err)
    assert.matches("^digraph schema {\n", out)
    local g = parse_dot(out)
    assert.same(set(tables), set(g.nodes))
    assert.equal(#tables, #g.nodes)
    assert.same({ "account", "shadow_widget", "tag", "widget", "widget_tag" }, tables)
    assert.same(set(fks.dot), set(g.fks))
    assert.equal(3, #g.fks)
    assert.same({ "shadow_widget -> widget" }, g.shadows)
    -- primary keys and foreign key columns are marked
    assert.matches('PORT="l1"><U>widget_id</U> integer</TD><TD ALIGN="LEFT" PORT="r1">PK FK<', out)
    assert.matches('PORT="l4">account_id integer</TD><TD ALIGN="LEFT" PORT="r4">FK<', out)
  end)

  it("Mermaid: the same edges and tables", function()
    local out, err, code = diagram(url, { "--format", "mermaid" })
    assert.equal(0, code, err)
    local g = parse_mermaid(out)
    assert.same(set(tables), set(g.nodes))
    assert.same(set(fks.mermaid), set(g.fks))
    assert.equal(3, #g.fks)
    assert.same({ "shadow_widget -> widget" }, g.shadows)
    assert.matches('\n  "widget_tag" {\n    integer widget_id PK,FK\n    integer tag_id PK,FK\n  }\n', out)
    -- the foreign key that may be NULL is drawn zero-or-one
    assert.matches('\n  "account" |o%-%-o{ "widget" : "account_id"\n', out)
  end)

  it("TABLEs: those and their neighbours, with the edges among them", function()
    local out, err, code = diagram(url, { "widget_tag" })
    assert.equal(0, code, err)
    local g = parse_dot(out)
    assert.same(set({ "widget_tag", "widget", "tag" }), set(g.nodes))
    assert.same(set({ "widget_tag.widget_id -> widget.id", "widget_tag.tag_id -> tag.id" }), set(g.fks))
    g = parse_dot((diagram(url, { "widget" })))
    assert.same(set({ "widget", "account", "widget_tag", "shadow_widget" }), set(g.nodes))
    assert.same({ "shadow_widget -> widget" }, g.shadows)
  end)

  it("SVG through Graphviz, and what to do without it", function()
    local out, err, code = diagram(url, { "--format", "svg" }, { env = NO_PRELOAD })
    assert.equal(0, code, err)
    assert.matches("<svg", out)
    assert.matches(">widget_tag</text>", out)
    out, err, code = diagram(url, { "--format", "svg" }, { env = { PATH = path_without_dot() } })
    assert.equal(1, code)
    assert.equal("", out)
    assert.matches("^tide: misuse: svg needs Graphviz's `dot`, which is not on the PATH: install Graphviz " ..
                   "%(apt%-get install graphviz", err)
    assert.matches("^[^\n]*\n$", err)
  end)

  it("an unknown table or format is refused with one line", function()
    local out, err, code = diagram(url, { "widget", "nosuch" })
    assert.equal(1, code)
    assert.equal("", out)
    assert.matches('^tide: undefined_object: no table "nosuch" in [^\n]+ %(5 tables; tide inspect lists them%)\n$', err)
    out, err, code = diagram(url, { "--format", "png" })
    assert.equal(2, code)
    assert.equal("", out)
    assert.equal('tide: diagram: --format must be dot, mermaid, svg, got "png" (see tide --help)\n', err)
  end)

  it("\\diagram in the REPL writes an SVG, or the DOT without Graphviz", function()
    local dir = h.tmpname(".repl")
    os.execute("mkdir -p " .. dir)
    local out, err, code = h.run_tide({ "repl", url }, { cwd = dir, stdin = "\\diagram widget_tag\n\\diagram\n",
                                                         env = NO_PRELOAD })
    assert.equal(0, code, err)
    assert.equal("wrote widget_tag.svg\nwrote schema.svg\n", out)
    assert.matches("<svg", h.read_file(dir .. "/widget_tag.svg"))
    assert.matches(">shadow_widget</text>", h.read_file(dir .. "/schema.svg"))
    out, err, code = h.run_tide({ "repl", url }, { cwd = dir, stdin = "\\diagram tag\n\\diagram nosuch\n",
                                                  env = { PATH = path_without_dot() } })
    assert.equal(1, code)                                -- the failed line fails the script
    assert.equal("wrote tag.dot (Graphviz's dot makes an SVG of it: apt-get install graphviz)\n", out)
    assert.matches('no table "nosuch"', err)
    assert.same(set({ "tag", "widget_tag" }), set(parse_dot(h.read_file(dir .. "/tag.dot")).nodes))
  end)

  it("names with quotes, spaces and markup stay valid DOT", function()
    local odd_url = b.fresh_url()
    local db <close> = core.open(odd_url)
    local parent, child = db:quote_ident('we"ird <p>'), db:quote_ident("a&b child")
    db:exec(("CREATE TABLE %s (%s INTEGER PRIMARY KEY)"):format(parent, db:quote_ident("id's")))
    db:exec(("CREATE TABLE %s (id INTEGER PRIMARY KEY, %s INTEGER, FOREIGN KEY (%s) REFERENCES %s (%s))")
      :format(child, db:quote_ident("p<id>"), db:quote_ident("p<id>"), parent, db:quote_ident("id's")))
    local out, err, code = diagram(odd_url, { "--format", "svg" }, { env = NO_PRELOAD })
    assert.equal(0, code, err)
    assert.matches("we&quot;ird &lt;p&gt;", out)
    out = diagram(odd_url, { "--format", "mermaid" })
    assert.matches('\n  "we\'ird <p>" |o%-%-o{ "a&b child" : "p<id>"\n', out)
    assert.matches("\n    integer p_id_ FK\n", out)
  end)

  it("a composite foreign key is one edge, and a table may point at itself", function()
    local u = b.fresh_url()
    local db <close> = core.open(u)
    db:exec("CREATE TABLE parent (a INTEGER NOT NULL, b INTEGER NOT NULL, PRIMARY KEY (a, b))")
    db:exec("CREATE TABLE child (id INTEGER PRIMARY KEY, x INTEGER NOT NULL, y INTEGER NOT NULL, up_id INTEGER, " ..
            "FOREIGN KEY (x, y) REFERENCES parent (a, b), FOREIGN KEY (up_id) REFERENCES child (id))")
    local g = parse_dot((diagram(u, {})))
    assert.same(set({ "child.x -> parent.a", "child.up_id -> child.id" }), set(g.fks))
    assert.equal(2, #g.fks)
    g = parse_mermaid((diagram(u, { "--format", "mermaid" })))
    assert.same(set({ "parent <- child (x,y)", "child <- child (up_id)" }), set(g.fks))
  end)
end)
