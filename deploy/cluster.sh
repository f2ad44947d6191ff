#!/usr/bin/env bash
# A local cluster for trying the balancer: HAProxy on 127.0.0.1:PORT in front of N
# vcs-serve nodes on loopback. Ctrl-C stops everything.
#   deploy/cluster.sh [NODES=3] [PORT=9000]
# Needs haproxy (Debian: apt-get install haproxy).
set -euo pipefail
cd "$(dirname "$0")/.."
nodes=${1:-3}
port=${2:-9000}
command -v haproxy >/dev/null || { echo "cluster: install haproxy (apt-get install haproxy)" >&2; exit 1; }
scripts/bootstrap.sh runtime
state=$(mktemp -d -t vcs-cluster-XXXXXX)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$state"; }
trap cleanup EXIT INT TERM
cfg="$state/haproxy.cfg"
sed -e "/^    server n[0-9]/d" -e "s/bind 127.0.0.1:9000/bind 127.0.0.1:$port/" deploy/haproxy.cfg > "$cfg"
for i in $(seq 1 "$nodes"); do
    node_port=$((port + 100 + i))
    # One key for all nodes: clients pin the balancer's address (docs/security.md).
    .venv/bin/vcs-serve --port "$node_port" --node-id "n$i" --storage-dir "$state/n$i" \
        --key-file "$state/cluster_key.pem" --proxy-protocol --trusted-proxy 127.0.0.1 \
        --drain-timeout 300 > "$state/n$i.log" 2>&1 &
    pids+=($!)
    echo "    server n$i 127.0.0.1:$node_port send-proxy-v2 check inter 1s fall 2 rise 2" >> "$cfg"
done
haproxy -f "$cfg" &
pids+=($!)
echo "cluster: $nodes nodes behind haproxy on 127.0.0.1:$port (logs in $state); Ctrl-C stops"
wait
