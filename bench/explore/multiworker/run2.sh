#!/bin/bash
HERE=$(cd "$(dirname "$0")" && pwd); PY=${PY:-$HERE/../../../.venv/bin/python}
# usage: run2.sh TAG  (env vars passed through)
TAG=$1; D=$HERE/out/$TAG; rm -rf $D; mkdir -p $D
read P1 P2 < <($PY -c "
import socket
s=[socket.socket() for _ in range(2)]
[x.bind(('127.0.0.1',0)) for x in s]
print(*[x.getsockname()[1] for x in s])")
PIDS=()
for i in 0 1; do
  TF_CONFIG="{\"cluster\": {\"worker\": [\"127.0.0.1:$P1\", \"127.0.0.1:$P2\"]}, \"task\": {\"type\": \"worker\", \"index\": $i}}" \
  WID=w$i timeout ${TMO:-240} $PY $HERE/worker.py > $D/w$i.log 2>&1 &
  PIDS+=($!)
done
echo "${PIDS[@]}" > $D/pids
for p in "${PIDS[@]}"; do wait $p; echo "rc $p $?" >> $D/rc; done
