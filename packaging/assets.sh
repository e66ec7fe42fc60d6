#!/usr/bin/env bash
# Writes the generated package files into OUTDIR: the compressed man page and
# the Debian changelog for VERSION. The .deb is a native package (the
# version has no Debian revision), so the changelog is changelog.gz. Reproducible: dates come from
# SOURCE_DATE_EPOCH when set. Usage: packaging/assets.sh VERSION OUTDIR
set -euo pipefail

version=${1:?version}
out=${2:?output directory}
here=$(cd "$(dirname "$0")" && pwd)
maintainer=${PKG_MAINTAINER:?PKG_MAINTAINER}
epoch=${SOURCE_DATE_EPOCH:-$(date +%s)}

mkdir -p "$out"
gzip -9n <"$here/etcd-rejoin.8" >"$out/etcd-rejoin.8.gz"
{
	printf 'etcd-rejoin (%s) unstable; urgency=medium\n\n' "$version"
	printf '  * Release %s.\n\n' "$version"
	printf ' -- %s  %s\n' "$maintainer" "$(LC_ALL=C date -u -R -d "@$epoch")"
} | gzip -9n >"$out/changelog.gz"
