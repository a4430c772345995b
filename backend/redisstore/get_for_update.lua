local v = redis.call('GET', KEYS[1])
if v and #v >= 9 and string.byte(v, 1) == 245 then
	redis.call('SETRANGE', KEYS[1], 1, string.sub(ARGV[1], 2))
	return v
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return ARGV[1]
