package report_test

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/comfybatch/comfybatch/report"
	"github.com/comfybatch/comfybatch/report/reporttest"
)

var screenshots = flag.String("screenshots", "", "write screenshots of the report and a grid to this directory")

const chromiumPath = "/usr/bin/chromium"

// chromium runs headless Chromium with extra arguments and returns its
// stdout. It skips the test when Chromium is not installed.
func chromium(t *testing.T, args ...string) string {
	t.Helper()
	bin := chromiumPath
	if _, err := os.Stat(bin); err != nil {
		var lerr error
		if bin, lerr = exec.LookPath("chromium"); lerr != nil {
			t.Skipf("chromium not installed (%v); install it with apt-get install -y chromium to run the browser tests", err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	base := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(),
	}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return string(out)
}

func fileURL(path string) string { return "file://" + filepath.ToSlash(path) }

// TestBrowserLoadsReport opens the report in a real browser, both as
// report.html with a thumbnail folder and as a standalone page with data
// URIs, and checks the DOM Chromium built: every thumbnail loaded (the
// page's onload/onerror handlers mark each img) and the selected count per
// group is right.
func TestBrowserLoadsReport(t *testing.T) {
	run := reporttest.Run(t)
	pages := map[string]string{}
	dir := filepath.Join(t.TempDir(), "out")
	p, err := report.WriteHTMLFile(t.Context(), dir, run, report.HTMLOptions{})
	if err != nil {
		t.Fatalf("WriteHTMLFile: %v", err)
	}
	pages["files"] = p

	standalone := filepath.Join(t.TempDir(), "standalone.html")
	f, err := os.Create(standalone)
	if err != nil {
		t.Fatal(err)
	}
	if err := report.HTML(t.Context(), f, run, report.HTMLOptions{}); err != nil {
		t.Fatalf("HTML: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	pages["data-uri"] = standalone

	imgRe := regexp.MustCompile(`<img [^>]*class="thumb"[^>]*>`)
	for name, path := range pages {
		t.Run(name, func(t *testing.T) {
			dom := chromium(t, "--dump-dom", fileURL(path))
			imgs := imgRe.FindAllString(dom, -1)
			if len(imgs) != 7 {
				t.Fatalf("dumped DOM has %d thumbnails, want 7:\n%.2000s", len(imgs), dom)
			}
			for _, img := range imgs {
				if !strings.Contains(img, `data-load="ok"`) {
					t.Errorf("thumbnail did not load: %s", img)
				}
			}
			secs := sections(t, dom)
			for g, want := range map[string]int{"portrait": 2, "landscape": 1} {
				if n := strings.Count(secs[g], `data-selected="true"`); n != want {
					t.Errorf("group %s: browser shows %d selected, want %d", g, n, want)
				}
			}
			if n := strings.Count(dom, `class="failure"`); n != 1 {
				t.Errorf("browser shows %d failed jobs, want 1", n)
			}
		})
	}
}

// TestScreenshots writes screenshots of the report and a grid when
// -screenshots is set, for a person to look at.
func TestScreenshots(t *testing.T) {
	if *screenshots == "" {
		t.Skip("set -screenshots=DIR to write screenshots")
	}
	out, err := filepath.Abs(*screenshots)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	run := reporttest.RunSized(t, 512, 384)
	p, err := report.WriteHTMLFile(t.Context(), filepath.Join(run.OutputDir, "report"), run, report.HTMLOptions{})
	if err != nil {
		t.Fatal(err)
	}
	chromium(t, "--screenshot="+filepath.Join(out, "report.png"), "--window-size=1400,2000", "--hide-scrollbars", fileURL(p))
	f, err := os.Create(filepath.Join(out, "grid.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := report.WriteGridPNG(t.Context(), f, run, report.GridOptions{X: "seed", Y: "sampler_name", CellSize: 128}); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", out)
}
