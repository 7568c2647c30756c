-- Apply one finished team request to the counters, at most once per request id (atomic).
-- KEYS     1 done marker, 2 usage day hash, 3 month spent, 4 tpm hash, 5 inflight zset, 6 teams set,
--          7 month credits spent
-- ARGV     1 done ttl (s), 2 field prefix "{team}|{key}|{model}|", 3 requests, 4 errors,
--          5 rejected, 6 input tokens, 7 output tokens, 8 credits, 9 epoch second,
--          10 request id, 11 admitted ('1' / '0', informational), 12 team, 13 spent ttl (s),
--          14 tpm ttl (s), 15 web search requests
-- Reply    1 applied, 0 a duplicate (already applied)
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', tonumber(ARGV[1])) then
  return 0
end
local prefix = ARGV[2]
local names = {'requests', 'errors', 'rejected', 'input_tokens', 'output_tokens'}
for i, name in ipairs(names) do
  local n = tonumber(ARGV[2 + i]) or 0
  if n ~= 0 then redis.call('HINCRBY', KEYS[2], prefix .. name, n) end
end
local credits = tonumber(ARGV[8]) or 0
if credits ~= 0 then
  redis.call('HINCRBYFLOAT', KEYS[2], prefix .. 'credits', ARGV[8])
  redis.call('INCRBYFLOAT', KEYS[7], ARGV[8])
  redis.call('EXPIRE', KEYS[7], tonumber(ARGV[13]))
end
local searches = tonumber(ARGV[15]) or 0
if searches ~= 0 then redis.call('HINCRBY', KEYS[2], prefix .. 'web_search_requests', searches) end
local used = (tonumber(ARGV[6]) or 0) + (tonumber(ARGV[7]) or 0)
if used > 0 then
  redis.call('INCRBY', KEYS[3], used)
  redis.call('EXPIRE', KEYS[3], tonumber(ARGV[13]))
  redis.call('HINCRBY', KEYS[4], ARGV[9], used)
  redis.call('EXPIRE', KEYS[4], tonumber(ARGV[14]))
end
-- the slot ends even when the gateway never saw the grant (a lost reply): ZREM of no member is a no-op
redis.call('ZREM', KEYS[5], ARGV[10])
redis.call('SADD', KEYS[6], ARGV[12])
return 1
