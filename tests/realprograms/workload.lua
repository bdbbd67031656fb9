-- workload.lua - the lua row: tables, string building, sorting, patterns and
-- one os.execute (glibc's system(): posix_spawn of sh); deterministic output.
local n = tonumber(arg[1]) or 50000
local t = {}
for i = 1, n do
    t[i] = {id = i, name = "item" .. i, tags = {i % 7, i % 11}}
end
local parts = {}
for i = 1, n, 10 do
    parts[#parts + 1] = t[i].name
end
local s = table.concat(parts, ",")
table.sort(t, function(a, b)
    return a.tags[1] < b.tags[1] or (a.tags[1] == b.tags[1] and a.id < b.id)
end)
local count = 0
for _ in s:gmatch("item%d*7") do
    count = count + 1
end
print("lua", #t, #s, count, t[1].id, t[n].id)
io.stdout:flush()
os.execute("/bin/echo from os.execute")
print("done")
