-- budget_totals.lua: a team's charged and live-held credits for one period. Read-only:
-- holds of leases that expired but were not yet reclaimed are left out of `held`.
--
-- KEYS[1] team lease set   KEYS[2] team budget (period)   KEYS[3] team async lease set
-- no ARGV
-- Returns 3 integers: 1 charged   2 held by live leases   3 now (unix ms)

local team_leases, budget, async_leases = KEYS[1], KEYS[2], KEYS[3]

local totals = redis.call('HMGET', budget, 'charged', 'held')
local charged, held = tonumber(totals[1]) or 0, tonumber(totals[2]) or 0

for _, leases in ipairs({ team_leases, async_leases }) do
  local expired = redis.call('ZRANGEBYSCORE', leases, '-inf', int(now))
  for _, id in ipairs(expired) do
    held = held - (tonumber(redis.call('HGET', budget, 'hold:' .. id)) or 0)
  end
end
return { charged, held, now }
