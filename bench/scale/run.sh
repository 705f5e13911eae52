#!/usr/bin/env bash
# Scale benchmark of issue 15: a simulated run of N jobs (default 1,000,000:
# 1000 prompts x N/1000 random seeds) with (almost) instant generation and
# 16x16 images, against 4 simulated instances in another process.
# It prints what `batch plan` costs on the manifest (peak RSS, user and
# system CPU time), the same for the whole run and its wall time (divide
# the CPU time by N for a job's), and then how long a rerun takes from
# start to its first submission when a second, fresh run finished the
# first half of each group (--limit-per-group) and the rerun does the
# rest. pipeline's BenchmarkRerunStart measures the worst order instead
# (the first half of the plan done). Needs /usr/bin/time (GNU time). Usage:
#   bash bench/scale/run.sh [JOBS]
set -euo pipefail
jobs=${1:-1000000}
here=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/comfybatch-scale.XXXXXX)
sim=
trap '[ -n "$sim" ] && kill $sim 2>/dev/null; rm -rf "$work"' EXIT
(cd "$here" && go build -o "$work/batch" ./cmd/batch)
cd "$work"
cp "$here/manifests/examples/txt2img.json" .
prompts=1000
seeds=$(( (jobs + prompts - 1) / prompts ))
# Each group saves into its own subfolder of the servers' output folder
# (filename_prefix g0001/img, ...): like ComfyUI, the simulator lists the
# folder it saves into to number each file, so a million images in one
# folder would make the servers, not the coordinator, the bottleneck
# (README, Real usage).
{
  cat <<YAML
name: big
workflow: txt2img.json
params:
  prompt: {title: Positive, input: text}
  prefix: {node: "9", input: filename_prefix}
groups:
YAML
  for i in $(seq 1 $prompts); do
    printf '  - name: p%04d\n    set: {prompt: "a photo of subject number %d in soft morning light", prefix: "g%04d/img"}\n' \
      "$i" "$i" "$i"
  done
  cat <<YAML
sweep:
  seed: {random: {count: $seeds}}
  width: [16]
  height: [16]
master_seed: 7
scorers:
  - type: sharpness
select:
  top_k: 4
YAML
} > big.yaml
/usr/bin/time -v ./batch plan big.yaml > plan.out 2> plan.err || { tail -5 plan.err; exit 1; }
echo "plan of $jobs jobs:"
grep -E "Maximum resident set size|User time|System time" plan.err
./batch sim --instance-count 4 --port 18288 --clip-port 0 --time-scale 0.00001 > sim.log 2>&1 &
sim=$!
sleep 2
urls=http://127.0.0.1:18288,http://127.0.0.1:18289,http://127.0.0.1:18290,http://127.0.0.1:18291
start=$(date +%s)
/usr/bin/time -v ./batch run --instances $urls big.yaml > run1.out 2> run1.err || true
end=$(date +%s)
echo "run of $jobs jobs: $((end - start)) s wall"
grep -E "Maximum resident set size|User time|System time" run1.err
tail -3 run1.out
# A second, fresh run of the first half of each group (--limit-per-group),
# then the rerun of the whole manifest, which continues that run: the
# time from its start to its first submission is what passing over the
# finished half costs.
rm -rf comfybatch-runs
./batch run --instances $urls --limit-per-group $(( seeds / 2 )) big.yaml > run2.out 2> run2.err || true
t0=$(date +%s.%N)
./batch run --instances $urls --json big.yaml > run3.out 2> run3.err &
run=$!
while ! grep -q '"event":"submitted"' run3.out 2>/dev/null; do
  kill -0 $run 2>/dev/null || { echo "the rerun ended without submitting"; tail -3 run3.err; exit 1; }
  sleep 0.05
done
t1=$(date +%s.%N)
echo "rerun with $(( jobs / 2 )) of $jobs jobs done: first submission $(echo "$t1 - $t0" | bc) s after start"
kill -INT $run; wait $run || true
