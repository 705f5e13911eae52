package report_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/report"
	"github.com/comfybatch/comfybatch/runview"
	"github.com/comfybatch/comfybatch/runview/runviewtest"
)

var update = flag.Bool("update", false, "rewrite golden files")

var fixedNow = func() time.Time { return time.Date(2026, 11, 23, 11, 0, 0, 0, time.UTC) }

func renderHTML(t *testing.T, run *runview.Run, opts report.Options) string {
	t.Helper()
	opts.Now = fixedNow
	var buf bytes.Buffer
	if err := report.HTML(t.Context(), &buf, run, opts); err != nil {
		t.Fatalf("HTML: %v", err)
	}
	return buf.String()
}

// writeReport writes the report folder of run into a new directory and
// returns the page's text and the folder.
func writeReport(t *testing.T, run *runview.Run, dir string, opts report.Options) (string, string) {
	t.Helper()
	if dir == "" {
		dir = filepath.Join(t.TempDir(), "report")
	}
	opts.Now = fixedNow
	p, err := report.Write(t.Context(), dir, run, opts)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	if p != filepath.Join(dir, report.PageName) {
		t.Errorf("Write = %s, want %s", p, filepath.Join(dir, report.PageName))
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(data), dir
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

func jobOrder(s string) string {
	var got []string
	for _, m := range regexp.MustCompile(`data-job="(\d+)"`).FindAllStringSubmatch(s, -1) {
		got = append(got, m[1])
	}
	return strings.Join(got, ",")
}

func TestHTMLContent(t *testing.T) {
	run := runviewtest.Build(t).Run
	page, _ := writeReport(t, run, "", report.Options{CostPerGPUHour: 1})

	secs := sections(t, page)
	if len(secs) != 2 {
		t.Fatalf("got %d group sections, want 2", len(secs))
	}
	for g, w := range map[string]struct {
		cands, selected int
		rejects         map[string]int
	}{
		"portrait":  {5, 2, map[string]int{"gate": 1, "duplicate": 1, "error": 0}},
		"landscape": {2, 1, map[string]int{"gate": 0, "duplicate": 0, "error": 1}},
	} {
		s := secs[g]
		if n := count(s, `<figure class="candidate"`); n != w.cands {
			t.Errorf("group %s: %d candidates, want %d", g, n, w.cands)
		}
		if n := count(s, `data-selected="true"`); n != w.selected {
			t.Errorf("group %s: %d selected, want %d", g, n, w.selected)
		}
		for kind, n := range w.rejects {
			if got := count(s, `data-reject="`+kind+`"`); got != n {
				t.Errorf("group %s: %d candidates rejected as %s, want %d", g, got, kind, n)
			}
		}
		// The fixed prompt is shown once, above the cards, not on each.
		if n := count(s, runviewtest.Prompts[g]); n != 1 {
			t.Errorf("group %s shows its prompt %d times, want once", g, n)
		}
		if count(s, `data-param="prompt"`) != 0 || count(s, `data-param="cfg"`) != 0 || count(s, `data-fixed="cfg"`) != 1 {
			t.Errorf("group %s: cards repeat fixed params, or the group lacks them", g)
		}
		if n := count(s, `loading="lazy"`); n != w.cands {
			t.Errorf("group %s: %d lazy thumbnails, want %d", g, n, w.cands)
		}
	}
	// Selected first by rank, then the passed by total, then the rejected
	// (collapsed) by total.
	p := secs["portrait"]
	if got := jobOrder(p); got != "0,3,2,1,4" {
		t.Errorf("portrait order = %v, want 0,3,2,1,4", got)
	}
	rej := p[strings.Index(p, `<details class="rejected">`):]
	if got := jobOrder(rej); got != "1,4" {
		t.Errorf("portrait collapsed = %v, want the rejected 1,4", got)
	}
	for _, sub := range []string{
		`near-duplicate of #0`,
		`gate sharpness.laplacian_var: 12 &lt; min 50`,
		`scoring error: clip: connection refused`,
		`<span class="badge sel" data-rank="1">#1 selected</span>`,
		`<dd data-param="seed">10</dd>`,
		`data-metric="sharpness.laplacian_var">310</dd>`,
		`data-metric="size.bytes">`,
		`<tr class="failure" data-job="5" data-group="portrait" data-class="execution">`,
		`CUDA error: an illegal memory access was encountered`,
		`seed=10, sampler_name=dpmpp_2m`,
		`data-count="selected">3<`,
		`data-count="candidates">7<`,
		`data-count="rejected">3<`,
		`<option value="portrait">portrait (2 selected of 5)</option>`,
		// 10 busy minutes at $1 an hour over 3 selected images.
		`<td class="num" id="cost-per-image">$0.0556</td>`,
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
}

// links returns every src and href of a page, unescaped.
func links(t *testing.T, page string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllStringSubmatch(page, -1) {
		u, err := url.PathUnescape(m[1])
		if err != nil {
			t.Fatalf("link %q: %v", m[1], err)
		}
		out = append(out, u)
	}
	return out
}

// TestWriteTravels: the folder holds everything its page links to, by
// relative links that stay inside it, so it can be moved; thumbnails are
// the run's own, hard-linked; files are readable by all.
func TestWriteTravels(t *testing.T) {
	f := runviewtest.Build(t)
	run := f.Run
	page, dir := writeReport(t, run, filepath.Join(run.OutputDir, "report"), report.Options{})
	moved := filepath.Join(t.TempDir(), "elsewhere", "my report")
	if err := os.MkdirAll(filepath.Dir(moved), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dir, moved); err != nil {
		t.Fatal(err)
	}
	ls := links(t, page)
	thumbs, full := 0, 0
	for _, l := range ls {
		if strings.HasPrefix(l, "/") || strings.Contains(l, "..") || strings.Contains(l, ":") {
			t.Errorf("link %q is not relative inside the folder", l)
			continue
		}
		fi, err := os.Stat(filepath.Join(moved, filepath.FromSlash(l)))
		if err != nil {
			t.Errorf("link %q is broken once the folder moved: %v", l, err)
			continue
		}
		if fi.Mode().Perm() != 0o644 {
			t.Errorf("%s has mode %v, want 0644", l, fi.Mode().Perm())
		}
		switch {
		case strings.HasPrefix(l, "thumbs/"):
			thumbs++
		case strings.HasPrefix(l, "selected/"):
			full++
		}
	}
	if thumbs != 7 || full != 3 {
		t.Errorf("page links %d thumbnails and %d full-size images, want 7 and 3", thumbs, full)
	}
	if fi, err := os.Stat(filepath.Join(moved, report.PageName)); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("page: %v, %v; want mode 0644", fi, err)
	}
	// Written inside the run folder, thumbnails are links to the run's.
	cands, err := run.LoadCandidates(t.Context(), runview.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	src, _ := os.Stat(run.Abs(cands[0].Thumb))
	dst, _ := os.Stat(filepath.Join(moved, "thumbs", cands[0].SHA256+".jpg"))
	if !os.SameFile(src, dst) {
		t.Error("thumbnail in the report folder is a copy, want a hard link to the run's")
	}
}

func TestWriteFull(t *testing.T) {
	run := runviewtest.Build(t).Run
	for full, want := range map[string]int{report.FullAll: 7, report.FullNone: 0, report.FullSelected: 3} {
		page, dir := writeReport(t, run, "", report.Options{Full: full})
		n := 0
		for _, l := range links(t, page) {
			if !strings.HasPrefix(l, "thumbs/") {
				n++
				if _, err := os.Stat(filepath.Join(dir, l)); err != nil {
					t.Errorf("full %s: %v", full, err)
				}
			}
		}
		if n != want {
			t.Errorf("full %s: %d full-size links, want %d", full, n, want)
		}
	}
	if _, err := report.Write(t.Context(), t.TempDir(), run, report.Options{Full: "some"}); !errors.Is(err, comfybatch.ErrInvalid) {
		t.Errorf("Write(full some) = %v, want ErrInvalid", err)
	}
}

// TestWriteWithoutThumbs: a run recorded before thumbnails were made gets
// them made by the report.
func TestWriteWithoutThumbs(t *testing.T) {
	run := runviewtest.BuildWith(t, runviewtest.Options{NoThumbs: true}).Run
	page, dir := writeReport(t, run, "", report.Options{})
	if n := count(page, `class="thumb"`); n != 7 {
		t.Errorf("%d thumbnails, want 7", n)
	}
	entries, err := os.ReadDir(filepath.Join(dir, "thumbs"))
	if err != nil || len(entries) != 7 {
		t.Errorf("thumbs/ has %d files (%v), want 7", len(entries), err)
	}
}

func TestHTMLUnreadableImages(t *testing.T) {
	specs := runviewtest.Specs()
	specs[7].Path = "../../etc/passwd" // landscape job 7
	run := runviewtest.BuildWith(t, runviewtest.Options{Specs: specs}).Run
	cands, err := run.LoadCandidates(t.Context(), runview.Filter{Group: "portrait"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{cands[1].Path, cands[1].Thumb} { // job 1: image and thumbnail gone
		if err := os.Remove(run.Abs(p)); err != nil {
			t.Fatal(err)
		}
	}
	for name, page := range map[string]string{
		"data-uri": renderHTML(t, run, report.Options{}),
		"folder":   func() string { p, _ := writeReport(t, run, "", report.Options{}); return p }(),
	} {
		if n := count(page, `data-image="missing"`); n != 2 {
			t.Errorf("%s: %d candidates marked missing, want 2", name, n)
		}
		if n := count(page, `class="thumb"`); n != 5 {
			t.Errorf("%s: %d thumbnails, want 5", name, n)
		}
		if !strings.Contains(page, "escapes") {
			t.Errorf("%s: escaping path not reported as such", name)
		}
	}
}

func TestHTMLDataURIs(t *testing.T) {
	run := runviewtest.Build(t).Run
	page := renderHTML(t, run, report.Options{})
	if n := count(page, `src="data:image/jpeg;base64,`); n != 7 {
		t.Errorf("%d embedded thumbnails, want 7", n)
	}
	if strings.Contains(page, `<a href=`) {
		t.Error("a standalone page links to a file")
	}
}

func TestHTMLCanceled(t *testing.T) {
	run := runviewtest.Build(t).Run
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var buf bytes.Buffer
	if err := report.HTML(ctx, &buf, run, report.Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("HTML with a canceled context = %v, want context.Canceled", err)
	}
	if buf.Len() != 0 {
		t.Errorf("HTML wrote %d bytes after cancellation", buf.Len())
	}
}

func TestSummarize(t *testing.T) {
	run := runviewtest.Build(t).Run
	s := report.Summarize(run, 1.5)
	if s.Candidates != 7 || s.Rejected != 3 || s.Selected != 3 {
		t.Errorf("Summarize counts = %d candidates, %d rejected, %d selected; want 7, 3, 3", s.Candidates, s.Rejected, s.Selected)
	}
	if len(s.Gates) != 1 || s.Gates[0].Name != "sharpness.laplacian_var" || s.Gates[0].Failed != 1 || s.Gates[0].Total != 7 {
		t.Errorf("Summarize gates = %+v, want sharpness.laplacian_var 1 failed of 7", s.Gates)
	}
	if u := s.Instances[1].Utilization; u != 0.4 {
		t.Errorf("gpu-b utilization = %v, want 0.4", u)
	}
	if d := s.Instances[0].PerPrompt; d != 90*time.Second {
		t.Errorf("gpu-a per prompt = %v, want 1m30s", d)
	}
	if !s.Priced || s.Cost != 0.25 || s.CostPerImage != 0.25/3 {
		t.Errorf("cost = %v, per image %v (priced %v), want 0.25, 0.0833", s.Cost, s.CostPerImage, s.Priced)
	}
	if unpriced := report.Summarize(run, 0); unpriced.Priced || unpriced.Cost != 0 {
		t.Errorf("Summarize without a price = %+v", unpriced)
	}
}

func TestRejectKind(t *testing.T) {
	for _, tc := range []struct {
		reason, want string
	}{
		{"", ""},
		{"gate sharpness.laplacian_var: 3 < min 50", report.RejectGate},
		{"near-duplicate of job 3", report.RejectDuplicate},
		{"scoring error: clip: timeout", report.RejectError},
		{"missing metric clip.similarity", report.RejectError},
	} {
		if got := report.RejectKind(tc.reason); got != tc.want {
			t.Errorf("report.RejectKind(%q) = %q, want %q", tc.reason, got, tc.want)
		}
	}
}

// TestHTMLBatched: every image of a prompt is a card of its own, with its
// own thumbnail; in a run of batches a card names the seed and batch
// index that render it again, and in a run with several output nodes the
// node that saved it.
func TestHTMLBatched(t *testing.T) {
	run := runviewtest.BuildWith(t, runviewtest.Options{Batched: true}).Run
	page, dir := writeReport(t, run, "", report.Options{})
	s := sections(t, page)[runviewtest.BatchedGroup]
	cards := regexp.MustCompile(`<figure class="candidate" id="([^"]*)" data-job="(\d+)" data-output="([^"]*)" data-batch-index="(\d+)" data-selected="(true|false)"`).
		FindAllStringSubmatch(s, -1)
	if len(cards) != 12 {
		t.Fatalf("%d cards, want 12 (one per image)", len(cards))
	}
	ids := map[string]bool{}
	var selected []string
	for _, c := range cards {
		ids[c[1]] = true
		if c[5] == "true" {
			selected = append(selected, c[2]+" "+c[3]+"/"+c[4])
		}
	}
	if len(ids) != 12 {
		t.Errorf("card ids %v are not unique", ids)
	}
	if got, want := strings.Join(selected, ","), "2 9/0,3 9/1,2 12/1"; got != want {
		t.Errorf("selected cards %s, want %s (by rank)", got, want)
	}
	thumbs := map[string]bool{}
	for _, l := range links(t, page) {
		if strings.HasPrefix(l, "thumbs/") {
			thumbs[l] = true
		}
		if _, err := os.Stat(filepath.Join(dir, l)); err != nil {
			t.Errorf("link %s: %v", l, err)
		}
	}
	if len(thumbs) != 12 {
		t.Errorf("%d distinct thumbnails, want 12", len(thumbs))
	}
	for _, sub := range []string{
		`<div class="image" data-seed="1">seed 1 · batch index 1 (batch of 2)</div><div class="image">output 12 (Upscaled)</div>`,
		`<div class="image" data-seed="2">seed 2 · batch index 0 (batch of 1)</div><div class="image">output 9 (Base)</div>`,
		`href="selected/fox/3_1_1.png"`,
		`href="selected/fox/2_2_1.png"`,
		`alt="job 2, batch index 1, output 12 (Upscaled)"`,
		`<dd data-param="batch_size">2</dd>`,
		`near-duplicate of #2`,
		`data-count="candidates">12<`,
	} {
		if !strings.Contains(page, sub) {
			t.Errorf("page lacks %q", sub)
		}
	}
	if strings.Contains(s, `data-param="seed"`) {
		t.Error("cards repeat the seed among the params; it belongs beside the batch index")
	}
	// Selected by rank, then the passed and the rejected by total, each
	// image on its own: job 2's 9/1 (0.60) before job 0's 12/0 (0.55).
	if got := jobOrder(s); got != "2,3,2,2,0,0,3,3,2,3,1,1" {
		t.Errorf("card order = %s", got)
	}
}
