-- Offers a batch's rewardable events and confirmations to the pairing, in order, atomically (README
-- "The join"). ARGV[1] is the key prefix, ARGV[2] the claims' lifetime (ms); then 7 arguments per offer: side ('e' event, 'k'
-- confirmation), app id (the event's; the confirmation's, verified by the collector), event id (''
-- for a confirmation naming a click), click id (an event: the click it may be confirmed by, or '';
-- a confirmation: the click it names when no event), position of the offering record, lifetime (ms), payload.
-- Hashes, under the app (app ids have no ':'), so a confirmation of one app never meets another
-- app's event (the keys are derived here, so this runs on a single Redis, not a cluster):
--   v:e:<app>:<event_id>  e, ep: the event's payload and position; k, kp: the first confirmation's;
--                         done: the position of the record that completed the pair
--   v:click:<app>:<id>    e: the event id of the first conversion offered under that click; k, kp: a
--                         confirmation that named the click before any such conversion (parked), handed
--                         to that conversion's hash by the conversion's record. It lives as long as
--                         the claims: a redelivered confirmation that named the click must find the
--                         conversion it paired with, never a later one on the same click
-- A side is set once (HSETNX). A pair is emitted by the record that completes it, and again by that
-- record only (a redelivery); another confirmation of the same event is emitted as 'second' by its
-- own record, or, when it was parked, by the event's: with no event payload, so that every emission
-- of it is the same row. Lifetimes only grow.
-- Returns, per emission: { offer index (0-based), 'pair' | 'second', event payload ('' for 'second'), confirmation payload }.
local prefix = ARGV[1]
-- A click index lives as long as the claims, and never shorter than the offer's hash.
local function clickTtl(ttl)
  return math.max(tonumber(ARGV[2]), tonumber(ttl))
end
local out = {}

local function keep(h, ttl)
  if redis.call('PTTL', h) < tonumber(ttl) then redis.call('PEXPIRE', h, ttl) end
end

-- Sets `side` of `h` to `payload`, owned by `owner`, unless set; true when `owner` holds it.
local function put(h, side, owner, payload, ttl)
  if redis.call('HSETNX', h, side, payload) == 1 then redis.call('HSET', h, side .. 'p', owner) end
  keep(h, ttl)
  return redis.call('HGET', h, side .. 'p') == owner
end

local function emit(i, kind, e, k)
  out[#out + 1] = { i, kind, e, k }
end

-- The side `owner` offered to event hash `h` is in: completes the pair, or re-emits it for the record that did.
local function decide(i, h, owner)
  local done = redis.call('HGET', h, 'done')
  if done == owner then
    emit(i, 'pair', redis.call('HGET', h, 'e'), redis.call('HGET', h, 'k'))
  elseif not done and redis.call('HEXISTS', h, 'e') == 1 and redis.call('HEXISTS', h, 'k') == 1 then
    redis.call('HSET', h, 'done', owner)
    emit(i, 'pair', redis.call('HGET', h, 'e'), redis.call('HGET', h, 'k'))
  end
end

-- A confirmation offered to event hash `h`: the pair, or 'second' when another confirmation holds it.
local function confirm(i, h, pos, ttl, payload)
  if put(h, 'k', pos, payload, ttl) then decide(i, h, pos)
  else emit(i, 'second', '', payload) end
end

local n = (#ARGV - 2) / 7
for j = 0, n - 1 do
  local a = 3 + j * 7
  local side, app, id, click, pos, ttl, payload = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5], ARGV[a + 6]
  local events = prefix .. 'v:e:' .. app .. ':'
  if side == 'e' then
    local h = events .. id
    put(h, 'e', pos, payload, ttl)
    if click ~= '' then
      local c = prefix .. 'v:click:' .. app .. ':' .. click
      redis.call('HSETNX', c, 'e', id)
      keep(c, clickTtl(ttl))
      local parked = redis.call('HGET', c, 'e') == id and redis.call('HGET', c, 'k')
      if parked and not put(h, 'k', redis.call('HGET', c, 'kp'), parked, ttl) then
        emit(j, 'second', '', parked)
      end
    end
    decide(j, h, pos)
  elseif id ~= '' then
    confirm(j, events .. id, pos, ttl, payload)
  else
    local c = prefix .. 'v:click:' .. app .. ':' .. click
    local target = redis.call('HGET', c, 'e')
    if redis.call('HGET', c, 'kp') == pos then
      -- Parked here before: the conversion's record hands it over and decides (or will).
    elseif target then
      confirm(j, events .. target, pos, ttl, payload)
    elseif not put(c, 'k', pos, payload, clickTtl(ttl)) then
      emit(j, 'second', '', payload)
    end
  end
end
return out
