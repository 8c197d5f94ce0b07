-- fair_queue.lua: the account's fair queue helpers, prepended (after prelude.lua) to the
-- scripts that use them: admit.lua and leave_fair_queue.lua.
-- Waiters live in three keys under the account tag: `queue` (zset lease -> ticket, FIFO),
-- `alive` (zset lease -> unix ms the waiter is dropped unless it polls again, never past its
-- deadline) and `info` (hash lease -> "team weight deadline", plus the ticket counter `:seq`).
-- `slot_teams` (hash account lease -> team) tells which team holds each account slot.

local SEQ_FIELD = ':seq'

-- "team weight deadline" -> team, weight, deadline
local function parse_waiter(value)
  local team, weight, deadline = string.match(value or '', '^(%S+) (%d+) (%d+)$')
  return team, tonumber(weight), tonumber(deadline)
end

local function forget_waiter(queue, alive, info, id)
  redis.call('ZREM', queue, id)
  redis.call('ZREM', alive, id)
  redis.call('HDEL', info, id)
  if redis.call('ZCARD', queue) == 0 then
    -- Nothing waits: drop the ticket counter too (tickets only order present waiters).
    redis.call('DEL', info)
  end
end

-- Drops waiters whose deadline passed or whose caller stopped polling.
local function prune_waiters(queue, alive, info)
  local dead = redis.call('ZRANGEBYSCORE', alive, '-inf', int(now))
  for _, id in ipairs(dead) do
    forget_waiter(queue, alive, info, id)
  end
  return #dead
end

-- Account slots in use per team.
local function slot_usage(account_leases, slot_teams)
  local usage = {}
  local ids = redis.call('ZRANGE', account_leases, 0, -1)
  if #ids == 0 then
    return usage
  end
  local teams = redis.call('HMGET', slot_teams, unpack(ids))
  for _, team in ipairs(teams) do
    if team then
      usage[team] = (usage[team] or 0) + 1
    end
  end
  return usage
end

-- Where the candidate stands in the weighted max-min fair order: 0 if it is next, k if k
-- other waiters get a slot before it; `limit` if it is not within the first `limit`.
-- The order: repeatedly, the team with waiters whose (slots in use + 1/2) / weight is lowest
-- (Sainte-Lague: integer slots average out to exact weighted shares; ties: oldest head
-- ticket) gives a slot to its oldest waiter. A candidate that is not yet queued
-- has ticket math.huge (behind its own team's waiters).
local function fair_rank(queue, info, usage, cand_id, cand_team, cand_weight, limit)
  local entries = redis.call('ZRANGE', queue, 0, -1, 'WITHSCORES')
  local teams, order = {}, {}
  local function team_of(name, weight)
    local t = teams[name]
    if not t then
      t = { weight = weight, tickets = {}, ids = {}, head = 1, used = usage[name] or 0 }
      teams[name] = t
      order[#order + 1] = name
    end
    return t
  end
  local cand_queued = false
  for i = 1, #entries, 2 do
    local id, ticket = entries[i], tonumber(entries[i + 1])
    local team, weight = parse_waiter(redis.call('HGET', info, id))
    if team then
      if id == cand_id then
        cand_queued = true
        team, weight = cand_team, cand_weight
      end
      local t = team_of(team, weight)
      if team == cand_team then
        t.weight = cand_weight
      end
      t.tickets[#t.tickets + 1] = ticket
      t.ids[#t.ids + 1] = id
    end
  end
  if not cand_queued then
    local t = team_of(cand_team, cand_weight)
    t.weight = cand_weight
    t.tickets[#t.tickets + 1] = math.huge
    t.ids[#t.ids + 1] = cand_id
  end
  for step = 0, limit - 1 do
    local best, best_t = nil, nil
    for _, name in ipairs(order) do
      local t = teams[name]
      if t.head <= #t.ids then
        if best_t == nil then
          best, best_t = name, t
        else
          local lhs = (2 * t.used + 1) * best_t.weight
          local rhs = (2 * best_t.used + 1) * t.weight
          if lhs < rhs or (lhs == rhs and t.tickets[t.head] < best_t.tickets[best_t.head]) then
            best, best_t = name, t
          end
        end
      end
    end
    if best_t == nil then
      return limit
    end
    if best_t.ids[best_t.head] == cand_id then
      return step
    end
    best_t.head = best_t.head + 1
    best_t.used = best_t.used + 1
  end
  return limit
end

-- Waiters of `team` other than `except_id`.
local function team_waiting(queue, info, team, except_id)
  local count = 0
  for _, id in ipairs(redis.call('ZRANGE', queue, 0, -1)) do
    if id ~= except_id then
      local t = parse_waiter(redis.call('HGET', info, id))
      if t == team then
        count = count + 1
      end
    end
  end
  return count
end
