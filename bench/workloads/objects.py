# objects.py - an allocation-heavy Python workload (run with PYTHONMALLOC=malloc,
# so every object goes through malloc): dicts, lists, strings, churned.
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
keep = []
for i in range(n):
    d = {"id": i, "name": "item-%d" % i, "tags": [str(i % 7), str(i % 11)]}
    keep.append(d)
    if len(keep) > 5000:
        keep = keep[2500:]
print(len(keep))
