package pipeline

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/manifests"
)

func TestNewScorerSwitch(t *testing.T) {
	dir := t.TempDir()
	head := filepath.Join(dir, "head.json")
	if err := os.WriteFile(head, []byte(`{"weights": [0.1, 0.2], "bias": 1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	env := func(k string) (string, bool) {
		if k == "CLIP_TOKEN" {
			return "secret", true
		}
		return "", false
	}
	tests := []struct {
		typ     string
		opts    map[string]any
		want    string // concrete type
		network bool
		wantErr string
	}{
		{"sharpness", map[string]any{"long_side": 256}, "*score.Sharpness", false, ""},
		{"size", map[string]any{"width": 512, "height": 512}, "*score.Size", false, ""},
		{"blank", nil, "*score.Blank", false, ""},
		{"phash", nil, "*score.Phash", false, ""},
		{"clip", map[string]any{"url": "http://127.0.0.1:7997", "token_env": "CLIP_TOKEN", "timeout": "5s"}, "*score.CLIP", true, ""},
		{"aesthetic", map[string]any{"url": "http://127.0.0.1:7997", "head": "head.json"}, "*score.CLIP", true, ""},
		{"http", map[string]any{"url": "http://127.0.0.1:9000/score", "json_path": "score"}, "*score.HTTP", true, ""},
		{"exec", map[string]any{"command": []string{"echo", "1"}, "timeout": "2s"}, "*score.Exec", true, ""},
		{"clip", map[string]any{"url": "http://x", "token_env": "NOPE"}, "", false, "environment variable NOPE is not set"},
		{"exec", map[string]any{"command": []string{"true"}, "timeout": "soon"}, "", false, "timeout"},
		{"magic", nil, "", false, `unknown scorer type "magic"`},
	}
	for _, tt := range tests {
		t.Run(tt.typ+tt.wantErr, func(t *testing.T) {
			spec := manifests.ScorerSpec{Type: tt.typ, Name: tt.typ, Options: tt.opts}
			sc, network, err := newScorer(spec, dir, Options{Env: env})
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, comfybatch.ErrInvalid) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("newScorer(%s) error = %v, want ErrInvalid mentioning %q", tt.typ, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("newScorer(%s): %v", tt.typ, err)
			}
			if got := fmt.Sprintf("%T", sc); got != tt.want || network != tt.network {
				t.Errorf("newScorer(%s) = %s network=%v, want %s network=%v", tt.typ, got, network, tt.want, tt.network)
			}
		})
	}
}
