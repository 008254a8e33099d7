-- Attacks on the shortcut of `tide check` and `tide diff` (tide.schema.matches:
-- a table "surely alike" is left out of the full compare). On every backend,
-- tables written by hand in many nearly alike ways (types and their
-- arguments, defaults written every way, collations, keys, indexes, foreign
-- keys) are compared pairwise: whenever the shortcut says alike, the full
-- compare must find nothing. Then the keys SQLite lets repeat (unnamed ones
-- on the same columns, a constraint name given twice), through the CLI.
local core = require "tide.core"
local tide = require "tide"
local h = require "helpers"

-- per backend: the referenced tables, then one table `t` a line ("COLUMNS"
-- or "COLUMNS ## SQL; SQL" run after it)
local SETUP = "CREATE TABLE p (id integer PRIMARY KEY, a integer UNIQUE); CREATE TABLE q (id integer PRIMARY KEY)"
local COMMON = [[
id integer primary key, a varchar(30)
id integer primary key, a varchar(60)
id integer primary key, a varchar(30) not null
id integer primary key, a varchar(30) default 'x'
id integer primary key, a varchar(30) default 'X'
id integer primary key, a varchar(30) default ('x')
id integer primary key, a varchar(30) default 'x '
id integer primary key, a varchar(30) default ''
id integer primary key, a varchar(30) default '1'
id integer primary key, a varchar(30) default 'NULL'
id integer primary key, a varchar(30) default null
id integer primary key, a text
id integer primary key, a integer
id integer primary key, a integer not null
id integer primary key, a integer default 0
id integer primary key, a integer default '0'
id integer primary key, a integer default (0)
id integer primary key, a integer default -1
id integer primary key, a integer default (1+1)
id integer primary key, a integer default 2
id integer primary key, a bigint
id integer primary key, a smallint
id integer primary key, a decimal(10,2)
id integer primary key, a decimal(10,3)
id integer primary key, a decimal(10,2) default 0.5
id integer primary key, a decimal(10,2) default 0.50
id integer primary key, a decimal(10,2) default '0.5'
id integer primary key, a real
id integer primary key, a double precision
id integer primary key, a double precision default 0.1
id integer primary key, a date
id integer primary key, a boolean default true
id integer primary key, a boolean default false
id integer primary key, a varchar(43)
id integer, a integer, primary key (id, a)
id integer, a integer, primary key (a, id)
a integer, id integer primary key
id integer primary key, a integer, b integer
id integer primary key, b integer, a integer
id integer primary key, a integer unique
id integer primary key, a integer, constraint ux unique (a)
id integer primary key, a integer ## create unique index ux on t (a)
id integer primary key, a integer ## create index ux on t (a)
id integer primary key, a integer ## create index ux on t (a, id)
id integer primary key, a integer ## create index ux on t (id, a)
id integer primary key, a integer, check (a > 0)
id integer primary key, a integer, constraint fk foreign key (a) references p(id)
id integer primary key, a integer, constraint fk foreign key (a) references p(id) on delete cascade
id integer primary key, a integer, constraint fk foreign key (a) references p(id) on delete restrict
id integer primary key, a integer, constraint fk foreign key (a) references p(id) on update set null
id integer primary key, a integer, constraint fk foreign key (a) references p(a)
id integer primary key, a integer, constraint fk foreign key (a) references q(id)
id integer primary key, a integer, constraint fk2 foreign key (a) references p(id)
id integer primary key, a integer, constraint fk foreign key (a) references t(id)
id integer primary key
id integer
]]
local OWN = {
  sqlite = [[
id integer primary key, "A" integer
id integer primary key, a integer ## create index ux on t (a) where a > 0
id integer primary key, a integer ## create unique index ux on t (a) where a > 0
id integer primary key, a varchar
id integer primary key, a
id integer primary key, a text collate binary
id integer primary key, a text collate nocase
id integer primary key, a varchar(30) default "x"
id integer primary key, a integer default 0.0
id integer primary key, a integer default 0x10
id integer primary key, a integer default 16
id integer primary key, a boolean default 1
id integer primary key, a boolean default 't'
id integer primary key, a datetime default current_timestamp
id integer primary key, a datetime default (datetime('now'))
id integer primary key, a datetime default (datetime('now', 'localtime'))
id integer primary key, a datetime(3)
id integer primary key, a text, constraint a check (a in ('p','q'))
id integer primary key, a text, constraint a check (a in ('q','p'))
id integer primary key autoincrement, a integer
id integer primary key, a integer, b integer, unique (a), unique (b)
id integer primary key, a integer, b integer, unique (a), unique (a collate nocase)
id integer primary key, a integer, b integer, foreign key (a) references p(id), foreign key (b) references p(id)
id integer primary key, a integer, b integer, foreign key (a) references p(id), foreign key (a) references p(id)
id int primary key, a int, b int, constraint fk foreign key(a) references p, constraint fk2 foreign key(b) references p
id int primary key, a int, b int, constraint fk foreign key(a) references p, constraint fk foreign key(a) references p
]],
  postgres = [[
id integer primary key, "A" integer
id integer primary key, a integer ## create index ux on t (a) where a > 0
id integer primary key, a integer ## create unique index ux on t (a) where a > 0
id integer primary key, a varchar
id integer primary key, a text collate "C"
id integer primary key, a text collate "POSIX"
id integer primary key, a varchar(30) default 'x'::text
id integer primary key, a timestamp
id integer primary key, a timestamp(3)
id integer primary key, a timestamp default now()
id integer primary key, a timestamp default current_timestamp(3)
id integer primary key, a timestamp default localtimestamp
id integer primary key, a timestamptz
id integer primary key, a time(3)
id integer primary key, a inet
id integer primary key, a jsonb
id integer primary key, a uuid
id serial primary key, a integer
id bigserial primary key, a integer
id integer generated always as identity primary key, a integer
id integer primary key, a integer ## create index ux on t (a desc)
id integer primary key, a integer ## create index ux on t ((a + 1))
id integer primary key, a integer ## create index ux on t (a) include (id)
]],
  mysql = [[
id integer primary key, `A` integer
id integer primary key, a varchar(30) collate utf8mb4_bin
id integer primary key, a varchar(30) character set latin1
id integer primary key, a mediumtext
id integer primary key, a longtext
id integer primary key, a tinyint(1)
id integer primary key, a tinyint(1) default 1
id integer primary key, a datetime
id integer primary key, a datetime(3)
id integer primary key, a datetime(6) default current_timestamp(6)
id integer primary key, a datetime default current_timestamp
id integer primary key, a timestamp null default current_timestamp
id integer primary key, a enum('p','q')
id integer primary key, a enum('q','p')
id integer primary key, a json
id integer primary key, a varchar(30) default '😀'
id integer primary key, a varchar(30) default '?'
id integer auto_increment primary key, a integer
id bigint auto_increment primary key, a integer
id integer primary key, a varchar(100), key ux (a(10))
id integer primary key, a varchar(100), key ux (a(20))
id integer primary key, a varchar(100), key ux (a)
id integer primary key, a varchar(100), unique key ux (a(10))
id integer primary key, a integer, constraint fk foreign key (a) references p(id), key fk (a)
id integer primary key, a integer, key fk (a)
]],
}

