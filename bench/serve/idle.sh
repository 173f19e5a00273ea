#!/bin/sh
# idle.sh: the job server's own CPU and memory with 20 small jobs running.
# It starts `weir serve` on a temporary directory, submits 20 copies of
# small.yaml, waits for them to run, then reads the server process's CPU
# time (utime + stime of /proc/PID/stat, the server's process only, not its
# jobs') over a minute, and its resident memory. Usage:
#
#   go build -o /tmp/weir ./cmd/weir && sh bench/serve/idle.sh /tmp/weir [seconds]
set -eu
WEIR=${1:?usage: idle.sh WEIR_BINARY [SECONDS]}
SECONDS_=${2:-60}
HERE=$(cd "$(dirname "$0")" && pwd)
DIR=$(mktemp -d)
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DIR"' EXIT
"$WEIR" serve --data "$DIR/data" --port 0 >"$DIR/out" 2>"$DIR/err" &
PID=$!
while ! grep -q 'listening on' "$DIR/out" 2>/dev/null; do sleep 0.1; done
URL=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$DIR/out")
export WEIR_TOKEN=$(cat "$DIR/data/token")
for i in $(seq 20); do
	"$WEIR" jobs submit "$HERE/small.yaml" --server "$URL" --name "small-$i" >/dev/null
done
sleep 15
RUNNING=$("$WEIR" jobs list --server "$URL" | grep -c ' running ')
TICK=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
T0=$(cpu)
sleep "$SECONDS_"
T1=$(cpu)
RSS=$(awk '/VmRSS/ {print $2, $3}' "/proc/$PID/status")
HWM=$(awk '/VmHWM/ {print $2, $3}' "/proc/$PID/status")
echo "jobs running: $RUNNING"
echo "server CPU over ${SECONDS_}s: $((T1 - T0)) ticks of 1/$TICK s = $(awk -v t=$((T1 - T0)) -v hz="$TICK" -v s="$SECONDS_" 'BEGIN {printf "%.2f", 100 * t / hz / s}')% of a core"
echo "server memory: resident $RSS, peak $HWM"
