package main

import (
	"context"
	"errors"
	"flag"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

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

// testToken is what the instance behind $AUTH_URL wants in its
// Authorization header.
const testToken = "Bearer s3cret"

// TestScripts runs the CLI end to end: each file in testdata/script is a
// txtar script whose `batch` commands run this binary against a simulated
// fleet started in the test process ($COMFY_URLS). $AUTH_URL is a
// simulated instance that answers 401 without "Authorization: Bearer
// s3cret" (on every request, the WebSocket upgrade included), and
// $SIM_PORT and $CLIP_PORT free ports for `batch sim` and its fake CLIP
// server.
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
			auth, err := authProxy(fleet.URLs()[0])
			if err != nil {
				return err
			}
			e.Defer(auth.Close)
			e.Setenv("AUTH_URL", auth.URL)
			port, err := freePort()
			if err != nil {
				return err
			}
			e.Setenv("SIM_PORT", strconv.Itoa(port))
			if port, err = freePort(); err != nil {
				return err
			}
			e.Setenv("CLIP_PORT", strconv.Itoa(port))
			copyDemo(t, filepath.Join(e.WorkDir, "examples"))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"waitserve": waitServe,
			"exits":     exits,
		},
	})
}

// authProxy serves target to requests that carry testToken and answers
// 401 to the others.
func authProxy(target string) (*httptest.Server, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	proxy := httputil.NewSingleHostReverseProxy(u) // passes WebSocket upgrades through
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != testToken {
			http.Error(w, "missing or wrong token", http.StatusUnauthorized)
			return
		}
		proxy.ServeHTTP(w, r)
	})), nil
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitServe is the script command "waitserve URL [STATUS]": it returns
// once a GET of URL answers STATUS (default 200), failing the script after
// 30 s. It is how a script waits for a server it started in the background
// (batch sim) to listen, or to come back from an outage: the other process
// gives no signal a script could wait on.
func waitServe(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: waitserve URL [STATUS]")
	}
	want := http.StatusOK
	if len(args) == 2 {
		var err error
		if want, err = strconv.Atoi(args[1]); err != nil {
			ts.Fatalf("waitserve: status %q is not a number", args[1])
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, args[0], nil)
		ts.Check(err)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return
			}
		}
		select {
		case <-ctx.Done():
			ts.Fatalf("%s did not answer %d within 30s", args[0], want)
		case <-tick.C:
		}
	}
}

// exits is the script command "exits CODE PROGRAM [ARGS...]": it runs the
// program as exec does and fails the script unless it ends with exit code
// CODE; stdout and stderr are then there to check as after exec.
func exits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits CODE PROGRAM [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exits: code %q is not a number", args[0])
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		ee, ok := errors.AsType[*exec.ExitError](err)
		if !ok {
			ts.Fatalf("exits: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with %d, want %d", args[1], got, want)
	}
}
