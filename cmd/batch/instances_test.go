package main

import (
	"errors"
	"reflect"
	"testing"

	"github.com/comfybatch/comfybatch/generate"
	"github.com/comfybatch/comfybatch/manifests"
)

func TestFleetFlagsResolve(t *testing.T) {
	m := &manifests.Manifest{Path: "m.yaml", Instances: []manifests.Instance{
		{Name: "gpu1", URL: "http://gpu1:8188", Headers: map[string]string{"authorization": "Bearer old", "X-Team": "a"}, InFlight: 4, Weight: 2, Tags: []string{"sdxl"}, Tier: 1},
		{Name: "gpu2", URL: "http://gpu2:8188"},
	}}
	env := func(k string) (string, bool) {
		if k == "COMFY_TOKEN" {
			return "s3cret", true
		}
		return "", false
	}
	tests := []struct {
		name    string
		flags   fleetFlags
		want    []generate.Instance
		wantErr string
	}{
		{"no flags: the manifest's instances", fleetFlags{}, nil, ""},
		{"URLs replace the manifest's; a listed one keeps its settings",
			fleetFlags{urls: []string{"HTTP://GPU1:8188/", "http://10.0.0.7:8188"}},
			[]generate.Instance{
				{Name: "gpu1", URL: "http://gpu1:8188", Headers: map[string]string{"authorization": "Bearer old", "X-Team": "a"}, InFlight: 4, Weight: 2, Tags: []string{"sdxl"}, Tier: 1},
				{Name: "10.0.0.7:8188", URL: "http://10.0.0.7:8188"},
			}, ""},
		{"a header goes to every URL, over the manifest's",
			fleetFlags{urls: []string{"http://gpu1:8188", "https://cloud.example.com/comfy/"}, headers: []string{"Authorization: Bearer ${COMFY_TOKEN}"}},
			[]generate.Instance{
				{Name: "gpu1", URL: "http://gpu1:8188", Headers: map[string]string{"Authorization": "Bearer s3cret", "X-Team": "a"}, InFlight: 4, Weight: 2, Tags: []string{"sdxl"}, Tier: 1},
				{Name: "cloud.example.com", URL: "https://cloud.example.com/comfy", Headers: map[string]string{"Authorization": "Bearer s3cret"}},
			}, ""},
		{"a header alone goes to the manifest's instances",
			fleetFlags{headers: []string{"x-api-key:k"}},
			[]generate.Instance{
				{Name: "gpu1", URL: "http://gpu1:8188", Headers: map[string]string{"Authorization": "Bearer old", "X-Team": "a", "X-Api-Key": "k"}, InFlight: 4, Weight: 2, Tags: []string{"sdxl"}, Tier: 1},
				{Name: "gpu2", URL: "http://gpu2:8188", Headers: map[string]string{"X-Api-Key": "k"}},
			}, ""},
		{"unset variable", fleetFlags{urls: []string{"http://a:1"}, headers: []string{"Authorization: Bearer ${NOPE}"}}, nil,
			`usage: --header Authorization: environment variable "NOPE" is not set`},
		{"no colon", fleetFlags{urls: []string{"http://a:1"}, headers: []string{"Authorization Bearer x"}}, nil,
			`usage: --header "Authorization Bearer x": want 'Name: value', e.g. --header 'Authorization: Bearer ${COMFY_TOKEN}'`},
		{"line break", fleetFlags{urls: []string{"http://a:1"}, headers: []string{"X: a\nb"}}, nil,
			"usage: --header X: the value has a line break or NUL byte"},
		{"not a URL", fleetFlags{urls: []string{"gpu1:8188"}}, nil,
			`usage: --instances: "gpu1:8188" is not an http(s) URL like http://127.0.0.1:8188`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.flags.resolve(m, env)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr || !errors.Is(err, errUsage) {
					t.Fatalf("resolve = %v, want usage error %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("resolve =\n %+v\nwant\n %+v", got, tt.want)
			}
		})
	}
	if m.Instances[0].Headers["authorization"] != "Bearer old" || len(m.Instances[1].Headers) != 0 {
		t.Errorf("resolve changed the manifest's instances: %+v", m.Instances)
	}
	if _, err := (fleetFlags{headers: []string{"X: y"}}).resolve(&manifests.Manifest{Path: "m.yaml"}, env); !errors.Is(err, errUsage) {
		t.Errorf("--header without any instance = %v, want a usage error", err)
	}
}
