-- Insert a credential record unless one with this id exists (Redis wins over config).
-- KEYS     1 record, 2 SET of credential ids, 3 SET of deleted identities
-- ARGV     1 id, 2 mode ('config': skip identities an operator deleted; 'admin': undelete),
--          3.. field, value pairs
-- Reply    1 inserted, 0 exists already, 2 skipped (deleted by an operator)
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if ARGV[2] == 'config' then
  if redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 1 then return 2 end
else
  redis.call('SREM', KEYS[3], ARGV[1])
end
local fields = {}
for i = 3, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('SADD', KEYS[2], ARGV[1])
return 1
