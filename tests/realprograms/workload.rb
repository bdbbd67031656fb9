# workload.rb - the ruby row: hashes, strings, sorting, regexes, one fork
# child and one system(); deterministic output. The collector runs once, at a
# fixed point: when it runs by itself depends on where the heap's pages lie
# (slots per page), and the allocation calls compared would differ by hundreds.
GC.disable
n = (ARGV[0] || 20000).to_i
h = {}
n.times { |i| h["key#{i}"] = [i, "v" * (i % 13), { sq: i * i }] }
top = h.values.sort_by { |v| -v[0] }.first(100).map { |v| v[2][:sq] }.join(",")
puts "ruby #{h.size} #{top.length} #{h.keys.grep(/7$/).size}"
GC.enable
GC.start
$stdout.flush
pid = fork do
  puts "fork child #{h.size}"
  $stdout.flush
  exit!(0)
end
Process.wait(pid)
system("/bin/echo", "from system") or abort("system failed")
puts "done"
