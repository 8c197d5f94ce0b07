-- correct_charged.lua: compare-and-set of a period's charged total (the gateway's periodic
-- reconciliation against the ledger). Applies only if the budget is seeded and its charged
-- total is still the one the reconciler read, so a settlement in between is never lost.
-- Holds are never touched.
--
-- KEYS[1] team budget (period)   hash  seeded, charged, held, hold:<lease>, reclaimed:<lease>
-- ARGV[1] expected charged   ARGV[2] new charged   ARGV[3] period end (unix ms)
-- ARGV[4] budget key grace ms   ARGV[5] minimum budget key life ms
--
-- Returns 4 integers: 1 applied 0/1   2 charged   3 held   4 now (unix ms)

local budget = KEYS[1]
local expected, charged = tonumber(ARGV[1]), ARGV[2]
local period_end, grace, min_life = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])

local current = redis.call('HMGET', budget, 'seeded', 'charged')
local applied = 0
if current[1] and (tonumber(current[2]) or 0) == expected then
  redis.call('HSET', budget, 'charged', charged)
  extend_until(budget, budget_expiry(period_end, grace, min_life))
  applied = 1
end

local totals = redis.call('HMGET', budget, 'charged', 'held')
return { applied, tonumber(totals[1]) or 0, tonumber(totals[2]) or 0, now }
