//go:build unix

package pipeline

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/comfybatch/comfybatch/generate"
	"github.com/comfybatch/comfybatch/generate/comfytest"
	"github.com/comfybatch/comfybatch/internal/cputime"
	"github.com/comfybatch/comfybatch/internal/testmanifest"
	"github.com/comfybatch/comfybatch/manifests"
	"github.com/comfybatch/comfybatch/manifests/examples"
)

// benchSimEnv makes the test binary a simulated fleet for
// BenchmarkCoordinator (see TestMain): it prints the instances' URLs on one
// line and serves until its stdin closes.
const benchSimEnv = "COMFYBATCH_BENCH_SIM"

func TestMain(m *testing.M) {
	if os.Getenv(benchSimEnv) != "" {
		os.Exit(serveBenchSim())
	}
	if n, err := strconv.Atoi(os.Getenv(fleet256Env)); err == nil && n > 0 {
		os.Exit(serveFleet(n))
	}
	os.Exit(m.Run())
}

func serveBenchSim() int {
	// The instances keep their rendered images (a run renders each one
	// once): drawing and compressing PNGs is generation work, not the
	// coordinator's.
	fleet, err := comfytest.StartFleet(3, comfytest.Options{TimeScale: 1e-6, RenderCache: 256})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer fleet.Close()
	fmt.Println(strings.Join(fleet.URLs(), " "))
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // until the benchmark closes stdin
	return 0
}

// startChild runs this test binary again with env=value, which TestMain
// turns into a simulated fleet (serveBenchSim, serveFleet), and returns
// the URLs the child prints: the fleet runs in another process, so this
// process's CPU time is the coordinator's alone. The child exits when its
// stdin closes: at cleanup, or when this process dies.
func startChild(b *testing.B, env, value string) []string {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), env+"="+value)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("simulated fleet did not start: %v", err)
	}
	return strings.Fields(line)
}

// benchManifest is the demo manifest with 120 seeds per prompt at 512²
// and the scorer set of issue 15's target: sharpness, size, blank and
// phash, the local scorers (CLIP is another process's work).
func benchManifest() ([]byte, error) {
	text, err := testmanifest.Small(120, 512)
	if err != nil {
		return nil, err
	}
	from, to := bytes.Index(text, []byte("  - type: clip")), bytes.Index(text, []byte("\nselect:"))
	if from < 0 || to < from {
		return nil, fmt.Errorf("demo.yaml no longer has a clip scorer before select:; update benchManifest")
	}
	local := "  - type: blank\n    weight: 0\n    min: 1\n  - type: phash\n"
	return slices.Concat(text[:from], []byte(local), text[to:]), nil
}

// BenchmarkCoordinator measures what the coordinator costs per candidate
// with (almost) zero generation time: plan, submit, track, download,
// decode, score (sharpness, size, blank, phash), thumbnail, store and
// select 240 512² PNGs (benchManifest) on 3 simulated instances.
//
// The simulated fleet runs in a child process on the same 2 cores and
// serves images it rendered in a warm-up run, so:
//   - candidates/s is wall-clock throughput with the servers' HTTP, file
//     writes and websocket work competing for the cores;
//   - coord-cpu-ms/candidate is this process's CPU time (user+sys) per
//     candidate, and capacity-2-cores/s = 2 cores / that: the rate the
//     coordinator sustains when the ComfyUI servers run elsewhere, as they
//     do in production.
func BenchmarkCoordinator(b *testing.B) {
	urls := startChild(b, benchSimEnv, "1")
	var inst []generate.Instance
	for _, u := range urls {
		inst = append(inst, generate.Instance{Name: u, URL: u, InFlight: 3})
	}
	text, err := benchManifest()
	if err != nil {
		b.Fatal(err)
	}
	wf, err := examples.FS.ReadFile("txt2img.json")
	if err != nil {
		b.Fatal(err)
	}
	run := func() *Outcome {
		m, err := manifests.LoadFS(fstest.MapFS{"bench.yaml": {Data: text}, "txt2img.json": {Data: wf}}, "bench.yaml")
		if err != nil {
			b.Fatal(err)
		}
		dir := b.TempDir()
		m.Path = filepath.Join(dir, "bench.yaml")
		m.Output.Dir = filepath.Join(dir, "runs")
		m.Output.Database = filepath.Join(dir, "comfybatch.db")
		out, err := Run(b.Context(), Options{Manifest: m, Instances: inst})
		if err != nil {
			b.Fatal(err)
		}
		if out.Done != 240 {
			b.Fatalf("%d candidates done, want 240", out.Done)
		}
		return out
	}
	// The simulated instances render every image once; this run also
	// checks that every candidate got all four scores.
	for _, g := range run().Groups {
		for _, c := range g.Ranked {
			if len(c.Scores) != 4 {
				b.Fatalf("candidate %s has %d scores (%v), want 4", c.Candidate.Ref(), len(c.Scores), c.Scores)
			}
		}
	}
	jobs, elapsed, cpu := 0, time.Duration(0), time.Duration(0)
	for b.Loop() {
		start, cpu0 := time.Now(), cputime.Now()
		out := run()
		elapsed += time.Since(start)
		cpu += cputime.Now() - cpu0
		jobs += out.Done
	}
	cpuPer := cpu.Seconds() * 1000 / float64(jobs)
	b.ReportMetric(float64(jobs)/elapsed.Seconds(), "candidates/s")
	b.ReportMetric(cpuPer, "coord-cpu-ms/candidate")
	b.ReportMetric(2000/cpuPer, "capacity-2-cores/s")
}
