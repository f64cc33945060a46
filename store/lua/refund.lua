-- refund.lua: undoes a charge made by decide.lua (units still counted are
-- removed; units already out of the window are left alone).
--
-- KEYS[i]   the counter hash of receipt entry i
-- ARGV[1]   now in ms since the epoch, or "" to use Redis' TIME
-- ARGV[2]   "0"; tests only: the bucket offset of decide.lua's ARGV[3]
-- ARGV[4*i-1 .. 4*i+2]  entry i: window ms, bucket width ms, bucket start ms, cost
--
-- Returns the number of units removed.

local now
if ARGV[1] ~= '' then
  now = tonumber(ARGV[1])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local removed = 0
for i = 1, #KEYS do
  local key, base = KEYS[i], 4 * i - 1
  local w, g = tonumber(ARGV[base]), tonumber(ARGV[base + 1])
  local bucket, cost = ARGV[base + 2], tonumber(ARGV[base + 3])
  local last = tonumber(redis.call('HGET', key, 'last'))
  if last then
    local b = now - math.fmod(now, g)
    if last > b then b = last end
    local first = b - w - (tonumber(ARGV[2]) or 0) * g
    local units = tonumber(redis.call('HGET', key, bucket))
    if units and tonumber(bucket) >= first then
      local d = math.min(units, cost)
      if d > 0 then
        if redis.call('HINCRBY', key, bucket, -d) <= 0 then redis.call('HDEL', key, bucket) end
        redis.call('HINCRBY', key, 'sum', -d)
        removed = removed + d
      end
    end
  end
end
return removed
