#!/usr/bin/env bash
# The GPU figures of the CUDA issue in one run, from the GPU bundle (scripts/gpu-bundle.sh), on a GPU server:
#   scripts/device-figures.sh [BUNDLE.tar.gz] [OUTDIR] [COPY_TO]   defaults: target/falcon-gpu.tar.gz, ./device-figures
#   scripts/device-figures.sh -h | --help                          this text
# FIGURES_DEADLINE_S (default 470): no step starts, and none runs on, past this many seconds from the start. The default
#   fits the one-shot device run, a command killed at 520 s, with time left for the digest; a deadline past the
#   command's limit loses the step under way and the digest, so keep it 50 s under the limit of the command you run.
# COPY_TO (optional): a folder that receives summary.txt and logs.tar.gz again after every step; created when missing,
#   and the run refused (exit 2) before any step when it cannot be created or written.
# Steps, each under its own time limit, each logged to OUTDIR/NN-step.log; a failed step does not stop the next:
#   the machine (nvidia-smi, CPUs, memory), `falcon env`, the resnet50 example at n = 500 on cuda (target < 60 s), the
#   resnet20 example on cuda, mobilenetv1 at n = 128 on cuda and on the cpu backend of the same machine, the GPU test
#   suite (JUnit tag gpu), JMH of the device-resident products (every block product kernel, against a read of an X of
#   the same size), and JMH of the cpu backend's products there. The solves come first: resnet50 has a target, and
#   its full limit comes after at most 90 s of limits; the suites and JMH, open-ended, take what time is left.
# The CUDA 13 libraries are taken from ldconfig's cache or LD_LIBRARY_PATH, else looked for in the usual places (a
# toolkit under /usr/local, or the nvidia-* Python wheels). OUTDIR/summary.txt lists each step's status and time;
# OUTDIR/logs.tar.gz holds every log, report and JMH result. Where `falcon env` finds the cuda backend unusable,
# summary.txt says why ("cuda unusable: 0 GPUs because ...") and the cuda steps are skipped, not run to fail.
# Exit status 0 when every step ran and succeeded, 2 for an unknown option or a bundle, OUTDIR, COPY_TO or
# FIGURES_DEADLINE_S that cannot be used (refused before OUTDIR is made), else 1. Ctrl-C, or SIGTERM / SIGHUP to the script, stops it at once: the step under way is ended (its JVM too),
# summary.txt (and COPY_TO) says so, no later step runs, and the script dies of that signal (exit 130, 143, 129).
set -uo pipefail
# run_stoppable and stop_on_signals: a step run in the foreground under timeout, which puts itself in a process group of
# its own, outlived `kill PID` of the script, orphaned in the removed unpacked bundle and still writing into OUTDIR,
# and Ctrl-C reached neither it nor its JVM, so that the step ran to its limit and the script went on
common="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../benchmarks/script-common.sh"
# without set -e a missing file would leave every step "command not found"
source "$common" || { echo "device-figures: cannot read $common: run the script from falcon's repository" >&2; exit 1; }
# unchecked, -h and --help were taken for the bundle: readlink read them as its own options, tar failed on them, and
# the refusal left OUTDIR behind
for a in "$@"; do
  case $a in -h|--help) usage "${BASH_SOURCE[0]}"; exit 0 ;; esac
done
for a in "$@"; do
  if [[ $a == -* ]]; then
    echo "device-figures: $a: no such option (scripts/device-figures.sh -h: its usage)" >&2
    exit 2
  fi
