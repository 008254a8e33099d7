-- A real schema through the DSL: neutron's (OpenStack networking) kilo
-- initial migration, 146 tables from 21 modules (spec/fixtures/neutron_kilo,
-- see its SOURCE.md), converted by scripts/sqlalchemy_to_tide.lua into
-- spec/fixtures/neutron_kilo_tide.lua. Applied on every backend, each
-- database must equal the migration's own model (so an index or key the
-- database dropped or never made shows) and all three must compare equal.
local tide = require "tide"
local h = require "helpers"

local MIGRATION = "spec/fixtures/neutron_kilo_tide.lua"
local ENTRY = "spec/fixtures/neutron_kilo/kilo_initial.py"
-- the value neutron's own frozen models give it (see SOURCE.md)
local CONST = "--const cisco_constants.TENANT_ID_NOT_SET=TENANT_ID_NOT_SET"
local TABLES = 146

-- Runs the converter in the tree's root; returns stdout, stderr, exit code.
local function convert(args)
  local err = h.tmpname(".err")
  local p = io.popen(("cd %s && lua5.4 scripts/sqlalchemy_to_tide.lua %s 2>%s"):format(
    h.shell_quote(h.root), args, err))
  local out = p:read("a")
  local _, _, code = p:close()
  return out, h.read_file(err), code
end

