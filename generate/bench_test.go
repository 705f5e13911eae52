package generate

import (
	"context"
	"fmt"
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
