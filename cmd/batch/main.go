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
	return run(ctx, os.Args[1:], IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr,
		ErrTTY: isTerminal(os.Stderr), ErrWidth: func() int { return termWidth(os.Stderr) }, Cleanup: cleanup})
}

// IO is where a command reads and writes; tests pass buffers.
type IO struct {
	In     io.Reader
	Out    io.Writer // results: tables, --json
	Err    io.Writer // progress, logs, errors
	ErrTTY bool      // Err is a terminal: draw a live progress bar
	// ErrWidth returns Err's width in columns now (it changes when the
	// window is resized); <= 0 or nil = unknown.
	ErrWidth func() int
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

// termWidth reads the terminal's width (one ioctl: cheap enough for
// every redraw); 0 when f is not a terminal.
func termWidth(f *os.File) int {
	w, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return 0
	}
	return w
}
