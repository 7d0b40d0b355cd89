#!/usr/bin/env bash
# One pass over every compose-corpus case with TOOL in place of `docker compose`, output thrown
# away: the unit of work benches/config.sh times. Each case runs in its copy RUN_DIR/<case> (the
# directory name is the default project name) with the case's `cmd` and `cmd.env`, in the same
# clean environment as the corpus runner. Exit statuses are ignored: this measures, not checks.
#   usage: corpus-loop.sh CORPUS_DIR RUN_DIR TOOL [TOOL_ARGS...]
set -u
corpus=$1 run_dir=$2
shift 2
for dir in "$run_dir"/*/; do
  name=$(basename "$dir")
  eval "args=($(<"$corpus/cases/$name/cmd"))"
  envs=()
  if [ -f "$corpus/cases/$name/cmd.env" ]; then
    mapfile -t envs < <(grep '=' "$corpus/cases/$name/cmd.env")
  fi
  (cd "$dir" && exec env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root "${envs[@]}" "$@" "${args[@]}") </dev/null >/dev/null 2>&1
done
exit 0
