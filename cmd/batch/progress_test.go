package main

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
	"unicode/utf8"

	"github.com/comfybatch/comfybatch/generate"
	"github.com/comfybatch/comfybatch/pipeline"
)

// syncBuffer is a bytes.Buffer the renderer goroutine and the test can
// share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testProgress is a run 12 of 48 jobs in, 3 of them failed, 8 done by an
// earlier process, started a minute ago.
func testProgress(now time.Time) *pipeline.Progress {
	p := &pipeline.Progress{}
	p.Total.Store(56)
	p.Skipped.Store(8)
	p.Done.Store(9)
	p.Failed.Store(3)
	p.Started.Store(now.Add(-time.Minute).UnixMilli())
	return p
}

// fleetOf returns n instances named like real hosts, a few of them down
// or loading.
func fleetOf(n int) *fleetView {
	insts := make([]generate.Instance, n)
	for i := range insts {
		insts[i] = generate.Instance{Name: fmt.Sprintf("gpu%d.example.com:8188", i+1)}
	}
	v := newFleetView(insts)
	for i, in := range insts {
		switch i % 5 {
		case 1:
			v.observe(generate.Event{Kind: generate.EventInstanceDown, Instance: in.Name})
		case 2:
			v.observe(generate.Event{Kind: generate.EventSubmitted, Instance: in.Name})
			v.observe(generate.Event{Kind: generate.EventModelLoad, Instance: in.Name})
		default:
			v.observe(generate.Event{Kind: generate.EventSubmitted, Instance: in.Name})
			v.observe(generate.Event{Kind: generate.EventSubmitted, Instance: in.Name})
		}
	}
	return v
}

func TestLiveLineFitsWidth(t *testing.T) {
	now := time.Now()
	s := testProgress(now).Snapshot(now)
	for _, n := range []int{0, 1, 3, 8, 256} {
		insts := fleetOf(n).snapshot()
		for width := 1; width <= 300; width++ {
			line := liveLine(s, insts, width)
			if got := columns(line); got > width-1 {
				t.Fatalf("%d instances, width %d: line takes %d columns, want at most %d: %q", n, width, got, width-1, line)
			}
			if strings.ContainsAny(line, "\r\n\x1b") {
				t.Fatalf("%d instances, width %d: line has a control character: %q", n, width, line)
			}
		}
	}
}

func TestLiveLineContent(t *testing.T) {
	now := time.Now()
	s := testProgress(now).Snapshot(now)
	const counts = "9/48 done (25%), 3 failed, 0.2/s, ETA 3m0s, 8 done before"
	tests := []struct {
		name  string
		n     int
		width int
		want  string
	}{
		{"wide: bar, counts, each instance", 3, 200,
			strings.Repeat("█", 7) + strings.Repeat("░", 23) + " " + counts +
				" | gpu1.example.com:8188 2/2 up, gpu2.example.com:8188 down, gpu3.example.com:8188 1/2 loading"},
		{"medium: the instances summed up, a shorter bar", 3, 110,
			strings.Repeat("█", 4) + strings.Repeat("░", 15) + " " + counts + " | 3 instances: 2 up 3/4, 1 down"},
		{"narrow: no bar", 3, 100, counts + " | 3 instances: 2 up 3/4, 1 down"},
		{"80 columns: cut", 3, 80, counts + " | 3 instances: 2 up …"},
		{"a big fleet", 256, 200,
			strings.Repeat("█", 7) + strings.Repeat("░", 23) + " " + counts + " | 256 instances: 205 up 359/410, 51 down"},
		{"no instances known", 0, 200, strings.Repeat("█", 7) + strings.Repeat("░", 23) + " " + counts},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := liveLine(s, fleetOf(tt.n).snapshot(), tt.width); got != tt.want {
				t.Errorf("liveLine(width %d) =\n %q\nwant\n %q", tt.width, got, tt.want)
			}
		})
	}
}

func TestFitCountsWideRunes(t *testing.T) {
	tests := []struct {
		in    string
		width int
		want  string
	}{
		{"abcdef", 6, "abcdef"},
		{"abcdef", 5, "abcd…"},
		{"ab東京", 6, "ab東京"},
		{"ab東京", 5, "ab東…"},
		{"ab東京", 4, "ab…"},
		{"a\x1b[31mb", 20, "a?[31mb"},
		{"abc", 0, ""},
	}
	for _, tt := range tests {
		if got := fit(tt.in, tt.width); got != tt.want {
			t.Errorf("fit(%q, %d) = %q, want %q", tt.in, tt.width, got, tt.want)
		}
	}
}

// frames splits what the live display wrote into its redraws: each is
// "\r" + line + "\x1b[K".
func frames(t *testing.T, out string) []string {
	t.Helper()
	if !strings.HasPrefix(out, "\r") {
		t.Fatalf("live output does not start with a carriage return: %q", out)
	}
	var lines []string
	for _, f := range strings.Split(out[1:], "\r") {
		line, ok := strings.CutSuffix(f, "\x1b[K")
		if !ok {
			t.Fatalf("frame %q does not end with erase-to-end-of-line", f)
		}
		lines = append(lines, line)
	}
	return lines
}

