-- admit.lua: one atomic, all-or-nothing admission decision (see crates/limiter/README.md).
-- Prepended with prelude.lua and fair_queue.lua.
--
-- KEYS[1] team bucket                 hash  tokens, ts
-- KEYS[2] account bucket (endpoint)   hash  tokens, ts
-- KEYS[3] team lease set              zset  lease id -> expiry (unix ms)
-- KEYS[4] account lease set           zset  lease id -> expiry (unix ms)
-- KEYS[5] team budget (period)        hash  seeded, charged, held, hold:<lease>, reclaimed:<lease>
-- KEYS[6] account slot teams          hash  account lease id -> team
-- KEYS[7] fair queue                  zset  waiting lease id -> ticket (FIFO)
-- KEYS[8] fair queue alive            zset  waiting lease id -> drop-at (unix ms)
-- KEYS[9] fair queue info             hash  waiting lease id -> "team weight deadline", :seq
-- KEYS[10] team async lease set      zset  lease id -> expiry (unix ms); leases without slots
--
-- ARGV[1]  lease id              ARGV[9]  estimate (credits)
-- ARGV[2]  team rps              ARGV[10] budget mode: 0 none, 1 soft, 2 hard
-- ARGV[3]  team burst            ARGV[11] budget (credits; ignored for mode 0)
-- ARGV[4]  team concurrency      ARGV[12] lease ttl ms
-- ARGV[5]  account rps           ARGV[13] period end (unix ms)
-- ARGV[6]  account burst         ARGV[14] budget key grace after the period end, ms
-- ARGV[7]  account concurrency   ARGV[15] lease set margin ms (past the longest lease)
-- ARGV[8]  takes account slot 0/1  ARGV[16] bucket margin ms (past a full refill)
-- ARGV[17] team weight (in the fair queue's order)
-- ARGV[18] mode: 0 admit or refuse, 1 admit or join the fair queue, 2 claim (a queued waiter)
-- ARGV[19] longest wait ms (mode 1)   ARGV[20] waiter liveness ms (dropped unless it polls)
-- ARGV[21] team id
-- ARGV[22] takes team slot 0/1 (0: an async task, a hold only: no team or account lease, no
--          concurrency check, never queued; ARGV[8] is then ignored; with estimate 0 as well,
--          rate tokens only: nothing is recorded to settle)
--
-- Returns 17 integers (packed: one string, comma-separated):
--  1 admitted 0/1          2 refused by (0 none, 1 budget, 2 team rate, 3 team concurrency,
--                            4 account rate, 5 account concurrency, 6 lease id in use,
--                            7 budget not seeded)
--  3 retry after ms (-1 none)   4 team tokens left   5 account tokens left
--  6 team in flight        7 account in flight     8 charged   9 held
-- 10 over budget 0/1      11 reclaimed team slots 12 reclaimed account slots
-- 13 reclaimed hold credits   14 now (unix ms)    15 lease expiry (unix ms, 0 if refused)
-- 16 queue state (0 not waiting, 1 waiting, 2 was no longer queued)   17 waiters queued
-- (6 and 7 count leases with a slot: an admitted async task adds to neither.)

local team_bucket, account_bucket = KEYS[1], KEYS[2]
local team_leases, account_leases, budget = KEYS[3], KEYS[4], KEYS[5]
local slot_teams, queue, alive, info = KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local async_leases = KEYS[10]

local lease_id = ARGV[1]
local team_rps, team_burst = tonumber(ARGV[2]), tonumber(ARGV[3])
local team_concurrency = tonumber(ARGV[4])
local account_rps, account_burst = tonumber(ARGV[5]), tonumber(ARGV[6])
local account_concurrency = tonumber(ARGV[7])
local takes_team_slot = ARGV[22] == '1'
local takes_account_slot = ARGV[8] == '1' and takes_team_slot
local estimate = tonumber(ARGV[9])
local budget_mode, budget_limit = tonumber(ARGV[10]), tonumber(ARGV[11])
local lease_ttl = tonumber(ARGV[12])
local period_end, grace = tonumber(ARGV[13]), tonumber(ARGV[14])
local lease_set_margin, bucket_margin = tonumber(ARGV[15]), tonumber(ARGV[16])
local weight, mode = tonumber(ARGV[17]), tonumber(ARGV[18])
local max_wait, waiter_life = tonumber(ARGV[19]), tonumber(ARGV[20])
local team_id = ARGV[21]

local HOLD, RECLAIMED = 'hold:', 'reclaimed:'

-- 1. Reclaim expired leases. A team lease's (or an async lease's) hold goes back to the
--    budget and is remembered as reclaimed, so a late settlement still records its actual
--    charge exactly once.
local reclaimed_credits = 0
local function reclaim_expired(leases)
  local expired = redis.call('ZRANGEBYSCORE', leases, '-inf', int(now))
  for _, id in ipairs(expired) do
    local hold = redis.call('HGET', budget, HOLD .. id)
    if hold then
      redis.call('HDEL', budget, HOLD .. id)
      redis.call('HINCRBY', budget, 'held', int(-tonumber(hold)))
      redis.call('HSET', budget, RECLAIMED .. id, hold)
      reclaimed_credits = reclaimed_credits + tonumber(hold)
    end
  end
  if #expired > 0 then
    redis.call('ZREMRANGEBYSCORE', leases, '-inf', int(now))
  end
  return #expired