h.each_backend(describe, it, function(b)
  it("the shortcut says alike only tables the full compare finds alike", function()
    local db <close> = core.open(b.fresh_url())
    for s in SETUP:gmatch("[^;]+") do db:exec(s) end
    local raws, lines = {}, {}
    for line in (COMMON .. OWN[b.name]):gmatch("[^\n]+") do
      local cols, extra = line:match("^(.-)%s*##%s*(.*)$")
      db:exec(("CREATE TABLE t (%s)"):format(cols or line))
      for s in (extra or ""):gmatch("[^;]+") do db:exec(s) end
      raws[#raws + 1], lines[#lines + 1] = db:schema().t, line
      db:exec("DROP TABLE t")
    end
    local alike = 0
    for i, x in ipairs(raws) do
      local cx = tide.schema.canonical(x)
      for j, y in ipairs(raws) do
        for _, opts in ipairs({ {}, { ignore_positions = true } }) do
          if tide.schema.matches(cx, y, opts) then
            alike = alike + 1
            assert.same({}, tide.schema.diff(cx, tide.schema.canonical(y), { "A", "B" }, opts),
                         lines[i] .. " <> " .. lines[j])
          end
        end
      end
    end
    -- the shortcut is taken (each table with itself at least)
    assert.is_true(alike >= 2 * #raws)
  end)

  -- SQLite's catalog names no foreign key: its names are read from the
  -- CREATE text, each once (two keys on one column are two names)
  it("two foreign keys on the same column keep their own names, in check and diff", function()
    local path = h.tmpname(".models.lua")
    h.write_file(path, [[
create_table("p", { { "id", "integer", primary_key = true } })
create_table("q", { { "id", "integer", primary_key = true } })
create_table("t", { { "id", "integer", primary_key = true }, { "r", "integer" }, { "s", "integer" } },
  { foreign_keys = { { { "r" }, "p", { "id" }, name = "fa" }, { { "r" }, "q", { "id" }, name = "fb" },
                     { { "s" }, "p", { "id" }, name = "fc" },
                     { { "r" }, "p", { "id" }, name = "fd", on_delete = "cascade" } } })
]])
    local url, lite = b.fresh_url(), "sqlite:" .. h.tmpname(".db")
    for _, u in ipairs({ url, lite }) do
      local db <close> = core.open(u)
      tide.models.create(db, path)
    end
    local out, _, code = h.tide_at(url, { "check", "--models", path })
    assert.equal("", out:match("t:[^\n]*") or "")
    assert.equal(0, code)
    out, _, code = h.run_tide({ "diff", url, lite })
    assert.equal("", out:match("t:[^\n]*") or "")
    assert.equal(0, code)
  end)

  if b.name ~= "sqlite" then return end

  -- SQLite keeps unnamed keys on the same columns apart (a collation tells
  -- two UNIQUEs apart) and takes a constraint name twice: as many keys on
  -- both sides, each alike one of the other's, is not yet the same keys
  it("tide diff: repeated keys hide no key (SQLite)", function()
    local a, c = b.fresh_url(), b.fresh_url()
    h.query_at(a, "CREATE TABLE p (id integer PRIMARY KEY)")
    h.query_at(c, "CREATE TABLE p (id integer PRIMARY KEY)")
    h.query_at(a, "CREATE TABLE u (id integer PRIMARY KEY, b text, c text, UNIQUE (b), UNIQUE (c))")
    h.query_at(c, "CREATE TABLE u (id integer PRIMARY KEY, b text, c text, UNIQUE (b), UNIQUE (b COLLATE NOCASE))")
    h.query_at(a, "CREATE TABLE f (id integer PRIMARY KEY, r integer REFERENCES p (id), s integer REFERENCES p (id))")
    h.query_at(c, "CREATE TABLE f (id integer PRIMARY KEY, r integer REFERENCES p (id), s integer, " ..
                  "FOREIGN KEY (r) REFERENCES p (id))")
    local out, _, code = h.run_tide({ "diff", a, c })
    assert.equal(4, code)
    assert.matches("u: unique (c) only in " .. a, out, 1, true)
    assert.matches("f: foreign key (s) only in " .. a, out, 1, true)
  end)

  it("tide check: a foreign key name given twice hides no key (SQLite)", function()
    local url, path = b.fresh_url(), h.tmpname(".models.lua")
    h.write_file(path, [[
create_table("p", { { "id", "integer", primary_key = true } })
create_table("t", { { "id", "integer", primary_key = true }, { "r", "integer" }, { "s", "integer" } },
  { foreign_keys = { { { "r" }, "p", { "id" }, name = "fx" }, { { "s" }, "p", { "id" }, name = "fy" } } })
]])
    local db <close> = core.open(url)
    tide.models.create(db, path)
    assert.same({}, tide.models.diff(db, path))
    db:exec("DROP TABLE t")
    db:exec([[CREATE TABLE t (id integer NOT NULL, r integer, s integer, CONSTRAINT pk_t PRIMARY KEY (id),
              CONSTRAINT fx FOREIGN KEY (r) REFERENCES p (id), CONSTRAINT fx FOREIGN KEY (r) REFERENCES p (id))]])
    local out, _, code = h.tide_at(url, { "check", "--models", path })
    assert.equal(4, code)
    assert.matches("t: foreign key fy only in models", out, 1, true)
  end)
end)
