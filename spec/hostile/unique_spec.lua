-- Hostile callers of db:insert_or_get and db:upsert (tide.unique): rows whose
-- id the MariaDB LAST_INSERT_ID report cannot carry as it is (0, negative,
-- unsigned above 2^63), and values the key check must not let through.
local core = require "tide.core"
require "tide"
local h = require "helpers"

local function fails(f)
  local ok, e = pcall(f)
  assert.is_false(ok, "expected an error")
  return e
end

h.each_backend(describe, it, function(b)
  local db
  before_each(function() db = core.open(b.fresh_url()) end)
  after_each(function() db:close() end)

  local AUTO = ({ sqlite = "INTEGER PRIMARY KEY AUTOINCREMENT", postgres = "BIGSERIAL PRIMARY KEY",
                  mysql = "BIGINT AUTO_INCREMENT PRIMARY KEY" })[b.name]

  -- a row found with id 0 or a negative id: its id, created false, the
  -- update done once and no error
  for _, id in ipairs({ 0, -5 }) do
    it(("finds and updates the row whose id is %d"):format(id), function()
      db:exec("CREATE TABLE n (id " .. AUTO .. ", name VARCHAR(20) NOT NULL, v INTEGER, UNIQUE (name))")
      if b.name == "mysql" then db:exec("SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_AUTO_VALUE_ON_ZERO')") end
      db:exec("INSERT INTO n (id, name, v) VALUES (?, 'k', 1)", id)
      assert.equal(id, db:upsert("n", { name = "k", v = 2 }, { key = { "name" }, update = { "v" } }))
      assert.equal(id, db:upsert("n", { name = "k", v = 2 }, { key = { "name" }, update = { "v" } }))
      local got, created = db:insert_or_get("n", { name = "k", v = 9 }, { key = { "name" } })
      assert.same({ id, false }, { got, created })
      assert.same({ { id = id, name = "k", v = 2 } }, db:query("SELECT id, name, v FROM n"))
      local new, made = db:insert_or_get("n", { name = "other" }, { key = { "name" } })
      assert.is_true(made)
      assert.is_true(new > 0)
    end)
  end

  -- the row holding the key exists, and values also hit another row on
  -- another unique key: the unique violation, and neither row changed
  it("raises the other key's violation, changing no row", function()
    db:exec("CREATE TABLE o (id " .. AUTO .. ", name VARCHAR(20) NOT NULL, email VARCHAR(20) NOT NULL, v INTEGER, " ..
            "UNIQUE (email), UNIQUE (name))")
    db:exec("INSERT INTO o (name, email, v) VALUES ('a', 'a@', 1), ('b', 'b@', 1)")
    for _, id in ipairs({ 0, -5 }) do
      if id == 0 and b.name == "mysql" then
        db:exec("SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_AUTO_VALUE_ON_ZERO')")
      end
      db:exec("INSERT INTO o (id, name, email, v) VALUES (?, ?, ?, 1)", id, "n" .. id, "n" .. id .. "@")
    end
    for _, name in ipairs({ "b", "n0", "n-5" }) do
      local e = fails(function()
        return db:upsert("o", { name = name, email = "a@", v = 2 }, { key = { "name" }, update = { "email", "v" } })
      end)
      assert.equal("unique_violation", e.class)
      e = fails(function() return db:insert_or_get("o", { name = name .. "x", email = "a@" }, { key = { "name" } }) end)
      assert.equal("unique_violation", e.class)
    end
    assert.equal(4, #db:query("SELECT id FROM o WHERE v = 1"))
    assert.equal(4, #db:query("SELECT id FROM o"))
  end)

  -- a nullable `deleted`: a row with NULL there is neither live (= 0) nor
  -- kept apart by UNIQUE(name, deleted), so a second "live" row could come
  it("refuses a soft-delete table whose deleted column may be NULL", function()
    db:exec("CREATE TABLE nd (id " .. AUTO .. ", name VARCHAR(20) NOT NULL, v INTEGER, deleted INTEGER, " ..
            "UNIQUE (name, deleted))")
    db:exec("INSERT INTO nd (name) VALUES ('x')")
    for _, call in ipairs({
      function() return db:insert_or_get("nd", { name = "x" }, { key = { "name" } }) end,
      function() return db:upsert("nd", { name = "x", v = 1 }, { key = { "name" }, update = { "v" } }) end,
    }) do
      local e = fails(call)
      assert.equal("misuse", e.class)
      assert.matches("nd.deleted may be NULL", e.message, 1, true)
    end
    assert.equal(1, #db:query("SELECT id FROM nd"))
  end)

  -- a key column narrower than the Lua number bound to it (single-precision
  -- float, decimal(10,2)): the row stored holds the value rounded, and the
  -- SELECT must find it as the unique index does, not raise its violation
  for _, col in ipairs({ b.name == "mysql" and "FLOAT" or "REAL", "DECIMAL(10,2)" }) do
    it("finds the row again on a " .. col .. " key", function()
      db:exec("CREATE TABLE f (id " .. AUTO .. ", x " .. col .. " NOT NULL, v INTEGER, UNIQUE (x))")
      for _, x in ipairs({ 0.1, 1.005, 1.0 }) do
        local id, created = db:insert_or_get("f", { x = x }, { key = { "x" } })
        assert.is_true(created)
        assert.same({ id, false }, { db:insert_or_get("f", { x = x }, { key = { "x" } }) })
        assert.equal(id, db:upsert("f", { x = x, v = 7 }, { key = { "x" }, update = { "v" } }))
      end
      assert.equal(3, #db:query("SELECT id FROM f WHERE v = 7"))
    end)
  end

  if b.name ~= "mysql" then
    -- transactional DDL: a ROLLBACK (or ROLLBACK TO) undoes a dropped unique
    -- index, so what was read of the table inside must be read again
    for _, undo in ipairs({ "rollback", "rollback_to", "ROLLBACK TO SAVEPOINT s" }) do
      it("sees a unique index again after " .. undo .. " undid its DROP", function()
        db:exec("CREATE TABLE w (id " .. AUTO .. ", name VARCHAR(20) NOT NULL)")
        db:exec("CREATE UNIQUE INDEX w_name ON w (name)")
        db:begin()
        if undo ~= "rollback" then db:savepoint("s") end
        db:exec("DROP INDEX w_name")
        local e = fails(function() return db:insert_or_get("w", { name = "a" }, { key = { "name" } }) end)
        assert.equal("misuse", e.class)
        if undo == "rollback" then db:rollback() elseif undo == "rollback_to" then db:rollback_to("s")
        else db:exec(undo) end
        local id, created = db:insert_or_get("w", { name = "a" }, { key = { "name" } })
        assert.is_true(created)
        assert.same({ id, false }, { db:insert_or_get("w", { name = "a" }, { key = { "name" } }) })
        if db:in_transaction() then db:commit() end
      end)
    end
  end

  if b.name == "mysql" then
    -- a trigger inserting into another AUTO_INCREMENT table garbles the id
    -- the statement reports (0, or a positive id for a row found)
    it("returns the right row and created under triggers that insert elsewhere", function()
      db:exec("CREATE TABLE logt (id INT AUTO_INCREMENT PRIMARY KEY, x INT) AUTO_INCREMENT = 1000")
      db:exec("CREATE TABLE tr (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(20) NOT NULL, v INT, " ..
              "UNIQUE (name)) AUTO_INCREMENT = 50")
      for _, w in ipairs({ "BEFORE INSERT", "BEFORE UPDATE", "AFTER INSERT", "AFTER UPDATE" }) do
        db:exec(("CREATE TRIGGER tr_%s %s ON tr FOR EACH ROW INSERT INTO logt (x) VALUES (1)")
                :format(w:gsub(" ", "_"):lower(), w))
      end
      local id, created = db:insert_or_get("tr", { name = "a", v = 1 }, { key = { "name" } })
      assert.same({ 50, true }, { id, created })
      for _, v in ipairs({ 2, 2, 3 }) do
        assert.equal(50, db:upsert("tr", { name = "a", v = v }, { key = { "name" }, update = { "v" } }))
      end
      local b_id = db:upsert("tr", { name = "b", v = 1 }, { key = { "name" }, update = { "v" } })
      assert.same({ { id = 50, name = "a", v = 3 }, { id = b_id, name = "b", v = 1 } },
                  db:query("SELECT id, name, v FROM tr ORDER BY id"))
    end)

    -- ids past 2^63 are no Lua integer: a clear error, never another row's id
    -- or a wrong `created`
    it("refuses, never misreports, an unsigned id above 2^63", function()
      db:exec("CREATE TABLE u (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, name VARCHAR(20) NOT NULL, " ..
              "v INT, UNIQUE (name)) AUTO_INCREMENT = 9223372036854775810")
      for _, call in ipairs({
        function() return db:insert_or_get("u", { name = "a" }, { key = { "name" } }) end,
        function() return db:insert_or_get("u", { name = "a" }, { key = { "name" } }) end,
        function() return db:upsert("u", { name = "a", v = 1 }, { key = { "name" }, update = { "v" } }) end,
        function() return db:upsert("u", { name = "b", v = 1 }, { key = { "name" }, update = { "v" } }) end,
      }) do
        local e = fails(call)
        assert.matches("above 2^63", tostring(e.message), 1, true)
      end
    end)
  end
end)
