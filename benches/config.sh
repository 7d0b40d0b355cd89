#!/usr/bin/env bash
# Benchmarks `berth config` beside `docker compose config` (when the Docker Compose plugin is
# installed: benches/install-docker-compose.sh) on
#   1. a generated project with BENCH_SERVICES services (default 1000; benches/gen_services.py),
#   2. one corpus case (BENCH_CASE, default ac-nextcloud-redis-mariadb),
#   3. one pass over every case of the compose corpus (benches/corpus-loop.sh).
# Times with hyperfine when it is installed (apt-get install hyperfine), else with bash's `time`.
# Builds berth in release mode first unless BERTH is set to a binary.
#   usage: benches/config.sh
#   env:   BERTH=path  BENCH_SERVICES=N  BENCH_CASE=name  BENCH_RUNS=N (default 10)
#          BENCH_CORPUS_RUNS=N (default 2)  BERTH_CORPUS_DIR=dir (default ../shared/compose-corpus)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

services="${BENCH_SERVICES:-1000}"
runs="${BENCH_RUNS:-10}"
corpus_runs="${BENCH_CORPUS_RUNS:-2}"
bench_case="${BENCH_CASE:-ac-nextcloud-redis-mariadb}"
corpus="${BERTH_CORPUS_DIR:-}"
if [ -z "$corpus" ]; then
  for d in "$root/../shared/compose-corpus" "$root/../../shared/compose-corpus"; do
    [ -d "$d/cases" ] && { corpus="$(cd "$d" && pwd)"; break; }
  done
fi

if [ -z "${BERTH:-}" ]; then
  cargo build --release --locked --quiet
  BERTH="$root/target/release/berth"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/berth-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# tool name → command prefix
names=(berth)
declare -A cmd=([berth]="$BERTH")
if docker compose version >/dev/null 2>&1; then
  names+=("docker-compose")
  cmd[docker-compose]="docker compose"
else
  echo "note: no 'docker compose' here (benches/install-docker-compose.sh installs it); timing berth alone" >&2
fi

have_hyperfine=0
command -v hyperfine >/dev/null 2>&1 && have_hyperfine=1
[ "$have_hyperfine" = 1 ] || echo "note: hyperfine not installed (apt-get install hyperfine); using bash's time" >&2

# bench TITLE RUNS DIR ARGS... : time "<tool> ARGS" in DIR for every tool that succeeds on it
bench() {
  local title=$1 n=$2 dir=$3
  shift 3
  echo
  echo "### $title"
  local hf=() t c
  for t in "${names[@]}"; do
    c="${cmd[$t]} $*"
    if ! (cd "$dir" && ${cmd[$t]} "$@") >/dev/null 2>"$work/err"; then
      echo "$t: fails on this input, not timed: $(tail -n 1 "$work/err")"
      continue
    fi
    if [ "$have_hyperfine" = 1 ]; then
      hf+=(-n "$t" "$c")
    else
      echo "$t ($n runs):"
      (cd "$dir" && time (for _ in $(seq "$n"); do ${cmd[$t]} "$@" >/dev/null 2>&1; done))
    fi
  done
  if [ "$have_hyperfine" = 1 ] && [ ${#hf[@]} -gt 0 ]; then
    (cd "$dir" && hyperfine --style basic -N --warmup 1 --runs "$n" "${hf[@]}")
  fi
}

python3 benches/gen_services.py "$work/gen" "$services"
bench "config on $services generated services" "$runs" "$work/gen" -f compose.yaml config
bench "config --format json on $services generated services" "$runs" "$work/gen" \
  -f compose.yaml config --format json

if [ -z "$corpus" ]; then
  echo "note: no compose corpus found (set BERTH_CORPUS_DIR); corpus benchmarks skipped" >&2
  exit 0
fi

mkdir -p "$work/corpus"
for d in "$corpus"/cases/*/; do
  name=$(basename "$d")
  [ -f "$d/cmd" ] || continue
  mkdir -p "$work/corpus/$name"
  (cd "$d" && tar --exclude='./cmd' --exclude='./cmd.env' --exclude='./expected.*' -cf - .) \
    | tar -xf - -C "$work/corpus/$name"
done

if [ -d "$work/corpus/$bench_case" ]; then
  eval "case_args=($(<"$corpus/cases/$bench_case/cmd"))"
  bench "corpus case $bench_case: ${case_args[*]}" "$runs" "$work/corpus/$bench_case" "${case_args[@]}"
fi

ncases=$(find "$work/corpus" -mindepth 1 -maxdepth 1 -type d | wc -l)
echo
echo "### one pass over all $ncases corpus cases (exit statuses ignored)"
if [ "$have_hyperfine" = 1 ]; then
  hf=()
  for t in "${names[@]}"; do
    hf+=(-n "$t" "bash benches/corpus-loop.sh '$corpus' '$work/corpus' ${cmd[$t]}")
  done
  hyperfine --style basic -N --runs "$corpus_runs" "${hf[@]}"
else
  for t in "${names[@]}"; do
    echo "$t:"
    time bash benches/corpus-loop.sh "$corpus" "$work/corpus" ${cmd[$t]}
  done
fi
