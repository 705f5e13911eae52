package generate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/comfybatch/comfybatch"

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

// optimalSchedule is the best any scheduler could do with n identical
// jobs on instances whose execution times are exec, with no overhead at all:
// each job goes where it would finish first (optimal for identical jobs on
// machines of different speeds). It returns that makespan and Σbusy.
func optimalSchedule(n int, exec []time.Duration) (makespan, busy time.Duration) {
	end := make([]time.Duration, len(exec))
	for range n {
		best := 0
		for i := range exec {
			if end[i]+exec[i] < end[best]+exec[best] {
				best = i
			}
		}
		end[best] += exec[best]
		busy += exec[best]
		makespan = max(makespan, end[best])
	}
	return makespan, busy
}

// BenchmarkFleetUtilization runs 8 instances of mixed speeds and reports
// utilization Σbusy/(N×makespan), where busy is each prompt's execution
// span from the servers' own history timestamps.
//
// The end of a batch costs up to one image per instance however jobs are
// handed out (the instances cannot all finish at the same instant), so
// utilization depends on the batch size: per=60 is a small batch (480
// images), per=300 one of 2400 (a production batch is 240 candidates × 50
// people = 12000). optimal-utilization is the best possible for the batch
// (optimalSchedule with the measured execution times, zero overhead), and
// makespan/optimal how far the run's makespan is from that schedule's.
// x-vs-sequential compares with a naive client (submit, wait, download,
// next) on the same fleet.
func BenchmarkFleetUtilization(b *testing.B) {
	for _, per := range []int{60, 300} {
		b.Run(fmt.Sprintf("per=%d", per), func(b *testing.B) { benchUtilization(b, per) })
	}
}

func benchUtilization(b *testing.B, per int) {
	speeds := []float64{1, 1, 1.5, 2, 0.5, 0.75, 1.25, 1}
	var opts []comfytest.Options
	for _, s := range speeds {
		opts = append(opts, comfytest.Options{TimeScale: 0.2, Speed: s})
	}
	sim := startSim(b, opts...)
	n := per * len(speeds)
	seed := uint64(0)
	next := func(n int) []Task {
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
	var util, simUtil, optUtil, vsOpt, makespan, naive float64
	iters := 0
	for b.Loop() {
		tasks := next(n)
		busy0, _ := simBusy(sim)
		st0 := f.Stats()
		start := time.Now()
		if _, err := runAll(b, b.Context(), f, tasks); err != nil {
			b.Fatal(err)
		}
		ms := time.Since(start)
		busy1, _ := simBusy(sim)
		var busy time.Duration
		var exec []time.Duration
		for i, st := range f.Stats() {
			d := st.Busy - st0[i].Busy
			busy += d
			if ran := (st.Prompts - st.Stolen) - (st0[i].Prompts - st0[i].Stolen); ran > 0 {
				exec = append(exec, d/time.Duration(ran))
			}
		}
		optSpan, optBusy := optimalSchedule(n, exec)
		util += busy.Seconds() / (float64(len(speeds)) * ms.Seconds())
		simUtil += (busy1 - busy0).Seconds() / (float64(len(speeds)) * ms.Seconds())
		optUtil += optBusy.Seconds() / (float64(len(speeds)) * optSpan.Seconds())
		vsOpt += ms.Seconds() / optSpan.Seconds()
		makespan += ms.Seconds()

		if per == 60 {
			seqTasks := next(n / 4) // a quarter, scaled up: the baseline is slow
			start = time.Now()
			naiveSequential(b, b.Context(), sim.URLs(), seqTasks)
			naive += time.Since(start).Seconds() * 4
		}
		iters++
	}
	b.ReportMetric(util/float64(iters), "utilization")
	b.ReportMetric(optUtil/float64(iters), "optimal-utilization")
	b.ReportMetric(vsOpt/float64(iters), "makespan/optimal")
	b.ReportMetric(simUtil/float64(iters), "sim-utilization")
	b.ReportMetric(makespan/float64(iters)*1000, "fleet-ms/run")
	if naive > 0 {
		b.ReportMetric(naive/makespan, "x-vs-sequential")
	}
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

// BenchmarkBatchThroughput compares candidates per second at batch sizes
// 1, 2 and 4 on 2 simulated GPUs (the simulator's default BatchCost: each
// extra latent adds 0.4 of a sampler step, as a GPU shares a step across
// a batch): the same 48 candidates, as 48 prompts of one image, 24 of
// two, or 12 of four. candidates/s and x-vs-batch-1 say what raising
// batch_size buys; the fleet downloads and verifies every image.
func BenchmarkBatchThroughput(b *testing.B) {
	base := 0.0
	for _, size := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			sim := startSim(b, simOptions(2, comfytest.Options{TimeScale: 0.25})...)
			f, err := NewFleet(instancesOf(sim), Options{PollInterval: 200 * time.Millisecond})
			if err != nil {
				b.Fatal(err)
			}
			const candidates = 48
			seed := uint64(0)
			next := func() []Task {
				tasks := make([]Task, candidates/size)
				for i := range tasks {
					seed++
					tasks[i] = Task{Job: batchJob(b, i, seed, size)}
				}
				return tasks
			}
			if _, err := runAll(b, b.Context(), f, next()[:2]); err != nil { // load the checkpoint
				b.Fatal(err)
			}
			images, elapsed := 0, time.Duration(0)
			for b.Loop() {
				start := time.Now()
				got, err := runAll(b, b.Context(), f, next())
				if err != nil {
					b.Fatal(err)
				}
				elapsed += time.Since(start)
				for _, r := range got {
					if len(r.Candidates) != size {
						b.Fatalf("a prompt of batch %d yielded %d candidates", size, len(r.Candidates))
					}
					images += len(r.Candidates)
				}
			}
			rate := float64(images) / elapsed.Seconds()
			b.ReportMetric(rate, "candidates/s")
			if size == 1 {
				base = rate
			}
			if base > 0 {
				b.ReportMetric(rate/base, "x-vs-batch-1")
			}
		})
	}
}

// batchJob is a job of the test workflow rendering size images (its
// SaveImage is node 9).
func batchJob(t testing.TB, i int, seed uint64, size int) comfybatch.Job {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(testWorkflow(t, seed, "sd_xl_base_1.0.safetensors")))
	dec.UseNumber()
	var wf map[string]map[string]any
	if err := dec.Decode(&wf); err != nil {
		t.Fatal(err)
	}
	wf["5"]["inputs"].(map[string]any)["batch_size"] = size
	data, err := json.Marshal(wf)
	if err != nil {
		t.Fatal(err)
	}
	key, err := comfybatch.KeyOf(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	return comfybatch.Job{Key: key, Index: i, Group: "g", Workflow: data, Outputs: []string{"9"}, Images: size,
		Params: []comfybatch.Param{{Name: "seed", Value: seed}, {Name: "batch_size", Value: int64(size)}}}
}
