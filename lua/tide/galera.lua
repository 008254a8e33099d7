--- tide.galera: the runner on a MariaDB Galera cluster. GET_LOCK is local
-- to one node, so two runners on two nodes would both hold "the" lock:
-- here the lock is a row of `tide_lock`, which replicates (an INSERT of the
-- same name on two nodes: one commits, the other fails certification or
-- meets the row). The holder writes a heartbeat as it goes; a row whose
-- heartbeat is older than STALE_MS, or whose node has left the cluster, is
-- stale and taken over. DDL runs in total order (TOI, the default), after
-- checking that the node is ready and the cluster has not shrunk.
local core = require "tide.core"

local galera = {}

galera.TABLE = "tide_lock"
--- A heartbeat is written at most this often (at each migration and step).
galera.BEAT_MS = 1000
--- No heartbeat for this long: the holder is presumed dead.
galera.STALE_MS = 30000

local function fail(fmt, ...)
  error(core.error { class = "misuse", message = "galera: " .. fmt:format(...) }, 0)
end

local STATUS = "SHOW STATUS WHERE Variable_name IN ('wsrep_ready', 'wsrep_cluster_size', " ..
               "'wsrep_cluster_status', 'wsrep_local_state_comment', 'wsrep_incoming_addresses')"

--- The cluster db is a node of, or nil when wsrep is off (or the server has
-- no wsrep): {node, address, osu, ready, size, status, state, members =
-- {address = true}}.
function galera.detect(db)
  local ok, rows = pcall(db.query, db, "SELECT @@wsrep_on AS wsrep_on, @@wsrep_node_name AS node, " ..
                                        "@@wsrep_OSU_method AS osu, @@wsrep_node_incoming_address AS address")
  -- a server without wsrep (MySQL) has no such variable; a lost connection
  -- is not an answer: a Galera node must never be taken for a plain server
  if not ok and core.is_error(rows) and rows.class == "connection" then error(rows, 0) end
  if not ok or tonumber(rows[1].wsrep_on) ~= 1 then return nil end
  local v = {}
  for _, r in ipairs(db:query(STATUS)) do v[r.Variable_name] = r.Value end
  local members = {}
  for a in (v.wsrep_incoming_addresses or ""):gmatch("[^,]+") do members[a] = true end
  return { node = rows[1].node, address = rows[1].address, osu = rows[1].osu, ready = v.wsrep_ready == "ON",
           size = tonumber(v.wsrep_cluster_size) or 0, status = v.wsrep_cluster_status,
           state = v.wsrep_local_state_comment, members = members }
end

--- Refuses DDL unless the node is ready, in the primary component, runs
-- DDL in total order, and the cluster has at least `min_size` nodes.
function galera.check(db, min_size)
  local c = galera.detect(db)
  if not c then fail("wsrep is off on this node now") end
  if not c.ready or c.status ~= "Primary" then
    fail("node %s is not ready for DDL (wsrep_ready %s, cluster %s, state %s)", c.node,
         c.ready and "ON" or "OFF", tostring(c.status), tostring(c.state))
  end
  if c.osu ~= "TOI" then
    fail("wsrep_OSU_method is %s on node %s: tide runs DDL in total order (TOI) only; a rolling " ..
         "schema upgrade (RSU) is refused (see docs/DESIGN.md, Galera)", tostring(c.osu), c.node)
  end
  if min_size and c.size < min_size then
    fail("the cluster shrank from %d to %d nodes during the run: stopped before the next DDL; " ..
         "run again once the cluster is as it should be", min_size, c.size)
  end
  return c
end

local function ensure_table(db)
  for _, t in ipairs(db:tables()) do if t == galera.TABLE then return end end
  db:exec("CREATE TABLE IF NOT EXISTS " .. galera.TABLE .. " (name VARCHAR(64) NOT NULL PRIMARY KEY, " ..
          "owner VARCHAR(128) NOT NULL, host VARCHAR(255) NOT NULL, pid BIGINT NOT NULL, " ..
          "node VARCHAR(255) NOT NULL, address VARCHAR(255) NOT NULL, session BIGINT NOT NULL, " ..
          "taken_at DATETIME(6) NOT NULL, " ..
          "heartbeat DATETIME(6) NOT NULL) ENGINE=InnoDB")
end

--- The holder of lock `name`, or nil: {owner, host, pid, node, address,
-- session, taken_at, age_ms (since its heartbeat), stale, why}. Stale: no
-- heartbeat for STALE_MS, its node gone from the cluster, or (on this
-- node) its session gone: a runner killed here is seen at once.
function galera.holder(db, name, cluster)
  local ok, rows = pcall(db.query, db, "SELECT owner, host, pid, node, address, session, taken_at, heartbeat, " ..
    "TIMESTAMPDIFF(MICROSECOND, heartbeat, UTC_TIMESTAMP(6)) AS age_us FROM " .. galera.TABLE ..
    " WHERE name = ?", name)
  local r = ok and rows[1]
  if not r then return nil end
  local h = { owner = r.owner, host = r.host, pid = math.tointeger(r.pid), node = r.node, address = r.address,
              session = math.tointeger(r.session), taken_at = tostring(r.taken_at),
              heartbeat = tostring(r.heartbeat),
              age_ms = math.floor((tonumber(r.age_us) or 0) / 1000) }
  if h.age_ms > galera.STALE_MS then
    h.stale, h.why = true, ("no heartbeat for %.1f s"):format(h.age_ms / 1000)
  elseif cluster and h.address ~= "AUTO" and next(cluster.members) and not cluster.members[h.address] then
    h.stale, h.why = true, ("its node %s (%s) left the cluster"):format(h.node, h.address)
  elseif cluster and h.address == cluster.address and h.node == cluster.node and
         #db:query("SELECT ID FROM information_schema.PROCESSLIST WHERE ID = ?", h.session) == 0 then
    h.stale, h.why = true, ("its session %d on this node is gone"):format(h.session)
  end
  return h
