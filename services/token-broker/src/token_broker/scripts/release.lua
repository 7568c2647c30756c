-- End a lease and apply the outcome of the upstream attempt to the credential, atomically.
-- KEYS     1 leases zset of the credential, 2 lease hash, 3 credential record
-- ARGV     1 lease id, 2 now (ms), 3 outcome ('' = only drop the lease), 4 end of the upstream's
--          Retry-After (ms, 0 = none) for throttled, 5 token fingerprint seen by the gateway,
--          6 last error text, 7 failure streak limit, 8 failure cooldown end (ms), 9 quota
--          parking end (ms), 10 input tokens, 11 output tokens, 12 cooldowns enabled ('1' / '0'),
--          13 first back-off (ms), 14 longest back-off (ms, SESSION_POOL_COOLDOWN),
--          15 end of a suspension cooldown (ms; 0 = disable the account), 16 requests served
--          under the lease (a reused slot: all but the last succeeded; tokens are their sums)
-- Reply    {lease removed (0/1), old status, new status, token marked stale (0/1), reason}
--
-- Back-off of a throttled account (reference §19.3): the n-th throttling in a row cools it for
-- min(first * 2^(n-1), longest), never shorter than the upstream's Retry-After. A throttling
-- that arrives while the account is already cooling (a lease granted before) extends nothing
-- and does not count as a repeat. `throttle_streak` ends with a success; until then a finished
-- cooldown lets one probe lease through at a time (acquire.lua, `probe_lease`).
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
local outcome = ARGV[3]
local rk = KEYS[3]
if redis.call('EXISTS', rk) == 0 then
  return {removed, '', '', 0, ''}
end
if redis.call('HGET', rk, 'probe_lease') == ARGV[1] then redis.call('HSET', rk, 'probe_lease', '') end
if outcome == '' then
  return {removed, '', '', 0, ''}
end
local f = redis.call('HMGET', rk, 'status', 'status_until_ms', 'disabled', 'token_fp', 'token_stale',
  'throttle_streak')
local now = tonumber(ARGV[2])
local old = f[1] or 'active'
local new = old
local reason = ''
local stale = 0
local cooldowns = ARGV[12] == '1'

local uses = tonumber(ARGV[16]) or 1
redis.call('HINCRBY', rk, 'requests', uses)
if outcome == 'success' or uses > 1 then  -- the reused slot's earlier requests succeeded
  redis.call('HSET', rk, 'fail_streak', 0, 'throttle_streak', 0)
  redis.call('HINCRBY', rk, 'input_tokens', tonumber(ARGV[10]) or 0)
  redis.call('HINCRBY', rk, 'output_tokens', tonumber(ARGV[11]) or 0)
end
if outcome == 'success' then
  return {removed, old, new, 0, ''}
end
if outcome == 'bad_request' or outcome == 'cancelled' or outcome == 'model_unavailable'
    or outcome == 'model_capacity' then
  return {removed, old, new, 0, ''}
end

redis.call('HINCRBY', rk, 'errors', 1)
if ARGV[6] ~= '' then redis.call('HSET', rk, 'last_error', ARGV[6]) end
local live = old == 'active' or old == 'cooling_down'

if outcome == 'throttled' then
  if cooldowns and live then
    local current = tonumber(f[2]) or 0
    local cooling = old == 'cooling_down' and current > now
    local streak = tonumber(f[6]) or 0
    if not cooling or streak < 1 then
      streak = streak + 1
      redis.call('HSET', rk, 'throttle_streak', streak)
    end
    local backoff = tonumber(ARGV[14])
    if streak <= 40 then backoff = math.min(backoff, tonumber(ARGV[13]) * 2 ^ (streak - 1)) end
    local until_ms = math.max(now + math.floor(backoff), tonumber(ARGV[4]) or 0)
    if cooling and current > until_ms then until_ms = current end
    new = 'cooling_down'
    reason = 'throttled'
    if streak > 1 then reason = 'throttled ' .. streak .. ' times in a row' end
    redis.call('HSET', rk, 'status', new, 'reason', reason, 'status_until_ms', until_ms)
  end
elseif outcome == 'quota_exhausted' then
  if old ~= 'invalid' and old ~= 'disabled' then
    new = 'quota_parked'
    reason = 'quota exhausted'
    redis.call('HSET', rk, 'status', new, 'reason', reason, 'status_until_ms', ARGV[9])
  end
elseif outcome == 'token_invalid' then
  if ARGV[5] ~= '' and f[4] == ARGV[5] and f[5] ~= '1' then
    redis.call('HSET', rk, 'token_stale', '1')
    stale = 1
  end
elseif outcome == 'suspended' then
  reason = 'suspended'
  if ARGV[6] ~= '' then reason = ARGV[6] end
  local until_ms = tonumber(ARGV[15]) or 0
  if until_ms > 0 then
    -- 429 "suspicious activity": temporary limits, a long cooldown (shown with its reason)
    new = 'cooling_down'
    local current = tonumber(f[2]) or 0
    if old == 'cooling_down' and current > until_ms then until_ms = current end
    redis.call('HSET', rk, 'status', new, 'reason', reason, 'status_until_ms', until_ms)
  else
    new = 'disabled'
    redis.call('HSET', rk, 'status', new, 'reason', reason, 'disabled', '1', 'status_until_ms', '0')
  end
elseif outcome == 'server_error' or outcome == 'network_error' then
  local streak = redis.call('HINCRBY', rk, 'fail_streak', 1)
  if streak >= tonumber(ARGV[7]) and cooldowns and live then
    new = 'cooling_down'
    reason = streak .. ' upstream failures in a row'
    local until_ms = tonumber(ARGV[8])
    local current = tonumber(f[2]) or 0
    if old == 'cooling_down' and current > until_ms then until_ms = current end
    redis.call('HSET', rk, 'status', new, 'reason', reason, 'status_until_ms', until_ms, 'fail_streak', 0)
  end
end
return {removed, old, new, stale, reason}
