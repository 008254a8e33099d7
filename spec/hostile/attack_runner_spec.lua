-- More hostile migrations against the runner, on every backend, through the
-- tide binary (spec/hostile/runner_spec.lua has the first round).
local h = require "helpers"

local folder = h.migrations

h.each_backend(describe, it, function(b)
  local url
  local function tide(args, opts) return h.tide_at(url, args, opts) end
  local function tables() return h.user_tables(url) end
  local function query(sql, ...) return h.query_at(url, sql, ...) end
  local function status_code(dir) return select(3, tide({ "--dir", dir, "status" })) end
  local mysql = b.name == "mysql"
  before_each(function() url = b.fresh_url() end)

  -- Transaction control hidden where a first-word check that strips
  -- comments before strings, or stops at CREATE, would not see it. Each one
  -- runs on some backend (PostgreSQL runs several statements in one call,
  -- MariaDB runs "# ..." lines and "/*! ... */" comments as code), ending the
  -- runner's transaction: the migration's work would commit while its
  -- history row says it failed.
  describe("transaction control hidden from the guard", function()
    for _, case in ipairs({
      { [[m.db:exec("SELECT '--' AS x; COMMIT")]], "COMMIT" },
      { [[m.db:exec("SELECT '/*' AS x; COMMIT; SELECT '*/' AS y")]], "COMMIT" },
      { [[m.db:exec("CREATE TABLE zz (a integer); COMMIT")]], "COMMIT" },
      { [[m.db:exec("/*! COMMIT */")]], "COMMIT" },
      { [[m.db:exec("/*!50000 ROLLBACK */")]], "ROLLBACK" },
      { [[m.db:exec("# a note\nCOMMIT")]], "COMMIT" },
      { [[m.db:exec("SELECT E'\\''; COMMIT; --'")]], "COMMIT" },
      { [[m.db:exec("LOCK TABLES t0 WRITE")]], "LOCK" },
      { [[m.db:exec("UNLOCK TABLES")]], "UNLOCK" },
      { [[m.db:exec("PREPARE TRANSACTION 'x'")]], "PREPARE" },
      { [[m:sql{default = "SELECT '--' AS x; COMMIT"}]], "COMMIT" },
    }) do
      it("is refused: " .. case[1] .. ", nothing applied", function()
        local dir = folder({ { "a", case[1] .. '\nm:create_table("t1", {{"id", "integer"}})', false } })
        local _, err, code = tide({ "--dir", dir, "up" })
        assert.equal(1, code)
        assert.matches("misuse", err)
        assert.matches(case[2] .. ": the runner owns the transaction", err, 1, true)
        assert.same({}, tables())
        assert.equal(3, status_code(dir))
      end)
    end

    it("a trigger body's BEGIN ... END is not transaction control", function()
      local dir = folder({ { "a", 'm:create_table("t1", {{"id", "integer"}})\n' ..
        'm:sql{sqlite = "CREATE TRIGGER tr1 AFTER INSERT ON t1 BEGIN UPDATE t1 SET id = id; END", ' ..
        'mysql = "CREATE TRIGGER tr1 BEFORE INSERT ON t1 FOR EACH ROW BEGIN IF NEW.id < 0 THEN ' ..
        'SET NEW.id = 0; END IF; END", postgres = "CREATE FUNCTION f1() RETURNS trigger AS $$ BEGIN ' ..
        'RETURN NEW; END $$ LANGUAGE plpgsql"}', false } })
      local _, err, code = tide({ "--dir", dir, "up" })
      assert.equal(0, code, err)
      assert.same({ "t1" }, tables())
    end)
  end)

  -- A "# ..." line before a write hid the write on MariaDB: the statement
  -- was taken for a read, so not a journaled step, and ran again on resume.
  it("a commented write is still a step", function()
    local mdb = require "tide.migration_db"
    assert.is_false(mdb.reads("# note\nINSERT INTO t VALUES (1)"))
    assert.is_false(mdb.reads("/*! INSERT INTO t VALUES (1) */"))
    assert.is_true(mdb.reads("-- note\nSELECT '; DELETE FROM t'"))
  end)
  -- m, m.db and its statements kept past the migration (package.loaded is
  -- shared by every migration file): on MariaDB the later write was journaled
  -- as a step of the applied migration that owned m.db, and ran even though
  -- the migration using it failed.
  describe("m or m.db kept after its migration returned", function()
    for _, case in ipairs({
      { "package.loaded.KEPT = m.db", 'package.loaded.KEPT:exec("INSERT INTO ta (id) VALUES (1)")', "m.db:exec" },
      { 'package.loaded.KEPT = m.db:prepare("INSERT INTO ta (id) VALUES (?)")', "package.loaded.KEPT:exec(1)",
        "m.db:exec" },
      { "package.loaded.KEPT = m", 'package.loaded.KEPT:create_table("tz", {{"id", "integer"}})',
        "m.create_table" },
      { "package.loaded.KEPT = m", 'package.loaded.KEPT.db:exec("INSERT INTO ta (id) VALUES (1)")', "m.db" },
    }) do
      it("is refused: " .. case[2], function()
        local dir = folder({
          { "a", 'm:create_table("ta", {{"id", "integer", primary_key = true}})\n' .. case[1], false },
          { "b", case[2] .. '\nm:create_table("tb", {{"id", "integer"}})', false } })
        local _, err, code = tide({ "--dir", dir, "up" })
        assert.equal(1, code)
        assert.matches(case[3] .. " used after the migration returned", err, 1, true)
        assert.same({ "ta" }, tables())
        assert.same({}, query("SELECT id FROM ta"))
        local rows = query("SELECT name, status, step FROM tide_history ORDER BY id")
        assert.equal("applied", rows[1].status)
        assert.equal(1, math.tointeger(rows[1].step))
        assert.equal("failed", rows[2].status)
        assert.equal(0, math.tointeger(rows[2].step))
        package.loaded.KEPT = nil
      end)
    end
  end)
  -- PostgreSQL reads U&"tide\005fhistory" as tide_history: the DELETE ran and
  -- took the history of the applied migration with it.
  for _, sql in ipairs({ [==[m.db:exec([=[DELETE FROM U&"tide\005fhistory"]=])]==],
                         [==[m.db:exec([=[DELETE FROM U&"tide!005fhistory" UESCAPE '!']=])]==] }) do
    it("tide's own table spelled through escapes is refused: " .. sql, function()
      local dir = folder({ { "a", 'm:create_table("ta", {{"id", "integer"}})', false }, { "b", sql, false } })
      assert.equal(0, select(3, tide({ "--dir", dir, "up", "--to", "a" })))
      local _, err, code = tide({ "--dir", dir, "up" })
      assert.equal(1, code)
      assert.matches("is tide's own table; a migration may not touch it", err, 1, true)
      local rows = query("SELECT name, status FROM tide_history ORDER BY id")
      assert.equal("a", rows[1].name)
      assert.equal("applied", rows[1].status)
    end)
  end
  -- Lengths count characters on every backend, so a 4-byte character counts 1.
  describe("alter_column to a string exactly as long as its values", function()
    local E = "\u{1F600}"
    for _, case in ipairs({
      { "ascii, exactly n", "abcde", 5, true }, { "4-byte characters, exactly n", E:rep(5), 5, true },
      { "4-byte characters, n + 1", E:rep(6), 5, false }, { "NULL", nil, 1, true },
      { "empty string", "", 1, true },
    }) do
      it(case[1], function()
        local dir = folder({
          { "a", ('m:create_table("t", {{"id", "integer", primary_key = true}, {"v", "text"}})\n' ..
                  'm.db:exec("INSERT INTO t (id, v) VALUES (1, ?)", %s)'):format(case[2] and ("%q"):format(case[2])
                  or "nil"), false },
          { "b", ('m:alter_column("t", "v", {type = "string", length = %d})'):format(case[3]), false } })
        assert.equal(0, select(3, tide({ "--dir", dir, "up", "--to", "a" })))
        local _, err, code = tide({ "--dir", dir, "up" })
        if case[4] then
          assert.equal(0, code, err)
          assert.equal(0, status_code(dir))
        else
          assert.equal(1, code)
          assert.matches("1 row(s) of t.v do not fit the new type", err, 1, true)
          assert.equal(3, status_code(dir))
        end
        assert.equal(case[2], query("SELECT v FROM t")[1].v)
      end)
    end
  end)
  -- A step that failed, caught by pcall in the migration: PostgreSQL's
  -- transaction was dead ("current transaction is aborted", naming nothing);
  -- SQLite and MariaDB went on and recorded the migration applied.
  for _, catch in ipairs({ 'pcall(m.sql, m, {default = "INSERT INTO nope VALUES (1)"})',
                           'pcall(m.db.exec, m.db, "INSERT INTO nope VALUES (1)")',
                           'pcall(m.add_column, m, "nope", {"x", "integer"})' }) do
    it("a failed step caught by the migration still fails it: " .. catch, function()
      local dir = folder({ { "a", 'm:create_table("ta", {{"id", "integer"}})\n' .. catch ..
                                  '\nm:create_table("tz", {{"id", "integer"}})', false } })
      local _, err, code = tide({ "--dir", dir, "up" })
      assert.equal(1, code)
      assert.matches("and the migration went on after catching the error; a failed step fails the migration",
                     err, 1, true)
      assert.same(mysql and not catch:find("add_column") and { "ta" } or {}, tables())
      assert.equal("failed", query("SELECT status FROM tide_history")[1].status)
    end)
  end
  -- An error message with a NUL and invalid UTF-8: PostgreSQL refused the
  -- history row and reported that instead of the error; MariaDB left the row
  -- "running" (status: "interrupted at step 0").
  it("a migration error with a NUL, invalid UTF-8 and 400 KB is recorded as failed, the error kept", function()
    local dir = folder({ { "a", 'm:create_table("ta", {{"id", "integer"}})\n' ..
                                'error("bad\\0nul " .. ("\\xff\\xfe"):rep(200000), 0)', false } })
    local _, err, code = tide({ "--dir", dir, "up" })
    assert.equal(1, code)
    assert.matches("bad", err, 1, true)
    local row = query("SELECT status, message FROM tide_history")[1]
    assert.equal("failed", row.status)
    assert.equal("bad\\0nul \\xFF\\xFE", row.message:sub(1, 17))
    assert.truthy(#row.message < 20000)
    assert.equal(3, status_code(dir))
  end)
end)
