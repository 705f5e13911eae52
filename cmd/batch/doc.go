// Command batch turns ComfyUI servers into a candidate-pool image factory:
// it expands a manifest into jobs, fans them out over several instances,
// scores every image, selects the best per group and records it all in
// SQLite. Run "batch help" for the commands.
//
// Each command is a file cmd_NAME.go: its flags, help (description,
// examples, exit codes) and a thin body that calls the library. The
// command tree is built with cobra (spf13/cobra), which gives GNU-style
// --flags, "batch help CMD" and bash, zsh and fish completion scripts
// whose dynamic values (run ids, params) come from this binary's hidden
// __complete command.
//
// Files: cli.go (the command tree, errors to exit codes), help.go,
// version.go, completion.go, progress.go (the progress display),
// instances.go (--instances and --header), runwith.go (what run, resume
// and demo share), events.go (fleet events: --json lines and each
// instance's state), db.go (what the stored-run commands share) and
// output.go (the outcome table and --json). Signals are handled in
// main.go and nowhere else.
package main
