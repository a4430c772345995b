local h = redis.call('GETRANGE', KEYS[1], 0, 8)
if #h ~= 9 or string.sub(h, 2) ~= ARGV[1] then
	return 0
end
local kind = string.byte(h, 1)
if kind ~= 245 and kind ~= 246 then
	return 0
end
local ttl = tonumber(ARGV[3])
if ttl < 0 then
	redis.call('DEL', KEYS[1])
elseif ttl == 0 then
	redis.call('SET', KEYS[1], ARGV[2])
else
	redis.call('SET', KEYS[1], ARGV[2], 'PX', ttl)
end
return 1
