--- tide.lazy: a stand-in for a module that loads it on first use, so a
-- command pays only for the modules it touches (start-up time). After that
-- first use the module itself is the stand-in's __index: later lookups are
-- plain table reads, not a require call each.
return function(name)
  local mt = {}
  mt.__index = function(_, k)
    local m = require(name)
    mt.__index = m
    return m[k]
  end
  return setmetatable({}, mt)
end
