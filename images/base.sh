#!/usr/bin/env bash
# Builds the images' Python base from Debian's packages (no registry needed) and
# prints its local image name. The Dockerfiles take it as their BASE build argument
# instead of python:3.11-slim-bookworm, which needs Docker Hub.
#
# debootstrap bookworm (minbase) + python3 3.11 in a virtual environment at
# /opt/python, first on PATH, so `pip install` in the Dockerfiles works the same as
# on the public python image. The image is keyed by this script's hash; a copy is
# kept as an archive under $IMAGES_CACHE, so a later run (or a wiped containers
# store) reuses it without running debootstrap again.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
engine=${ENGINE:-podman}
suite=bookworm
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
packages=python3,python3-venv,ca-certificates
key=$( (echo "$suite $packages"; cat "$here/base.sh") | sha256sum | cut -c1-12)
name="localhost/modelrelease/python-base:3.11-$suite-$key"
cache=${IMAGES_CACHE:-$HOME/.cache/modelrelease/images}
archive="$cache/python-base-$key.tar"

if "$engine" image exists "$name" 2>/dev/null; then
  echo "$name"; exit 0
fi
if [[ -f "$archive" ]]; then
  "$engine" load -q -i "$archive" >/dev/null
  echo "$name"; exit 0
fi

started=$SECONDS
mkdir -p "$cache"
root=$(mktemp -d "$cache/rootfs.XXXXXX")
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" >&2
chroot "$root" python3 -m venv /opt/python
# Images are immutable: no apt state, docs or caches in the base.
chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/* "$root"/var/log/* \
  "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/* \
  "$root"/usr/share/info/*
# pip verifies against the system bundle (not its own certifi copy), so a build
# behind a TLS-inspecting proxy can mount its bundle there.
printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$root/etc/pip.conf"

tar --numeric-owner -C "$root" -c . | "$engine" import -q \
  --change 'ENV PATH=/opt/python/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' \
  - "$name" >/dev/null
"$engine" save -q --format docker-archive -o "$archive.tmp" "$name"
mv "$archive.tmp" "$archive"
echo "built $name in $((SECONDS - started))s" >&2
echo "$name"
