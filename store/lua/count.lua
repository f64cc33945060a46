-- count.lua: the current count of one counter, exactly as decide.lua counts
-- it (it sums the counted buckets rather than trusting the running "sum",
-- which may still include buckets that went stale since the last write).
-- For operators, who only need the window (the number before the final "s"
-- of the key):
--   redis-cli --eval store/lua/count.lua 'qm:{user1@hudedu.net}:user1_ratelimit:sender:messages:1800s' , 1800
--
-- KEYS[1]   the counter hash
-- ARGV[1]   the window in seconds
-- ARGV[2]   optional: now in ms since the epoch ("" or absent: Redis' TIME)
-- ARGV[3]   optional: "detail" to return {count, next_free_ms}, next_free_ms
--           being when the oldest counted units stop counting (-1: none)
-- ARGV[4]   optional, tests only: the bucket offset of decide.lua's ARGV[3]
-- ARGV[5]   optional: the bucket width in ms. quotamilter always passes it,
--           computed by store/window_math.h, the authority (as for
--           decide.lua and refund.lua). "" or absent (redis-cli by hand): the
--           same rule, repeated below for operators only: W/k for the
--           smallest k in [60, 100] dividing W (tests/store/store_redis_test.cpp
--           pins the two to each other)
--
-- Returns the count (or {count, next_free_ms} with "detail").

local w = tonumber(ARGV[1]) * 1000
local g = tonumber(ARGV[5])
if not g then
  g = w / 100
  for k = 60, 100 do
    if w % k == 0 then g = w / k break end
  end
end
local now
if ARGV[2] and ARGV[2] ~= '' then
  now = tonumber(ARGV[2])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local b = now - math.fmod(now, g)
local last = tonumber(redis.call('HGET', KEYS[1], 'last'))
if last and last > b then b = last end
local first = b - w - (tonumber(ARGV[4]) or 0) * g

local names = {}
for start = first, b, g do names[#names + 1] = string.format('%d', start) end
local values = redis.call('HMGET', KEYS[1], unpack(names))
local count, oldest = 0, nil
for j = 1, #names do
  local v = tonumber(values[j])
  if v and v > 0 then
    count = count + v
    if not oldest then oldest = tonumber(names[j]) end
  end
end
if ARGV[3] ~= 'detail' then return count end
local next_free = -1
if oldest then next_free = oldest + (b - first) + g - now end
return { count, next_free }
