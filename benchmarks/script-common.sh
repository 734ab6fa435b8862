# Sourced by benchmarks/run.sh and benchmarks/solve.sh (not run on its own): their usage, and what stops a run at once;
# scripts/device-figures.sh sources it for both, and says what a stop leaves in its own stopped_report.
#
# Ctrl-C, kill PID or a closed terminal stops the whole run at once and saves nothing: an interrupted measurement is no
# result. A long child (Maven's build, JMH's JVM and its forks, a timed falcon solve) run in the foreground kept
# running when `kill PID` ended the script alone, writing into the $tmp the script's EXIT trap had removed. So such a
# child runs in a session of its own (setsid; its own children are in it too) while the script waits for it, and a
# signal to the script ends that session (run_stoppable, stop_on_signals).
#
# The script sets, before stop_on_signals: tmp (its temporary folder) and out= (its result file, once being written).

# the header comment of the script that sources this (or of SCRIPT), from its second line to `set -euo pipefail` (or
# `set -uo pipefail`); named from the repo root, where run.sh and solve.sh have gone before sourcing this: "$0" as typed
# (./solve.sh from inside benchmarks/) is no path from there
usage() {  # [SCRIPT]
  sed -n '2,/^set -e\{0,1\}uo pipefail$/{/^set /d;s/^# \{0,1\}//;p}' "${1:-benchmarks/${0##*/}}"
}

stoppable_session=()
command -v setsid > /dev/null && stoppable_session=(setsid)
stoppable_pid=
# runs the command in a session of its own (the environment and redirections of the call apply to it) and returns its
# status; bash runs a signal's trap as soon as the signal arrives while it waits, not only once the command has ended
run_stoppable() {
  ${stoppable_session[@]+"${stoppable_session[@]}"} "$@" &
  stoppable_pid=$!
  local status=0
  wait "$stoppable_pid" || status=$?
  stoppable_pid=
  return $status
}
stop_stoppable() {
  [ -n "$stoppable_pid" ] || return 0
  # the session's id is the child's pid (setsid in a child that leads no group does not fork); without setsid, the
  # child alone
  local group=-$stoppable_pid
  [ ${#stoppable_session[@]} -gt 0 ] || group=$stoppable_pid
  kill -TERM -- "$group" 2> /dev/null || true
  for _ in $(seq 1 100); do  # up to 10 s for the JVMs' shutdown, then SIGKILL
    kill -0 -- "$group" 2> /dev/null || break
    # the child is this script's: once ended it is a zombie, which still takes signals, until waited for
    if [[ $(ps -o stat= -p "$stoppable_pid" 2> /dev/null) == Z* ]]; then wait "$stoppable_pid" 2> /dev/null || true; fi
    sleep 0.1
  done
  kill -KILL -- "$group" 2> /dev/null || true
  wait "$stoppable_pid" 2> /dev/null || true
}
out=
# what a stop leaves, said on stderr: run.sh's and solve.sh's one result file, out=; a script that keeps its results
# otherwise defines its own stopped_report after sourcing this
stopped_report() {  # SIG
  # a signal while the result is written, once every measurement has run: its temporary file goes, a complete result
  # stays
  if [ -n "$out" ]; then rm -f "$out.tmp"; fi
  if [ -n "$out" ] && [ -e "$out" ]; then
    echo "benchmarks/${0##*/}: stopped by SIG$1 after $stoppable_measured had run and $out was saved" >&2
  else
    echo "benchmarks/${0##*/}: stopped by SIG$1; nothing saved" >&2
  fi
}
stopped_by_signal() {  # SIG
  trap '' INT TERM HUP  # a second Ctrl-C while the JVMs shut down does not cut this short
  stop_stoppable
  stopped_report "$1"
  rm -rf "$tmp"
  trap - EXIT "$1"
  kill -s "$1" $$  # dies of the signal, so that a calling shell (a loop of runs) stops as well
}
stop_on_signals() {  # WHAT_IS_MEASURED: "every round", "every case", for the message of a signal once the result is saved
  stoppable_measured=$1
  for sig in INT TERM HUP; do trap "stopped_by_signal $sig" "$sig"; done
}
