package manifests_test

import (
	"fmt"

	"github.com/comfybatch/comfybatch/manifests"
	"github.com/comfybatch/comfybatch/manifests/examples"
)

func ExampleLoadFS() {
	m, err := manifests.LoadFS(examples.FS, "seed-vs-sampler.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	plan, err := m.Plan()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(plan.Jobs), "jobs")
	for _, a := range plan.Axes {
		fmt.Println("axis", a.Params, a.Values)
	}
	fmt.Println(plan.Jobs[0].Params)
	fmt.Println(plan.Jobs[1].Params)
	// Output:
	// 72 jobs
	// axis [sampler] 3
	// axis [steps] 3
	// axis [seed] 8
	// [sampler=euler steps=20 seed=1]
	// [sampler=euler steps=20 seed=2]
}

func ExampleParse() {
	_, err := manifests.Parse("bad.yaml", []byte("workflow: examples/txt2img.json\nselect: {topk: 3}\n"), ".")
	fmt.Println(err)
	// Output:
	// bad.yaml:2:10: unknown key "topk" in select; did you mean "top_k"? (known keys: top_k, min_score, phash_distance, accept_shortfall)
}
