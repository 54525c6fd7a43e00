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

-- Lifetimes only grow; a hash this offer created has none to compare.
local function keep(h, ttl, created)
  if created or redis.call('PTTL', h) < tonumber(ttl) then redis.call('PEXPIRE', h, ttl) end
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

-- An event hash read once and written once per offer (each Redis call from a script costs about
-- as much as the command itself): its fields, and the ones this offer sets.
local function open(h)
  local v = redis.call('HMGET', h, 'e', 'ep', 'k', 'kp', 'done')
  return { h = h, e = v[1], k = v[3], kp = v[4], done = v[5], created = not v[1] and not v[3], set = {} }
end

local function set(s, field, value)
  s[field] = value
  s.set[#s.set + 1] = field
  s.set[#s.set + 1] = value
end

local function close(s, ttl)
  if #s.set > 0 then redis.call('HSET', s.h, unpack(s.set)) end
  keep(s.h, ttl, s.created)
end

-- The side `owner` offered is in: completes the pair, or re-emits it for the record that did.
local function decide(i, s, owner)
  if s.done == owner then
    emit(i, 'pair', s.e, s.k)
  elseif not s.done and s.e and s.k then
    set(s, 'done', owner)
    emit(i, 'pair', s.e, s.k)
  end
end

-- A confirmation offered to event hash `h`: the pair, or 'second' when another confirmation holds it.
local function confirm(i, h, pos, ttl, payload)
  local s = open(h)
  if not s.k then
    set(s, 'k', payload)
    set(s, 'kp', pos)
  end
  if s.kp == pos then decide(i, s, pos)
  else emit(i, 'second', '', payload) end
  close(s, ttl)
end

local n = (#ARGV - 2) / 7
for j = 0, n - 1 do
  local a = 3 + j * 7
  local side, app, id, click, pos, ttl, payload = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5], ARGV[a + 6]
  local events = prefix .. 'v:e:' .. app .. ':'
  if side == 'e' then
    local s = open(events .. id)
    if not s.e then
      set(s, 'e', payload)
      set(s, 'ep', pos)
    end
    if click ~= '' then
      local c = prefix .. 'v:click:' .. app .. ':' .. click
      redis.call('HSETNX', c, 'e', id)
      keep(c, clickTtl(ttl))
      local parked = redis.call('HMGET', c, 'e', 'k', 'kp')
      if parked[1] == id and parked[2] then
        -- Parked on the click before this conversion: handed over, unless the event has its confirmation.
        if not s.k then
          set(s, 'k', parked[2])
          set(s, 'kp', parked[3])
        end
        if s.kp ~= parked[3] then emit(j, 'second', '', parked[2]) end
      end
    end
    decide(j, s, pos)
    close(s, ttl)
  elseif id ~= '' then
    confirm(j, events .. id, pos, ttl, payload)
  else
    local c = prefix .. 'v:click:' .. app .. ':' .. click
    local index = redis.call('HMGET', c, 'e', 'kp')
    if index[2] == pos then
      -- Parked here before: the conversion's record hands it over and decides (or will).
    elseif index[1] then
      confirm(j, events .. index[1], pos, ttl, payload)
    elseif not put(c, 'k', pos, payload, clickTtl(ttl)) then
      emit(j, 'second', '', payload)
    end
  end
end
return out
