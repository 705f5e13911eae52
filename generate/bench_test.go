package generate

import (
	"context"
	"testing"
	"time"

	"github.com/comfybatch/comfybatch/generate/comfytest"
)

func simBusy(sim *comfytest.Fleet) (busy time.Duration, loads int) {
	for _, s := range sim.Servers() {
		st := s.Stats()
		busy += st.Busy
		loads += st.ModelLoads
	}
	return busy, loads
}

// naiveSequential is the baseline: one loop that submits a job, waits for
// its history, downloads the image and moves to the next instance.
func naiveSequential(b *testing.B, ctx context.Context, urls []string, tasks []Task) {
	clients := make([]*Client, len(urls))
	for i, u := range urls {
		clients[i] = NewClient(u, nil, ClientOptions{})
	}
	for i, tk := range tasks {
		c := clients[i%len(clients)]
		resp, err := c.Submit(ctx, SubmitRequest{Prompt: tk.Job.Workflow})
		if err != nil {
			b.Fatal(err)
		}
		for {
			h, err := c.History(ctx, resp.PromptID)
			if err != nil {
				b.Fatal(err)
			}
			if h != nil {
				if _, err := c.View(ctx, h.Images()[0]); err != nil {
					b.Fatal(err)
				}
				break
			}
			time.Sleep(2 * time.Millisecond) // the naive client polls
		}
	}
}

// BenchmarkFleetUtilization runs 8 instances of mixed speeds and reports
// Σbusy/(N×makespan) and the speed-up over a naive sequential client.
func BenchmarkFleetUtilization(b *testing.B) {
	speeds := []float64{1, 1, 1.5, 2, 0.5, 0.75, 1.25, 1}
	var opts []comfytest.Options
	for _, s := range speeds {
		opts = append(opts, comfytest.Options{TimeScale: 0.2, Speed: s})
	}
	sim := startSim(b, opts...)
	const n = 480 // 60 per instance: the end-of-run tail (one image) weighs as in real batches of thousands
	seed := uint64(0)
	next := func() []Task {
		tasks := make([]Task, n)
		for i := range tasks {
			seed++
			tasks[i] = Task{Job: testJob(b, i, seed, "sd_xl_base_1.0.safetensors")}
		}
		return tasks
	}
	// Warm up: every instance loads the checkpoint once.
	f, err := NewFleet(instancesOf(sim), Options{PollInterval: 200 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := runAll(b, b.Context(), f, testTasks(b, 16)); err != nil {
		b.Fatal(err)
	}
	fleetBusy := func() (d time.Duration) {
		for _, st := range f.Stats() {
			d += st.Busy
		}
		return d
	}
	var util, simUtil, makespan, naive float64
	iters := 0
	for b.Loop() {
		tasks := next()
		busy0, _ := simBusy(sim)
		exec0 := fleetBusy()
		start := time.Now()
		if _, err := runAll(b, b.Context(), f, tasks); err != nil {
			b.Fatal(err)
		}
		ms := time.Since(start)
		busy1, _ := simBusy(sim)
		// utilization: execution spans from the servers' own history
		// timestamps (what the server spent on our prompts, its real
		// overhead included); sim-utilization: only the simulated GPU sleep.
		util += (fleetBusy() - exec0).Seconds() / (float64(len(speeds)) * ms.Seconds())
		simUtil += (busy1 - busy0).Seconds() / (float64(len(speeds)) * ms.Seconds())
		makespan += ms.Seconds()

		seqTasks := next()[:n/4] // a quarter, scaled up: the baseline is slow
		start = time.Now()
		naiveSequential(b, b.Context(), sim.URLs(), seqTasks)
		naive += time.Since(start).Seconds() * 4
		iters++
	}
	b.ReportMetric(util/float64(iters), "utilization")
	b.ReportMetric(simUtil/float64(iters), "sim-utilization")
	b.ReportMetric(makespan/float64(iters)*1000, "fleet-ms/run")
	b.ReportMetric(naive/makespan, "x-vs-sequential")
}

// BenchmarkAffinityModelLoads compares checkpoint loads with affinity
// against round-robin on a 3-checkpoint sweep over 3 instances.
func BenchmarkAffinityModelLoads(b *testing.B) {
	ckpts := comfytest.DefaultCheckpoints()[:3]
	var aff, rr int
	for b.Loop() {
		for _, ignore := range []bool{false, true} {
			sim := startSim(b, simOptions(3, comfytest.Options{TimeScale: 0.01})...)
			f, err := NewFleet(instancesOf(sim), Options{PollInterval: 200 * time.Millisecond, IgnoreAffinity: ignore})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := runAll(b, b.Context(), f, testTasks(b, 60, ckpts...)); err != nil {
				b.Fatal(err)
			}
			_, loads := simBusy(sim)
			if ignore {
				rr += loads
			} else {
				aff += loads
			}
			sim.Close()
		}
	}
	b.ReportMetric(float64(aff)/float64(b.N), "loads-affinity")
	b.ReportMetric(float64(rr)/float64(b.N), "loads-round-robin")
	b.ReportMetric(float64(aff)/float64(rr), "loads/round-robin")
}