end
local reclaimed_team = reclaim_expired(team_leases)
reclaim_expired(async_leases)
local expired_slots = redis.call('ZRANGEBYSCORE', account_leases, '-inf', int(now))
for _, id in ipairs(expired_slots) do
  redis.call('HDEL', slot_teams, id)
end
local reclaimed_account = #expired_slots
if reclaimed_account > 0 then
  redis.call('ZREMRANGEBYSCORE', account_leases, '-inf', int(now))
end
prune_waiters(queue, alive, info)

-- 2. Read everything.
local function bucket_level(key, rps, burst)
  local state = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens, ts = tonumber(state[1]), tonumber(state[2])
  if tokens == nil or ts == nil then
    return burst
  end
  local elapsed = now - ts
  if elapsed < 0 then
    elapsed = 0
  end
  local level = tokens + elapsed * rps / 1000
  if level > burst then
    level = burst
  end
  return level
end

-- Float refill may leave 0.999999...; count that as a whole token.
local EPSILON = 1e-9
local function has_token(level)
  return level + EPSILON >= 1
end
local function ms_to_token(level, rps)
  return math.ceil((1 - level) * 1000 / rps)
end

local team_tokens = bucket_level(team_bucket, team_rps, team_burst)
local account_tokens = bucket_level(account_bucket, account_rps, account_burst)
local team_in_flight = redis.call('ZCARD', team_leases)
local account_in_flight = redis.call('ZCARD', account_leases)
-- One read of the budget: its totals, whether the ledger seeded it, and whether this lease id
-- already holds or was reclaimed here (a reused lease id).
local totals = redis.call('HMGET', budget, 'charged', 'held', 'seeded',
  HOLD .. lease_id, RECLAIMED .. lease_id)
local charged = tonumber(totals[1]) or 0
local held = tonumber(totals[2]) or 0

-- An empty queue (the usual case) needs no look at its members.
local queue_length = redis.call('ZCARD', queue)
local queued = queue_length > 0 and redis.call('ZSCORE', queue, lease_id)
if mode == 2 and not queued then
  -- The waiter is gone (its deadline passed or it stopped polling): nothing to claim.
  return packed({
    0, 5, -1, math.floor(team_tokens), math.floor(account_tokens),
    team_in_flight, account_in_flight, charged, held, 0, reclaimed_team, reclaimed_account,
    reclaimed_credits, now, 0, 2, queue_length,
  })
end
local team_queued = 0
if queue_length > 0 then
  team_queued = team_waiting(queue, info, team_id, lease_id)
end

local duplicate = (mode ~= 2 and queued)
  or redis.call('ZSCORE', team_leases, lease_id)
  or redis.call('ZSCORE', async_leases, lease_id)
  or redis.call('ZSCORE', account_leases, lease_id)
  or totals[4] or totals[5]

-- A budget counts only once the ledger seeded the period's charged total (a hash without
-- `seeded` was never seeded, or Redis lost it): refuse, taking nothing, until it is.
local unseeded = budget_mode ~= 0 and not totals[3]

-- 3. Decide, team limits before account limits.
local refused, retry_after = 0, -1
local over_budget = 0
if budget_mode ~= 0 and not unseeded and charged + held + estimate > budget_limit then
  over_budget = 1
end

if duplicate then
  refused = 6
elseif unseeded then
  refused = 7
elseif budget_mode == 2 and over_budget == 1 then
  refused, retry_after = 1, math.max(period_end - now, 0)
