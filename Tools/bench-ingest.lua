-- wrk script for Tools/bench-ingest: each wrk thread posts 100-point batches (100 channels of one
-- device at one t) to its own device; t grows by one per request so every point is a new row.
local counter = 0
local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  agri = os.getenv("AGRI_" .. id)
  base = 1600000000 + id * 10000000
end

function request()
  counter = counter + 1
  local t = base + counter
  local parts = {}
  for i = 1, 100 do
    parts[i] = string.format('{"agri_id":"%s-%03d","value":%d.5,"t":%d}', agri, i, (counter + i) % 1000, t)
  end
  return wrk.format("POST", os.getenv("PATH_" .. id), nil, "[" .. table.concat(parts, ",") .. "]")
end
