#!/usr/bin/env bash
# Prints the path of a java binary of version 21 or newer (Apicurio Registry 3 needs class file 65),
# or exits 1 saying what was looked at. Order: $RUNWATCH_JAVA21, the default java, /usr/lib/jvm/*.
set -uo pipefail

major() { "$1" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1; }

candidates=()
[ -n "${RUNWATCH_JAVA21:-}" ] && candidates+=("$RUNWATCH_JAVA21")
command -v java >/dev/null && candidates+=("$(command -v java)")
for dir in /usr/lib/jvm/*; do [ -x "$dir/bin/java" ] && candidates+=("$dir/bin/java"); done
for java in "${candidates[@]}"; do
  v="$(major "$java")"
  if [ -n "$v" ] && [ "$v" -ge 21 ]; then
    echo "$java"
    exit 0
  fi
done
echo "java21.sh: no Java 21+ found (looked at: ${candidates[*]:-nothing}); set RUNWATCH_JAVA21 to one" >&2
exit 1
