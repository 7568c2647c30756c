-- Check a team's limits and, when every one has room, count the request (atomic across replicas).
-- KEYS     1 inflight zset, 2 rpm zset (request log), 3 tpm hash (second -> tokens), 4 month spent,
--          5 month credits spent
-- ARGV     1 request id, 2 now (ms), 3 requests per minute (0 = none), 4 tokens per minute
--          (0 = none), 5 max concurrent (0 = none), 6 monthly budget (-1 = none),
--          7 slot expiry (ms; 0 = no slot: an admission-only request such as count_tokens, which
--          neither holds nor waits for a concurrency slot), 8 window (ms), 9 monthly credit budget
--          (-1 = none)
-- Reply    {verdict, requests in window, requests reset (ms), tokens in window, tokens reset (ms),
--           month spent, in flight, month credits spent (a string: a float)}
--          verdict: 'ok', 'budget', 'credit_budget', 'concurrency', 'rpm', 'tpm'
local now = tonumber(ARGV[2])
local rpm = tonumber(ARGV[3])
local tpm = tonumber(ARGV[4])
local conc = tonumber(ARGV[5])
local budget = tonumber(ARGV[6])
local window = tonumber(ARGV[8])
local expiry = tonumber(ARGV[7])
local holds_slot = expiry > 0

local spent = tonumber(redis.call('GET', KEYS[4]) or '0') or 0
local credit_budget = tonumber(ARGV[9]) or -1
local credits_raw = redis.call('GET', KEYS[5]) or '0'
local credits = tonumber(credits_raw) or 0

redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
local requests = redis.call('ZCARD', KEYS[2])
local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
local requests_reset = now + window
if first[2] then requests_reset = tonumber(first[2]) + window end

local tokens = 0
local oldest = nil
local now_s = math.floor(now / 1000)
local window_s = math.floor(window / 1000)
local buckets = redis.call('HGETALL', KEYS[3])
for i = 1, #buckets, 2 do
  local second = tonumber(buckets[i])
  if second <= now_s - window_s then
    redis.call('HDEL', KEYS[3], buckets[i])
  else
    tokens = tokens + (tonumber(buckets[i + 1]) or 0)
    if oldest == nil or second < oldest then oldest = second end
  end
end
local tokens_reset = now + window
if oldest ~= nil then tokens_reset = (oldest + window_s + 1) * 1000 end

redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local inflight = redis.call('ZCARD', KEYS[1])

local verdict = 'ok'
if budget >= 0 and spent >= budget then
  verdict = 'budget'
elseif credit_budget >= 0 and credits >= credit_budget then
  verdict = 'credit_budget'
elseif holds_slot and conc > 0 and inflight >= conc then
  verdict = 'concurrency'
elseif rpm > 0 and requests >= rpm then
  verdict = 'rpm'
elseif tpm > 0 and tokens >= tpm then
  verdict = 'tpm'
end

if verdict == 'ok' then
  if holds_slot then
    redis.call('ZADD', KEYS[1], expiry, ARGV[1])
    -- the set lives as long as its longest slot: only ever extend its expiry
    if redis.call('PTTL', KEYS[1]) < expiry + 1000 - now then
      redis.call('PEXPIREAT', KEYS[1], expiry + 1000)
    end
    inflight = inflight + 1
  end
  redis.call('ZADD', KEYS[2], now, ARGV[1])
  redis.call('PEXPIRE', KEYS[2], window + 1000)
  if requests == 0 then requests_reset = now + window end
  requests = requests + 1
end
return {verdict, requests, requests_reset, tokens, tokens_reset, spent, inflight, credits_raw}
