#!/usr/bin/env bash
# Packages a self-contained run directory for GPU servers: a jlink-trimmed Java runtime, falcon.jar (all
# backends, with their natives), the GPU test suite with the JUnit console launcher, the JMH benchmarks, and
# launchers. The server needs an NVIDIA driver (libcuda.so.1) and the CUDA 13 runtime libraries listed in
# README.md ("CUDA"), but no JDK and no Maven.
#
#   scripts/gpu-bundle.sh [--no-build] [--out DIR]      -> DIR/falcon-gpu.tar.gz (default DIR: target/)
#   scripts/gpu-bundle.sh -h | --help                   this text
#
# --no-build packs the jars already built; refused (exit 2), naming the missing jars and the command that builds them,
# where one is not there.
# Refused (exit 2) when falcon.jar holds the "not built" CUDA stub rather than the kernels; it names the kernels'
# architectures otherwise (falcon.jar's dev.falcon.cuda.CudaKernels, run by the bundle's runtime).
# Size limit: 60 MB for the archive (checked; exit 1 above it).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/target"
build=1
usage() { echo "usage: $0 [--no-build] [--out DIR] (scripts/gpu-bundle.sh -h: its usage)" >&2; exit 2; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    # a request for the usage, not bad usage: this header on stdout with exit 0, as run.sh, solve.sh and
    # device-figures.sh print theirs (script-common.sh's usage reads it); sourced here only, as its out= is this
    # script's own variable too
    -h|--help) source "$root/benchmarks/script-common.sh"; usage "${BASH_SOURCE[0]}"; exit 0 ;;
    --no-build) build=0 ;;
    # under set -u a missing value would end the script with bash's "unbound variable" and exit 1
    --out) [[ $# -ge 2 && -n $2 ]] || usage
      # an option as the folder (--out -h, --out --no-build) went through the whole build to end in mkdir's
      # "invalid option" and exit 1
      if [[ $2 == -* ]]; then
        echo "gpu-bundle: --out needs a folder, but '$2' is an option: give the folder after --out (one whose name begins with -" \
          "as ./$2)" >&2
        exit 2
      fi
      out="$2"; shift ;;
    *) usage ;;
  esac
  shift
done
limit=$((60 * 1000 * 1000))
version=0.1.0-SNAPSHOT
m2="${MAVEN_REPO:-$HOME/.m2/repository}"
jmh_version=1.37
junit_platform=1.11.4

console="$m2/org/junit/platform/junit-platform-console-standalone/$junit_platform/junit-platform-console-standalone-$junit_platform.jar"
# the jars the bundle's lib/ holds, each followed by its name there: falcon (shaded, every backend and its natives),
# the shared suites and the GPU tests, JUnit, JMH
jars=("$root/java/cli/target/falcon.jar" falcon.jar
      "$root/java/core/target/falcon-core-$version-tests.jar" falcon-core-tests.jar
      "$root/java/cuda/target/falcon-cuda-$version-tests.jar" falcon-cuda-tests.jar
      "$console" junit-console.jar
      "$root/benchmarks/target/falcon-benchmarks-$version.jar" falcon-benchmarks.jar
      "$m2/org/openjdk/jmh/jmh-core/$jmh_version/jmh-core-$jmh_version.jar" "jmh-core-$jmh_version.jar"
      "$m2/net/sf/jopt-simple/jopt-simple/5.0.4/jopt-simple-5.0.4.jar" jopt-simple-5.0.4.jar
      "$m2/org/apache/commons/commons-math3/3.6.1/commons-math3-3.6.1.jar" commons-math3-3.6.1.jar)
build_command="mvn -B -DskipTests -Dfalcon.python.skip=true package -pl java/cli,java/cuda,benchmarks -am"
console_command="mvn -B dependency:get -Dartifact=org.junit.platform:junit-platform-console-standalone:$junit_platform"

if [[ $build == 1 ]]; then
  echo "gpu-bundle: building jars (mvn package, tests compiled not run) ..." >&2
  offline=()
  # exactly 1, as the launcher reads it: FALCON_OFFLINE=0 is online
  [[ ${FALCON_OFFLINE:-} == 1 ]] && offline=(-o)
  (cd "$root" && mvn -B -q ${offline[@]+"${offline[@]}"} -DskipTests -Dfalcon.python.skip=true package -pl java/cli,java/cuda,benchmarks -am)
  if [[ ! -f "$console" ]]; then
    (cd "$root" && mvn -B -q dependency:get -Dartifact=org.junit.platform:junit-platform-console-standalone:$junit_platform)
  fi
fi
# --no-build on a clone built only in part (the README's build leaves out benchmarks) ended at the copy with a bare
# "cp: cannot stat" and exit 1, after jlink had run
missing=()
for ((i = 0; i < ${#jars[@]}; i += 2)); do
  [[ -f ${jars[i]} ]] || missing+=("${jars[i]}")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  list=$(printf '%s, ' "${missing[@]}")
  if [[ $build == 0 ]]; then
    echo "gpu-bundle: --no-build needs the jars a full build makes, and these are not there: ${list%, }." \
      "Run scripts/gpu-bundle.sh without --no-build, which builds them, or build them with:" \
      "(cd $root && $build_command && $console_command)" >&2
    exit 2
  fi
  echo "gpu-bundle: the build did not make ${list%, }" >&2
  exit 1
fi

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
dir="$stage/falcon-gpu"
mkdir -p "$dir/lib" "$dir/bin"

# 1. Java runtime: only the modules falcon, JUnit and JMH use (jdeps on falcon.jar: java.base, java.management,
#    jdk.unsupported; java.sql/java.desktop are optional for Jackson and left out; java.logging for System.Logger,
#    java.xml for the console launcher's XML reports, jdk.zipfs for its class-path scan of jars, jdk.management for JMH).
modules=java.base,java.logging,java.management,java.xml,jdk.unsupported,jdk.management,jdk.zipfs
jlink --add-modules "$modules" --strip-debug --no-header-files --no-man-pages --compress=2 --output "$dir/runtime" 2>/dev/null \
  || jlink --add-modules "$modules" --strip-debug --no-header-files --no-man-pages --output "$dir/runtime"

# 2. Jars, checked above.
for ((i = 0; i < ${#jars[@]}; i += 2)); do
  cp "${jars[i]}" "$dir/lib/${jars[i + 1]}"
done

# The bundle exists to run falcon's CUDA kernels, and a build without nvcc or the toolkit's headers (or with
# -Dfalcon.cuda=OFF) packs the "not built" stub with only a CMake warning: on the server every GPU step would fail,
# after the run is spent. The check loads falcon's own CUDA library only, so it needs no GPU or driver here.
if ! kernels=$("$dir/runtime/bin/java" -cp "$dir/lib/falcon.jar" dev.falcon.cuda.CudaKernels 2>&1); then
  if [[ $kernels == "not built: "* ]]; then
    echo "gpu-bundle: $root/java/cli/target/falcon.jar holds the stub, not falcon's CUDA kernels (${kernels#not built: }):" \
      "build it where nvcc and the CUDA 13 toolkit are, without -Dfalcon.cuda=OFF, and run scripts/gpu-bundle.sh again" >&2
    exit 2
  fi
  echo "gpu-bundle: cannot check the CUDA kernels in $root/java/cli/target/falcon.jar: $kernels" >&2
  exit 1
fi
echo "gpu-bundle: CUDA $kernels"

# 3. Launchers.
cat > "$dir/bin/common.sh" <<'SH'
# Sourced by the bin/ scripts by their real path (a symlink ~/bin/falcon -> bin/falcon would otherwise name ~ as here).
here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
java="$here/runtime/bin/java"
opts=(-Xms64m -Xmx"${FALCON_HEAP:-4g}" -Dorg.bytedeco.javacpp.maxBytes=0 -Dorg.bytedeco.javacpp.maxPhysicalBytes=0
      -Dorg.bytedeco.javacpp.cachedir="${FALCON_CACHE:-$here/cache}")
SH
cat > "$dir/bin/falcon" <<'SH'
#!/usr/bin/env bash
# falcon from the bundle: bin/falcon env | bin/falcon prune --device cuda --example resnet20 ...
set -euo pipefail
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/common.sh"
# Split as a shell would, honouring quotes and expanding nothing (unquoted, -Dx=* named the files here).
java_opts=()
if [[ -n "${FALCON_JAVA_OPTS:-}" ]]; then
  if ! printf '%s' "$FALCON_JAVA_OPTS" | xargs -r printf '' 2>/dev/null; then
    echo "falcon: FALCON_JAVA_OPTS has an unbalanced quote: $FALCON_JAVA_OPTS" >&2
    exit 2
  fi
  mapfile -d '' -t java_opts < <(printf '%s' "$FALCON_JAVA_OPTS" | xargs -r printf '%s\0')
fi
exec "$java" "${opts[@]}" "${java_opts[@]}" -jar "$here/lib/falcon.jar" "$@"
SH
cat > "$dir/bin/gpu-tests" <<'SH'
#!/usr/bin/env bash
# The GPU test suite (JUnit tag "gpu": contract, selection, solver, cross-backend) plus the CPU-run kernel logic
# tests and the probe/plan tests; XML reports in ./gpu-test-reports. Extra arguments go to the console launcher.
set -euo pipefail
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/common.sh"
cp="$here/lib/falcon-cuda-tests.jar:$here/lib/falcon-core-tests.jar:$here/lib/falcon.jar"
exec "$java" "${opts[@]}" -jar "$here/lib/junit-console.jar" execute --class-path "$cp" \
  --select-package dev.falcon.cuda --details=tree --reports-dir "${REPORTS:-gpu-test-reports}" "$@"
SH
cat > "$dir/bin/benchmarks" <<'SH'
#!/usr/bin/env bash
# JMH benchmarks: bin/benchmarks ProductBenchmark -p backendName=cuda,cpu -p layout=column-major   (any JMH options;
# ProductBenchmark refuses layout=panels for cuda, which keeps X column-major)
set -euo pipefail
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/common.sh"
cp="$here/lib/falcon-benchmarks.jar:$here/lib/falcon.jar:$here/lib/jmh-core-1.37.jar:$here/lib/jopt-simple-5.0.4.jar:$here/lib/commons-math3-3.6.1.jar"
# one -jvmArgsPrepend each: JMH takes several as they are but splits a single one at its spaces, so that the options
# joined into one made a cache folder with a space in its path two words, the second the forks' main class
prepend=()
for o in "${opts[@]}"; do prepend+=(-jvmArgsPrepend "$o"); done
# JMH exits 0 when a trial fails (its fork did not start, or an iteration threw) so that the other trials still run:
# the failure, which JMH marks in its output, makes the exit status 1 once they have. JMH runs in the background so
# that a signal to this script, whose trap would wait for a foreground child to end, reaches it at once.
marks=$(mktemp)
trap 'rm -f "$marks"' EXIT
exec {to_filter}> >(awk -v marks="$marks" '{ print; fflush() } /<failure>|<forked VM failed/ { print > marks; fflush(marks) }')
filter=$!
"$java" "${opts[@]}" -cp "$cp" org.openjdk.jmh.Main -jvm "$java" "${prepend[@]}" "$@" >&"$to_filter" {to_filter}>&- &
jmh=$!
exec {to_filter}>&-
stopped_by=
for sig in INT TERM HUP; do trap "stopped_by=$sig; kill -TERM $jmh 2> /dev/null" "$sig"; done
status=0
wait "$jmh" || status=$?
# a signal's trap ends the wait, not JMH: wait for JMH's own end
while kill -0 "$jmh" 2> /dev/null; do wait "$jmh" || status=$?; done
# the filter has read all of JMH's output once it ends
wait "$filter" || true
if [ -n "$stopped_by" ]; then trap - "$stopped_by"; rm -f "$marks"; kill -s "$stopped_by" $$; fi
if [ "$status" -eq 0 ] && [ -s "$marks" ]; then
  echo "benchmarks: a trial failed (JMH's <failure> or <forked VM failed> above): exit status 1" >&2
  status=1
fi
exit "$status"
SH
chmod +x "$dir/bin/falcon" "$dir/bin/gpu-tests" "$dir/bin/benchmarks"
cat > "$dir/README.txt" <<'TXT'
falcon GPU bundle. Needs: x86-64 Linux, glibc, an NVIDIA driver (libcuda.so.1) and the CUDA 13 libraries
libcudart.so.13, libcublas.so.13, libcublasLt.so.13, libcusolver.so.12, libcusolverMg.so.12, libcusparse.so.12,
libnvJitLink.so.13 on the library path (e.g. LD_LIBRARY_PATH=/usr/local/cuda/lib64). No JDK or Maven.
  bin/falcon env                      backends found; cuda says why when it cannot run
  bin/falcon prune --device cuda --example resnet20
  bin/gpu-tests                       GPU test suite (skips visibly, with the reason, without a GPU)
  bin/benchmarks DeviceProductBenchmark
                                      the GPU kernels with X resident on the device, against a read of X
  bin/benchmarks ProductBenchmark -p backendName=cuda,cpu -p layout=column-major
                                      the backends' products (layout=panels is the cpu backend's only)
scripts/device-figures.sh in falcon's repository runs all of these and the example solves from this archive.
TXT

mkdir -p "$out"
tar -C "$stage" -czf "$out/falcon-gpu.tar.gz" falcon-gpu
size=$(stat -c %s "$out/falcon-gpu.tar.gz")
echo "gpu-bundle: $out/falcon-gpu.tar.gz $size bytes ($(awk -v s="$size" 'BEGIN{printf "%.1f", s/1e6}') MB; runtime $(du -sh "$dir/runtime" | cut -f1), lib $(du -sh "$dir/lib" | cut -f1) unpacked)"
if (( size > limit )); then
  echo "gpu-bundle: larger than 60 MB" >&2
  exit 1
fi
