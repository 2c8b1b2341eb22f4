#!/usr/bin/env bash
# TLS, outside in, with real processes on 127.0.8.1-127.0.8.30 (docs/design.md, "TLS: one port,
# two doors"): a 3-node cluster with peer_tls and client_tls on, certificates from `causeway
# cert`, replicates puts; peers without a certificate, with one from another CA, for another node
# id, or a client's, are refused and cannot change data; a plaintext client is refused and one
# with the CA served; RESP over TLS (redis-cli --tls, redis-py ssl=True); the cluster secret over
# TLS; client_tls = mutual; a SIGHUP reload serves a rotated certificate.
# Usage: tls_test.sh BUILD_BIN_DIR
set -u
BIN=${1:-build/bin}/causeway
DIR=$(mktemp -d /tmp/causeway-tls-test.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do kill -9 "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$DIR"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; for f in "$DIR"/*/log; do echo "== $f"; tail -8 "$f"; done; exit 1; }
C=$DIR/certs
start() {  # NAME IP PORT CERT-STEM CA-FILE [more serve flags]
  local name=$1 ip=$2 port=$3 stem=$4 ca=$5
  shift 5
  mkdir -p "$DIR/$name"
  "$BIN" serve --node-id "$name" --listen "$ip:$port" --data-dir "$DIR/$name/data" \
    --seeds 127.0.8.1:7801 --rf 3 --tick-interval-ms 50 --storage-profile small \
    --tls-cert-file "$C/$stem.pem" --tls-key-file "$C/$stem-key.pem" --tls-ca-file "$ca" "$@" \
    >>"$DIR/$name/log" 2>&1 &
  PIDS+=($!)
}
T=(--tls-ca "$DIR/ca/ca.pem")

# Certificates: our CA, nodes n1-n3, a client; another CA and its node.
"$BIN" cert ca --out-dir "$DIR/ca" >/dev/null || fail "cert ca"
"$BIN" cert ca --out-dir "$DIR/other" >/dev/null || fail "cert ca (other)"
[ "$(stat -c %a "$DIR/ca/ca-key.pem")" = 600 ] || fail "the CA key is not mode 0600"
for n in n1 n2 n3 n4; do
  "$BIN" cert node --ca-dir "$DIR/ca" --node-id $n --host 127.0.8.1 --host localhost --out-dir "$C" >/dev/null || fail "cert node $n"
done
"$BIN" cert node --ca-dir "$DIR/other" --node-id n9 --out-dir "$DIR/othercerts" >/dev/null || fail "cert node (other CA)"
cp "$DIR/othercerts/node-n9.pem" "$C/stranger.pem"; cp "$DIR/othercerts/node-n9-key.pem" "$C/stranger-key.pem"
"$BIN" cert client --ca-dir "$DIR/ca" --name alice --out-dir "$C" >/dev/null || fail "cert client"
"$BIN" cert node --ca-dir "$DIR/ca" --node-id n1 --out-dir "$C" >/dev/null 2>&1 && fail "cert overwrote a file"
[ "$(stat -c %a "$C/node-n1-key.pem")" = 600 ] || fail "a node key is not mode 0600"
openssl verify -CAfile "$DIR/ca/ca.pem" "$C/node-n2.pem" >/dev/null || fail "openssl does not verify a node certificate"
openssl x509 -in "$C/node-n2.pem" -noout -ext subjectAltName | grep -q "DNS:causeway-node-n2" || fail "no node SAN"

# The cluster: peer_tls and client_tls on.
for i in 1 2 3; do start n$i 127.0.8.$i 780$i node-n$i "$DIR/ca/ca.pem" --peer-tls on --client-tls on --resp-listen 127.0.8.$i:680$i; done
for i in 1 2 3; do
  ok=0; for t in $(seq 1 100); do "$BIN" put probe x --endpoints 127.0.8.$i:780$i "${T[@]}" >/dev/null 2>&1 && { ok=1; break; }; sleep 0.2; done
  [ $ok = 1 ] || fail "node $i did not come up"
done
ok=0; for t in $(seq 1 50); do "$BIN" put k1 v1 --endpoints 127.0.8.1:7801 "${T[@]}" --w all >/dev/null 2>&1 && { ok=1; break; }; sleep 0.2; done
[ $ok = 1 ] || fail "a put --w all over TLS (replication between TLS peers)"
for i in 2 3; do
  [ "$("$BIN" get k1 --endpoints 127.0.8.$i:780$i "${T[@]}" --r all)" = v1 ] || fail "get --r all from n$i"
done
"$BIN" status --endpoints 127.0.8.1:7801 "${T[@]}" --json | grep -o '"name":"n[123]"' | sort -u | wc -l | grep -q 3 || fail "status does not list 3 members"
grep -q "tls_handshake_failed" "$DIR"/n[123]/log && fail "members failed TLS handshakes with each other"

# Clients: plaintext refused (and logged), the wrong CA refused, the CA served.
"$BIN" get k1 --endpoints 127.0.8.2:7802 >/dev/null 2>&1 && fail "a plaintext get was served"
grep -q "event=client_refused reason=plaintext" "$DIR/n2/log" || fail "the plaintext client was not logged"
"$BIN" get k1 --endpoints 127.0.8.2:7802 --tls-ca "$DIR/other/ca.pem" >/dev/null 2>&1 && fail "a client trusting another CA connected"
[ "$("$BIN" get k1 --endpoints 127.0.8.2:7802 "${T[@]}")" = v1 ] || fail "a TLS get"
ok=0; for t in $(seq 1 40); do "$BIN" endpoint health --endpoints 127.0.8.3:7803 "${T[@]}" >/dev/null 2>&1 && { ok=1; break; }; sleep 0.25; done
[ $ok = 1 ] || fail "endpoint health over TLS"
"$BIN" get k1 --endpoints 127.0.8.2:7802 "${T[@]}" --tls-server-name causeway-node-n7 >/dev/null 2>&1 && fail "a wrong --tls-server-name was accepted"

# RESP over TLS: redis-cli --tls and redis-py ssl=True; plaintext refused.
RC=(redis-cli -h 127.0.8.1 -p 6801 --no-auth-warning)
[ "$("${RC[@]}" --tls --cacert "$DIR/ca/ca.pem" SET rk rv)" = OK ] || fail "redis-cli --tls SET"
[ "$("${RC[@]}" --tls --cacert "$DIR/ca/ca.pem" GET rk)" = rv ] || fail "redis-cli --tls GET"
[ "$(timeout 10 "${RC[@]}" GET rk 2>&1)" = rv ] && fail "a plaintext RESP client was served"
/usr/bin/python3 - "$DIR/ca/ca.pem" <<'PY' || fail "redis-py over TLS"
import sys, redis
r = redis.Redis(host="127.0.8.2", port=6802, ssl=True, ssl_ca_certs=sys.argv[1], socket_timeout=5)
r.set("py", "tls")
assert r.get("py") == b"tls", r.get("py")
PY

# Rogue peers, each seeding from n1 (their connections come from 127.0.0.1, the kernel's choice): plaintext; a certificate from another CA; our CA's
# certificate of n2 used by a node claiming to be n9; a client certificate as a node's.
start rogue1 127.0.8.11 7811 node-n4 "$DIR/ca/ca.pem"                       # peer_tls off: plaintext
start rogue2 127.0.8.12 7812 stranger "$DIR/other/ca.pem" --peer-tls on
cp "$C/node-n2.pem" "$C/stolen.pem"; cp "$C/node-n2-key.pem" "$C/stolen-key.pem"
start rogue3 127.0.8.13 7813 stolen "$DIR/ca/ca.pem" --peer-tls on
start rogue4 127.0.8.14 7814 client-alice "$DIR/ca/ca.pem" --peer-tls on
refused() { grep -q "$1" "$DIR/n1/log"; }
for t in $(seq 1 60); do
  refused "peer_refused reason=plaintext" && refused "tls_handshake_failed .*peer_door=true.*unknown ca" &&
    refused "peer_refused reason=hello_names_another_node" && refused "peer_refused reason=not_a_node_certificate" && break
  sleep 0.25
done
refused "peer_refused reason=plaintext" || fail "a plaintext peer was not refused and logged"
refused "tls_handshake_failed .*peer_door=true.*unknown ca" || fail "a peer from another CA was not refused"
refused "peer_refused reason=hello_names_another_node" || fail "a peer claiming another node id than its certificate was not refused"
refused "peer_refused reason=not_a_node_certificate" || fail "a peer with a client certificate was not refused"
"$BIN" status --endpoints 127.0.8.1:7801 "${T[@]}" --json | grep -qE '"rogue[1-4]"' && fail "a rogue became a member"
for i in 1 2 3 4; do
  "$BIN" put k1 rogue$i --endpoints 127.0.8.1$i:781$i --tls-ca "$DIR/ca/ca.pem" --w 1 >/dev/null 2>&1
  "$BIN" put k1 rogue$i --endpoints 127.0.8.1$i:781$i --w 1 >/dev/null 2>&1
done
sleep 1
for i in 1 2 3; do
  [ "$("$BIN" get k1 --endpoints 127.0.8.$i:780$i "${T[@]}" --r all)" = v1 ] || fail "a rogue changed k1 (seen on n$i)"
done

# The cluster secret over TLS: two nodes with both, replicating; a rogue with the secret and a
# stolen certificate of s2 (claiming its own id in peerAuth) is refused.
head -c 32 /dev/urandom | base64 >"$DIR/secret"
for n in s1 s2; do "$BIN" cert node --ca-dir "$DIR/ca" --node-id $n --out-dir "$C" >/dev/null || fail "cert node $n"; done
cp "$C/node-s2.pem" "$C/stolen2.pem"; cp "$C/node-s2-key.pem" "$C/stolen2-key.pem"
for i in 1 2; do
  mkdir -p "$DIR/s$i"
  "$BIN" serve --node-id s$i --listen 127.0.8.2$i:782$i --data-dir "$DIR/s$i/data" --seeds 127.0.8.21:7821 --rf 2 \
    --tick-interval-ms 50 --storage-profile small --tls-cert-file "$C/node-s$i.pem" --tls-key-file "$C/node-s$i-key.pem" \
    --tls-ca-file "$DIR/ca/ca.pem" --peer-tls on --client-tls on --cluster-secret-file "$DIR/secret" >>"$DIR/s$i/log" 2>&1 &
  PIDS+=($!)
done
ok=0; for t in $(seq 1 100); do "$BIN" put sk sv --endpoints 127.0.8.21:7821 "${T[@]}" --w all >/dev/null 2>&1 && { ok=1; break; }; sleep 0.2; done
[ $ok = 1 ] || fail "a put --w all between nodes with the cluster secret and TLS"
grep -q "peer_refused" "$DIR/s1/log" "$DIR/s2/log" && fail "secret-and-TLS members refused each other"
mkdir -p "$DIR/rogue5"
"$BIN" serve --node-id rogue5 --listen 127.0.8.15:7815 --data-dir "$DIR/rogue5/data" --seeds 127.0.8.21:7821 --rf 2 \
  --tick-interval-ms 50 --storage-profile small --tls-cert-file "$C/stolen2.pem" --tls-key-file "$C/stolen2-key.pem" \
  --tls-ca-file "$DIR/ca/ca.pem" --peer-tls on --cluster-secret-file "$DIR/secret" >>"$DIR/rogue5/log" 2>&1 &
PIDS+=($!)
for t in $(seq 1 60); do grep -q "peer_refused reason=certificate_names_another_node" "$DIR/s1/log" && break; sleep 0.25; done
grep -q "peer_refused reason=certificate_names_another_node" "$DIR/s1/log" || fail "peerAuth claiming another node than the certificate was not refused"
[ "$("$BIN" get sk --endpoints 127.0.8.22:7822 "${T[@]}" --r all)" = sv ] || fail "get --r all on s2"

# client_tls = mutual on a single node n4 (rf 1): the CA alone is refused, a client certificate
# served; then a SIGHUP reload serves a certificate from a new CA.
mkdir -p "$DIR/n4"
cp "$C/node-n4.pem" "$DIR/n4/cert.pem"; cp "$C/node-n4-key.pem" "$DIR/n4/key.pem"; cp "$DIR/ca/ca.pem" "$DIR/n4/ca.pem"
"$BIN" serve --node-id n4 --listen 127.0.8.20:7820 --data-dir "$DIR/n4/data" --rf 1 --tick-interval-ms 50 \
  --storage-profile small --tls-cert-file "$DIR/n4/cert.pem" --tls-key-file "$DIR/n4/key.pem" \
  --tls-ca-file "$DIR/n4/ca.pem" --client-tls mutual >>"$DIR/n4/log" 2>&1 &
PIDS+=($!); N4=$!
M=(--endpoints 127.0.8.20:7820 "${T[@]}" --tls-cert "$C/client-alice.pem" --tls-key "$C/client-alice-key.pem")
ok=0; for t in $(seq 1 100); do "$BIN" put m1 v "${M[@]}" >/dev/null 2>&1 && { ok=1; break; }; sleep 0.2; done
[ $ok = 1 ] || fail "mutual TLS with a client certificate"
"$BIN" get m1 --endpoints 127.0.8.20:7820 "${T[@]}" >/dev/null 2>&1 && fail "client_tls = mutual served a client without a certificate"
"$BIN" cert ca --out-dir "$DIR/ca2" >/dev/null || fail "cert ca (rotation)"
"$BIN" cert node --ca-dir "$DIR/ca2" --node-id n4 --out-dir "$DIR/certs2" >/dev/null || fail "cert node (rotation)"
"$BIN" get m1 --endpoints 127.0.8.20:7820 --tls-ca "$DIR/ca2/ca.pem" --tls-cert "$C/client-alice.pem" --tls-key "$C/client-alice-key.pem" >/dev/null 2>&1 && fail "the new CA was trusted before the rotation"
cp "$DIR/certs2/node-n4.pem" "$DIR/n4/cert.pem"; cp "$DIR/certs2/node-n4-key.pem" "$DIR/n4/key.pem"
cat "$DIR/ca/ca.pem" "$DIR/ca2/ca.pem" >"$DIR/n4/ca.pem"
kill -HUP $N4
for t in $(seq 1 40); do grep -q "event=tls_reloaded" "$DIR/n4/log" && break; sleep 0.1; done
grep -q "event=tls_reloaded" "$DIR/n4/log" || fail "SIGHUP did not reload the TLS files"
[ "$("$BIN" get m1 --endpoints 127.0.8.20:7820 --tls-ca "$DIR/ca2/ca.pem" --tls-cert "$C/client-alice.pem" --tls-key "$C/client-alice-key.pem")" = v ] || fail "the reloaded certificate was not served"
"$BIN" get m1 "${M[@]}" >/dev/null 2>&1 && fail "the old certificate is still served after the reload"
kill -0 $N4 || fail "the node died on SIGHUP"
echo "PASS tls_test"
