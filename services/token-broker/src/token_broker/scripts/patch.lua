-- Update fields of an existing record (never re-creates a deleted one).
-- KEYS     1 record
-- ARGV     1 revive ('1': an invalid credential becomes active again, e.g. after a good refresh),
--          2 bump the rotation generation ('1' / '0'),
--          3 expected refresh-token fingerprint ('' : no check; else the patch applies only while
--            the record still holds that refresh token, so a late write never overwrites a newer
--            rotation and a late invalid_grant never condemns a token that was rotated meanwhile),
--          4.. field, value pairs
-- Reply    {1, old status, new status}, {0, '', ''} when the record does not exist,
--          {2, old status, old status} when the expected fingerprint did not match (nothing written)
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, '', ''} end
local old = redis.call('HGET', KEYS[1], 'status') or 'active'
if ARGV[3] ~= '' and (redis.call('HGET', KEYS[1], 'refresh_fp') or '') ~= ARGV[3] then
  return {2, old, old}
end
local fields = {}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
if #fields > 0 then redis.call('HSET', KEYS[1], unpack(fields)) end
if ARGV[2] == '1' then redis.call('HINCRBY', KEYS[1], 'generation', 1) end
local new = redis.call('HGET', KEYS[1], 'status') or 'active'
if ARGV[1] == '1' and new == 'invalid' then
  new = 'active'
  redis.call('HSET', KEYS[1], 'status', new, 'reason', '', 'status_until_ms', '0')
end
return {1, old, new}
