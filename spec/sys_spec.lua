-- OS primitives of tide.core.
local core = require "tide.core"

describe("sys", function()
  it("sha256 matches the FIPS 180-4 test vectors", function()
    assert.equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", core.sha256(""))
    assert.equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", core.sha256("abc"))
    assert.equal("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
                 core.sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))
    assert.equal("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
                 core.sha256(string.rep("a", 1000000)))
  end)
  it("now_ms is monotonic and sleep waits", function()
    local t0 = core.now_ms()
    core.sleep(20)
    assert.is_true(core.now_ms() - t0 >= 19)
  end)
  it("isatty and rss_kb answer", function()
    assert.is_boolean(core.isatty(1))
    assert.is_true(core.rss_kb() > 0)
  end)
  it("user_name is what id -un prints", function()
    local p = io.popen("id -un")
    local expected = p:read("l")
    p:close()
    assert.equal(expected, core.user_name())
  end)
  it("json sorts object keys and escapes strings", function()
    assert.equal('{"a":[1,2.5,true],"b":{"y":false},"c":[]}',
                 core.json({ c = {}, b = { y = false }, a = { 1, 2.5, true } }))
    assert.equal('{"1":"x","k":"v"}', core.json({ "x", k = "v" }))
    assert.equal('"q\\"\\\\\\n\\u0001/é"', core.json('q"\\\n\1/é'))
    assert.equal(tostring(math.maxinteger), core.json(math.maxinteger))
    assert.equal("null", core.json(0 / 0))
    local cycle = {}
    cycle.self = cycle
    assert.has_error(function() core.json(cycle) end)
    assert.has_error(function() core.json({ f = print }) end, "json: cannot encode a function")
  end)

  it("spawn runs a child on pipes that poll, read_fd and wait drain", function()
    local pid, out, err = core.spawn({ "sh", "-c", 'printf "%s" "$X"; echo oops >&2; exit 3' }, { X = "a b" })
    local got, open = { [out] = {}, [err] = {} }, { [out] = true, [err] = true }
    while next(open) do
      local fds = {}
      for fd in pairs(open) do fds[#fds + 1] = fd end
      for _, fd in ipairs(core.poll(fds, 5000)) do
        local s = core.read_fd(fd)
        if s == nil then open[fd] = nil else table.insert(got[fd], s) end
      end
    end
    assert.equal(3, core.wait(pid))
    assert.equal("a b", table.concat(got[out]))
    assert.equal("oops\n", table.concat(got[err]))
    assert.equal(127, core.wait((core.spawn({ "/nonexistent/tide-no-such-program" }))))
    -- a NUL would cut an argument or a URL short: refused, nothing started
    assert.has_error(function() core.spawn({ "echo", "a\0b" }) end, "spawn: argument 2 holds a NUL byte")
    assert.has_error(function() core.spawn({ "true" }, { TIDE_URL = "sqlite:a.db\0x" }) end,
                     "spawn: env TIDE_URL: a NUL byte, or a bad name")
  end)
end)
