package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/comfybatch/comfybatch/generate/comfytest"
	"github.com/comfybatch/comfybatch/score/cliptest"
	"github.com/comfybatch/comfybatch/score/scoretest"
)

func TestParseWindow(t *testing.T) {
	good := []struct {
		kind windowKind
		spec string
		want faultWindow
	}{
		{downWindow, "1@10s+20s", faultWindow{downWindow, 1, 10 * time.Second, 20 * time.Second}},
		{downWindow, "0@0s+500ms", faultWindow{downWindow, 0, 0, 500 * time.Millisecond}},
		{downWindow, "2@1m30s", faultWindow{downWindow, 2, 90 * time.Second, 0}},
		{restartWindow, "0@15s+5s", faultWindow{restartWindow, 0, 15 * time.Second, 5 * time.Second}},
		{restartWindow, "0@15s", faultWindow{restartWindow, 0, 15 * time.Second, 0}},
		{restartWindow, "0@15s+0s", faultWindow{restartWindow, 0, 15 * time.Second, 0}},
	}
	for _, tc := range good {
		got, err := parseWindow(tc.kind, tc.spec, 3)
		if err != nil || got != tc.want {
			t.Errorf("parseWindow(%s, %q, 3) = %+v, %v; want %+v", tc.kind.flag(), tc.spec, got, err, tc.want)
		}
	}
	bad := []struct {
		kind windowKind
		spec string
		want string // in the error
	}{
		{downWindow, "1:10s+20s", "no @"},
		{downWindow, "", "no @"},
		{downWindow, "x@10s", `instance "x" is not an index`},
		{downWindow, "-1@10s", `instance "-1" is not an index`},
		{downWindow, "3@10s", "instance 3 does not exist: --instance-count is 3, so indexes go from 0 to 2"},
		{downWindow, "1@10", `START "10" is not a duration`},
		{downWindow, "1@-5s+1s", `START "-5s" is negative`},
		{downWindow, "1@5s+soon", `LENGTH "soon" is not a duration`},
		{downWindow, "1@5s+", `LENGTH "" is not a duration`},
		{downWindow, "1@5s+0s", "LENGTH must be positive"},
		{restartWindow, "0@5s+-1s", `LENGTH "-1s" is negative`},
	}
	for _, tc := range bad {
		got, err := parseWindow(tc.kind, tc.spec, 3)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseWindow(%s, %q, 3) = %+v, %v; want an error with %q", tc.kind.flag(), tc.spec, got, err, tc.want)
		}
	}
}

