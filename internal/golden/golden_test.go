package golden

import (
	"os"
	"path/filepath"
	"testing"
)

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Errorf(string, ...any) { r.failed = true }
func (r *recorder) Fatalf(string, ...any) { r.failed = true }
func (r *recorder) Helper()               {}

func TestCheck(t *testing.T) {
	t.Chdir(t.TempDir())
	Check(t, true, "sub/a.golden", []byte("one\n"))
	if b, err := os.ReadFile(filepath.Join("testdata", "sub", "a.golden")); err != nil || string(b) != "one\n" {
		t.Fatalf("update wrote %q, %v; want %q", b, err, "one\n")
	}
	for _, tc := range []struct {
		name, got string
		fail      bool
	}{
		{"sub/a.golden", "one\n", false},
		{"sub/a.golden", "two\n", true},
		{"missing.golden", "one\n", true},
	} {
		r := &recorder{TB: t}
		Check(r, false, tc.name, []byte(tc.got))
		if r.failed != tc.fail {
			t.Errorf("Check(%s, %q) failed = %v, want %v", tc.name, tc.got, r.failed, tc.fail)
		}
	}
}
