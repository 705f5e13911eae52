package generate_test

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/generate"
	"github.com/comfybatch/comfybatch/generate/comfytest"
)

// A fleet of two simulated ComfyUI servers generates three jobs; each job
// gets exactly one Result.
func ExampleFleet_Run() {
	sim, err := comfytest.StartFleet(2, comfytest.Options{TimeScale: 0.001})
	if err != nil {
		panic(err)
	}
	defer sim.Close()

	var instances []generate.Instance
	for i, u := range sim.URLs() {
		instances = append(instances, generate.Instance{Name: fmt.Sprintf("gpu%d", i), URL: u})
	}
	fleet, err := generate.NewFleet(instances, generate.Options{})
	if err != nil {
		panic(err)
	}
	base, err := os.ReadFile("testdata/txt2img.json")
	if err != nil {
		panic(err)
	}
	var tasks []generate.Task
	for _, seed := range []string{"1", "2", "18446744073709551615"} {
		wf := strings.Replace(string(base), `"seed": 156680208700286`, `"seed": `+seed, 1)
		key, _ := comfybatch.KeyOf([]byte(wf), nil)
		tasks = append(tasks, generate.Task{Job: comfybatch.Job{Key: key, Workflow: []byte(wf), Affinity: "sd_xl_base_1.0.safetensors"}})
	}
	results := make(chan generate.Result, len(tasks))
	if err := fleet.Run(context.Background(), tasks, results); err != nil {
		panic(err)
	}
	close(results)
	ok := 0
	for r := range results {
		if r.Err == nil && len(r.Candidate.Image) > 0 {
			ok++
		}
	}
	fmt.Printf("%d of %d jobs generated\n", ok, len(tasks))
	// Output: 3 of 3 jobs generated
}
