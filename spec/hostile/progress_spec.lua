-- Hostile terminal output of `up`, on every backend: the progress line is
-- kept when a migration fails, and the error after it quotes a name the
-- database reports; a name holding terminal escapes (set the window title,
-- clear the screen) must reach the terminal as text, not as escapes; a
-- dumb terminal gets no redrawn line.
local h = require "helpers"
local terminal = require "terminal"

local EVIL = "\27]0;pwned\7\27[2J"

h.each_backend(describe, it, function(b)
  it("an error quoting a name with escapes shows them as \\xHH", function()
    local url = b.fresh_url()
    local dir = h.migrations({
      { "looks_up", ("m.db:query('SELECT * FROM ' .. m.db:quote_ident(%q))"):format(EVIL) },
    })
    local out, code = terminal.capture({ "--url", url, "--dir", dir, "up" })
    assert.equal(1, code, out)
    -- the progress line, then the error; nothing raw but the line's own redraw
    local rest = out:gsub("\r\27%[K", ""):gsub("\r\n", "\n")
    assert.is_nil(rest:find("[%z\1-\9\11-\31\127]"), rest)
    assert.matches("^applying 1/1 looks_up\ntide: undefined_object: looks_up: .*%]0;pwned.*%[2J", rest)
    if b.name ~= "mysql" then                                    -- MySQL writes them as \001B itself
      assert.matches("\\x1B%]0;pwned\\x07\\x1B%[2J", rest)
    end
    -- piped, the same
    local _, err
    _, err, code = h.tide_at(url, { "--dir", dir, "up" })
    assert.equal(1, code)
    assert.is_nil(err:find("[%z\1-\9\11-\31\127]"), err)
  end)

  it("a terminal whose TERM is dumb (an editor's shell) gets lines, not redraws", function()
    local url = b.fresh_url()
    local dir = h.migrations({ h.table_migration("one", "t1"), h.table_migration("two", "t2") })
    local cmd = table.concat({ h.shell_quote(h.tide_bin), "--url", h.shell_quote(url), "--dir", h.shell_quote(dir),
                               "up" }, " ")
    local p = io.popen(("env -u LD_PRELOAD TERM=dumb script -qec %s /dev/null"):format(h.shell_quote(cmd)))
    local out = p:read("a")
    local _, _, code = p:close()
    assert.equal(0, code, out)
    assert.equal("applying one\r\napplying two\r\napplied 2 migrations\r\n", out)
  end)
end)