func TestLiveRedrawFollowsResize(t *testing.T) {
	now := time.Now()
	widths := []int{120, 40, 200, 80}
	i := 0
	var out bytes.Buffer
	d := newProgressDisplay(IO{Err: &out, ErrTTY: true, ErrWidth: func() int { return widths[i] },
		Getenv: func(string) (string, bool) { return "", false }}, testProgress(now), fleetOf(3))
	d.now = func() time.Time { return now }
	for i = range widths {
		d.draw()
	}
	lines := frames(t, out.String())
	if len(lines) != len(widths) {
		t.Fatalf("%d redraws written, want %d: %q", len(lines), len(widths), out.String())
	}
	for i, line := range lines {
		if strings.Contains(line, "\n") {
			t.Errorf("redraw %d moved to a new line: %q", i, line)
		}
		if c := columns(line); c > widths[i]-1 {
			t.Errorf("redraw %d at width %d takes %d columns: %q", i, widths[i], c, line)
		}
	}
	if !strings.Contains(lines[2], "gpu2.example.com:8188 down") || strings.Contains(lines[3], "gpu2") {
		t.Errorf("the instance list should show at 200 columns and be summed up at 80:\n%q\n%q", lines[2], lines[3])
	}
}

func TestLiveLogRecordsKeepTheLine(t *testing.T) {
	now := time.Now()
	var out bytes.Buffer
	d := newProgressDisplay(IO{Err: &out, ErrTTY: true, ErrWidth: func() int { return 200 }}, testProgress(now), fleetOf(1))
	d.now = func() time.Time { return now }
	logs := logger(d, false)
	logs.Warn("before the first line") // nothing on screen yet: written as is
	d.draw()
	line := liveLine(d.prog.Snapshot(now), d.fleet.snapshot(), 200)
	logs.Warn("instance down", "instance", "gpu1")
	d.finish()
	got := out.String()
	first, rest, ok := strings.Cut(got, "\n")
	if !ok || !strings.Contains(first, "msg=\"before the first line\"") {
		t.Fatalf("first log record = %q", first)
	}
	record, after, ok := strings.Cut(strings.TrimPrefix(rest, "\r"+line+"\x1b[K"+"\r\x1b[K"), "\n")
	if !ok || !strings.Contains(record, "msg=\"instance down\" instance=gpu1") || strings.ContainsAny(record, "\r\x1b") {
		t.Fatalf("output after the first line: %q\nwant the line, an erase, then the record alone on its line", rest)
	}
	if want := line + "\x1b[K" + "\r" + line + "\x1b[K\n"; after != want {
		t.Errorf("after the record: %q\nwant the line redrawn, then the final line and a newline: %q", after, want)
	}
}

func TestProgressModes(t *testing.T) {
	env := func(kv ...string) func(string) (string, bool) {
		return func(k string) (string, bool) {
			for i := 0; i < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1], true
				}
			}
			return "", false
		}
	}
	tests := []struct {
		name string
		tty  bool
		env  func(string) (string, bool)
		live bool
	}{
		{"terminal", true, env("TERM", "xterm-256color"), true},
		{"file or pipe", false, env("TERM", "xterm-256color"), false},
		{"NO_COLOR", true, env("TERM", "xterm", "NO_COLOR", "1"), false},
		{"empty NO_COLOR", true, env("TERM", "xterm", "NO_COLOR", ""), true},
		{"TERM=dumb", true, env("TERM", "dumb"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var out syncBuffer
				o := IO{Err: &out, ErrTTY: tt.tty, ErrWidth: func() int { return 100 }, Getenv: tt.env}
				_, stop := startProgress(o, testProgress(time.Now()), fleetOf(2))
				time.Sleep(25 * time.Second)
				stop()
				got := out.String()
				if !tt.live {
					checkPlain(t, got, 2) // at 10 s and 20 s
					return
				}
				lines := frames(t, strings.TrimSuffix(got, "\n"))
				if want := int(25*time.Second/liveEvery) + 1; len(lines) != want { // + the final line
					t.Errorf("%d redraws in 25 s, want %d", len(lines), want)
				}
				if strings.Count(got, "\n") != 1 || !strings.HasSuffix(got, "\n") {
					t.Errorf("live output should end with its only newline: %q", got[max(0, len(got)-200):])
				}
			})
		})
	}
}

// checkPlain checks that out is n plain progress lines: printable ASCII
// only (no bar glyphs, no escape codes, no carriage returns).
func checkPlain(t *testing.T, out string, n int) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if out == "" || len(lines) != n {
		t.Fatalf("%d plain lines, want %d: %q", len(lines), n, out)
	}
	for _, line := range lines {
		if !strings.HasPrefix(line, "progress: 9/48 done (25%), 3 failed") {
			t.Errorf("plain line %q does not start with the counts", line)
		}
		for i := 0; i < len(line); i++ {
			if line[i] < ' ' || line[i] > '~' {
				t.Errorf("plain line has byte %#x at %d: %q", line[i], i, line)
				break
			}
		}
	}
}

func TestPlainLine(t *testing.T) {
	now := time.Now()
	s := testProgress(now).Snapshot(now)
	got := plainLine(s, fleetOf(3).snapshot())
	want := "progress: 9/48 done (25%), 3 failed, 0.2/s, ETA 3m0s, 8 done before | " +
		"gpu1.example.com:8188 2/2 up, gpu2.example.com:8188 down, gpu3.example.com:8188 1/2 loading"
	if got != want {
		t.Errorf("plainLine =\n %q\nwant\n %q", got, want)
	}
	got = plainLine(s, fleetOf(12).snapshot())
	want = "progress: 9/48 done (25%), 3 failed, 0.2/s, ETA 3m0s, 8 done before | " +
		"12 instances: 9 up 16/18, 3 down (gpu2.example.com:8188 gpu7.example.com:8188 gpu12.example.com:8188)"
	if got != want {
		t.Errorf("plainLine with 12 instances =\n %q\nwant\n %q", got, want)
	}
	v := newFleetView([]generate.Instance{{Name: "gpü\x1b[2J"}})
	if got := plainLine(s, v.snapshot()); !utf8.ValidString(got) || strings.ContainsAny(got, "\x1bü") {
		t.Errorf("plainLine with a strange instance name = %q, want printable ASCII", got)
	}
}
