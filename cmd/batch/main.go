// Command batch turns ComfyUI servers into a candidate-pool image factory:
// it expands a manifest into jobs, fans them out over several instances,
// scores every image, selects the best per group and records it all in
// SQLite. Run "batch help" for the commands.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"
)

func main() { os.Exit(batchMain()) }

// batchMain runs the process's command line and returns its exit code; the
// CLI tests run it as the "batch" command of their scripts.
func batchMain() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first signal cancels ctx: the run stops submitting and waits for
	// its running prompts in the cleanup context. A second signal cancels
	// that too, and the running prompts are interrupted at once.
	cleanup, hurry := context.WithCancel(context.Background())
	defer hurry()
	stopWatch := context.AfterFunc(ctx, func() {
		second, stopSecond := signal.NotifyContext(cleanup, os.Interrupt, syscall.SIGTERM)
		context.AfterFunc(second, func() { hurry(); stopSecond() })
	})
	defer stopWatch()
	return run(ctx, os.Args[1:], IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, ErrTTY: isTerminal(os.Stderr), Cleanup: cleanup})
}

// IO is where a command reads and writes; tests pass buffers.
type IO struct {
	In     io.Reader
	Out    io.Writer // results: tables, --json
	Err    io.Writer // progress, logs, errors
	ErrTTY bool      // Err is a terminal: draw a live progress bar
	// Cleanup is canceled by a second Ctrl-C: work that outlives the first
	// (waiting for running prompts) stops then. Nil = never.
	Cleanup context.Context
	// Getenv looks up environment variables (nil = os.LookupEnv).
	Getenv func(string) (string, bool)
}

func (o IO) lookupEnv(k string) (string, bool) {
	if o.Getenv != nil {
		return o.Getenv(k)
	}
	return os.LookupEnv(k)
}

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }
