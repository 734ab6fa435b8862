#!/usr/bin/env bash
# Runs the JMH benchmarks in interleaved rounds (A B A B: the machine is shared and noisy, so
# variants compared by a ratio are measured close together) and saves one result file with the
# machine description under benchmarks/results/.
#   benchmarks/run.sh [ROUNDS] [PATTERN...]     PATTERN: a JMH include regex (default: the product, sort, selection
#                                               and Gram benchmarks); ROUNDS: default 3
#   benchmarks/run.sh [-l | -lp | -lprof | -lrf] [PATTERN...]   JMH's lists (benchmarks, with their parameters,
#                                               profilers, result formats), nothing run or saved
#   benchmarks/run.sh -h | --help               this text; JMH's own options: java -jar benchmarks/target/benchmarks.jar -h
#   JMH_ARGS  extra JMH options for every run (e.g. "-p layout=panels -f 1"), split into words as a shell would, with
#             quotes ("-jvmArgsPrepend '-Dname=two words'") but without expanding * or ? (a regex such as -e .*Exact);
#             not -rf or -rff (nor --rf, --rff), which run.sh sets itself (refused, exit 2); each -p NAME (before =VALUES) must name a
#             parameter of a benchmark the PATTERNs match (JMH ignores any other: refused, exit 2)
#   FALCON_OFFLINE=1  build the jar with mvn -o (as the ./falcon launcher and scripts/gpu-bundle.sh do)
#   JAVA_HOME  the Java that runs JMH is JAVA_HOME's bin/java where it is set (as the ./falcon launcher's), else PATH's
# Each PATTERN is checked once before round 1 (a Java regex that matches a benchmark, -e in JMH_ARGS applied); a bad one
# stops the script (exit 2) with one line naming it. A trial (benchmark and parameter values) that fails does not end
# its JMH run (-foe false, unless JMH_ARGS sets -foe): the trials that succeeded are saved, the failed ones named, and
# the exit code is 1; a run with no result at all saves nothing. (JMH_ARGS="-foe true" ends a JMH run at its first
# failure, and JMH then saves none of that run's trials.) A failed build of the jar stops the script with exit 3.
# Ctrl-C, or SIGTERM / SIGHUP to the script, stops the whole run at once: the build of the jar (Maven) or the running
# JMH JVM and its forks are ended, nothing is saved, and the script dies of that signal.
set -euo pipefail
cd "$(dirname "$0")/.."
# usage, run_stoppable and stop_on_signals
source benchmarks/script-common.sh
rounds=3                                # ROUNDS is optional: a first argument that is not a number is a pattern
# a negative number is a ROUNDS too, not a pattern: -1 was refused as a JMH option ("JMH options go in JMH_ARGS")
if [[ ${1:-} =~ ^-[0-9]+$ ]]; then echo "benchmarks/run.sh: ROUNDS must be at least 1, not $1" >&2; exit 2; fi
# decimal, as seq and [ -lt ] read it: as typed, 08 ran 8 rounds and then failed the closing count $((rounds * ...)) as
# bad octal, which lost the list of failed trials
if [[ ${1:-} =~ ^[0-9]+$ ]]; then rounds=$((10#$1)); shift; fi
if [ "$rounds" -lt 1 ]; then echo "benchmarks/run.sh: ROUNDS must be at least 1, not $rounds" >&2; exit 2; fi
patterns=("$@")
list=0
for a in "$@"; do
  case $a in
    -h|--help) usage; exit 0 ;;
    # JMH prints these and runs nothing: there are no rounds to merge
    -l|-lp|-lprof|-lrf) list=1 ;;
    # taken for patterns, each would run as a regex of its own
    -*) echo "benchmarks/run.sh: $a: JMH options go in JMH_ARGS (benchmarks/run.sh -h)" >&2; exit 2 ;;
  esac
done
# The Java that runs JMH: JAVA_HOME's when it is set, as the ./falcon launcher chooses (and Maven, which builds the jar);
# else java on PATH. A bare `java` ran PATH's under any JAVA_HOME, and with JAVA_HOME set and no java on PATH every
# PATTERN was refused as one "JMH could not list its benchmarks: ... java: command not found".
if [[ -n "${JAVA_HOME:-}" ]]; then
  java="$JAVA_HOME/bin/java"
  if [[ ! -f $java || ! -x $java ]]; then
    echo "benchmarks/run.sh: JAVA_HOME is '$JAVA_HOME', which has no bin/java; set JAVA_HOME to a JDK 17 or newer, or unset it to run the java on PATH" >&2
    exit 2
  fi
