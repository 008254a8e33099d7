-- Commands that only read touch nothing, on every backend; commands that
-- act on recorded history never create a SQLite database (issue 19).
local h = require "helpers"

local file_bytes = h.read_file

local function side_files(path)
  local out = {}
  for _, suffix in ipairs({ "-journal", "-wal", "-shm" }) do
    if file_bytes(path .. suffix) then out[#out + 1] = suffix end
  end
  return out
end

describe("commands acting on history, on a missing SQLite file", function()
  for _, args in ipairs({ { "down" }, { "stamp", "a" }, { "resolve", "a", "--applied" }, { "accept", "a" } }) do
    it("tide " .. table.concat(args, " ") .. " says so and creates nothing", function()
      local dir = h.migrations({ h.table_migration("a", "ta") })
      local path = h.tmpname(".db")
      local out, err, code = h.tide_at("sqlite:" .. path, { "--dir", dir, table.unpack(args) })
      assert.equal(1, code, err)
      assert.equal("", out)
      assert.truthy(err:find("no database at " .. path, 1, true), err)
      assert.is_nil(file_bytes(path))
    end)
  end
end)

describe("up --sql on a missing SQLite file", function()
  it("prints the whole plan as a fresh database would run it, and creates nothing", function()
    local dir = h.migrations({ h.table_migration("a", "ta"), h.table_migration("b", "tb") })
    local path = h.tmpname(".db")
    local out, err, code = h.tide_at("sqlite:" .. path, { "--dir", dir, "up", "--sql" })
    assert.equal(0, code, err)
    assert.matches('CREATE TABLE "ta"', out)
    assert.matches('CREATE TABLE "tb"', out)
    assert.is_nil(file_bytes(path))
    assert.same({}, side_files(path))
    -- and what it printed is what up then runs
    local _, err2, code2 = h.tide_at("sqlite:" .. path, { "--dir", dir, "up" })
    assert.equal(0, code2, err2)
    assert.same({ "ta", "tb" }, h.user_tables("sqlite:" .. path))
  end)
end)

h.each_backend(describe, it, function(b)
  it("up --sql, down --sql, status, history and inspect change nothing", function()
    local url = b.fresh_url()
    local dir = h.migrations({ h.table_migration("a", "ta"), h.table_migration("b", "tb"),
                               { "c", 'm:create_table("tc", {{"id", "integer"}})\n' ..
                                      'm.db:exec("INSERT INTO tc VALUES (1)")' } })
    local _, err, code = h.tide_at(url, { "--dir", dir, "up", "--to", "a" })
    assert.equal(0, code, err)
    local path = b.name == "sqlite" and url:match("^sqlite:(.*)$")
    local before_bytes = path and file_bytes(path)
    local before = h.query_at(url, "SELECT id, name, status FROM tide_history ORDER BY id")
    for _, args in ipairs({ { "up", "--sql" }, { "down", "--sql" }, { "status" }, { "history" }, { "inspect" },
                            { "inspect", "ta" }, { "--json", "status" } }) do
      local out, e, c = h.tide_at(url, { "--dir", dir, table.unpack(args) })
      assert.is_true(c == 0 or c == 3, table.concat(args, " ") .. ": " .. e)
      if args[2] == "--sql" and args[1] == "up" then
        assert.matches("CREATE TABLE", out)
        assert.matches("a data step follows", out)
      end
    end
    assert.same({ "ta" }, h.user_tables(url))
    assert.same(before, h.query_at(url, "SELECT id, name, status FROM tide_history ORDER BY id"))
    if path then
      assert.equal(before_bytes, file_bytes(path))
      assert.same({}, side_files(path))
    end
  end)
end)
