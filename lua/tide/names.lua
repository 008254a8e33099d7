--- tide.names: deterministic constraint and index names, the same on every
-- backend: pk_<table>, uq_<table>_<cols>, ix_<table>_<cols>,
-- fk_<table>_<cols>_<ref>, ck_<table>_<name>. A name longer than 63
-- characters (PostgreSQL's limit; MariaDB allows 64) is cut and given a hash
-- suffix, so that it stays unique and deterministic.
local core = require "tide.core"

local names = {}

names.MAX = 63

--- Shortens `name` to names.MAX characters with a hash suffix if needed.
function names.fit(name)
  if #name <= names.MAX then return name end
  return name:sub(1, names.MAX - 9) .. "_" .. core.sha256(name):sub(1, 8)
end

function names.primary_key(t) return names.fit("pk_" .. t) end
function names.unique(t, cols) return names.fit("uq_" .. t .. "_" .. table.concat(cols, "_")) end
function names.index(t, cols) return names.fit("ix_" .. t .. "_" .. table.concat(cols, "_")) end
function names.check(t, name) return names.fit("ck_" .. t .. "_" .. name) end
function names.foreign_key(t, cols, ref)
  return names.fit("fk_" .. t .. "_" .. table.concat(cols, "_") .. "_" .. ref)
end

return names
