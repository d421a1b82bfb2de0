#!/bin/bash
HERE=$(cd "$(dirname "$0")" && pwd)
TAG=$1
N=8192 SLEEP=0.05 EPOCHS=3 PATCH=1 TMO=${TMO:-200} $HERE/run2.sh $TAG &
RP=$!
sleep 1; D=$HERE/out/$TAG
until grep -q init_hash $D/w1.log 2>/dev/null; do sleep 0.5; done
sleep 4
W1=$(pgrep -P $(cut -d" " -f$((${KIDX:-1}+1)) $D/pids) -f worker.py || cut -d" " -f$((${KIDX:-1}+1)) $D/pids)
# pids file holds the 'timeout' pids; kill its python child
KT=$(date +%s.%N); kill -9 $W1; echo "killed $W1 at $KT" > $D/kill
wait $RP
ET=$(date +%s.%N); echo "w0 survivor ended after $(echo "$ET - $KT" | bc) s" >> $D/kill
