package main

import (
	"bytes"
	"runtime/debug"
	"testing"
)

func TestVersionOf(t *testing.T) {
	stamped := &debug.BuildInfo{
		GoVersion: "go1.26.0",
		Main:      debug.Module{Path: "github.com/comfybatch/comfybatch", Version: "v0.3.1-0.20261206012200-c09a2e9abcde+dirty"},
		Settings: []debug.BuildSetting{
			{Key: "GOOS", Value: "darwin"}, {Key: "GOARCH", Value: "arm64"},
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "c09a2e9abcdef0123456789abcdef0123456789a"},
			{Key: "vcs.time", Value: "2026-12-06T01:22:00Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	tests := []struct {
		name      string
		bi        *debug.BuildInfo
		ok        bool
		short     string
		text      string
		jsonFirst string
	}{
		{"stamped", stamped, true,
			"v0.3.1-0.20261206012200-c09a2e9abcde+dirty c09a2e9abcde+dirty",
			"batch v0.3.1-0.20261206012200-c09a2e9abcde+dirty\n" +
				"module:   github.com/comfybatch/comfybatch\n" +
				"revision: c09a2e9abcdef0123456789abcdef0123456789a (2026-12-06T01:22:00Z), with uncommitted changes\n" +
				"go:       go1.26.0 darwin/arm64\n",
			`{"module":"github.com/comfybatch/comfybatch","version":"v0.3.1-0.20261206012200-c09a2e9abcde+dirty","revision":"c09a2e9abcdef0123456789abcdef0123456789a","time":"2026-12-06T01:22:00Z","modified":true,"go":"go1.26.0","platform":"darwin/arm64"}` + "\n"},
		{"not stamped", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "github.com/comfybatch/comfybatch", Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "GOOS", Value: "linux"}, {Key: "GOARCH", Value: "amd64"}}}, true,
			"(devel)",
			"batch (devel)\n" +
				"module:   github.com/comfybatch/comfybatch\n" +
				"revision: unknown (built without VCS stamping, e.g. -buildvcs=false or go test)\n" +
				"go:       go1.26.0 linux/amd64\n",
			`{"module":"github.com/comfybatch/comfybatch","version":"(devel)","modified":false,"go":"go1.26.0","platform":"linux/amd64"}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := versionOf(tt.bi, tt.ok)
			if got := v.short(); got != tt.short {
				t.Errorf("short() = %q, want %q", got, tt.short)
			}
			var text, js bytes.Buffer
			writeVersion(&text, v, false)
			writeVersion(&js, v, true)
			if text.String() != tt.text {
				t.Errorf("version text =\n%s\nwant\n%s", text.String(), tt.text)
			}
			if js.String() != tt.jsonFirst {
				t.Errorf("version JSON =\n%s\nwant\n%s", js.String(), tt.jsonFirst)
			}
		})
	}
	if v := versionOf(nil, false); v.Version != "unknown" || v.short() != "unknown" {
		t.Errorf("versionOf(no build info) = %+v, want version unknown", v)
	}
}
