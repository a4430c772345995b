-- Stores ARGV[2] (a header and a value) under KEYS[1] if the key still
-- holds the value or placeholder of version ARGV[1] (8 bytes; '' stores
-- nothing), and ends the lock KEYS[2] if ARGV[4] holds it. ARGV[3] is the
-- value's TTL in milliseconds: 0 for none, negative to delete the key
-- instead (a value that expires at once). Returns 1 when it stored, plus 2
-- when ARGV[4] still held the lock.
local stored = 0
if ARGV[1] ~= '' then
	local h = redis.call('GETRANGE', KEYS[1], 0, 8)
	local kind = string.byte(h, 1)
	if #h == 9 and string.sub(h, 2) == ARGV[1] and (kind == 245 or kind == 246) then
		local ttl = tonumber(ARGV[3])
		if ttl < 0 then
			redis.call('DEL', KEYS[1])
		elseif ttl == 0 then
			redis.call('SET', KEYS[1], ARGV[2])
		else
			redis.call('SET', KEYS[1], ARGV[2], 'PX', ttl)
		end
		stored = 1
	end
end
local held = 0
if redis.call('GET', KEYS[2]) == ARGV[4] then
	redis.call('DEL', KEYS[2])
	held = 2
end
return stored + held
