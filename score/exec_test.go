package score

import (
	"errors"
	"image"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/comfybatch/comfybatch"
)

func TestExec(t *testing.T) {
	img := randomImage(16, 16, 3)
	cand := candidate(img, encodePNG(t, img))
	size := float64(len(cand.Image))
	tests := []struct {
		name    string
		cmd     []string
		want    float64
		wantErr string
	}{
		{"path appended", []string{"sh", "-c", `wc -c < "$1"`, "sh"}, size, ""},
		{"path placeholder", []string{"sh", "-c", `echo loading model; echo; wc -c < "$0"; echo`, "{path}"}, size, ""},
		{"extension kept", []string{"sh", "-c", `case "$1" in *.png) echo 1;; *) echo 0;; esac`, "sh"}, 1, ""},
		{"env", []string{"sh", "-c", `echo "$SCALE extra"`}, 3.5, ""},
		{"exit status", []string{"sh", "-c", `echo model missing >&2; exit 3`}, 0, "exited with 3: model missing"},
		{"not a number", []string{"sh", "-c", `echo great`}, 0, `output "great" is not a number`},
		{"no output", []string{"true"}, 0, "no output"},
		{"no such program", []string{"/nonexistent/scorer"}, 0, "run /nonexistent/scorer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &Exec{Command: tt.cmd, Dir: t.TempDir(), Env: []string{"SCALE=3.5"}}
			sc, err := e.Score(t.Context(), cand)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("Exec %q = %+v, %v; want error containing %q", tt.cmd, sc, err, tt.wantErr)
				}
				return
			}
			if err != nil || sc.Scorer != "exec" || sc.Metrics["value"] != tt.want {
				t.Errorf("Exec %q = %+v, %v; want value %v", tt.cmd, sc, err, tt.want)
			}
		})
	}
	t.Run("timeout", func(t *testing.T) {
		e := &Exec{Command: []string{"sh", "-c", "exec sleep 30"}, Timeout: 100 * time.Millisecond}
		if _, err := e.Score(t.Context(), cand); !errors.Is(err, comfybatch.ErrTransient) || !strings.Contains(err.Error(), "no answer within") {
			t.Errorf("Exec sleep 30 with 100ms timeout = %v; want a transient timeout", err)
		}
	})
	t.Run("temp file removed and pixels encoded", func(t *testing.T) {
		dir := t.TempDir()
		e := &Exec{Command: []string{"sh", "-c", `head -c 4 "$1" | tail -c 3`, "sh"}, Dir: dir}
		_, err := e.Score(t.Context(), candidate(image.Image(img), nil))
		// "PNG" is not a number: the bytes written were a PNG encoding.
		if err == nil || !strings.Contains(err.Error(), `"PNG"`) {
			t.Errorf("Exec on pixels only = %v; want the PNG signature as output", err)
		}
		if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
			t.Errorf("temporary files left behind: %v", left)
		}
	})
}

func TestExecCheck(t *testing.T) {
	if err := (&Exec{Command: []string{"sh", "-c", "echo 1"}}).Check(t.Context()); err != nil {
		t.Errorf("sh: %v, want nil", err)
	}
	if err := (&Exec{Command: []string{"/nonexistent/scorer"}}).Check(t.Context()); err == nil || !strings.Contains(err.Error(), "/nonexistent/scorer") {
		t.Errorf("missing program: %v, want an error naming it", err)
	}
	if err := (&Exec{}).Check(t.Context()); !errors.Is(err, comfybatch.ErrInvalid) {
		t.Errorf("no command: %v, want ErrInvalid", err)
	}
}