elseif not has_token(team_tokens) then
  refused, retry_after = 2, ms_to_token(team_tokens, team_rps)
elseif takes_team_slot and team_in_flight + team_queued >= team_concurrency then
  -- A team's waiters count against its own concurrency, so a waiter's turn never finds
  -- its team full.
  refused = 3
elseif not has_token(account_tokens) then
  refused, retry_after = 4, ms_to_token(account_tokens, account_rps)
elseif takes_account_slot then
  local free = account_concurrency - account_in_flight
  if free <= 0 then
    refused = 5
  elseif queue_length > 0 then
    -- Free slots go to waiters in fair order first; this request gets one only if fewer
    -- than `free` waiters come before it.
    local usage = slot_usage(account_leases, slot_teams)
    if fair_rank(queue, info, usage, lease_id, team_id, weight, free) >= free then
      refused = 5
    end
  end
end

-- 4. Take everything, or nothing.
local expires_at = 0
if refused == 0 then
  expires_at = now + lease_ttl
  local budget_until = budget_expiry(period_end, grace, lease_ttl + lease_set_margin)

  team_tokens = math.max(team_tokens - 1, 0)
  redis.call('HSET', team_bucket, 'tokens', tostring(team_tokens), 'ts', int(now))
  redis.call('PEXPIRE', team_bucket, int(math.ceil(team_burst * 1000 / team_rps) + bucket_margin))

  account_tokens = math.max(account_tokens - 1, 0)
  redis.call('HSET', account_bucket, 'tokens', tostring(account_tokens), 'ts', int(now))
  redis.call('PEXPIRE', account_bucket,
    int(math.ceil(account_burst * 1000 / account_rps) + bucket_margin))

  -- The team's lease sets live as long as the budget key, so an expired lease is always
  -- still there for the next admission to reclaim (and return its hold).
  -- A request that takes no slot and holds nothing (rate tokens only) leaves no lease.
  local records_lease = takes_team_slot or estimate > 0
  if takes_team_slot then
    redis.call('ZADD', team_leases, int(expires_at), lease_id)
    extend_until(team_leases, budget_until)
    team_in_flight = team_in_flight + 1
  elseif records_lease then
    redis.call('ZADD', async_leases, int(expires_at), lease_id)
    extend_until(async_leases, budget_until)
  end

  if takes_account_slot then
    redis.call('ZADD', account_leases, int(expires_at), lease_id)
    extend_ttl(account_leases, lease_ttl + lease_set_margin)
    redis.call('HSET', slot_teams, lease_id, team_id)
    extend_ttl(slot_teams, lease_ttl + lease_set_margin)
    account_in_flight = account_in_flight + 1
  end

  if records_lease then
    held = held + estimate
    redis.call('HSET', budget, 'held', int(held), HOLD .. lease_id, int(estimate))
    extend_until(budget, budget_until)
  end
end

-- 5. The fair queue: join it, stay in it, or leave it.
local queue_state = 0
local function keep_alive(deadline)
  redis.call('ZADD', alive, int(math.min(deadline, now + waiter_life)), lease_id)
  for _, key in ipairs({ queue, alive, info }) do
    extend_ttl(key, deadline - now + lease_set_margin)
  end
end
if mode == 1 and refused == 5 and max_wait > 0 then
  local ticket = redis.call('HINCRBY', info, SEQ_FIELD, 1)
  local deadline = now + max_wait
  redis.call('ZADD', queue, ticket, lease_id)
  redis.call('HSET', info, lease_id, team_id .. ' ' .. int(weight) .. ' ' .. int(deadline))
  keep_alive(deadline)
  queue_state = 1
  queue_length = queue_length + 1
elseif mode == 2 and (refused == 5 or refused == 4) then
  -- Only the account is in the way (a slot, or the next token): keep waiting.
  local _, _, deadline = parse_waiter(redis.call('HGET', info, lease_id))
  keep_alive(deadline or now)
  queue_state = 1
elseif mode == 2 then
  forget_waiter(queue, alive, info, lease_id)
  queue_length = queue_length - 1
end

local admitted = 0
if refused == 0 then
  admitted = 1
end
return packed({
  admitted, refused, retry_after,
  math.floor(team_tokens), math.floor(account_tokens),
  team_in_flight, account_in_flight, charged, held, over_budget,
  reclaimed_team, reclaimed_account, reclaimed_credits,
  now, expires_at, queue_state, queue_length,
})
