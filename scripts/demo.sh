#!/usr/bin/env bash
# End to end against real local registries: start two docker-registry processes on ephemeral
# ports, seed a two-platform image into the first with skopeo, relocate it into the second with
# relocator, copy it through an OCI archive into the second again, check with skopeo that the
# digest never changed, mirror the repository with sync (a second sync only HEADs), and relocate
# one platform of the index (a new index, checked with skopeo).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
py="$here/.venv/bin/python"
work="$(mktemp -d)"
trap 'kill $(cat "$work"/*.pid) 2>/dev/null || true; rm -rf "$work"' EXIT

start_registry() { # name -> prints HOST:PORT
    local port
    port="$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    cat >"$work/$1.yml" <<YML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/$1}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$port}
YML
    docker-registry serve "$work/$1.yml" >"$work/$1.log" 2>&1 &
    echo $! >"$work/$1.pid"
    for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
    echo "127.0.0.1:$port"
}
src="$(start_registry src)"
dst="$(start_registry dst)"

"$py" -m scripts.make_layout "$work/layout"
skopeo copy -q --all --dest-tls-verify=false "oci:$work/layout:demo" "docker://$src/demo/app:v1"
echo "seeded $src/demo/app:v1 with skopeo; relocating to $dst/mirror:"
"$here/.venv/bin/relocator" relocate -i "$src/demo/app:v1" --prefix "$dst/mirror" --lock-output "$work/images.lock"
cat "$work/images.lock"
want="$(skopeo inspect --raw --tls-verify=false "docker://$src/demo/app:v1" | sha256sum | cut -d' ' -f1)"
got="$(skopeo inspect --raw --tls-verify=false "docker://$dst/mirror/demo/app:v1" | sha256sum | cut -d' ' -f1)"
[ "$want" = "$got" ] || { echo "digest changed: $want -> $got" >&2; exit 1; }
echo "skopeo sees $dst/mirror/demo/app:v1 at sha256:$got, the same digest as the source"

echo "copying it into an OCI archive and from there back into $dst/restored, skopeo's spellings:"
"$here/.venv/bin/relocator" copy "docker://$src/demo/app:v1" "oci-archive:$work/app.tar:v1"
"$here/.venv/bin/relocator" copy "oci-archive:$work/app.tar:v1" "docker://$dst/restored/app:v1"
from_tar="$(skopeo inspect --raw "oci-archive:$work/app.tar:v1" | sha256sum | cut -d' ' -f1)"
back="$(skopeo inspect --raw --tls-verify=false "docker://$dst/restored/app:v1" | sha256sum | cut -d' ' -f1)"
[ "$want" = "$from_tar" ] && [ "$want" = "$back" ] || { echo "digest changed: $want -> $from_tar, $back" >&2; exit 1; }
echo "skopeo sees oci-archive:app.tar:v1 and $dst/restored/app:v1 at sha256:$back, the same digest"

echo "mirroring the whole repository with sync, twice: the second run only HEADs:"
export RELOCATOR_STATE_DIR="$work/state"
"$here/.venv/bin/relocator" sync "$src/demo/app" "$dst/synced/app" --results "$work/results.jsonl"
"$here/.venv/bin/relocator" sync "$src/demo/app" "$dst/synced/app"
cat "$work/results.jsonl"

echo "only linux/arm64 of the index (--platform; a new index, so both digests are reported):"
"$here/.venv/bin/relocator" relocate -i "$src/demo/app:v1" --prefix "$dst/arm" --platform linux/arm64 \
    --lock-output "$work/arm.lock"
cat "$work/arm.lock"
platforms="$(skopeo inspect --raw --tls-verify=false "docker://$dst/arm/demo/app:v1" \
    | "$py" -c 'import json,sys; print(" ".join(m["platform"]["architecture"] for m in json.load(sys.stdin)["manifests"]))')"
[ "$platforms" = "arm64" ] || { echo "expected only arm64, skopeo sees: $platforms" >&2; exit 1; }
echo "skopeo sees $dst/arm/demo/app:v1 as an index of: $platforms"
