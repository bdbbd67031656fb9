# workload.py - the python3 row: dicts, JSON, regexes and hashing, one
# subprocess and one fork child; deterministic output.
import hashlib
import json
import os
import re
import subprocess
import sys


def main(n):
    objs = [{"id": i, "name": "item%d" % i, "tags": [str(i % 7), str(i % 11)]} for i in range(n)]
    text = json.dumps(objs)
    back = json.loads(text)
    words = re.findall(r"item(\d*7)\b", text)
    groups = {}
    for o in back:
        groups.setdefault(o["tags"][0], []).append(o["id"])
    print("python3", len(text), len(words), sorted((k, len(v)) for k, v in groups.items()))
    print(hashlib.sha256(text.encode()).hexdigest())
    sys.stdout.flush()
    r = subprocess.run(["/bin/echo", "from a subprocess"], capture_output=True, text=True)
    print(r.stdout.strip())
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        print("fork child", sum(o["id"] for o in back[:1000]))
        sys.stdout.flush()
        os._exit(0)
    os.waitpid(pid, 0)
    print("done")


main(int(sys.argv[1]) if len(sys.argv) > 1 else 30000)
