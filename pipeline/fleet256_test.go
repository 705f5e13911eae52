//go:build unix

package pipeline

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/comfybatch/comfybatch/generate"
	"github.com/comfybatch/comfybatch/generate/comfytest"
	"github.com/comfybatch/comfybatch/internal/cputime"
	"github.com/comfybatch/comfybatch/manifests"
	"github.com/comfybatch/comfybatch/manifests/examples"
)

// fleet256Env makes the test binary a fleet of simulated GPUs for
// BenchmarkFleet256 (see TestMain): the value is the number of instances.
const fleet256Env = "COMFYBATCH_BENCH_FLEET"

// serveFleet serves n simulated instances taking about 2 s per 16x16 image
// (20 sampler steps of 100 ms), until stdin closes.
func serveFleet(n int) int {
	fleet, err := comfytest.StartFleet(n, comfytest.Options{TimeScale: 2.5, ModelLoad: time.Millisecond})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer fleet.Close()
	fmt.Println(strings.Join(fleet.URLs(), " "))
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	return 0
}

// BenchmarkFleet256 runs a whole batch (generate, download, verify,
// decode, score, store, select) over 256 simulated GPUs of about 2 s per
// image, 60 images each (COMFYBATCH_BENCH_PER=N for another number), and
// reports:
//   - utilization: the GPUs' busy time over 256 × the makespan (the last
//     image of each GPU bounds it: with 60 jobs a GPU, even a perfect
//     schedule loses up to 1/60);
//   - coord-cores: this process's CPU time over the makespan (the fleet
//     runs in another process);
//   - heap-KB/instance: the coordinator's heap in use at the end, per
//     instance;
//   - startup-s: from the start of Run to the first submission (the
//     instances' checks: /system_stats and /object_info of each), and
//     utilization-after-start the utilization from then on.
func BenchmarkFleet256(b *testing.B) {
	const n = 256
	per := 60
	if v, err := strconv.Atoi(os.Getenv("COMFYBATCH_BENCH_PER")); err == nil && v > 0 {
		per = v
	}
	urls := startChild(b, fleet256Env, strconv.Itoa(n))
	var inst []generate.Instance
	for i, u := range urls {
		inst = append(inst, generate.Instance{Name: fmt.Sprintf("gpu%03d", i), URL: u})
	}
	wf, _ := examples.FS.ReadFile("txt2img.json")
	for b.Loop() {
		dir := b.TempDir()
		text := fmt.Sprintf(`name: fleet
workflow: txt2img.json
params:
  prompt: {title: Positive, input: text}
groups:
  - {name: a, set: {prompt: "a lighthouse at dusk"}}
  - {name: b, set: {prompt: "a fox in the snow"}}
sweep:
  seed: {random: {count: %d}}
  width: [16]
  height: [16]
master_seed: 1
scorers:
  - type: sharpness
select:
  top_k: 8
`, n*per/2)
		os.WriteFile(filepath.Join(dir, "txt2img.json"), wf, 0o644)
		os.WriteFile(filepath.Join(dir, "fleet.yaml"), []byte(text), 0o644)
		m, err := manifests.Load(filepath.Join(dir, "fleet.yaml"))
		if err != nil {
			b.Fatal(err)
		}
		var first atomic.Int64 // unix ns of the first submission
		onEvent := func(e generate.Event) {
			if e.Kind == generate.EventSubmitted {
				first.CompareAndSwap(0, e.Time.UnixNano())
			}
		}
		cpu0, start := cputime.Now(), time.Now()
		out, err := Run(b.Context(), Options{Manifest: m, Instances: inst, OnFleetEvent: onEvent})
		if err != nil {
			b.Fatal(err)
		}
		span := time.Since(start)
		startup := time.Unix(0, first.Load()).Sub(start)
		cpu := cputime.Now() - cpu0
		var busy time.Duration
		lo, hi := 1<<30, 0
		for _, s := range out.Instances {
			busy += s.Busy
			lo, hi = min(lo, s.Prompts-s.Stolen), max(hi, s.Prompts-s.Stolen)
		}
		b.ReportMetric(float64(lo), "min-prompts")
		b.ReportMetric(float64(hi), "max-prompts")
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(busy.Seconds()/(float64(n)*span.Seconds()), "utilization")
		b.ReportMetric(cpu.Seconds()/span.Seconds(), "coord-cores")
		b.ReportMetric(float64(ms.HeapInuse)/1024/n, "heap-KB/instance")
		b.ReportMetric(span.Seconds(), "makespan-s")
		b.ReportMetric(startup.Seconds(), "startup-s")
		b.ReportMetric(busy.Seconds()/(float64(n)*(span-startup).Seconds()), "utilization-after-start")
	}
}