elif ! java="$(type -P java)"; then  # type -P: a program on PATH, never a folder
  echo "benchmarks/run.sh: no Java: JAVA_HOME is not set and there is no java on PATH; install a JDK 17 or newer and set JAVA_HOME to it or put its bin folder on PATH" >&2
  exit 2
fi
jmh_args=()
if [[ -n "${JMH_ARGS:-}" ]]; then
  if ! printf '%s' "$JMH_ARGS" | xargs -r printf '' 2>/dev/null; then
    echo "benchmarks/run.sh: JMH_ARGS has an unbalanced quote: $JMH_ARGS" >&2
    exit 2
  fi
  mapfile -d '' -t jmh_args < <(printf '%s' "$JMH_ARGS" | xargs -r printf '%s\0')
fi
# -foe true ended the JMH run at its first failed trial and JMH then wrote no result: the trials of the same pattern that
# had succeeded (other -p values, other benchmarks the regex matched) were lost. With -foe false JMH goes on, leaves the
# failed trials out of its result file and exits 0 (JMH 1.37): each run's file is checked against the trials its
# pattern lists (bench.py missing-trials), and a run with no result at all, as one in which every trial failed, fails
foe=(-foe false)
for a in ${jmh_args[@]+"${jmh_args[@]}"}; do
  # JMH's parser (jopt-simple) reads --foe as -foe and --rf as -rf: both spellings are the same option
  option=${a%%=*}
  if [[ $option == --* ]]; then option=${option#-}; fi
  if [[ $option == -foe ]]; then foe=(); fi
  # the result format and file are run.sh's, which merges each run's JSON: a second -rf or -rff passed the patterns'
  # check, then failed every JMH run ("Found multiple arguments for option rf"), reported as "no benchmark results"
  # once per pattern and round
  if [[ $option == -rf || $option == -rff ]]; then
    echo "benchmarks/run.sh: JMH_ARGS has ${a%%=*}, but run.sh sets -rf json -rff itself (each run's JSON is merged into benchmarks/results/); remove it from JMH_ARGS" >&2
    exit 2
  fi
done
if [ ${#patterns[@]} -eq 0 ]; then
  patterns=('ProductBenchmark.streamingRead$' 'ProductBenchmark.nativeStreamingRead$' 'ProductBenchmark.nativeTwoTouchRead$' 'ProductBenchmark.fusedBlockProduct$'
            'ProductBenchmark.twoSgemv$' 'ProductBenchmark.twoBlasSgemv$' 'SortBenchmark' 'SelectionBenchmark' 'GramBenchmark')
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Maven's build and JMH run in a session of their own: Ctrl-C, kill PID or a closed terminal ends it (and JMH's forks),
# and the script saves nothing (an interrupt is no failed trial). Run in the foreground, JMH's JVM took Ctrl-C itself
# and exited 130, which `|| status=$?` recorded as a failed run, and the script went on with every remaining pattern
# and round and saved what they measured; the build, run before these handlers, went on building after `kill PID`
stop_on_signals "every round"
jar=benchmarks/target/benchmarks.jar
# Rebuilt when an input of its build is newer: the POMs and main sources of the modules benchmarks/pom.xml depends
# on (falcon-core, -cpu, -cuda, and theirs), the native kernels they compile and their flags (cmake/). Not the CLI,
# the tests, notes or build outputs (target/, build/): a rebuild costs minutes and changes nothing measured.
build_modules=(core cpu cuda)
inputs=(pom.xml benchmarks/pom.xml benchmarks/src/main native cmake)
for m in "${build_modules[@]}"; do inputs+=("java/$m/pom.xml" "java/$m/src/main"); done
existing=()
for f in "${inputs[@]}"; do [ -e "$f" ] && existing+=("$f"); done
if [ ! -f "$jar" ] || [ -n "$(find "${existing[@]}" \( -name target -o -name build -o -name 'cmake-build*' \) -prune -o \
                                 -type f ! -name '*.md' -newer "$jar" -print -quit)" ]; then
  echo "building $jar ..." >&2
  offline=()
  # exactly 1, as the launcher reads it: FALCON_OFFLINE=0 is online
  [[ ${FALCON_OFFLINE:-} == 1 ]] && offline=(-o)
  build=(mvn -B -q ${offline[@]+"${offline[@]}"} -DskipTests package -pl benchmarks -am)
  if ! run_stoppable "${build[@]}" >&2; then
    # Maven's [ERROR] lines alone, ending in exit 1, read as a run whose trials failed
    offline_note=""
    (( ${#offline[@]} )) && offline_note="; it ran offline (FALCON_OFFLINE=1, mvn -o), from ~/.m2 alone: where ~/.m2 lacks an artifact (Maven's 'in offline mode'), run it once without FALCON_OFFLINE on a machine that reaches Maven Central"
    echo "benchmarks/run.sh: building $jar failed (Maven's errors above)$offline_note; '${build[*]}' in $PWD shows more" >&2
    exit 3
  fi
fi
java_jar=("$java" -Dorg.bytedeco.javacpp.cachedir=benchmarks/target/javacpp-cache -jar "$jar")
# runs JMH with the given arguments (the environment and redirections of the call apply to it) and returns its status
jmh() { run_stoppable "${java_jar[@]}" "$@"; }
# the one line for a PATTERN that is no Java regex, where JMH's standard error (the file) holds its
# PatternSyntaxException: the stack trace is JMH's report of the user's typo; status 1 for any other failure
say_bad_regex() {  # PATTERN ERR_FILE
  grep -q PatternSyntaxException "$2" || return 1
  local why
  why=$(grep -m1 -o 'Exception: .*' "$2" | sed 's/^Exception: //') || true
  echo "benchmarks/run.sh: PATTERN '$1' is not a Java regular expression: $why" >&2
}
if [ $list = 1 ]; then
  # the lists are JMH's, but a bad PATTERN is refused in one line as for a run: exec'd straight to JMH, `-l '('` printed
  # JMH's stack trace, exit 1
  status=0
  jmh "$@" ${jmh_args[@]+"${jmh_args[@]}"} 2> "$tmp/list.err" || status=$?
  if [ $status != 0 ]; then
    # PatternSyntaxException's message is its description, then the pattern on a line of its own
    if say_bad_regex "$(sed -n '/PatternSyntaxException/{n;p;q}' "$tmp/list.err")" "$tmp/list.err"; then exit 2; fi
  fi
  cat "$tmp/list.err" >&2
  exit $status
fi
# Each pattern once, before anything runs: a bad regex was a Java stack trace in every round, between hours of the
# other patterns' benchmarks. JMH's -lp (with JMH_ARGS: its -p values and -e exclusions) also lists the trials a run of
# the pattern makes, against which its result file is checked
i=0
for pattern in "${patterns[@]}"; do
  i=$((i + 1))
  if ! jmh -lp "$pattern" ${jmh_args[@]+"${jmh_args[@]}"} > "$tmp/trials$i.txt" 2> "$tmp/trials$i.err"; then
    if ! say_bad_regex "$pattern" "$tmp/trials$i.err"; then
      why=$(grep -m1 -o 'Exception: .*' "$tmp/trials$i.err" | sed 's/^Exception: //') || true
      echo "benchmarks/run.sh: PATTERN '$pattern': JMH could not list its benchmarks: ${why:-$(head -n1 "$tmp/trials$i.err")}" >&2
    fi
    exit 2
  fi
  if ! grep -v '^Benchmarks:' "$tmp/trials$i.txt" | grep -q '^[^[:space:]]'; then
    echo "benchmarks/run.sh: PATTERN '$pattern' matches no benchmark (with JMH_ARGS; benchmarks/run.sh -l lists them)" >&2
    exit 2
  fi
done
# Each pattern runs on its own, so a benchmark two patterns match was measured twice a round, and the saved file, whose
# two entries of one benchmark and round bench.py refuses, could not be read back after the run's hours
declare -A matched_by=()
i=0
for pattern in "${patterns[@]}"; do
  i=$((i + 1))
  while IFS= read -r benchmark; do
    if [ -n "${matched_by[$benchmark]:-}" ] && [ "${matched_by[$benchmark]}" != "$pattern" ]; then
      echo "benchmarks/run.sh: PATTERNs '${matched_by[$benchmark]}' and '$pattern' both match $benchmark, which each would measure once a round: drop one, or narrow it (end a method's name with \$)" >&2
      exit 2
    fi
    matched_by[$benchmark]=$pattern
  done < <(grep -v '^Benchmarks:' "$tmp/trials$i.txt" | grep '^[^[:space:]]' || true)
done
# JMH sets -p NAME (=VALUES) where a benchmark has that parameter and ignores it elsewhere: a misspelt NAME ran the whole run on
# the defaults, and saved it with exit 0. A name some benchmark of the patterns lists is enough (-p layout=panels with
# SortBenchmark among them)
listed_params=$(sed -n 's/^[[:space:]]*param "\([^"]*\)" = .*/\1/p' "$tmp"/trials*.txt | LC_ALL=C sort -u)
for ((k = 0; k + 1 < ${#jmh_args[@]}; k++)); do
  case ${jmh_args[k]} in -p|--p) ;; *) continue ;; esac
  name=${jmh_args[k + 1]%%=*}
  if ! grep -qxF -- "$name" <<< "$listed_params"; then
    echo "benchmarks/run.sh: JMH_ARGS has ${jmh_args[k]} $name, a parameter no benchmark of the PATTERNs has (they have: $(if [ -n "$listed_params" ]; then paste -sd, <<< "$listed_params" | sed 's/,/, /g'; else echo none; fi); benchmarks/run.sh -lp PATTERN lists them)" >&2
    exit 2
  fi
done
files=() failed=() failed_runs=0
# the commit, its uncommitted changes and the date as the run starts: a run takes hours, and what it writes (or a
# checkout meanwhile) is not what it measured
python3 benchmarks/bench.py machine > "$tmp/machine.json"
for r in $(seq 1 "$rounds"); do
  i=0
  for pattern in "${patterns[@]}"; do
    i=$((i + 1))
    # a failed run goes on to the next one: the other benchmarks of a long run are still worth saving
    # the forks append what JMH's JSON lacks (OpenBLAS's core and thread count: ForkFacts.java) to this file
    round_file=$tmp/round$r-$i.json
    status=0
    FALCON_BENCH_FACTS="$tmp/round$r-$i.facts.jsonl" jmh "$pattern" -rf json -rff "$round_file" ${foe[@]+"${foe[@]}"} ${jmh_args[@]+"${jmh_args[@]}"} || status=$?
    # the run's trials without a result, one a line; exit 1: no result at all
    if missing=$(python3 benchmarks/bench.py missing-trials "$tmp/trials$i.txt" "$round_file"); then
      files+=("$round_file")
      if [ -n "$missing" ] || [ $status != 0 ]; then failed_runs=$((failed_runs + 1)); fi
      if [ $status != 0 ]; then failed+=("round $r: $pattern (exit $status; its results are saved)"); fi
      while IFS= read -r trial; do
        if [ -n "$trial" ]; then failed+=("round $r: $trial"); fi
      done <<< "$missing"
    else
      failed_runs=$((failed_runs + 1))
      failed+=("round $r: $pattern (exit $status): no benchmark results")
    fi
  done
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "benchmarks/run.sh: $failed_runs of $((rounds * ${#patterns[@]})) JMH runs failed (JMH's output above says why):" >&2
  printf '  %s\n' "${failed[@]}" >&2
fi
if [ ${#files[@]} -eq 0 ]; then
  echo "benchmarks/run.sh: no JMH run succeeded; nothing saved" >&2
  exit 1
fi
mkdir -p benchmarks/results
out=benchmarks/results/$(date +%Y%m%d-%H%M%S)-$(hostname).json
python3 benchmarks/bench.py merge --machine "$tmp/machine.json" "$out" "${files[@]}"
python3 benchmarks/bench.py summary "$out"
if [ ${#failed[@]} -gt 0 ]; then
  echo "benchmarks/run.sh: $out lacks the failed trials named above" >&2
  exit 1
fi
