--- tide.names: deterministic constraint and index names, the same on every
-- backend: pk_<table>, uq_<table>_<cols>, ix_<table>_<cols>,
-- fk_<table>_<cols>_<ref>, ck_<table>_<name>. A name longer than 63 bytes
-- (PostgreSQL's limit; MariaDB allows 64 characters) is cut and given a hash
-- suffix, so that it stays unique and deterministic. The cut falls between
-- UTF-8 characters: half a character is an invalid name on the servers.
local core = require "tide.core"

local names = {}

names.MAX = 63

--- Shortens `name` to at most names.MAX bytes with a hash suffix if needed.
function names.fit(name)
  if #name <= names.MAX then return name end
  local cut = names.MAX - 9
  -- back off while the byte after the cut is a continuation byte (0x80-0xBF)
  while cut > 0 do
    local nextb = name:byte(cut + 1)
    if nextb < 0x80 or nextb >= 0xC0 then break end
    cut = cut - 1
  end
  return name:sub(1, cut) .. "_" .. core.sha256(name):sub(1, 8)
end

function names.primary_key(t) return names.fit("pk_" .. t) end
function names.unique(t, cols) return names.fit("uq_" .. t .. "_" .. table.concat(cols, "_")) end
function names.index(t, cols) return names.fit("ix_" .. t .. "_" .. table.concat(cols, "_")) end
function names.check(t, name) return names.fit("ck_" .. t .. "_" .. name) end
function names.foreign_key(t, cols, ref)
  return names.fit("fk_" .. t .. "_" .. table.concat(cols, "_") .. "_" .. ref)
end

return names
