-- Extend a lease that has not expired yet.
-- KEYS     1 leases zset of the credential, 2 lease hash
-- ARGV     1 lease id, 2 now (ms), 3 new expiry (ms), 4 lease key ttl (ms)
-- Reply    1 renewed, 0 unknown or already expired
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) <= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], 'XX', tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[4]))
return 1
