#!/usr/bin/env bash
# Fetches the Apache Kafka broker jars (pinned in infra/kafka/pom.xml) from Maven Central into a
# git-ignored cache, once. No Kafka exists in Debian or npm, so Maven is the only source.
# Prints the libs directory on stdout (the only stdout line) so callers can capture it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")"
[ -n "$version" ] || { echo "fetch.sh: kafka.version not found in $here/pom.xml" >&2; exit 2; }

dest="$root/infra/.cache/kafka-$version/libs"
# The marker is written only after a successful copy, so an interrupted fetch is redone,
# and it records the pom's hash so a changed pom invalidates the cache.
marker="$dest/.complete"
pom_hash="$(sha256sum "$here/pom.xml" | cut -d' ' -f1)"

if [ -f "$marker" ] && [ "$(cat "$marker")" = "$pom_hash" ]; then
  echo "$dest"
  exit 0
fi

command -v mvn >/dev/null || { echo "fetch.sh: mvn not found (apt-get install maven)" >&2; exit 3; }

tmp="$dest.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
echo "fetch.sh: fetching Kafka $version jars with Maven into $dest" >&2
# Maven's output is shown only on failure, on stderr, so stdout stays the path alone.
if ! out="$(mvn -q -B -Dstyle.color=never -f "$here/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$tmp" 2>&1)"; then
  echo "$out" >&2
  echo "fetch.sh: mvn dependency:copy-dependencies failed" >&2
  exit 1
fi
ls "$tmp"/kafka_2.13-"$version".jar >/dev/null
echo "$pom_hash" > "$tmp/.complete"
# Swap in atomically-ish: a concurrent reader sees either no dir or a complete one.
rm -rf "$dest"
mkdir -p "$(dirname "$dest")"
mv "$tmp" "$dest"
trap - EXIT
echo "$dest"