local function count(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

describe("a real schema (neutron kilo_initial, 146 tables)", function()
  it("the committed migration is the converter's output", function()
    local out, err, code = convert(CONST .. " " .. ENTRY)
    assert.equal(0, code, err)
    assert.equal(h.read_file(h.root .. "/" .. MIGRATION), out)
  end)

  it("the converter refuses what it cannot express, naming file and line", function()
    local out, err, code = convert(ENTRY)
    assert.is_not.equal(0, code)
    assert.equal("", out)
    assert.matches("cisco_init_ops.py:96: cisco_constants.TENANT_ID_NOT_SET is not known here", err, 1, true)
    local cases = {
      { "sa.Column('a', sa.Integer()),\n        sa.Index('ix_t_a', 'a')",
        "sa.Index in op.create_table is not handled" },
      { "sa.Column('a', sa.Float())", "column type sa.Float is not handled" },
      { "sa.Column('a', sa.Integer(), comment='x')", "argument comment is not handled" },
      { "sa.Column('a', sa.String(length=10), server_default=sa.func.now())", "expected a literal" },
      { "sa.Column('a', sa.Integer(), server_default='x')", "server_default \"x\" on an integer column" },
      { "sa.Column('a', sa.Integer()),\n        sa.ForeignKeyConstraint(['a'], ['u'])",
        "a foreign key target must be 'table.column'" },
      { "sa.Column('a', sa.Integer()),\n        mysql_engine='InnoDB'", "argument mysql_engine is not handled" },
    }
    for _, c in ipairs(cases) do
      local dir = h.tmpname(".py")
      os.execute("mkdir -p " .. dir)
      h.write_file(dir .. "/m.py", ("import sqlalchemy as sa\nfrom alembic import op\n\n\ndef upgrade():\n" ..
        "    op.create_table(\n        't',\n        %s)\n"):format(c[1]))
      _, err, code = convert(dir .. "/m.py")
      assert.is_not.equal(0, code, c[2])
      assert.matches("m.py:%d+: .*" .. c[2]:gsub("%p", "%%%0"), err)
    end
    local dir = h.tmpname(".py")
    os.execute("mkdir -p " .. dir)
    for body, msg in pairs({
      ["    op.add_column('t', sa.Column('a', sa.Integer()))"] = "m.py:6: call of op.add_column is not handled",
      ["    op.execute('DROP TABLE t')"] = "m.py:6: op.execute of anything but an INSERT is not handled",
      ["    if True:\n        op.drop_table('t')"] = "m.py:6: cannot read",
    }) do
      h.write_file(dir .. "/m.py", "import sqlalchemy as sa\nfrom alembic import op\n\n\ndef upgrade():\n" ..
                                   body .. "\n")
      out, err, code = convert(dir .. "/m.py")
      assert.is_not.equal(0, code, msg)
      assert.equal("", out)
      assert.matches(msg, err, 1, true)
    end
  end)

  local saved = {}
  h.each_backend(describe, it, function(b)
    local url, model
    it("applies, and the database equals the migration's own model", function()
      url = b.fresh_url()
      local db <close> = tide.open(url)
      model = {}
      tide.migrate(db, dofile(h.root .. "/" .. MIGRATION).up, { model = model, name = "neutron_kilo" })
      local canon = tide.schema.canonical(db:schema())
      assert.equal(TABLES, count(canon))
      assert.equal(TABLES, count(model))
      assert.same({}, tide.schema.diff(model, canon, { "model", "database" }))
      saved[b.name] = canon
      -- what the model holds is the real schema's: keys, uniques, an index
      assert.same({ "network_id", "binding_type", "phy_uuid", "vlan_id" }, canon.tz_network_bindings.primary_key)
      local ix
      for _, x in ipairs(canon.packetfilters.indexes) do
        if x.name == "ix_packetfilters_tenant_id" then ix = x end
      end
      assert.same({ "tenant_id" }, ix.columns)
      assert.equal("uidx_portid_optname", canon.extradhcpopts.uniques[1].name)
    end)

    it("odd names and values come through the converter as written", function()
      local dir = h.tmpname(".py")
      os.execute("mkdir -p " .. dir)
      h.write_file(dir .. "/odd.py", [[
import sqlalchemy as sa
from alembic import op


def upgrade():
    op.create_table(
        'select',
        sa.Column('we"ird col', sa.String(length=20), nullable=False,
                  server_default='it\'s "q" \\ x'),
        sa.Column('order', sa.Integer, primary_key=True),
        sa.Column('kind', sa.Enum('a b', "c'd", name='k'), server_default="c'd"),
        sa.UniqueConstraint('we"ird col', 'kind', name='u q'))
]])
      local out, err, code = convert(dir .. "/odd.py")
      assert.equal(0, code, err)
      local file = dir .. "/odd.lua"
      h.write_file(file, out)
      local db <close> = tide.open(b.fresh_url())
      local own = {}
      tide.migrate(db, dofile(file).up, { model = own })
      assert.same({}, tide.schema.diff(own, tide.schema.canonical(db:schema()), { "model", "database" }))
      db:exec('INSERT INTO ' .. db:quote_ident("select") .. ' (' .. db:quote_ident("order") .. ') VALUES (1)')
      local row = db:query("SELECT * FROM " .. db:quote_ident("select"))[1]
      assert.same({ 'it\'s "q" \\ x', "c'd", 1 }, { row['we"ird col'], row.kind, row.order })
    end)

    -- what shows that the apply is under way, as seen from another session
    local UNDER_WAY = {
      sqlite = function(u) return io.open(u:match("^sqlite:(.*)$") .. "-journal") ~= nil end,
      postgres = function(u) return h.query_at(u, "SELECT count(*) AS n FROM pg_locks l JOIN pg_stat_activity a " ..
        "USING (pid) WHERE a.datname = current_database() AND l.pid <> pg_backend_pid() AND " ..
        "l.mode = 'AccessExclusiveLock'")[1].n >= 40 end,
      mysql = function(u) return h.query_at(u, "SELECT count(*) AS n FROM information_schema.tables " ..
        "WHERE table_schema = DATABASE()")[1].n >= 40 end,
    }

    it("killed while applying, tide up again ends in the same schema, applied once", function()
      local dir = h.tmpname(".mig")
      os.execute("mkdir -p " .. dir)
      h.write_file(dir .. "/neutron_kilo.lua", h.read_file(h.root .. "/" .. MIGRATION))
      h.write_file(dir .. "/tide.plan", "neutron_kilo\n")
      local u = b.fresh_url()
      local p = io.popen(("%s -q --url %s --dir %s up >/dev/null 2>&1 & echo $!"):format(
        h.shell_quote(h.tide_bin), h.shell_quote(u), h.shell_quote(dir)))
      local pid = assert(tonumber(p:read("l")))
      p:close()
      local function alive() return os.execute("kill -0 " .. pid .. " 2>/dev/null") end
      local killed = false
      while alive() do
        if UNDER_WAY[b.name](u) then
          killed = os.execute("kill -9 " .. pid .. " 2>/dev/null") == true
          break
        end
        os.execute("sleep 0.01")
      end
      while alive() do os.execute("sleep 0.01") end
      -- PostgreSQL holds its locks and MariaDB shows its tables for the
      -- whole apply: the kill lands mid-way there (SQLite's apply may end
      -- between two looks)
      if b.name ~= "sqlite" then assert.is_true(killed) end
      local out, err, code = h.tide_at(u, { "--dir", dir, "-q", "up" })
      assert.equal(0, code, out .. err)
      local db <close> = tide.open(u)
      local s = tide.schema.canonical(db:schema())
      s.tide_history = nil
      assert.same({}, tide.schema.diff(saved[b.name], s, { "clean run", "after kill" }))
      local rows = h.query_at(u, "SELECT status FROM tide_history WHERE name = 'neutron_kilo'")
      local applied = 0
      for _, r in ipairs(rows) do if r.status == "applied" then applied = applied + 1 end end
      assert.equal(1, applied)
    end)

    it("an index dropped by hand is reported against the model", function()
      local db <close> = tide.open(url)
      db:exec(b.name == "mysql" and "DROP INDEX ix_packetfilters_tenant_id ON packetfilters"
                                 or "DROP INDEX ix_packetfilters_tenant_id")
      assert.same({ "packetfilters: index ix_packetfilters_tenant_id only in model" },
                  tide.schema.diff(model, tide.schema.canonical(db:schema()), { "model", "database" }))
    end)
  end)

  it("compares equal on every backend", function()
    h.assert_same_schemas(saved)
  end)
end)
