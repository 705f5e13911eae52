package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	_ "modernc.org/sqlite"

	"github.com/comfybatch/comfybatch/generate/comfytest"
)

var update = flag.Bool("update", false, "rewrite golden files and script outputs")

func TestMain(m *testing.M) {
	if os.Getenv("COMFYBATCH_TEST_MAIN") == "1" {
		os.Exit(batchMain()) // the crash test runs this binary as batch
	}
	testscript.Main(m, map[string]func(){
		"batch": func() { os.Exit(batchMain()) },
	})
}

// TestScripts runs the CLI end to end: each file in testdata/script is a
// txtar script whose `batch` commands run this binary against a simulated
// fleet started in the test process ($COMFY_URLS).
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/script",
		UpdateScripts: *update,
		Setup: func(e *testscript.Env) error {
			fleet, err := comfytest.StartFleet(2, comfytest.Options{TimeScale: 0.001})
			if err != nil {
				return err
			}
			e.Defer(func() { fleet.Close() })
			e.Setenv("COMFY_URLS", strings.Join(fleet.URLs(), ","))
			copyDemo(t, filepath.Join(e.WorkDir, "examples"))
			return nil
		},
	})
}
