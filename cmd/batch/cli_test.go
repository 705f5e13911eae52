package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/comfybatch/comfybatch/generate/comfytest"
	"github.com/comfybatch/comfybatch/store"
)

// TestExitCodes checks the one place where errors become exit codes:
// usage and bad input are 2, with one clear line on stderr and nothing on
// stdout.
func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	demo := copyDemo(t, filepath.Join(dir, "ex"))
	ui := filepath.Join(dir, "ui.yaml")
	os.WriteFile(ui, []byte("workflow: ui.json\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "ui.json"), []byte(`{"nodes": [], "links": []}`), 0o644)
	tests := []struct {
		name    string
		args    []string
		code    int
		wantErr string
	}{
		{"no command", nil, exitBadInput, ""},
		{"help", []string{"help"}, exitOK, ""},
		{"unknown command", []string{"nope"}, exitBadInput, `unknown command "nope"`},
		{"missing manifest", []string{"run", filepath.Join(dir, "missing.yaml")}, exitBadInput, "missing.yaml"},
		{"UI-format workflow", []string{"validate", ui}, exitBadInput, "Save (API Format)"},
		{"unreachable instance", []string{"run", "--instances", "http://127.0.0.1:1", demo}, exitBadInput, "unreachable"},
		{"bad flag", []string{"run", "--frob", demo}, exitBadInput, "unknown flag: --frob; run 'batch run --help' for its flags"},
		{"bad root flag", []string{"--frob"}, exitBadInput, "unknown flag: --frob; run 'batch --help' for its flags"},
		{"unknown command, suggestion", []string{"rnu"}, exitBadInput, `unknown command "rnu" (did you mean run or runs?)`},
		{"one-dash long flag", []string{"run", "-force", demo}, exitBadInput, "long flags take two dashes: --force"},
		{"flag of another command", []string{"resume", "--new-run", "1"}, exitBadInput, "to start a new one use batch run --new-run"},
		{"version", []string{"--version"}, exitOK, ""},
		{"two manifests", []string{"run", demo, demo}, exitBadInput, "run takes one manifest path"},
		{"valid manifest", []string{"validate", demo}, exitOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(t.Context(), tt.args, IO{Out: &out, Err: &errb})
			if code != tt.code {
				t.Errorf("batch %v exit code = %d, want %d; stderr:\n%s", tt.args, code, tt.code, errb.String())
			}
			if !strings.Contains(errb.String(), tt.wantErr) {
				t.Errorf("batch %v stderr = %q, want it to mention %q", tt.args, errb.String(), tt.wantErr)
			}
			if tt.code == exitBadInput && tt.args != nil && out.Len() > 0 {
				t.Errorf("batch %v wrote to stdout on bad input: %q", tt.args, out.String())
			}
		})
	}
}

// TestRunRecordsVersion checks that a run records the binary's version
// from its build info.
func TestRunRecordsVersion(t *testing.T) {
	fleet, err := comfytest.StartFleet(1, comfytest.Options{TimeScale: 0.001})
	if err != nil {
		t.Fatal(err)
	}
	defer fleet.Close()
	dir := t.TempDir()
	copyDemo(t, dir)
	var out, errb bytes.Buffer
	args := []string{"run", "--instances", fleet.URLs()[0], "--limit-per-group", "1", filepath.Join(dir, "small.yaml")}
	if code := run(t.Context(), args, IO{Out: &out, Err: &errb}); code != exitOK {
		t.Fatalf("batch %v = %d; stderr:\n%s", args, code, errb.String())
	}
	st, err := store.Open(t.Context(), filepath.Join(dir, "comfybatch-runs", "comfybatch.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r, err := st.Run(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if want := readVersion().short(); r.ToolVersion != want || want == "" {
		t.Errorf("run 1 tool_version = %q, want %q", r.ToolVersion, want)
	}
}
