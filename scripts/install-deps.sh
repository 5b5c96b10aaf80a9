#!/usr/bin/env bash
# Installs what retnet needs from Debian packages, only if missing: a C compiler, make,
# OpenBLAS (OpenMP build, see the Makefile), and with "bench" gnuplot for the plots.
# apt-get as root, sudo otherwise. Safe to run again: does nothing when all is there.
set -eu
pkgs=(gcc make libc6-dev libopenblas-openmp-dev)
[ "${1:-}" = bench ] && pkgs+=(gnuplot-nox)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo=sudo
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
