package score

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/comfybatch/comfybatch"
)

// Exec scores by running a local command on the image and reading a number
// from its standard output, metric "value". The image is written to a
// temporary file; each argument "{path}" in Command is replaced by its path,
// or the path is appended when no argument mentions it. The number is the
// first field of the last non-empty line of stdout, so a tool may print
// progress before its answer.
//
// A program that ran and exited has answered about this image: a non-zero
// exit (quoting stderr) or an output that is not a number is a verdict that
// rejects the candidate. Exit 126 and 127 are the shell's "cannot execute"
// and "not found", so they, a program that cannot be started, one killed by
// a signal and one that outlives Timeout (it is killed) are
// comfybatch.ErrOutage: they say nothing about the image.
//
// The zero value is not usable: set Command. Exec is safe for concurrent
// use; each call runs its own process.
type Exec struct {
	// Name goes into Score.Scorer; default "exec".
	Name string
	// Command is the program and its arguments (no shell is involved).
	Command []string
	// Timeout bounds one run; default 60s.
	Timeout time.Duration
	// Dir holds the temporary image files; default os.TempDir().
	Dir string
	// Env is added to the command's environment ("KEY=value").
	Env []string
}

// Score implements the pipeline's Scorer.
func (e *Exec) Score(ctx context.Context, c comfybatch.Candidate) (comfybatch.Score, error) {
	name := nameOr(e.Name, "exec")
	if len(e.Command) == 0 {
		return comfybatch.Score{}, fmt.Errorf("%s: no command: %w", name, comfybatch.ErrInvalid)
	}
	v, err := e.run(ctx, c)
	if err != nil {
		return comfybatch.Score{}, fmt.Errorf("%s: job %s: %w", name, c.Job.Key, err)
	}
	return comfybatch.Score{Scorer: name, Metrics: map[string]float64{"value": v}}, nil
}

func (e *Exec) run(ctx context.Context, c comfybatch.Candidate) (float64, error) {
	data, mime, err := encoded(c)
	if err != nil {
		return 0, err
	}
	f, err := os.CreateTemp(e.Dir, "comfybatch-score-*."+strings.TrimPrefix(mime, "image/"))
	if err != nil {
		return 0, outagef(true, "temporary image: %v", err)
	}
	path := f.Name()
	defer os.Remove(path)
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, outagef(true, "write temporary image %s: %v", path, err)
	}

	args := make([]string, 0, len(e.Command))
	placed := false
	for _, a := range e.Command[1:] {
		if strings.Contains(a, "{path}") {
			placed = true
			a = strings.ReplaceAll(a, "{path}", path)
		}
		args = append(args, a)
	}
	if !placed {
		args = append(args, path)
	}
	timeout := e.Timeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(rctx, e.Command[0], args...)
	cmd.Env = append(os.Environ(), e.Env...)
	// A child the command started may hold stdout open after the kill;
	// stop waiting for it shortly after.
	cmd.WaitDelay = time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}
	if rctx.Err() != nil {
		return 0, outagef(true, "%s: no answer within %v", e.Command[0], timeout)
	}
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 512 {
			msg = msg[len(msg)-512:]
		}
		ee, ok := errors.AsType[*exec.ExitError](err)
		switch {
		case !ok:
			return 0, outagef(false, "run %s: %v; install it or fix the scorer's command", e.Command[0], err)
		case ee.ExitCode() < 0:
			return 0, outagef(true, "%s was killed (%v): %s", e.Command[0], ee, msg)
		case ee.ExitCode() == 126 || ee.ExitCode() == 127:
			return 0, outagef(false, "%s exited with %d (the shell could not run a command): %s", e.Command[0], ee.ExitCode(), msg)
		}
		return 0, fmt.Errorf("%s exited with %d: %s", e.Command[0], ee.ExitCode(), msg)
	}
	return lastNumber(stdout.String())
}

// lastNumber parses the first field of the last non-empty line.
func lastNumber(out string) (float64, error) {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := strings.Fields(lines[len(lines)-1])
	if len(last) == 0 {
		return 0, errors.New("no output, want a number")
	}
	v, err := strconv.ParseFloat(last[0], 64)
	if err != nil {
		return 0, fmt.Errorf("output %q is not a number", last[0])
	}
	return v, nil
}

// Check tells before a run whether the command can be started: the
// program must exist (on PATH, or at the given path) and be executable. A
// missing program is the scorer's configuration: comfybatch.ErrInvalid.
func (e *Exec) Check(context.Context) error {
	name := nameOr(e.Name, "exec")
	if len(e.Command) == 0 {
		return fmt.Errorf("%s: no command: %w", name, comfybatch.ErrInvalid)
	}
	if _, err := exec.LookPath(e.Command[0]); err != nil {
		return fmt.Errorf("%s: command %q: %v; install it or give its full path: %w", name, e.Command[0], err, comfybatch.ErrInvalid)
	}
	return nil
}
