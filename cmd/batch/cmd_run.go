package main

import (
	"github.com/spf13/cobra"

	"github.com/comfybatch/comfybatch/manifests"
	"github.com/comfybatch/comfybatch/pipeline"
)

// retryFailedHelp is the help of --retry-failed (run and resume).
const retryFailedHelp = "also retry jobs that failed as bad input or with a node's own error " +
	"(a rerun always retries transient failures)"

func newRunCmd(o IO) *cobra.Command {
	var (
		fleet         fleetFlags
		exec          execFlags
		newRun, force bool
		retryFailed   bool
	)
	c := &cobra.Command{
		Use:   "run [flags] MANIFEST",
		Short: "run a manifest on ComfyUI instances, or resume its earlier run",
		Long: `run expands MANIFEST into jobs, submits them to the ComfyUI instances (the
manifest's instances:, or --instances), downloads and scores every image,
selects the top K of each group and records everything in the manifest's
database (output.database, default comfybatch-runs/comfybatch.db beside it).

If the database already has a run of this manifest, run continues it: jobs
that finished are skipped, prompts still queued on an instance are adopted,
failed jobs that may succeed now are retried (--retry-failed: all of them).
A manifest that changed since is not resumed silently: pass --new-run to start
a new run or --force to continue the old one anyway.

Progress goes to stderr: a line redrawn in place on a terminal, a plain line
every 10 seconds otherwise (or with NO_COLOR or TERM=dumb). Results go to
stdout: a table of the selected candidates, or JSON lines with --json.

Ctrl-C stops submitting, removes our queued prompts and waits up to --grace
for the running ones; a second Ctrl-C interrupts them. Run the same command
again to resume.`,
		Example: `  # Run (or resume) on the instances the manifest lists
  batch run headshots.yaml

  # Two instances instead, with a token from the environment
  batch run --instances http://gpu1:8188,http://gpu2:8188 \
      --header 'Authorization: Bearer ${COMFY_TOKEN}' headshots.yaml

  # Smoke test: two jobs per group; a later run does the rest
  batch run --limit-per-group 2 headshots.yaml

  # Fixed the workflow: try the jobs that failed as bad input again
  batch run --retry-failed headshots.yaml

  # The manifest changed: start over, or keep the old run's results
  batch run --new-run headshots.yaml
  batch run --force headshots.yaml

  # Fleet events and the selection as JSON lines
  batch run --json headshots.yaml | jq -c 'select(.event == "selected")'`,
		Args:              exactArgs(1, "run takes one manifest path, e.g. batch run headshots.yaml"),
		ValidArgsFunction: completeManifest,
		RunE: func(c *cobra.Command, args []string) error {
			if newRun && force {
				return usageErr("--new-run and --force contradict each other: pick one")
			}
			m, err := manifests.Load(args[0])
			if err != nil {
				return err
			}
			instances, err := fleet.resolve(m, o.lookupEnv)
			if err != nil {
				return err
			}
			_, err = runWith(c.Context(), m, instances, exec, pipeline.Options{NewRun: newRun, Force: force, RetryFailed: retryFailed}, o)
			return err
		},
	}
	fs := c.Flags()
	fleet.register(fs)
	fs.BoolVar(&newRun, "new-run", false, "start a new run even if the database has a run of this manifest")
	fs.BoolVar(&force, "force", false, "continue the earlier run even though the manifest changed since")
	fs.BoolVar(&retryFailed, "retry-failed", false, retryFailedHelp)
	exec.register(fs)
	setExits(c, generateExits()...)
	return c
}
