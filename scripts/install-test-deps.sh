#!/usr/bin/env bash
# Installs what the integration tests need on Debian/Ubuntu when it is missing:
# docker-registry (distribution 2.8.2), skopeo, openssl. As root it calls apt-get directly;
# otherwise through sudo. Does nothing when everything is present.
set -euo pipefail
need=()
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
command -v skopeo >/dev/null 2>&1 || need+=(skopeo)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
[ "${#need[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "install-test-deps: missing ${need[*]}; run as root or install sudo (apt-get install -y ${need[*]})" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-test-deps: missing ${need[*]} and no apt-get here; install them with your package manager" >&2
  exit 1
fi
echo "install-test-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq "${need[@]}" >/dev/null
