#!/usr/bin/env bash
# Fetches Apicurio Registry (a schema registry with a Confluent-compatible API) from Maven Central
# into a git-ignored cache, once, and unpacks it. Confluent's registry is not on Maven Central;
# Apicurio is. Prints the unpacked directory (holding quarkus-run.jar) on stdout, nothing else.
# Running it needs Java 21 or newer: see java21.sh beside this script.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
version="${RUNWATCH_APICURIO_VERSION:-3.3.3}"
dest="$root/infra/.cache/apicurio-registry-$version"
marker="$dest/.complete"

if [ -f "$marker" ] && [ -f "$dest/quarkus-run.jar" ]; then
  echo "$dest"
  exit 0
fi

command -v mvn >/dev/null || { echo "apicurio/fetch.sh: mvn not found (apt-get install maven)" >&2; exit 3; }
artifact="io.apicurio:apicurio-registry-app:$version:tar.gz:all"
echo "apicurio/fetch.sh: fetching $artifact (about 160 MB) with Maven" >&2
# transitive=false: the tarball is self-contained; its POM's dependencies are not all on Central.
if ! out="$(mvn -q -B -Dstyle.color=never dependency:get -Dtransitive=false -Dartifact="$artifact" 2>&1)"; then
  echo "$out" | tail -n 20 >&2
  echo "apicurio/fetch.sh: mvn dependency:get failed" >&2
  exit 1
fi
tarball="${MAVEN_REPO_LOCAL:-$HOME/.m2/repository}/io/apicurio/apicurio-registry-app/$version/apicurio-registry-app-$version-all.tar.gz"
[ -f "$tarball" ] || { echo "apicurio/fetch.sh: $tarball not found after the download" >&2; exit 1; }

tmp="$dest.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
tar -xzf "$tarball" -C "$tmp"
[ -f "$tmp/quarkus-run.jar" ] || { echo "apicurio/fetch.sh: quarkus-run.jar missing from $tarball" >&2; exit 1; }
touch "$tmp/.complete"
rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
echo "$dest"
