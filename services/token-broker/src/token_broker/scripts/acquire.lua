-- Pick one credential and record a lease on it, atomically (one call per acquire).
-- KEYS[1]  the SET of credential ids, KEYS[2] the ZSET of requests waiting for a full pool
-- ARGV     1 cred key prefix, 2 leases key prefix, 3 lease key prefix, 4 now (ms),
--          5 lease id, 6 request id, 7 lease ttl (ms), 8 cap (0 = no cap),
--          9 refresh margin (ms), 10 blocking margin (ms), 11 broker instance,
--          12 lease key ttl (ms), 13 Kiro model id ('' = any), 14 catalogue key prefix,
--          15 lacks key prefix, 16 session key ('' = no session), 17 session ttl (ms),
--          18 this request's member of KEYS[2] ('' = it has not waited), 19.. excluded credential ids
-- Reply    {"grant", id, refresh_mode, purged, changed_json, auth, access_token, token_fp,
--           access_expires_ms, profile_arn, region, machine_id, proxy, session, reusable}
--          session: '' no session, 'first' served by the session's first account, 'other' not
--          reusable: '1' when the pool keeps a free slot besides this one (no cap: always), no
--          request waits for a slot (a full pool's slots go back after each request) and this is
--          not the one probe lease of a half-open account
--          refresh_mode: 0 token fresh, 1 refresh soon (in the background), 2 refresh first
--          {"busy", purged, changed_json, earliest lease expiry (ms)}
--          {"none", purged, changed_json, earliest end of a cooldown/parking/backoff (ms, 0 = none), pool size}
local now = tonumber(ARGV[4])
local ttl = tonumber(ARGV[7])
local cap = tonumber(ARGV[8])
local margin = tonumber(ARGV[9])
local blocking = tonumber(ARGV[10])
local excluded = {}
for i = 19, #ARGV do excluded[ARGV[i]] = true end

-- Eligibility (catalogue.py, config.py): a retired account takes no lease; a lease for a model
-- goes only to accounts whose live catalogue lists it (unknown catalogue: every model) and
-- that have not answered INVALID_MODEL_ID for it since their last catalogue refresh.
local model = ARGV[13]
local function eligible(id)
  if redis.call('HGET', ARGV[1] .. id, 'retired') == '1' then return false end
  if model == '' then return true end
  local cat = ARGV[14] .. id
  if redis.call('EXISTS', cat) == 1 and redis.call('HEXISTS', cat, model) == 0 then return false end
  return redis.call('HEXISTS', ARGV[15] .. id, model) == 0
end

-- pool-b: session stickiness. The session hash remembers the account that served the session
-- last (`current`, preferred while usable and under its cap) and its first one (`first`).
local session_key = ARGV[16]
local preferred, first_account = nil, nil
if session_key ~= '' then
  local sv = redis.call('HMGET', session_key, 'current', 'first')
  if sv[1] then preferred = sv[1] end
  if sv[2] then first_account = sv[2] end
end

local ids = redis.call('SMEMBERS', KEYS[1])
local purged, busy = 0, 0
local free = 0  -- free slots of the usable credentials (before this grant); -1: no cap
local changed = {}
local soonest, soonest_slot = nil, nil
local best = nil

local function earlier(a, b)
  if a == nil then return b end
  if b < a then return b end
  return a
end

for _, id in ipairs(ids) do
  local rk = ARGV[1] .. id
  local lk = ARGV[2] .. id
  purged = purged + redis.call('ZREMRANGEBYSCORE', lk, '-inf', now)
  if not excluded[id] and eligible(id) then
    local f = redis.call('HMGET', rk, 'status', 'status_until_ms', 'disabled', 'priority',
      'last_used_ms', 'access_expires_ms', 'token_stale', 'refresh_retry_at_ms', 'token_fp',
      'throttle_streak', 'probe_lease')
    local status = f[1]
    local usable = status and f[3] ~= '1' and status ~= 'invalid' and status ~= 'disabled'
    if usable and (status == 'cooling_down' or status == 'quota_parked') then
      local until_ms = tonumber(f[2]) or 0
      if until_ms > now then
        usable = false
        soonest = earlier(soonest, until_ms)
      else
        redis.call('HSET', rk, 'status', 'active', 'reason', '', 'status_until_ms', '0', 'fail_streak', '0')
        table.insert(changed, id)
      end
    end
    local mode = 0
    if usable then
      local exp = tonumber(f[6]) or 0
      local has_token = f[9] and f[9] ~= '' and f[7] ~= '1'
      local retry_at = tonumber(f[8]) or 0
      if not has_token or exp <= now + blocking then
        if retry_at > now then
          usable = false
          soonest = earlier(soonest, retry_at)
        else
          mode = 2
        end
      elseif exp <= now + margin and retry_at <= now then
        mode = 1
      end
    end
    -- pool-b: half-open. After a throttling back-off ends, one probe lease at a time until a
    -- success resets `throttle_streak` (release.lua); other requests wait for its release.
    local probe = false
    if usable and (tonumber(f[10]) or 0) > 0 then
      if f[11] and f[11] ~= '' and redis.call('ZSCORE', lk, f[11]) then
        usable = false
        busy = busy + 1
      else
        probe = true
      end
    end
    if usable then
      local inflight = redis.call('ZCARD', lk)
      if cap > 0 and inflight >= cap then
        busy = busy + 1
        local first = redis.call('ZRANGE', lk, 0, 0, 'WITHSCORES')
        if first[2] then soonest_slot = earlier(soonest_slot, tonumber(first[2])) end
      else
        if cap > 0 and free >= 0 then free = free + cap - inflight else free = -1 end
        local c = {id = id, prio = tonumber(f[4]) or 0, block = (mode == 2) and 1 or 0,
                   inflight = inflight, lru = tonumber(f[5]) or 0, mode = mode, probe = probe,
                   sticky = (id == preferred) and 1 or 0}
        if best == nil then
          best = c
        else
          local better = false
          if c.sticky ~= best.sticky then better = c.sticky > best.sticky  -- pool-b: session
          elseif c.prio ~= best.prio then better = c.prio < best.prio
          elseif c.block ~= best.block then better = c.block < best.block
          elseif c.inflight ~= best.inflight then better = c.inflight < best.inflight
          elseif c.lru ~= best.lru then better = c.lru < best.lru
          else better = c.id < best.id end
          if better then best = c end
        end
      end
    end
  end
end

local changed_json = cjson.encode(changed)
-- Waiting requests first (fairness between replicas): a request that has not waited takes no
-- slot while as many requests wait as there are free slots; it waits too (and is then served).
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local waiting = redis.call('ZCARD', KEYS[2])
local others = waiting
if ARGV[18] ~= '' and redis.call('ZSCORE', KEYS[2], ARGV[18]) then others = waiting - 1 end
if best ~= nil and ARGV[18] == '' and others > 0 and free >= 0 and free <= others then
  best = nil
  busy = busy + 1
end
if best ~= nil then
  local rk = ARGV[1] .. best.id
  redis.call('ZADD', ARGV[2] .. best.id, now + ttl, ARGV[5])
  local lease_key = ARGV[3] .. ARGV[5]
  redis.call('HSET', lease_key, 'credential_id', best.id, 'request_id', ARGV[6],
    'instance', ARGV[11], 'granted_ms', now)
  redis.call('PEXPIRE', lease_key, tonumber(ARGV[12]))
  redis.call('HSET', rk, 'last_used_ms', now)
  if best.probe then redis.call('HSET', rk, 'probe_lease', ARGV[5]) end  -- pool-b: half-open
  local g = redis.call('HMGET', rk, 'auth', 'access_token', 'token_fp', 'access_expires_ms',
    'profile_arn', 'region', 'machine_id', 'proxy')
  local reply = {'grant', best.id, best.mode, purged, changed_json}
  for i = 1, 8 do reply[5 + i] = g[i] or '' end
  -- pool-b: session stickiness
  local session = ''
  if session_key ~= '' then
    if first_account == nil then
      first_account = best.id
      redis.call('HSET', session_key, 'first', best.id)
    end
    redis.call('HSET', session_key, 'current', best.id)
    redis.call('PEXPIRE', session_key, tonumber(ARGV[17]))
    session = (first_account == best.id) and 'first' or 'other'
  end
  reply[14] = session
  -- reuse only while the pool has room besides this slot: a slot of a full pool goes back to
  -- the broker after each request, so waiting replicas get their turn (fairness)
  reply[15] = ((free < 0 or free > 1) and others == 0 and not best.probe) and '1' or ''
  return reply
end
if busy > 0 then
  return {'busy', purged, changed_json, soonest_slot or now}
end
return {'none', purged, changed_json, soonest or 0, #ids}
