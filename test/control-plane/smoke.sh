#!/usr/bin/env bash
# Smoke test of the binaries from build.sh: starts etcd and kube-apiserver on
# 127.0.0.1 (free ports, state in a temp dir) the way controller-runtime's
# envtest does, waits for /readyz, creates a namespace with curl, stops both and
# cleans up. Exits 0 on success.
#
#   bash test/control-plane/smoke.sh            # builds first if needed
#   CONTROL_PLANE_BIN=/dir bash test/control-plane/smoke.sh
# Needs: curl, openssl, node (only to find free ports).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { printf '[smoke] %s\n' "$*" >&2; }
now_ms() { date +%s%3N; }

bin="${CONTROL_PLANE_BIN:-$(bash "$here/build.sh")}"
for b in etcd kube-apiserver; do
  [ -x "$bin/$b" ] || { log "missing $bin/$b"; exit 1; }
done

work="$(mktemp -d "${TMPDIR:-/tmp}/control-plane-smoke.XXXXXX")"
etcd_pid="" apiserver_pid=""

stop() { # stop PID: SIGTERM, then SIGKILL after 10 s
  local pid="$1" i
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    for f in etcd kube-apiserver; do
      [ -f "$work/$f.log" ] && { log "--- last lines of $f.log"; tail -n 30 "$work/$f.log" >&2; }
    done
  fi
  stop "$apiserver_pid"
  stop "$etcd_pid"
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Three distinct free ports on 127.0.0.1 (all held open until printed).
read -r etcd_port etcd_peer_port api_port < <(node -e '
  const net = require("net"); const ports = [];
  const next = () => { const s = net.createServer(); s.listen(0, "127.0.0.1", () => {
    ports.push(s); if (ports.length < 3) return next();
    console.log(ports.map(p => p.address().port).join(" ")); ports.forEach(p => p.close()); }); };
  next();')

# --- etcd -------------------------------------------------------------------
t0=$(now_ms)
"$bin/etcd" \
  --name=smoke \
  --data-dir="$work/etcd" \
  --listen-client-urls="http://127.0.0.1:$etcd_port" \
  --advertise-client-urls="http://127.0.0.1:$etcd_port" \
  --listen-peer-urls="http://127.0.0.1:$etcd_peer_port" \
  --initial-advertise-peer-urls="http://127.0.0.1:$etcd_peer_port" \
  --initial-cluster="smoke=http://127.0.0.1:$etcd_peer_port" \
  --unsafe-no-fsync=true \
  >"$work/etcd.log" 2>&1 &
etcd_pid=$!

for i in $(seq 300); do
  curl -sf "http://127.0.0.1:$etcd_port/health" 2>/dev/null | grep -q '"health":"true"' && break
  kill -0 "$etcd_pid" 2>/dev/null || { log "etcd exited"; exit 1; }
  [ "$i" -lt 300 ] || { log "etcd not healthy after 30s"; exit 1; }
  sleep 0.1
done
t_etcd=$(now_ms)
log "etcd healthy on 127.0.0.1:$etcd_port after $((t_etcd - t0)) ms"

# --- kube-apiserver -----------------------------------------------------------
# --advertise-address=127.0.0.1 keeps it from looking up the default route
# (envtest does the same). Since v1.37 the default "lease" endpoint reconciler
# rejects a loopback advertise address ("cannot use public IP 127.0.0.1 with
# endpoint reconciler ... may not be in the loopback range"), so it is turned
# off, as kubernetes' own integration test framework does.
token="$(openssl rand -hex 24)"
printf '%s,admin,admin-uid,"system:masters"\n' "$token" >"$work/tokens.csv"
openssl genrsa -out "$work/sa.key" 2048 2>/dev/null
mkdir -p "$work/certs"

"$bin/kube-apiserver" \
  --etcd-servers="http://127.0.0.1:$etcd_port" \
  --cert-dir="$work/certs" \
  --secure-port="$api_port" \
  --bind-address=127.0.0.1 \
  --advertise-address=127.0.0.1 \
  --endpoint-reconciler-type=none \
  --service-cluster-ip-range=10.0.0.0/24 \
  --service-account-issuer=https://kubernetes.default.svc \
  --service-account-key-file="$work/sa.key" \
  --service-account-signing-key-file="$work/sa.key" \
  --authorization-mode=RBAC \
  --token-auth-file="$work/tokens.csv" \
  --disable-admission-plugins=ServiceAccount \
  --allow-privileged=true \
  >"$work/kube-apiserver.log" 2>&1 &
apiserver_pid=$!

api="https://127.0.0.1:$api_port"
kcurl() { curl -sk --max-time 5 -H "Authorization: Bearer $token" "$@"; }

for i in $(seq 1200); do
  [ "$(kcurl "$api/readyz" 2>/dev/null || true)" = "ok" ] && break
  kill -0 "$apiserver_pid" 2>/dev/null || { log "kube-apiserver exited"; exit 1; }
  [ "$i" -lt 1200 ] || { log "kube-apiserver not ready after 120s"; kcurl "$api/readyz?verbose" >&2 || true; exit 1; }
  sleep 0.1
done
t_ready=$(now_ms)
log "kube-apiserver ready on $api after $((t_ready - t_etcd)) ms ($((t_ready - t0)) ms from etcd start)"
log "server version: $(kcurl "$api/version" | sed -n 's/.*"gitVersion": "\([^"]*\)".*/\1/p')"

# Unauthenticated requests must be rejected (RBAC + token auth are on).
code="$(curl -sk -o /dev/null -w '%{http_code}' "$api/api/v1/namespaces")"
[ "$code" = 401 ] || [ "$code" = 403 ] || { log "anonymous list of namespaces returned $code"; exit 1; }

# --- create a namespace ---------------------------------------------------------
ns="smoke-$(openssl rand -hex 3)"
code="$(kcurl -o "$work/ns.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  --data "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"$ns\"}}" \
  "$api/api/v1/namespaces")"
[ "$code" = 201 ] || { log "create namespace returned $code: $(cat "$work/ns.json")"; exit 1; }
kcurl -f "$api/api/v1/namespaces/$ns" | grep -q "\"name\": \"$ns\"" || { log "namespace $ns not found"; exit 1; }
log "created namespace $ns"

t_stop=$(now_ms)
stop "$apiserver_pid"; apiserver_pid=""
stop "$etcd_pid"; etcd_pid=""
log "stopped both in $(($(now_ms) - t_stop)) ms"
log "OK"
