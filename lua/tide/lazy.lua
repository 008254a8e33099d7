--- tide.lazy: a stand-in for a module that loads it on first use, so a
-- command pays only for the modules it touches (start-up time).
return function(name)
  return setmetatable({}, { __index = function(_, k) return require(name)[k] end })
end
