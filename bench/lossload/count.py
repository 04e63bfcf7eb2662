import json, sys, collections
ports = {sys.argv[2], sys.argv[3]}
per = collections.Counter(); outc = collections.Counter(); port0 = 0; summ = None
times = collections.defaultdict(list)
for line in open(sys.argv[1]):
    o = json.loads(line)
    if o.get("kind") == "summary":
        summ = o; continue
    if o.get("kind") != "connect": continue
    for a in o.get("attempts", []):
        srv = a["server"]
        if srv.rsplit(":",1)[-1] not in ports: continue
        outc[a["outcome"]] += 1
        per[(a["client"], srv)] += 1
        times[(a["client"], srv)].append(a["start"])
        if a["client"].endswith(":0"): port0 += 1
from datetime import datetime
def ts(x):
    x = x.replace("Z","+00:00")
    if "." in x:
        a,b = x.split(".",1); frac = ""; i=0
        while i < len(b) and b[i].isdigit(): frac += b[i]; i+=1
        x = a + "." + (frac+"000000")[:6] + b[i:]
    return datetime.fromisoformat(x).timestamp()
dups = 0
for k, l in times.items():
    if k[0].endswith(":0"): continue
    l = sorted(ts(x) for x in l)
    dups += sum(1 for i in range(1,len(l)) if l[i]-l[i-1] < 0.05)
print("reported attempts", sum(outc.values()), dict(outc))
print("duplicate reports (same client 5-tuple)", dups, "port-0 attempts", port0)
if summ:
    s = {k: summ.get(k) for k in ("connects","attempts","kernel_drops","ring_buffer_lost","late_events","packets","outcomes","errors","incomplete_loss")}
    print(json.dumps(s)[:1500])
