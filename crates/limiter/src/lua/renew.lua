-- renew.lua: extend a lease (team and, if it holds one, account; or an async one) to now +
-- ttl, re-creating whatever is missing so a lease and its hold survive Redis losing its
-- state (restart without persistence, FLUSHDB, failover): the team lease member, the account
-- lease member and its slot owner, and the hold. An expired member still present is simply
-- re-scored. The hold comes back only if the budget has neither `hold:<id>` nor
-- `reclaimed:<id>` (a reclaimed lease already returned its hold; its settlement charges via
-- the reclaimed path). A lease without a team slot (an async task: ARGV[9] 0) holds credits
-- only: it is re-scored (or re-created) in the async lease set, takes no slot, and only its
-- hold can be restored.
--
-- KEYS[1] team lease set   KEYS[2] account lease set   KEYS[3] account slot teams (hash)
-- KEYS[4] team budget (lease's period)   KEYS[5] team async lease set
-- ARGV[1] lease id   ARGV[2] lease ttl ms   ARGV[3] holds account slot 0/1
-- ARGV[4] lease set margin ms   ARGV[5] estimate (credits)   ARGV[6] period end (unix ms)
-- ARGV[7] budget key grace ms   ARGV[8] team id   ARGV[9] holds team slot 0/1
--
-- Returns 5 integers: 1 team lease re-created 0/1 (0 without a team slot)
--   2 account lease re-created 0/1 (0 without an account slot)
--   3 hold restored 0/1   4 new expiry (unix ms)   5 now (unix ms)

local team_leases, account_leases, slot_teams, budget = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local lease_id, ttl = ARGV[1], tonumber(ARGV[2])
local holds_account_slot, margin = ARGV[3] == '1', tonumber(ARGV[4])
local estimate, period_end, grace = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local team_id = ARGV[8]
local async_leases, holds_team_slot = KEYS[5], ARGV[9] == '1'

local expires_at = now + ttl
-- As in admit.lua: the team's lease sets live as long as the budget key.
local budget_until = budget_expiry(period_end, grace, ttl + margin)

-- ZADD without flags answers 1 for a new member, 0 for a re-scored one.
local recreated_team = 0
if holds_team_slot then
  recreated_team = redis.call('ZADD', team_leases, int(expires_at), lease_id)
  extend_until(team_leases, budget_until)
else
  redis.call('ZADD', async_leases, int(expires_at), lease_id)
  extend_until(async_leases, budget_until)
end

local recreated_account = 0
if holds_team_slot and holds_account_slot then
  recreated_account = redis.call('ZADD', account_leases, int(expires_at), lease_id)
  extend_ttl(account_leases, ttl + margin)
  redis.call('HSET', slot_teams, lease_id, team_id)
  extend_ttl(slot_teams, ttl + margin)
end

local restored_hold = 0
if redis.call('HEXISTS', budget, 'hold:' .. lease_id) == 0
  and redis.call('HEXISTS', budget, 'reclaimed:' .. lease_id) == 0 then
  redis.call('HSET', budget, 'hold:' .. lease_id, int(estimate))
  redis.call('HINCRBY', budget, 'held', int(estimate))
  restored_hold = 1
end
extend_until(budget, budget_until)

return { recreated_team, recreated_account, restored_hold, expires_at, now }
