-- Records ARGV[3:] in the sorted set KEYS[1], each scored "now + ttl + skew"
-- in milliseconds of the server's clock (ARGV[1] is the ttl, 0 for none,
-- which scores +inf; ARGV[2] the skew). ZADD GT never shortens a record.
-- It then drops the members whose score has passed and makes the set
-- expire with its last member.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
local score = '+inf'
if ttl > 0 then score = string.format('%d', now + ttl + tonumber(ARGV[2])) end
for i = 3, #ARGV do
	redis.call('ZADD', KEYS[1], 'GT', score, ARGV[i])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. string.format('%d', now))
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] == nil then return 0 end
if last[2] == 'inf' then
	redis.call('PERSIST', KEYS[1])
else
	redis.call('PEXPIREAT', KEYS[1], last[2])
end
return 1
