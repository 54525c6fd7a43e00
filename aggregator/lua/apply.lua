-- Applies a batch's attribution state writes, each idempotent. ARGV[1] is how many touches a set
-- keeps; KEYS[i] is write i's key, and the rest of ARGV holds the writes in order, each as its kind
-- and its fields:
--   'touch', lifetime (ms), oldest score kept ('' for no trim), n, then n (score, member) pairs:
--            ZADD; when trimming, also drop the members below that score and all but the newest kept
--   'click', lifetime (ms), value: SET
--   'flood', lifetime (ms), limit, n, then n members: SADD each while the set holds fewer than limit
-- Each key's lifetime starts again (PEXPIRE).
local kept = tonumber(ARGV[1])

-- cmd(key, ARGV[from..to]), in slices of `step` arguments: unpack is bounded by Lua's stack.
local function sliced(cmd, key, from, to, step)
  for i = from, to, step do
    redis.call(cmd, key, unpack(ARGV, i, math.min(i + step - 1, to)))
  end
end

local at = 2
for _, key in ipairs(KEYS) do
  local kind, ttl = ARGV[at], ARGV[at + 1]
  if kind == 'touch' then
    local oldest, n = ARGV[at + 2], tonumber(ARGV[at + 3])
    sliced('ZADD', key, at + 4, at + 3 + 2 * n, 1000)
    if oldest ~= '' then
      redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. oldest)
      redis.call('ZREMRANGEBYRANK', key, 0, -(kept + 1))
    end
    redis.call('PEXPIRE', key, ttl)
    at = at + 4 + 2 * n
  elseif kind == 'click' then
    redis.call('SET', key, ARGV[at + 2], 'PX', ttl)
    at = at + 3
  else
    local room, n = tonumber(ARGV[at + 2]) - redis.call('SCARD', key), tonumber(ARGV[at + 3])
    for i = at + 4, at + 3 + n do
      if room <= 0 then break end
      room = room - redis.call('SADD', key, ARGV[i])
    end
    redis.call('PEXPIRE', key, ttl)
    at = at + 4 + n
  end
end
return #KEYS
