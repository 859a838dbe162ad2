#!/usr/bin/env python3
"""Batch ingest through a cluster's front door: POST /user_tags/batch, 40 batches of 1,000
tags over C connections, every answer must be 204.

    scripts/cluster.sh up DIR --port 18981
    bench/cluster_batch.py 18981 4
"""
import json, http.client, time, random, sys, concurrent.futures
port = int(sys.argv[1]); conns = int(sys.argv[2])
random.seed(7)
def tag(i):
    return {"time": "2022-03-01T00:%02d:%02d.%03dZ" % (i//60000%60, i//1000%60, i%1000), "cookie": "c%d" % random.randint(0, 9999),
            "country": "PL", "device": "PC", "action": "VIEW", "origin": "O%d" % (i%50),
            "product_info": {"product_id": i, "brand_id": "B%d" % (i%20), "category_id": "C%d" % (i%10), "price": 100 + i%1000}}
N, B = 40000, 1000
bodies = ["".join(json.dumps(tag(i)) + "\n" for i in range(b, b + B)) for b in range(0, N, B)]
def send(chunk):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    for body in chunk:
        conn.request("POST", "/user_tags/batch", body=body, headers={"Content-Type": "application/x-ndjson"})
        r = conn.getresponse(); r.read(); assert r.status == 204, r.status
start = time.monotonic()
with concurrent.futures.ThreadPoolExecutor(conns) as pool:
    for f in [pool.submit(send, bodies[c::conns]) for c in range(conns)]: f.result()
el = time.monotonic() - start
print(f"batches of {B}, {conns} connections: {N} tags in {el:.2f} s = {N/el:.0f} tags/s")