func TestSimOptionsCheck(t *testing.T) {
	valid := func() simOptions {
		return simOptions{count: 2, version: comfytest.DefaultVersion, clipPort: 7997, clipDownAfter: -1}
	}
	bad := []struct {
		name string
		edit func(*simOptions)
		want string
	}{
		{"rate above 1", func(o *simOptions) { o.oom = 1.5 }, "--oom-rate must be a fraction from 0 to 1, got 1.5"},
		{"negative rate", func(o *simOptions) { o.truncate = -0.1 }, "--truncate-rate must be a fraction from 0 to 1"},
		{"error rate", func(o *simOptions) { o.fail = 2 }, "--error-rate must be a fraction"},
		{"500 rate", func(o *simOptions) { o.http500 = 7 }, "--http-500-rate must be a fraction"},
		{"negative ws drop", func(o *simOptions) { o.wsDropEvery = -time.Second }, "--ws-drop-every must be a positive duration"},
		{"down syntax", func(o *simOptions) { o.down = []string{"1@10s+20s", "1-10s"} }, "--down 1-10s: no @ in \"1-10s\"; want INSTANCE@START[+LENGTH]"},
		{"restart instance", func(o *simOptions) { o.restart = []string{"2@1s"} }, "--restart 2@1s: instance 2 does not exist"},
		{"clip down after", func(o *simOptions) { o.clipDownAfter = -2 }, "--clip-down-after must be a number of images"},
		{"clip down for alone", func(o *simOptions) { o.clipDownFor = time.Second }, "--clip-down-for needs --clip-down-after N"},
		{"clip down for negative", func(o *simOptions) { o.clipDownAfter, o.clipDownFor = 1, -time.Second }, "--clip-down-for must be a positive duration"},
		{"clip rate limit", func(o *simOptions) { o.clipRateLimit = -1 }, "--clip-rate-limit must be a number of requests"},
		{"clip retry after", func(o *simOptions) { o.clipRetryAfter = -time.Second }, "--clip-retry-after must be a positive duration"},
		{"clip without server", func(o *simOptions) { o.clipPort, o.clipToken = 0, "x" }, "--clip-token needs the fake CLIP server: leave out --clip-port 0"},
		{"count", func(o *simOptions) { o.count = 0 }, "--instance-count must be at least 1"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			o := valid()
			tc.edit(&o)
			_, err := o.check()
			if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("check() = %v; want a usage error with %q", err, tc.want)
			}
		})
	}

	o := valid()
	o.seed, o.oom, o.truncate, o.token = 7, 0.1, 0.3, "s3cret"
	o.down, o.restart = []string{"1@10s+20s"}, []string{"0@15s+5s"}
	o.clipDownAfter, o.clipDownFor, o.clipRateLimit = 4, time.Minute, 2
	p, err := o.check()
	if err != nil {
		t.Fatalf("check() = %v", err)
	}
	want := comfytest.Faults{OOMRate: 0.1, ViewTruncateRate: 0.3, AuthToken: "s3cret", Seed: 8}
	if len(p.faults) != 2 || p.faults[1] != want {
		t.Errorf("faults = %+v; want 2, the second %+v", p.faults, want)
	}
	wantWindows := []faultWindow{{downWindow, 1, 10 * time.Second, 20 * time.Second}, {restartWindow, 0, 15 * time.Second, 5 * time.Second}}
	if !slices.Equal(p.schedule.windows, wantWindows) {
		t.Errorf("windows = %+v; want %+v", p.schedule.windows, wantWindows)
	}
	if p.clip.RateLimited != 2 {
		t.Errorf("clip faults = %+v; want RateLimited 2", p.clip)
	}
}

// fakeTarget records what a schedule does to one instance, with the
// (fake) time since the schedule started.
type fakeTarget struct {
	mu    sync.Mutex
	start time.Time
	log   *[]string
	name  string
}

func (f *fakeTarget) SetFaults(fs comfytest.Faults) {
	f.record(fmt.Sprintf("down=%v seed=%d", fs.Down, fs.Seed))
}
func (f *fakeTarget) Restart() { f.record("restart") }
func (f *fakeTarget) record(what string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	*f.log = append(*f.log, fmt.Sprintf("%s %s %s", time.Since(f.start), f.name, what))
}

