-- Delete a credential and remember its identity so config does not bring it back.
-- KEYS     1 record, 2 leases zset, 3 SET of credential ids, 4 SET of deleted identities
-- ARGV     1 id
-- Reply    1 deleted, 0 unknown
local existed = redis.call('DEL', KEYS[1])
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[3], ARGV[1])
if existed == 1 then redis.call('SADD', KEYS[4], ARGV[1]) end
return existed
