-- Takes the creation lease of KEYS[1] (a value) for ARGV[1], the holder:
-- the lock KEYS[2] (in the value's hash slot) and the fence, a new version
-- in the value's header.
--
-- ARGV[2]: the lock's TTL in milliseconds.
-- ARGV[3]: the header of a placeholder with the new version (kind 246).
-- ARGV[4]: the placeholder's TTL in milliseconds.
-- ARGV[5]: the 8 version bytes the caller last saw, or '' for no check.
--
-- KEYS[3..] (on a single node only): more keys to read in the same run.
--
-- Returns {status, what the key held (false for nothing), what each of
-- KEYS[3..] holds}: status 1 taken (the value's version is now ARGV[3]'s),
-- 2 held (by anyone: a creation leases a key once), 3 changed (the key no
-- longer holds the version ARGV[5] names). 245 is a value's kind, 246 a
-- placeholder's.
local function reply(status, v)
	local out = {status, v or false}
	for i = 3, #KEYS do
		out[i] = redis.call('GET', KEYS[i])
	end
	return out
end

local v = redis.call('GET', KEYS[1])
local ver = ''
if v and #v >= 9 then
	local kind = string.byte(v, 1)
	if kind == 245 or kind == 246 then
		ver = string.sub(v, 2, 9)
	end
end
if ARGV[5] ~= '' and ver ~= ARGV[5] then
	return reply(3, v)
end
if redis.call('EXISTS', KEYS[2]) == 1 then
	return reply(2, v)
end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
if v and #v >= 9 and string.byte(v, 1) == 245 then
	redis.call('SETRANGE', KEYS[1], 1, string.sub(ARGV[3], 2))
	return reply(1, v)
end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
return reply(1, false)
