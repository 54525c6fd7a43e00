-- claim.lua: claims events by event_id and applies the state writes of the events it claimed, in
-- one atomic step (a crash leaves an event either claimed with its writes, or untouched).
-- ARGV: prefix, claim TTL ms, n events, then n x (event_id, claim value),
--       then groups of writes to one key: (op, key, ttl ms, m, then m x (event index, score, member)):
--   touch: ZADD key score member ...; PEXPIRE key ttl; now and then drop members older than ttl
--   click: SET key member PX ttl
--   flood: SADD key member ...; PEXPIRE key ttl
-- Keys travel in ARGV: the script needs a single Redis node (or one hash slot per prefix).
-- Returns, per event, the claim value that was already there ('' when this call made the claim).
local prefix, claimTtl, n = ARGV[1], ARGV[2], tonumber(ARGV[3])
local found, claimed = {}, {}
for e = 1, n do
  local key, value = prefix .. 'c:' .. ARGV[2 + 2 * e], ARGV[3 + 2 * e]
  if redis.call('SET', key, value, 'NX', 'PX', claimTtl) then
    found[e], claimed[e] = '', true
  else
    found[e] = redis.call('GET', key)
  end
end
local i = 4 + 2 * n
while i <= #ARGV do
  local op, key, ttl, m = ARGV[i], prefix .. ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])
  local args, newest = {}, 0
  for j = i + 4, i + 4 + (m - 1) * 3, 3 do
    if claimed[tonumber(ARGV[j])] then
      local score = tonumber(ARGV[j + 1])
      if op == 'touch' then args[#args + 1] = ARGV[j + 1] end
      args[#args + 1] = ARGV[j + 2]
      if score > newest then newest = score end
    end
  end
  if #args > 0 then
    if op == 'touch' then
      redis.call('ZADD', key, unpack(args))
      if newest % 16 == 0 then -- trimming on every write would double the cost of a touch
        redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. string.format('%d', newest - tonumber(ttl)))
      end
      redis.call('PEXPIRE', key, ttl)
    elseif op == 'click' then
      redis.call('SET', key, args[#args], 'PX', ttl)
    else
      redis.call('SADD', key, unpack(args))
      redis.call('PEXPIRE', key, ttl)
    end
  end
  i = i + 4 + m * 3
end
return found