// The schedule's timing runs in a synctest bubble, where a minute of
// windows costs no wall time.
func TestScheduleTimeline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var got []string
		start := time.Now()
		targets := []simTarget{&fakeTarget{start: start, log: &got, name: "i0"}, &fakeTarget{start: start, log: &got, name: "i1"}}
		s := faultSchedule{windows: []faultWindow{
			{downWindow, 1, 10 * time.Second, 20 * time.Second},
			{restartWindow, 0, 15 * time.Second, 5 * time.Second},
			{downWindow, 1, 30 * time.Second, 5 * time.Second}, // meets the first: no gap
			{downWindow, 1, 12 * time.Second, 2 * time.Second}, // inside the first: no change
			{restartWindow, 0, 40 * time.Second, 0},
			{downWindow, 0, 50 * time.Second, 0}, // until the end
		}}
		var log bytes.Buffer
		s.run(t.Context(), targets, []comfytest.Faults{{Seed: 1}, {Seed: 2}}, &log)
		want := []string{
			"10s i1 down=true seed=2",
			"15s i0 down=true seed=1",
			"15s i0 restart",
			"20s i0 down=false seed=1",
			"35s i1 down=false seed=2",
			"40s i0 down=true seed=1",
			"40s i0 restart",
			"40s i0 down=false seed=1",
			"50s i0 down=true seed=1",
		}
		if !slices.Equal(got, want) {
			t.Errorf("timeline:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		wantLog := `sim: instance 1 down
sim: instance 0 down, restarting: its queue, history and cache are lost
sim: instance 0 up
sim: instance 1 up
sim: instance 0 down, restarting: its queue, history and cache are lost
sim: instance 0 up
sim: instance 0 down
`
		if log.String() != wantLog {
			t.Errorf("log:\n%s\nwant:\n%s", log.String(), wantLog)
		}
	})
}

func TestScheduleStopsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var got []string
		ctx, cancel := context.WithCancel(t.Context())
		s := faultSchedule{windows: []faultWindow{{downWindow, 0, time.Second, time.Hour}}}
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.run(ctx, []simTarget{&fakeTarget{start: time.Now(), log: &got, name: "i0"}}, make([]comfytest.Faults, 1), io.Discard)
		}()
		time.Sleep(time.Minute) // fake time: the window has started
		synctest.Wait()
		cancel()
		<-done
		if want := []string{"1s i0 down=true seed=0"}; !slices.Equal(got, want) {
			t.Errorf("timeline %q; want %q", got, want)
		}
	})
}

// stepWriter hands each line written to it to the test, and returns from
// Write only when the test says so: the schedule waits while the test
// looks at the servers.
type stepWriter struct {
	lines chan string
	ack   chan struct{}
	done  chan struct{} // closed when the test ends: Write returns at once
}

// startSteps runs run in a goroutine writing to a stepWriter, until the
// test ends (also when it fails half-way, with run waiting in Write).
func startSteps(t *testing.T, run func(ctx context.Context, w io.Writer)) stepWriter {
	w := stepWriter{lines: make(chan string), ack: make(chan struct{}), done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { run(ctx, w) })
	t.Cleanup(func() {
		cancel()
		close(w.done)
		wg.Wait()
	})
	return w
}

func (w stepWriter) Write(p []byte) (int, error) {
	select {
	case w.lines <- strings.TrimSpace(string(p)):
	case <-w.done:
		return len(p), nil
	}
	select {
	case <-w.ack:
	case <-w.done:
	}
	return len(p), nil
}

// next waits for the schedule's next line.
func (w stepWriter) next(t *testing.T, want string) {
	t.Helper()
	select {
	case got := <-w.lines:
		if got != want {
			t.Fatalf("schedule said %q; want %q", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no %q from the schedule within 10s", want)
	}
}

func getStatus(t *testing.T, url string, header ...string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(header) == 2 {
		req.Header.Set(header[0], header[1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// On the real simulator: a down window answers 503 and keeps the base
// faults once it ends; a restart loses history.
func TestScheduleOnFleet(t *testing.T) {
	fleet, err := comfytest.StartFleet(2, comfytest.Options{TimeScale: 0.001})
	if err != nil {
		t.Fatal(err)
	}
	defer fleet.Close()
	urls := fleet.URLs()
	base := []comfytest.Faults{{}, {AuthToken: "s3cret"}}
	targets := make([]simTarget, 2)
	for i, s := range fleet.Servers() {
		s.SetFaults(base[i])
		targets[i] = s
	}
	const auth = "Bearer s3cret"

	// A finished prompt on instance 0, for the restart to forget.
	body, _ := json.Marshal(map[string]any{"prompt": json.RawMessage(comfytest.Txt2ImgWorkflow()), "prompt_id": "p1"})
	resp, err := http.Post(urls[0]+"/prompt", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := fleet.Servers()[0].WaitHistory(t.Context(), "p1"); err != nil {
		t.Fatal(err)
	}

	s := faultSchedule{windows: []faultWindow{
		{downWindow, 1, 10 * time.Millisecond, 10 * time.Millisecond},
		{restartWindow, 0, 30 * time.Millisecond, 10 * time.Millisecond},
	}}
	w := startSteps(t, func(ctx context.Context, w io.Writer) { s.run(ctx, targets, base, w) })

	w.next(t, "sim: instance 1 down")
	if got := getStatus(t, urls[1]+"/system_stats", "Authorization", auth); got != http.StatusServiceUnavailable {
		t.Errorf("instance 1 during its down window: GET /system_stats = %d, want 503", got)
	}
	if got := getStatus(t, urls[0]+"/history/p1"); got != http.StatusOK {
		t.Errorf("instance 0 outside any window: GET /history = %d, want 200", got)
	}
	w.ack <- struct{}{}
	w.next(t, "sim: instance 1 up")
	if got := getStatus(t, urls[1]+"/system_stats", "Authorization", auth); got != http.StatusOK {
		t.Errorf("instance 1 after its window: GET /system_stats = %d, want 200", got)
	}
	if got := getStatus(t, urls[1]+"/system_stats"); got != http.StatusUnauthorized {
		t.Errorf("instance 1 after its window, no token: GET /system_stats = %d, want 401 (its base faults)", got)
	}
	w.ack <- struct{}{}
	w.next(t, "sim: instance 0 down, restarting: its queue, history and cache are lost")
	if got := getStatus(t, urls[0]+"/history"); got != http.StatusServiceUnavailable {
		t.Errorf("instance 0 restarting: GET /history = %d, want 503", got)
	}
	w.ack <- struct{}{}
	w.next(t, "sim: instance 0 up")
	resp, err = http.Get(urls[0] + "/history")
	if err != nil {
		t.Fatal(err)
	}
	var history map[string]any
	err = json.NewDecoder(resp.Body).Decode(&history)
	resp.Body.Close()
	if err != nil || len(history) != 0 {
		t.Errorf("instance 0 after its restart: history %v (%v); want it empty", history, err)
	}
	w.ack <- struct{}{}
}

// imageRequest is an Infinity embeddings request for one small image.
func imageRequest(t *testing.T) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for i := range img.Pix {
		img.Pix[i] = byte(i)
	}
	img.Set(0, 0, color.RGBA{255, 0, 0, 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return `{"input":["data:image/png;base64,` + base64.StdEncoding.EncodeToString(buf.Bytes()) + `"],"modality":"image"}`
}

func postStatus(t *testing.T, url, body string) int {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func TestClipOutage(t *testing.T) {
	clip := cliptest.New(cliptest.Options{})
	out := newClipOutage(clip, scoretest.Faults{RateLimited: 1}, 2, 10*time.Millisecond)
	srv := httptest.NewServer(out.handler())
	defer srv.Close()
	url := srv.URL + "/v1/embeddings"
	body := imageRequest(t)

	w := startSteps(t, out.run)

	for i, want := range []int{http.StatusTooManyRequests, http.StatusOK, http.StatusOK} {
		if got := postStatus(t, url, body); got != want {
			t.Errorf("request %d before the outage: %d, want %d", i+1, got, want)
		}
	}
	w.next(t, "sim: CLIP down after 2 images")
	if got := postStatus(t, url, body); got != http.StatusServiceUnavailable {
		t.Errorf("during the outage: %d, want 503", got)
	}
	w.ack <- struct{}{}
	w.next(t, "sim: CLIP up")
	if got := postStatus(t, url, body); got != http.StatusOK {
		t.Errorf("after the outage: %d, want 200 (the spent rate limit is not applied again)", got)
	}
	w.ack <- struct{}{}
}

// TestClipOutageFromTheStart: --clip-down-after 0 answers 503 from the
// first request on (it used to close its channel twice and panic).
func TestClipOutageFromTheStart(t *testing.T) {
	out := newClipOutage(cliptest.New(cliptest.Options{}), scoretest.Faults{}, 0, 0)
	srv := httptest.NewServer(out.handler())
	defer srv.Close()
	body := imageRequest(t)
	for i := range 2 {
		if got := postStatus(t, srv.URL+"/v1/embeddings", body); got != http.StatusServiceUnavailable {
			t.Errorf("request %d: %d, want 503", i+1, got)
		}
	}
}
