package report_test

import (
	"archive/zip"
	"bytes"
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
	"github.com/comfybatch/comfybatch/runview"
	"github.com/comfybatch/comfybatch/runview/runviewtest"
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

// TestBrowserLoadsReport opens the report in a real browser, both as a
// folder (moved away from where it was written, and unzipped from a zip of
// it) and as a standalone page with data URIs, and checks the DOM Chromium
// built: every thumbnail loaded (the page's onload/onerror handlers mark
// each img; #open expands the collapsed rejected cards so their lazy
// thumbnails load too), the selected count per group is right, and
// #group=NAME shows that group only.
func TestBrowserLoadsReport(t *testing.T) {
	run := runviewtest.Build(t).Run
	pages := map[string]string{}
	dir := filepath.Join(run.OutputDir, "report")
	if _, err := report.Write(t.Context(), dir, run, report.Options{}); err != nil {
		t.Fatalf("Write: %v", err)
	}
	moved := filepath.Join(t.TempDir(), "moved")
	if err := os.Rename(dir, moved); err != nil {
		t.Fatal(err)
	}
	pages["folder moved"] = filepath.Join(moved, report.PageName)
	pages["folder unzipped"] = filepath.Join(zipAndUnzip(t, moved), report.PageName)

	standalone := filepath.Join(t.TempDir(), "standalone.html")
	f, err := os.Create(standalone)
	if err != nil {
		t.Fatal(err)
	}
	if err := report.HTML(t.Context(), f, run, report.Options{}); err != nil {
		t.Fatalf("HTML: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	pages["data-uri"] = standalone

	imgRe := regexp.MustCompile(`<img [^>]*class="thumb"[^>]*>`)
	for name, path := range pages {
		t.Run(name, func(t *testing.T) {
			dom := chromium(t, "--virtual-time-budget=10000", "--window-size=1400,4000", "--dump-dom", fileURL(path)+"#open")
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
	t.Run("batched", func(t *testing.T) {
		// Twelve images of four prompts: a card and a thumbnail each.
		run := runviewtest.BuildWith(t, runviewtest.Options{Batched: true}).Run
		p, err := report.Write(t.Context(), filepath.Join(t.TempDir(), "report"), run, report.Options{Full: report.FullAll})
		if err != nil {
			t.Fatalf("Write: %v", err)
		}
		dom := chromium(t, "--virtual-time-budget=10000", "--window-size=1400,4000", "--dump-dom", fileURL(p)+"#open")
		imgs := imgRe.FindAllString(dom, -1)
		if len(imgs) != 12 {
			t.Fatalf("dumped DOM has %d thumbnails, want 12:\n%.2000s", len(imgs), dom)
		}
		for _, img := range imgs {
			if !strings.Contains(img, `data-load="ok"`) {
				t.Errorf("thumbnail did not load: %s", img)
			}
		}
		if n := strings.Count(sections(t, dom)[runviewtest.BatchedGroup], `data-selected="true"`); n != 3 {
			t.Errorf("browser shows %d selected, want 3", n)
		}
		if n := strings.Count(dom, `class="image" data-seed=`); n != 12 {
			t.Errorf("browser shows seed and batch index on %d cards, want 12", n)
		}
	})
	t.Run("group filter", func(t *testing.T) {
		dom := chromium(t, "--virtual-time-budget=5000", "--dump-dom", fileURL(pages["folder moved"])+"#group=landscape")
		hidden := regexp.MustCompile(`<section class="group"[^>]*data-group="([^"]*)"[^>]*hidden`).FindAllStringSubmatch(dom, -1)
		if len(hidden) != 1 || hidden[0][1] != "portrait" {
			t.Errorf("#group=landscape hides %v, want portrait only", hidden)
		}
	})
}

// zipAndUnzip zips dir with archive/zip, as a person mailing the report
// would, and unpacks it elsewhere; it returns the unpacked folder.
func zipAndUnzip(t *testing.T, dir string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	if err := zw.AddFS(os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "unzipped")
	if err := os.CopyFS(out, zr); err != nil {
		t.Fatal(err)
	}
	return out
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
	run := runviewtest.BuildWith(t, runviewtest.Options{Width: 512, Height: 384}).Run
	p, err := report.Write(t.Context(), filepath.Join(run.OutputDir, "report"), run, report.Options{})
	if err != nil {
		t.Fatal(err)
	}
	chromium(t, "--screenshot="+filepath.Join(out, "report.png"), "--window-size=1400,2000", "--hide-scrollbars",
		"--virtual-time-budget=5000", fileURL(p))
	f, err := os.Create(filepath.Join(out, "grid.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := report.WriteGridPNG(t.Context(), f, run, report.GridOptions{X: "seed", Y: "sampler_name", Group: "portrait", CellSize: 128}); err != nil {
		t.Fatal(err)
	}
	batched := runviewtest.BuildWith(t, runviewtest.Options{Batched: true, Width: 512, Height: 384}).Run
	p, err = report.Write(t.Context(), filepath.Join(batched.OutputDir, "report"), batched, report.Options{})
	if err != nil {
		t.Fatal(err)
	}
	chromium(t, "--screenshot="+filepath.Join(out, "report_batched.png"), "--window-size=1400,2000", "--hide-scrollbars",
		"--virtual-time-budget=5000", fileURL(p))
	g, err := os.Create(filepath.Join(out, "grid_batched.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := report.WriteGridPNG(t.Context(), g, batched, report.GridOptions{X: "output", Y: "batch_index", Z: "seed",
		Where: []runview.Cond{{Name: "batch_size", Value: "2"}}, CellSize: 128}); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", out)
}
