#!/usr/bin/env bash
# `make images`: builds the operator, trainer and server images from their Dockerfiles
# with podman (no Docker daemon, no registry) and writes each as a docker-archive tar
# that `kind load image-archive`, `ctr images import` and `docker load` accept.
#
#   images/build.sh [OUT]        OUT defaults to dist/images
#
# The base is images/base.sh's Debian python (BASE=... overrides it, e.g.
# BASE=python:3.11-slim-bookworm where a registry is reachable). Archives are also kept
# under $IMAGES_CACHE keyed by the hash of every build input, so a second run with
# nothing changed only copies them. Prints one line per image: name, archive, digest.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
out=${1:-$root/dist/images}
engine=${ENGINE:-podman}
cache=${IMAGES_CACHE:-$HOME/.cache/modelrelease/images}
registry=${IMAGE_REGISTRY:-ghcr.io/modelrelease}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/pyproject.toml" | head -n1)
base=${BASE:-$(bash "$here/base.sh")}
mkdir -p "$out" "$cache"

# Containers here may not raise RLIMIT_NOFILE above the caller's hard limit.
limits=(--ulimit "nofile=$(ulimit -Sn):$(ulimit -Hn)" --ulimit "nproc=4096:4096")
# pip verifies against the system bundle in the base; lend it the host's, so builds
# work behind a TLS-inspecting proxy. A mount, so it never lands in an image.
ca=${BUILD_CA_BUNDLE:-${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}}
mounts=()
[[ -f "$ca" ]] && mounts=(--volume "$ca:/etc/ssl/certs/ca-certificates.crt:ro")

inputs_key() {
  echo "$base"
  cd "$root" && find pyproject.toml README.md images operator training-image serving-image \
    -type f -not -path '*/__pycache__/*' -not -path '*.egg-info/*' -print0 | sort -z \
    | xargs -0 sha256sum
}
key=$(inputs_key | sha256sum | cut -c1-16)

image_id() { "$engine" image inspect --format '{{.Id}}' "$1"; }

build() { # short-name dockerfile
  local name=$1 dockerfile=$2 ref="$registry/$1:$version"
  local cached="$cache/$name-$key.tar" archive="$out/$name.tar"
  if [[ ! -f "$cached" ]]; then
    local started=$SECONDS
    "$engine" build --layers "${limits[@]}" "${mounts[@]}" --build-arg "BASE=$base" \
      -f "$root/$dockerfile" -t "$ref" "$root" >&2
    "$engine" save -q --format docker-archive -o "$cached.tmp" "$ref"
    image_id "$ref" >"$cached.id"
    mv "$cached.tmp" "$cached"
    echo "built $ref in $((SECONDS - started))s" >&2
  elif [[ "$(image_id "$ref" 2>/dev/null)" != "$(cat "$cached.id")" ]]; then
    "$engine" load -q -i "$cached" >/dev/null
  fi
  cp "$cached" "$archive.tmp" && mv "$archive.tmp" "$archive"
  echo "$ref $archive sha256:$(cat "$cached.id")"
}

build operator operator/Dockerfile
build trainer training-image/Dockerfile
build server serving-image/Dockerfile
# Archives of earlier inputs are no longer wanted.
find "$cache" -maxdepth 1 \( -name '*.tar' -o -name '*.tar.id' \) -not -name "*-$key.tar*" \
  -not -name 'python-base-*' -delete
