#!/usr/bin/env bash
# Seeds the fuzz corpus of target `load` (fuzz/corpus/load, where `cargo fuzz run load` reads and
# adds inputs) with every YAML file of the compose-config corpus, named by content hash so reruns
# add nothing twice.
#   usage: fuzz/seed.sh [CORPUS_DIR]     (default ../shared/compose-corpus, or BERTH_CORPUS_DIR)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="${1:-${BERTH_CORPUS_DIR:-$root/../shared/compose-corpus}}"
[ -d "$src/cases" ] || { echo "seed.sh: no $src/cases (pass the corpus directory)" >&2; exit 1; }
dest="$root/fuzz/corpus/load"
mkdir -p "$dest"
n=0
while IFS= read -r -d '' f; do
  h=$(sha1sum < "$f" | cut -c1-40)
  [ -e "$dest/$h" ] || { cp "$f" "$dest/$h"; n=$((n + 1)); }
done < <(find "$src/cases" -type f \( -name '*.yaml' -o -name '*.yml' \) -print0)
echo "seed.sh: added $n inputs to $dest ($(find "$dest" -type f | wc -l) in all)"
