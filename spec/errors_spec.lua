-- Error objects: classes, constraint and table names, retryable flag.
local core = require "tide.core"
local h = require "helpers"

h.each_backend(describe, it, function(b)
  local db
  before_each(function()
    db = core.open(b.fresh_url())
    db:exec("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    db:exec([[CREATE TABLE child (
      id INTEGER PRIMARY KEY,
      name VARCHAR(20) NOT NULL,
      deleted INTEGER NOT NULL DEFAULT 0,
      qty INTEGER,
      parent_id INTEGER,
      CONSTRAINT uq_child_name_deleted UNIQUE (name, deleted),
      CONSTRAINT ck_child_qty CHECK (qty >= 0),
      CONSTRAINT fk_child_parent_id_parent FOREIGN KEY (parent_id) REFERENCES parent (id))]])
    db:exec("INSERT INTO parent (id) VALUES (1)")
    db:exec("INSERT INTO child (id, name, parent_id) VALUES (1, 'a', 1)")
  end)
  after_each(function() db:close() end)

  it("unique_violation names the constraint", function()
    local e = h.catch(db.exec, db, "INSERT INTO child (id, name) VALUES (2, 'a')")
    assert.equal("unique_violation", e.class)
    assert.equal("uq_child_name_deleted", e.constraint)
    assert.equal("child", e.table)
    assert.equal(b.name, e.backend)
    assert.is_false(e.retryable)
  end)

  it("a duplicate primary key is a unique_violation", function()
    local e = h.catch(db.exec, db, "INSERT INTO child (id, name) VALUES (1, 'b')")
    assert.equal("unique_violation", e.class)
  end)

  it("a unique index violation names the index", function()
    db:exec("CREATE UNIQUE INDEX ix_child_qty ON child (qty)")
    db:exec("UPDATE child SET qty = 5")
    local e = h.catch(db.exec, db, "INSERT INTO child (id, name, qty) VALUES (3, 'c', 5)")
    assert.equal("unique_violation", e.class)
    assert.equal("ix_child_qty", e.constraint)
  end)

  it("foreign_key_violation", function()
    local e = h.catch(db.exec, db, "INSERT INTO child (id, name, parent_id) VALUES (2, 'b', 99)")
    assert.equal("foreign_key_violation", e.class)
    e = h.catch(db.exec, db, "DELETE FROM parent")
    assert.equal("foreign_key_violation", e.class)
  end)

  it("not_null_violation names table and column", function()
    local e = h.catch(db.exec, db, "INSERT INTO child (id, name) VALUES (2, NULL)")
    assert.equal("not_null_violation", e.class)
    if b.name ~= "mysql" then assert.equal("child", e.table) end   -- MariaDB does not say
    assert.same({ "name" }, e.columns)
  end)

  it("check_violation names the constraint", function()
    local e = h.catch(db.exec, db, "INSERT INTO child (id, name, qty) VALUES (2, 'b', -1)")
    assert.equal("check_violation", e.class)
    assert.equal("ck_child_qty", e.constraint)
  end)

  it("undefined_object for unknown tables and columns", function()
    assert.equal("undefined_object", h.catch(db.exec, db, "SELECT * FROM nope").class)
    assert.equal("undefined_object", h.catch(db.exec, db, "SELECT nope FROM child").class)
  end)

  it("syntax for malformed SQL", function()
    assert.equal("syntax", h.catch(db.exec, db, "SELECT FROM WHERE").class)
  end)

  it("leaves the data unchanged after an error", function()
    pcall(db.exec, db, "INSERT INTO child (id, name) VALUES (2, 'a')")
    assert.equal(1, #db:query("SELECT id FROM child"))
  end)

  it("keeps an open transaction usable after a constraint error", function()
    db:begin()
    db:savepoint("s")
    pcall(db.exec, db, "INSERT INTO child (id, name) VALUES (2, 'a')")
    db:rollback_to("s")
    db:exec("INSERT INTO child (id, name) VALUES (3, 'c')")
    db:commit()
    assert.equal(2, #db:query("SELECT id FROM child"))
  end)
end)

describe("error objects", function()
  it("print as 'class: message'", function()
    local e = core.error { class = "lock_timeout", message = "waited 5 s" }
    assert.equal("lock_timeout: waited 5 s", tostring(e))
    assert.is_true(e.retryable)
    assert.is_true(core.is_error(e))
    assert.is_false(core.is_error({ class = "x" }))
    assert.is_false(core.is_error("x"))
  end)
  it("refuse an unknown class", function()
    assert.has_error(function() core.error { class = "bogus", message = "x" } end)
  end)
end)