done
if [ $# -gt 3 ]; then
  echo "device-figures: takes at most 3 arguments, BUNDLE.tar.gz OUTDIR COPY_TO; got $# (scripts/device-figures.sh -h: its usage)" >&2
  exit 2
fi
deadline_s=${FIGURES_DEADLINE_S:-470}
# bash's arithmetic would read "8m" as an unset variable, 0, and skip every step
if [[ ! $deadline_s =~ ^[0-9]+$ ]]; then
  echo "device-figures: FIGURES_DEADLINE_S=$deadline_s is no whole number of seconds: give one, e.g. FIGURES_DEADLINE_S=470" >&2
  exit 2
fi
# 10#: bash's arithmetic reads a leading 0 as octal, so 0470 was 312 s and 09 stopped the script with exit 1
deadline=$(( $(date +%s) + 10#$deadline_s ))
bundle_as_given="${1:-target/falcon-gpu.tar.gz}"
# the bundle is checked, by unpacking it, before any folder is made: a refused run left OUTDIR behind, holding only
# the refusal
if [ ! -f "$bundle_as_given" ] || [ ! -r "$bundle_as_given" ]; then
  echo "device-figures: no readable bundle at $bundle_as_given: give the GPU bundle that scripts/gpu-bundle.sh wrote" \
    "(it writes target/falcon-gpu.tar.gz)" >&2
  exit 2
fi
work=$(mktemp -d)
# the unpacked bundle, its JavaCPP cache and the pruned weights (100 MB for resnet50) are no result: the reports, logs
# and summary are in OUTDIR
trap 'rm -rf "$work"' EXIT
bundle=$(readlink -f -- "$bundle_as_given")
if ! tar -C "$work" -xzf "$bundle"; then
  echo "device-figures: cannot unpack $bundle_as_given: give the GPU bundle that scripts/gpu-bundle.sh wrote" >&2
  exit 2
fi
copy_to="${3:-}"
# COPY_TO is what keeps the results when the run is killed: one that cannot be written lost them, step after step,
# with only cp's errors to say so
if [ -n "$copy_to" ] && ! { mkdir -p "$copy_to" 2>/dev/null && [ -w "$copy_to" ]; }; then
  echo "device-figures: cannot create or write the COPY_TO folder $copy_to (the third argument): name a folder that can be created and written" >&2
  exit 2
fi
out_as_given="${2:-device-figures}"
# an OUTDIR that could not be made left $out empty, and the logs went to /logs
if ! { mkdir -p -- "$out_as_given" 2>/dev/null && [ -w "$out_as_given" ]; }; then
  echo "device-figures: cannot create or write the OUTDIR folder $out_as_given (the second argument): name a folder that can be created and written" >&2
  exit 2
fi
out=$(readlink -f -- "$out_as_given")
mkdir -p "$out/logs"
summary="$out/summary.txt"
: > "$summary"
# what stopped_by_signal removes
tmp=$work
# the step under way and its start, for what a stop says; its message goes to the script's standard error, not to the
# step's log, where the signal's trap, run inside run's redirection, would send it
running_step=
running_since=
exec {script_stderr}>&2
stopped_report() {  # SIG
  local said
  if [ -n "$running_step" ]; then
    printf '%-22s stopped by SIG%s after %s s: the step was ended and no later step ran\n' "$running_step" "$1" \
      "$(awk -v s="$running_since" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e - s}')" >> "$summary"
    said="during the step $running_step, which was ended"
  else
    echo "stopped by SIG$1 between steps: no later step ran" >> "$summary"
    said="between steps"
  fi
  keep_copies
  echo "scripts/device-figures.sh: stopped by SIG$1 $said; the steps before it are in $summary" >&"$script_stderr"
}
stop_on_signals "every step"
b="$work/falcon-gpu"
export FALCON_CACHE="$work/cache"

# A copy the caller put on LD_LIBRARY_PATH stays first: the one find meets first might be another version.
on_library_path() {
  local d entries
  IFS=: read -ra entries <<< "${LD_LIBRARY_PATH:-}"
  for d in "${entries[@]}"; do [ -n "$d" ] && [ -e "$d/$1" ] && return 0; done
  return 1
}
# libcusolverMg comes with libcusolver: the JavaCPP cusolver preset links both
cuda_libs=(libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcusolver.so.12 libcusolverMg.so.12 libcusparse.so.12
           libnvJitLink.so.13)
# read whole: `ldconfig -p | grep -q` ends ldconfig by SIGPIPE once its list outgrows a pipe, and pipefail then calls a
# listed library missing, putting whatever copy find meets first ahead of the system's
listed=$(ldconfig -p 2>/dev/null)
missing=()
for lib in "${cuda_libs[@]}"; do
  grep -qF "$lib" <<< "$listed" || on_library_path "$lib" || missing+=("$lib")
done
dirs=()
if [ ${#missing[@]} -gt 0 ]; then
  # one walk of the file system for all of them: it counts against the deadline, and /opt can hold large Python trees
  names=()
  for lib in "${missing[@]}"; do names+=(${names[0]+-o} -name "$lib"); done
  found=$(find /usr/local /opt /usr/lib \( "${names[@]}" \) 2>/dev/null)
  for lib in "${missing[@]}"; do
    f=$(grep -m1 -E "/${lib//./\\.}\$" <<< "$found")
    [ -n "$f" ] && dirs+=("$(dirname "$f")")
  done
fi
if [ ${#dirs[@]} -gt 0 ]; then
  extra=$(printf '%s\n' "${dirs[@]}" | awk '!seen[$0]++' | paste -sd:)
  export LD_LIBRARY_PATH="$extra${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

export b work out
export cuda_libs_listed="${cuda_libs[*]}"
machine() {
  nvidia-smi || true
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,clocks.max.mem --format=csv || true
  echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
  local lib found
  for lib in $cuda_libs_listed; do
    # without a folder to look in, find would look in the current one
    found=$(ldconfig -p | grep -m1 "$lib" || { [ -n "${LD_LIBRARY_PATH:-}" ] && find ${LD_LIBRARY_PATH//:/ } -maxdepth 1 -name "$lib" 2>/dev/null | head -1; })
    echo "$lib: ${found:-not found}"
  done
  nproc; free -g; uname -a; df -h /tmp | tail -1
}
prune() { # DEVICE EXAMPLE N THREADS
  "$b/bin/falcon" prune --device "$1" --example "$2" --n "$3" --method falcon --keep-flops 0.3 --threads "$4" \
    --out "$work/$2-$1.npy" --report "$out/logs/report-$2-$3-$1.json"
}
export -f machine prune
step=0
failed=0
# set after the env step when `falcon env` says the cuda backend is unusable: its reason, "0 GPUs because ..."
cuda_unusable=
run_cuda() { # as run: a step that needs the cuda backend, skipped with the reason when env found it unusable
  if [ -n "$cuda_unusable" ]; then
    step=$((step + 1))
    skipped "$1" "cuda is unusable (see above)"
    return
  fi
  run "$@"
}
skipped() { # NAME WHY
  printf '%-22s skipped: %s\n' "$1" "$2" | tee -a "$summary"
  failed=$((failed + 1))
  keep_copies
}
run() { # NAME LIMIT_S COMMAND... (a command or one of the functions above)
  local name=$1 limit=$2; shift 2
  step=$((step + 1))
  local log start end rc left
  log="$out/logs/$(printf '%02d' $step)-$name.log"
  last_log=$log
  left=$(( deadline - $(date +%s) - 5 ))
  if (( left < 20 )); then
    skipped "$name" "the deadline is near"
    return
  fi
  (( limit > left )) && limit=$left
  start=$(date +%s.%N)
  running_step=$name running_since=$start
  run_stoppable timeout --kill-after=5 "$limit" "$@" > "$log" 2>&1
  rc=$?
  running_step=
  # JMH exits 0 when a trial fails (a kernel refused, say) so that the other trials still run: its <failure> counts
  [ $rc -eq 0 ] && grep -q 'Iteration .*: <failure>' "$log" && rc=1
  # JUnit's launcher exits 0 when every test was skipped, as the GPU tests are where the cuda backend is unusable
  [ $rc -eq 0 ] && grep -q '\[ *0 tests successful' "$log" && rc=1
  end=$(date +%s.%N)
  [ $rc -ne 0 ] && failed=$((failed + 1))
  printf '%-22s rc=%-3s %7s s  (limit %s s)\n' "$name" "$rc" "$(awk -v s="$start" -v e="$end" 'BEGIN{printf "%.1f", e - s}')" "$limit" \
    | tee -a "$summary"
  keep_copies
}
keep_copies() {
  tar -C "$out" -czf "$out/logs.tar.gz" logs
  # copied under another name, then renamed: a kill during the copy leaves the last complete pair, never a cut archive
  if [ -n "$copy_to" ]; then
    local f
    for f in "$summary" "$out/logs.tar.gz"; do
      cp "$f" "$copy_to/.$(basename "$f").part" && mv -f "$copy_to/.$(basename "$f").part" "$copy_to/$(basename "$f")"
    done
  fi
}
threads=$(nproc)
run machine 30 bash -c machine
run env 60 "$b/bin/falcon" env
# env's line for cuda: "  cuda   priority 300  unusable: 0 GPUs because ...". Only a plain "unusable" skips the cuda
# steps: an env that failed or listed no cuda says nothing about them, and they run to show what goes wrong.
cuda_unusable=$(sed -n 's/^  cuda  *priority  *[0-9]*  unusable: //p' "$last_log" 2>/dev/null | head -1)
if [ -n "$cuda_unusable" ]; then
  echo "cuda unusable: $cuda_unusable" | tee -a "$summary"
  keep_copies
fi
run_cuda resnet50-n500-cuda 240 env FALCON_HEAP=8g bash -c "prune cuda resnet50 500 $threads"
run_cuda resnet20-cuda 60 bash -c "prune cuda resnet20 1000 $threads"
run_cuda mobilenetv1-cuda 90 bash -c "prune cuda mobilenetv1 128 $threads"
run mobilenetv1-cpu 90 bash -c "prune cpu mobilenetv1 128 $threads"
run_cuda gpu-tests 200 env REPORTS="$out/logs/gpu-test-reports" "$b/bin/gpu-tests" --include-tag gpu
run_cuda jmh-device 200 "$b/bin/benchmarks" DeviceProductBenchmark -f 1 -wi 2 -i 3 -w 500ms -r 500ms -rf json -rff "$out/logs/jmh-device.json"
run jmh-cpu 150 "$b/bin/benchmarks" 'ProductBenchmark.(nativeStreamingRead|fusedBlockProduct)$' -p threads="$threads" \
  -f 1 -wi 1 -i 3 -w 1s -r 1s -rf json -rff "$out/logs/jmh-cpu.json"
echo "logs: $out/logs.tar.gz"
shopt -s nullglob
echo "== summary"; cat "$summary"
# </dev/null: a grep given no log (the step was skipped) reads its standard input instead
echo "== gpu tests"; grep -aE "tests (successful|failed|aborted|skipped)|MethodSource|✘" "$out"/logs/*gpu-tests.log </dev/null | head -40
echo "== JMH"; grep -ahE "^(Device)?ProductBenchmark\.|^Benchmark " "$out"/logs/*jmh-*.log </dev/null
echo "== solves"; for f in "$out"/logs/*-cuda.log "$out"/logs/*-cpu.log; do echo "-- $(basename "$f")"; tail -n 6 "$f"; done
echo "== $failed of $step steps failed or were skipped"
[ $failed -eq 0 ]
