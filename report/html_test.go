package report_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/comfybatch/comfybatch/report"
	"github.com/comfybatch/comfybatch/report/reporttest"
)

var update = flag.Bool("update", false, "rewrite golden files")

var fixedNow = func() time.Time { return time.Date(2026, 11, 23, 11, 0, 0, 0, time.UTC) }

func renderHTML(t *testing.T, run report.Run, opts report.HTMLOptions) string {
	t.Helper()
	opts.Now = fixedNow
	var buf bytes.Buffer
	if err := report.HTML(t.Context(), &buf, run, opts); err != nil {
		t.Fatalf("HTML: %v", err)
	}
	return buf.String()
}

// sections splits a page into its group sections by data-group.
func sections(t *testing.T, page string) map[string]string {
	t.Helper()
	out := map[string]string{}
	parts := strings.Split(page, `<section class="group"`)
	re := regexp.MustCompile(`data-group="([^"]*)"`)
	for _, p := range parts[1:] {
		m := re.FindStringSubmatch(p)
		if m == nil {
			t.Fatalf("group section without data-group: %.200s", p)
		}
		if i := strings.Index(p, "</section>"); i >= 0 {
			p = p[:i]
		}
		out[m[1]] = p
	}
	return out
}

func count(s, sub string) int { return strings.Count(s, sub) }

func TestHTMLContent(t *testing.T) {
	run := reporttest.Run(t)
	page := renderHTML(t, run, report.HTMLOptions{})

	secs := sections(t, page)
	if len(secs) != 2 {
		t.Fatalf("got %d group sections, want 2", len(secs))
	}
	want := map[string]struct{ cands, selected, gate, dup, errs int }{
		"portrait":  {5, 2, 1, 1, 0},
		"landscape": {2, 1, 0, 0, 1},
	}
	for g, w := range want {
		s := secs[g]
		if n := count(s, `<figure class="candidate"`); n != w.cands {
			t.Errorf("group %s: %d candidates, want %d", g, n, w.cands)
		}
		if n := count(s, `data-selected="true"`); n != w.selected {
			t.Errorf("group %s: %d selected, want %d", g, n, w.selected)
		}
		if !strings.Contains(s, fmt.Sprintf(`data-selected-count="%d"`, w.selected)) {
			t.Errorf("group %s: data-selected-count is not %d", g, w.selected)
		}
		for kind, n := range map[string]int{"gate": w.gate, "duplicate": w.dup, "error": w.errs} {
			if got := count(s, `data-reject="`+kind+`"`); got != n {
				t.Errorf("group %s: %d candidates rejected as %s, want %d", g, got, kind, n)
			}
		}
		if n := count(s, `<img class="thumb" src="data:image/jpeg;base64,`); n != w.cands {
			t.Errorf("group %s: %d embedded thumbnails, want %d", g, n, w.cands)
		}
	}

	// Sorted by total: in portrait jobs 0 (.92), 1 (.81), 3 (.66), 2 (.40), 4 (.35).
	order := regexp.MustCompile(`data-job="(\d+)"`).FindAllStringSubmatch(secs["portrait"], -1)
	var got []string
	for _, m := range order {
		got = append(got, m[1])
	}
	if strings.Join(got, ",") != "0,1,3,2,4" {
		t.Errorf("portrait order = %v, want 0,1,3,2,4", got)
	}

	for _, sub := range []string{
		`near-duplicate of #0`,
		`gate sharpness.laplacian_var: 12 &lt; min 50`,
		`scoring error: clip: connection refused`,
		`<span class="badge sel" data-rank="1">#1 selected</span>`,
		`<dd data-param="seed">10</dd>`,
		`data-metric="sharpness.laplacian_var">310</dd>`,
		`<tr class="failure" data-job="5" data-class="execution">`,
		`KSampler: CUDA error: an illegal memory access was encountered`,
		`seed=10, sampler_name=dpmpp_2m`,
		`data-count="selected">3<`,
		`data-count="candidates">7<`,
		`data-count="rejected">3<`,
		// (6 min × $1.20 + 4 min × $0.80) / 60 / 3 selected images.
		`<td class="num" id="cost-per-image">$0.0578</td>`,
		`<tr class="gate" data-gate="sharpness.laplacian_var"><td><code>sharpness.laplacian_var</code></td><td class="num">1</td><td class="num">7</td><td class="num">86%</td></tr>`,
		`<tr class="instance" data-instance="gpu-a"><td>gpu-a</td><td class="num">5</td><td class="num">1</td><td class="num">6m0s</td><td class="num">1m30s</td><td class="num">60%</td><td class="num">2</td>`,
	} {
		if !strings.Contains(page, sub) {
			t.Errorf("page lacks %q", sub)
		}
	}
	if strings.Contains(page, "ComfyUI_00001_") {
		t.Error("page mentions the server's file name")
	}
	if regexp.MustCompile(`(src|href)="(https?:)?//`).MatchString(page) {
		t.Error("page refers to an external asset")
	}
}

