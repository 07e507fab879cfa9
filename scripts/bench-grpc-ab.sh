#!/usr/bin/env bash
# Two builds of crm-server, interleaved on both engines: GetCustomer and the mixed load, with the
# echo ceiling once per round. Each build is a directory holding crm-server (crm-bench is NEW's).
#   OLD=/tmp/srv/old NEW=/tmp/srv/new bash scripts/bench-grpc-ab.sh > bench/grpc-ab.txt
set -u
OLD=${OLD:?a directory with the old build's crm-server}
NEW=${NEW:?a directory with the new build's crm-server and crm-bench}
common=(--concurrency 64 --connections 4 --duration 10s --warmup 2s)
for r in 1 2 3; do
  "$NEW/crm-bench" --echo --mix get=100 "${common[@]}" --seed-customers 10 | head -1 | sed "s/^/round $r echo /"
  for e in sled fjall; do
    for b in OLD NEW; do
      D=$(mktemp -d)
      "${!b}/crm-server" --listen 127.0.0.1:50072 --data-dir $D --engine $e 2>/dev/null & P=$!
      sleep 1
      "$NEW/crm-bench" --addr 127.0.0.1:50072 --mix get=100 "${common[@]}" --seed-customers 1000 | head -1 | sed "s/^/round $r $e ${b,,} get /"
      "$NEW/crm-bench" --addr 127.0.0.1:50072 --mix get=80,create=10,list=5,purchase=5 "${common[@]}" --seed-customers 1000 --allow-other-data | head -1 | sed "s/^/round $r $e ${b,,} mixed /"
      kill $P; wait $P 2>/dev/null; rm -rf $D
    done
  done
done
