#!/usr/bin/env bash
# End to end against a real local registry: start docker-registry on an ephemeral port,
# seed a two-platform image with skopeo, and read it back with relocator.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
py="$here/.venv/bin/python"
work="$(mktemp -d)"
port="$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
cat >"$work/config.yml" <<YML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/storage}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$port}
YML
docker-registry serve "$work/config.yml" >"$work/registry.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break; sleep 0.1; done

"$py" -m scripts.make_layout "$work/layout"
skopeo copy -q --all --dest-tls-verify=false "oci:$work/layout:demo" "docker://127.0.0.1:$port/demo/app:v1"
echo "seeded 127.0.0.1:$port/demo/app:v1 with skopeo; relocator reads it back:"
"$here/.venv/bin/relocator" inspect "127.0.0.1:$port/demo/app:v1"
