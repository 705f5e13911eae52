package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/manifests"
	"github.com/comfybatch/comfybatch/manifests/examples"
	"github.com/comfybatch/comfybatch/score"
	"github.com/comfybatch/comfybatch/score/cliptest"
	"github.com/comfybatch/comfybatch/score/scoretest"
)

// everyScorer writes a manifest declaring one scorer of every type in
// manifests.ScorerTypes, pointed at fakes, and loads it.
func everyScorer(t *testing.T, clipURL, httpURL string, extra string) *manifests.Manifest {
	t.Helper()
	dir := t.TempDir()
	wf, _ := examples.FS.ReadFile("txt2img.json")
	head := `{"weights": [` + strings.TrimSuffix(strings.Repeat("0.1, ", 64), ", ") + `], "bias": 5}`
	for name, data := range map[string]string{"wf.json": string(wf), "head.json": head} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	byType := map[string]string{
		"sharpness": "{type: sharpness, long_side: 64}",
		"size":      "{type: size, width: 32, height: 32}",
		"blank":     "{type: blank}",
		"phash":     "{type: phash}",
		"clip":      "{type: clip, url: " + clipURL + "}",
		"aesthetic": "{type: aesthetic, url: " + clipURL + ", head: head.json}",
		"http":      "{type: http, url: " + httpURL + "/score, json_path: score, token_env: HTTP_TOKEN}",
		"exec":      `{type: exec, command: [sh, -c, "echo 0.5"]}`,
	}
	var b strings.Builder
	b.WriteString("workflow: wf.json\nparams:\n  prompt: {title: Positive, input: text}\nsweep:\n  prompt: [a red fox]\nscorers:\n")
	for _, st := range manifests.ScorerTypes() {
		decl, ok := byType[st.Name]
		if !ok {
			t.Fatalf("scorer type %s has no declaration in this test: add one", st.Name)
		}
		fmt.Fprintf(&b, "  - %s\n", decl)
	}
	b.WriteString(extra)
	m, err := manifests.Parse("m.yaml", []byte(b.String()), dir)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func redCandidate(t *testing.T) comfybatch.Candidate {
	img := image.NewNRGBA(image.Rect(0, 0, 32, 32))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = byte(200+i%50), 30, byte(i%40), 255
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return comfybatch.Candidate{Job: comfybatch.Job{Key: "k", Params: []comfybatch.Param{{Name: "prompt", Value: "a red fox"}}},
		Image: buf.Bytes(), Pixels: img}
}

// TestNewScorerCoversEveryType: every type of manifests.ScorerTypes has a
// constructor, and the scores of what it builds carry exactly the metrics
// the table lists, so the manifest's metric checks and the scorers agree.
func TestNewScorerCoversEveryType(t *testing.T) {
	clip, clipURL := cliptest.New(cliptest.Options{}).Start()
	defer clip.Close()
	srv, httpURL := scoretest.NewServer(scoretest.Options{Faults: scoretest.Faults{Token: "s3cret"}}).Start()
	defer srv.Close()
	m := everyScorer(t, clipURL, httpURL, "")
	env := func(k string) (string, bool) { return "s3cret", k == "HTTP_TOKEN" }
	cand := redCandidate(t)
	for i, st := range manifests.ScorerTypes() {
		t.Run(st.Name, func(t *testing.T) {
			ns, err := newScorer(m.Scorers[i], t.TempDir(), Options{Env: env})
			if err != nil {
				t.Fatalf("newScorer(%s): %v", st.Name, err)
			}
			wantNetwork := slices.Contains([]string{"clip", "aesthetic", "http", "exec"}, st.Name)
			if ns.name != st.Name || ns.network != wantNetwork {
				t.Errorf("newScorer(%s) = name %q network %v, want %q %v", st.Name, ns.name, ns.network, st.Name, wantNetwork)
			}
			sc, err := ns.scorer.Score(t.Context(), cand)
			if err != nil {
				t.Fatalf("%s Score: %v", st.Name, err)
			}
			got := sc.MetricNames()
			want := slices.Sorted(slices.Values(st.Metrics))
			if !slices.Equal(got, want) {
				t.Errorf("%s scores carry metrics %v, the table lists %v", st.Name, got, want)
			}
		})
	}
}

// TestNewScorerOptions: what the typed options carry reaches the scorer.
func TestNewScorerOptions(t *testing.T) {
	fake := cliptest.New(cliptest.Options{})
	clip, clipURL := fake.Start()
	defer clip.Close()
	srv, httpURL := scoretest.NewServer(scoretest.Options{}).Start()
	defer srv.Close()
	m := everyScorer(t, clipURL, httpURL, "")
	spec := func(typ string) manifests.ScorerSpec {
		for _, s := range m.Scorers {
			if s.Type == typ {
				return s
			}
		}
		t.Fatalf("no %s scorer", typ)
		return manifests.ScorerSpec{}
	}

	// token_env must be set in the environment.
	_, err := newScorer(spec("http"), "", Options{Env: func(string) (string, bool) { return "", false }})
	if !errors.Is(err, comfybatch.ErrInvalid) || !strings.Contains(err.Error(), "HTTP_TOKEN is not set") {
		t.Errorf("http scorer without its token = %v, want ErrInvalid naming HTTP_TOKEN", err)
	}

	// retries: 0 in the manifest means none (score's zero value would
	// mean its default of 2).
	for _, tc := range []struct {
		retries *int
		wantErr bool
	}{{nil, false}, {new(int), true}} {
		fake.SetFaults(scoretest.Faults{FailNext: 1})
		s := spec("clip")
		o := *s.Options.(*manifests.CLIPOptions)
		o.Retries = tc.retries
		s.Options = &o
		ns, err := newScorer(s, "", Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ns.scorer.Score(t.Context(), redCandidate(t)); (err != nil) != tc.wantErr {
			t.Errorf("retries %v after one 503: Score error %v, want error %v", tc.retries, err, tc.wantErr)
		}
	}
	fake.SetFaults(scoretest.Faults{})

	// The aesthetic scorer needs no prompt: it scores the image alone.
	ns, err := newScorer(spec("aesthetic"), "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	cand := redCandidate(t)
	cand.Job.Params = nil
	if sc, err := ns.scorer.Score(t.Context(), cand); err != nil || len(sc.Metrics) != 1 {
		t.Errorf("aesthetic on a job without params = %+v, %v; want the aesthetic metric alone", sc, err)
	}
}

// TestHeadFormatAgrees: the manifest's offline check of an aesthetic head
// and score.LoadLinearHead accept and refuse the same files.
func TestHeadFormatAgrees(t *testing.T) {
	dir := t.TempDir()
	wf, _ := examples.FS.ReadFile("txt2img.json")
	os.WriteFile(filepath.Join(dir, "wf.json"), wf, 0o644)
	for _, head := range []string{
		`{"weights": [1, 2], "bias": 3}`,
		`{"weights": [1]}`,
		`{"weights": [], "bias": 1}`,
		`{"weights": [1, 2`,
		`{"weights": "1, 2"}`,
		`[1, 2]`,
		`{"bias": 1}`,
	} {
		path := filepath.Join(dir, "head.json")
		if err := os.WriteFile(path, []byte(head), 0o644); err != nil {
			t.Fatal(err)
		}
		_, merr := manifests.Parse("m.yaml", []byte("workflow: wf.json\nscorers:\n  - {type: aesthetic, url: http://x:1, head: head.json}\n"), dir)
		_, serr := score.LoadLinearHead(path)
		if (merr == nil) != (serr == nil) {
			t.Errorf("head %s: manifest says %v, score says %v", head, merr, serr)
		}
	}
}

// checkFunc is a scorer whose Check is a function.
type checkFunc func(context.Context) error

func (f checkFunc) Check(ctx context.Context) error { return f(ctx) }

func (f checkFunc) Score(context.Context, comfybatch.Candidate) (comfybatch.Score, error) {
	return comfybatch.Score{}, nil
}

// TestPreflightScorersClasses: outages alone stop the run as an outage;
// any configuration problem makes it bad input, still listing the outages.
func TestPreflightScorersClasses(t *testing.T) {
	down := checkFunc(func(context.Context) error { return fmt.Errorf("down: %w", comfybatch.ErrOutage) })
	wrong := checkFunc(func(context.Context) error { return fmt.Errorf("404: %w", comfybatch.ErrInvalid) })
	plain := checkFunc(func(context.Context) error { return errors.New("odd") })
	fine := checkFunc(func(context.Context) error { return nil })
	for _, tc := range []struct {
		name    string
		scorers []namedScorer
		want    error
		names   []string
	}{
		{"all fine", []namedScorer{{name: "a", scorer: fine}}, nil, nil},
		{"one down", []namedScorer{{name: "a", scorer: fine}, {name: "b", scorer: down}}, comfybatch.ErrOutage, []string{`"b" is unavailable`}},
		{"one wrong", []namedScorer{{name: "a", scorer: wrong}}, comfybatch.ErrInvalid, []string{`"a" does not work`}},
		{"unclassified is configuration", []namedScorer{{name: "a", scorer: plain}}, comfybatch.ErrInvalid, []string{`"a" does not work`}},
		{"down and wrong", []namedScorer{{name: "a", scorer: down}, {name: "b", scorer: wrong}}, comfybatch.ErrInvalid,
			[]string{`"a" is unavailable`, `"b" does not work`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := preflightScorers(t.Context(), tc.scorers, "m.yaml")
			if tc.want == nil {
				if err != nil {
					t.Errorf("preflightScorers = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("preflightScorers = %v, want %v", err, tc.want)
			}
			if tc.want == comfybatch.ErrInvalid && errors.Is(err, comfybatch.ErrOutage) {
				t.Errorf("preflightScorers = %v is both invalid and an outage", err)
			}
			for _, n := range tc.names {
				if !strings.Contains(err.Error(), n) {
					t.Errorf("preflightScorers = %v, want it to say %s", err, n)
				}
			}
		})
	}
	// A check that never answers is an outage after the preflight's limit.
	synctest.Test(t, func(t *testing.T) {
		hang := checkFunc(func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
		start := time.Now()
		err := preflightScorers(t.Context(), []namedScorer{{name: "slow", scorer: hang}}, "m.yaml")
		if !errors.Is(err, comfybatch.ErrOutage) || !strings.Contains(err.Error(), `"slow" did not answer`) || time.Since(start) != 30*time.Second {
			t.Errorf("preflightScorers with a hanging check = %v after %v, want an outage after 30s", err, time.Since(start))
		}
	})
}

// TestCLIPDiesMidRun (issue 12, point 2) with the fakes' fault windows:
// the CLIP server resets every connection once it has embedded 4 images.
// No candidate is rejected for it: they wait, the run stops as an outage
// once the deadline passes, and the same run, with the server back,
// scores them without generating anything again.
func TestCLIPDiesMidRun(t *testing.T) {
	fleet := startFleet(t, 1)
	dir := t.TempDir()
	m := smallManifest(t, dir)
	fake := cliptest.New(cliptest.Options{Faults: scoretest.Faults{Down: scoretest.Reset, DownAfter: 4}})
	ts, url := fake.Start()
	defer ts.Close()
	pointCLIP(m, url)
	for _, s := range m.Scorers {
		if o, ok := s.Options.(*manifests.CLIPOptions); ok {
			none := 0
			o.Retries = &none
			o.MaxBatch = 1 // one image a request: the server dies after exactly 4 images
		}
	}
	opts := Options{Manifest: m, Instances: fleet, OutageDeadline: 2 * time.Second, Logger: testLogger(t)}
	out, err := Run(t.Context(), opts)
	if !errors.Is(err, comfybatch.ErrOutage) || !strings.Contains(err.Error(), "clip") {
		t.Fatalf("Run with the CLIP server dying = %v, want an outage naming clip", err)
	}
	if out == nil || out.Summary.Unscored == 0 || out.Summary.UnscoredBy["clip"] != out.Summary.Unscored {
		t.Fatalf("Summary = %+v, want candidates waiting for clip", out.Summary)
	}
	for _, g := range out.Groups {
		for _, c := range g.Ranked {
			if strings.Contains(c.Rejected, "clip") {
				t.Errorf("job %d rejected for the outage: %s", c.Candidate.Job.Index, c.Rejected)
			}
		}
	}
	generated, waiting := out.Summary.Done, out.Summary.Unscored

	fake.SetFaults(scoretest.Faults{})
	out, err = Run(t.Context(), opts)
	if err != nil {
		t.Fatalf("rerun with the server back = %v, want nil", err)
	}
	// The start-up check embedded one image, so about 3 candidates were
	// scored before it died (a request racing the fault may count either
	// way); every other one waited and is scored now.
	if waiting < out.Summary.Jobs-4 || out.Summary.Unscored != 0 || out.Summary.Rescored != waiting {
		t.Errorf("rerun Summary = %+v after %d waited; want all but the few the server scored before dying, scored now", out.Summary, waiting)
	}
	if out.Done != out.Summary.Jobs-generated {
		t.Errorf("rerun generated %d jobs, want only the %d the first run left", out.Done, out.Summary.Jobs-generated)
	}
}