func TestHTMLUnreadableImages(t *testing.T) {
	run := reporttest.Run(t)
	// One image deleted, one path that tries to leave the run folder.
	if err := os.Remove(filepath.Join(run.OutputDir, run.Groups[0].Candidates[2].Candidate.Path)); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(filepath.Dir(run.OutputDir), "outside.png")
	if err := os.WriteFile(outside, []byte("not an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	run.Groups[1].Candidates[0].Candidate.Path = "../outside.png"

	page := renderHTML(t, run, report.HTMLOptions{})
	if n := count(page, `data-image="missing"`); n != 2 {
		t.Errorf("%d candidates marked missing, want 2", n)
	}
	if n := count(page, `<img class="thumb"`); n != 5 {
		t.Errorf("%d thumbnails, want 5", n)
	}
	if !strings.Contains(page, "path escapes from parent") {
		t.Errorf("escaping path not reported as such")
	}
}

func TestWriteHTMLFile(t *testing.T) {
	run := reporttest.Run(t)
	dir := filepath.Join(run.OutputDir, "report")
	path, err := report.WriteHTMLFile(t.Context(), dir, run, report.HTMLOptions{Now: fixedNow})
	if err != nil {
		t.Fatalf("WriteHTMLFile: %v", err)
	}
	page, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	thumbs, err := filepath.Glob(filepath.Join(dir, "report_files", "*.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	if len(thumbs) != 7 {
		t.Errorf("%d thumbnail files, want 7", len(thumbs))
	}
	for _, sub := range []string{
		`src="report_files/g00-j000000.jpg"`,
		`src="report_files/g01-j000007.jpg"`,
		`<a href="../images/portrait/000003.png">`,
	} {
		if !strings.Contains(string(page), sub) {
			t.Errorf("report.html lacks %q", sub)
		}
	}
	if strings.Contains(string(page), "data:image") {
		t.Error("report.html embeds thumbnails though they were written as files")
	}
}

func TestHTMLCanceled(t *testing.T) {
	run := reporttest.Run(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var buf bytes.Buffer
	err := report.HTML(ctx, &buf, run, report.HTMLOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("HTML with a canceled context = %v, want context.Canceled", err)
	}
	if buf.Len() != 0 {
		t.Errorf("HTML wrote %d bytes after cancellation", buf.Len())
	}
}

func TestSummarize(t *testing.T) {
	run := reporttest.Run(t)
	run.Gates = append(run.Gates, "clip.similarity")
	s := report.Summarize(run)
	if s.Candidates != 7 || s.Rejected != 3 || s.Selected != 3 {
		t.Errorf("Summarize counts = %d candidates, %d rejected, %d selected; want 7, 3, 3", s.Candidates, s.Rejected, s.Selected)
	}
	if len(s.Gates) != 2 || s.Gates[0].Name != "clip.similarity" || s.Gates[0].PassRate() != 1 ||
		s.Gates[1].Name != "sharpness.laplacian_var" || s.Gates[1].Failed != 1 {
		t.Errorf("Summarize gates = %+v, want clip.similarity 0 failed, sharpness.laplacian_var 1 failed", s.Gates)
	}
	if u := s.Instances[1].Utilization; u != 0.4 {
		t.Errorf("gpu-b utilization = %v, want 0.4", u)
	}
	if d := s.Instances[0].PerPrompt; d != 90*time.Second {
		t.Errorf("gpu-a per prompt = %v, want 1m30s", d)
	}
	if !s.Priced || fmt.Sprintf("%.5f", s.CostPerImage) != "0.05778" {
		t.Errorf("cost per image = %v (priced %v), want 0.05778", s.CostPerImage, s.Priced)
	}
}

func TestRejectKind(t *testing.T) {
	for _, tc := range []struct {
		reason string
		dup    bool
		want   string
	}{
		{"", false, ""},
		{"", true, report.RejectDuplicate},
		{"near-duplicate of key00", false, report.RejectDuplicate},
		{"gate a.b: 1 < min 2", false, report.RejectGate},
		{"scoring error: x", false, report.RejectError},
		{"missing metric a.b", false, report.RejectError},
	} {
		if got := report.RejectKind(tc.reason, tc.dup); got != tc.want {
			t.Errorf("report.RejectKind(%q, %v) = %q, want %q", tc.reason, tc.dup, got, tc.want)
		}
	}
}
