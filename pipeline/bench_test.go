package pipeline

import (
	"testing"
	"time"

	"github.com/comfybatch/comfybatch/generate"
	"github.com/comfybatch/comfybatch/generate/comfytest"
)

// BenchmarkCoordinator measures what the coordinator adds per candidate
// with (almost) zero generation time: submit, track, download, decode,
// score (sharpness, size) and store 512² PNGs of the demo manifest on 3
// simulated instances. The simulator renders and encodes each PNG in this
// process, on the same 2 cores; it keeps its rendered images
// (Options.RenderCache) and a warm-up run fills that cache, so drawing and
// compressing PNGs (comfytest's BenchmarkRender512, generation work) stays
// out of candidates/s while serving them over HTTP stays in.
func BenchmarkCoordinator(b *testing.B) {
	fleet, err := comfytest.StartFleet(3, comfytest.Options{TimeScale: 1e-6, RenderCache: 64})
	if err != nil {
		b.Fatal(err)
	}
	defer fleet.Close()
	var inst []generate.Instance
	for _, u := range fleet.URLs() {
		inst = append(inst, generate.Instance{Name: u, URL: u, InFlight: 3})
	}
	run := func() *Outcome {
		m := demoManifest(b, b.TempDir())
		m.Scorers = m.Scorers[:2] // sharpness and size: the fake CLIP server would dominate the profile
		out, err := Run(b.Context(), Options{Manifest: m, Instances: inst})
		if err != nil {
			b.Fatal(err)
		}
		return out
	}
	run() // fills the simulator's render cache
	jobs, elapsed := 0, time.Duration(0)
	for b.Loop() {
		start := time.Now()
		out := run()
		elapsed += time.Since(start)
		jobs += out.Done
	}
	b.ReportMetric(float64(jobs)/elapsed.Seconds(), "candidates/s")
}
