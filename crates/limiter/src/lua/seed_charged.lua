-- seed_charged.lua: seed a period's charged total from the ledger, once. If the budget has no
-- `seeded` field, set `charged` to the ledger's value (overwriting any charge a settlement
-- added to the unseeded hash: the ledger counts it, or the reconciler corrects it) and mark
-- it seeded; holds and `held` stay. If it is already seeded, change nothing.
--
-- KEYS[1] team budget (period)   hash  seeded, charged, held, hold:<lease>, reclaimed:<lease>
-- ARGV[1] charged   ARGV[2] period end (unix ms)   ARGV[3] budget key grace ms
-- ARGV[4] minimum budget key life ms
--
-- Returns 4 integers: 1 seeded by this call 0/1   2 charged   3 held   4 now (unix ms)

local budget = KEYS[1]
local charged = ARGV[1]
local period_end, grace, min_life = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])

local applied = 0
if redis.call('HEXISTS', budget, 'seeded') == 0 then
  redis.call('HSET', budget, 'charged', charged, 'seeded', 1)
  extend_until(budget, budget_expiry(period_end, grace, min_life))
  applied = 1
end

local totals = redis.call('HMGET', budget, 'charged', 'held')
return { applied, tonumber(totals[1]) or 0, tonumber(totals[2]) or 0, now }
