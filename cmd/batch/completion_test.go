package main

import (
	"reflect"
	"testing"
)

func TestNamesIn(t *testing.T) {
	tests := []struct {
		name            string
		text            string
		params, scorers []string
	}{
		{"params, sweep and group sets", `
params:
  prompt: {title: Positive, input: text}
  sampler: {class: KSampler, input: sampler_name}
groups:
  - name: fox
    set: {prompt: fox, cfg: 7}
  - name: owl
sweep:
  seed: {random: {count: 4}}
  sampler: [euler, dpmpp_2m]
scorers:
  - type: sharpness
  - type: clip
    name: clip_vit
`, []string{"cfg", "prompt", "sampler", "seed"}, []string{"sharpness", "clip_vit"}},
		{"a mistake leaves the rest", `
params: [not, a, map]
sweep: {steps: [20, 30]}
scorers:
  - nonsense
  - {type: size}
`, []string{"steps"}, []string{"size"}},
		{"not YAML", "{{{", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := namesIn([]byte(tt.text))
			if !reflect.DeepEqual(n.params, tt.params) || !reflect.DeepEqual(n.scorers, tt.scorers) {
				t.Errorf("namesIn = params %q scorers %q, want %q %q", n.params, n.scorers, tt.params, tt.scorers)
			}
		})
	}
}