end

--- One line about a holder: "host pid N on node X, heartbeat 1.2 s ago".
function galera.describe(h)
  -- the heartbeat is the writing node's clock: one ahead of this node's
  -- shows as a heartbeat in the future
  local beat = h.age_ms >= 0 and ("heartbeat %.1f s ago"):format(h.age_ms / 1000)
    or ("heartbeat %.1f s in the future (the nodes' clocks differ)"):format(-h.age_ms / 1000)
  return ("%s pid %s on node %s, %s%s"):format(h.host, tostring(h.pid), h.node, beat,
    h.stale and (" (stale: " .. h.why .. ")") or "")
end

local function host_name()
  local f = io.open("/etc/hostname")
  local host = f and f:read("l") or "localhost"
  if f then f:close() end
  return host
end

--- A new owner token ("host:pid:random"): one per run, so a run that
-- reconnects and locks again finds that the row it meets is its own.
function galera.owner()
  return ("%s:%d:%08x"):format(host_name(), core.pid(), math.random(0, 0x7fffffff))
end

local function retryable(e)
  return core.is_error(e) and (e.class == "unique_violation" or e.class == "deadlock")
end

--- Takes lock `name` for `me_owner` (galera.owner()) through the tide_lock
-- row, waiting up to timeout_ms. Returns {release = fn, beat = fn} or nil
-- and the holder. `log` is told about a stale lock taken over. The lock
-- is taken by a write: Galera commits in replication order, so once it
-- commits here every earlier write (another runner's history) has too.
function galera.lock(db, name, me_owner, cluster, timeout_ms, log)
  galera.check(db)
  ensure_table(db)
  local me_host = me_owner:match("^(.*):%d+:%x+$")
  local deadline = core.now_ms() + timeout_ms
  local holder
  -- the heartbeat as this runner saw it change, on its own clock: a row
  -- whose heartbeat is in the future (written by a node whose clock is
  -- ahead) never ages on the server's clock, but stops changing
  local seen = {}
  while true do
    local ok, e = pcall(db.exec, db, "INSERT INTO " .. galera.TABLE .. " (name, owner, host, pid, node, " ..
      "address, session, taken_at, heartbeat) VALUES (?, ?, ?, ?, ?, ?, CONNECTION_ID(), UTC_TIMESTAMP(6), " ..
      "UTC_TIMESTAMP(6))",
      name, me_owner, me_host, core.pid(), cluster.node, cluster.address)
    if not ok and not retryable(e) then error(e, 0) end
    if not ok then
      holder = galera.holder(db, name, galera.detect(db) or cluster)
      if holder and not holder.stale and holder.owner ~= me_owner then
        local key = holder.owner .. " " .. holder.heartbeat
        if seen.key ~= key then
          seen.key, seen.since = key, core.now_ms()
        elseif core.now_ms() - seen.since > galera.STALE_MS then
          holder.stale, holder.why = true, ("its heartbeat has not changed for %d s (seen from here)")
            :format(galera.STALE_MS // 1000)
        end
      end
      if holder and (holder.stale or holder.owner == me_owner) then
        local tok, n = pcall(db.exec, db, "UPDATE " .. galera.TABLE .. " SET owner = ?, host = ?, pid = ?, " ..
          "node = ?, address = ?, session = CONNECTION_ID(), taken_at = UTC_TIMESTAMP(6), " ..
          "heartbeat = UTC_TIMESTAMP(6) " ..
          "WHERE name = ? AND owner = ?", me_owner, me_host, core.pid(), cluster.node, cluster.address,
          name, holder.owner)
        if not tok and not retryable(n) then error(n, 0) end
        if tok and n == 1 then
          if holder.owner ~= me_owner and log then log("took over a stale lock: " .. galera.describe(holder)) end
          ok = true
        end
      end
    end
    if ok then break end
    if core.now_ms() >= deadline then return nil, holder end
    core.sleep(50 + math.random(0, 100))
  end
  local last_beat = core.now_ms()
  local lock = {}
  --- Writes the heartbeat (at most every BEAT_MS unless forced); raises if
  -- the row is no longer this runner's.
  function lock.beat(force)
    if db:in_transaction() or (not force and core.now_ms() - last_beat < galera.BEAT_MS) then return end
    local n = db:exec("UPDATE " .. galera.TABLE .. " SET heartbeat = UTC_TIMESTAMP(6) WHERE name = ? AND owner = ?",
                      name, me_owner)
    if n ~= 1 then
      fail("this runner lost the lock %s (another runner took it over: no heartbeat for %d s?)", name,
           galera.STALE_MS // 1000)
    end
    last_beat = core.now_ms()
  end
  function lock.release()
    db:exec("DELETE FROM " .. galera.TABLE .. " WHERE name = ? AND owner = ?", name, me_owner)
  end
  return lock
end

return galera
