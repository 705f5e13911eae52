package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/comfybatch/comfybatch/manifests"
	"github.com/comfybatch/comfybatch/pipeline"
)

func newResumeCmd(o IO) *cobra.Command {
	var (
		db          string
		fleet       fleetFlags
		exec        execFlags
		force       bool
		retryFailed bool
	)
	c := &cobra.Command{
		Use:   "resume [flags] RUN",
		Short: "continue a stored run by id, with the manifest it was started from",
		Long: `resume continues run RUN of the database --db: it reloads the manifest the run
was started from (its path is recorded in the run), skips the jobs that
finished, retries the failed ones that may succeed now (--retry-failed: all)
and generates the rest, then scores and re-selects like run.

It is what "batch run MANIFEST" does for the manifest's latest run, for any
run by id. A manifest that changed since the run started is refused unless
--force is given. To start a new run, use batch run --new-run MANIFEST.`,
		Example: `  batch runs                        # find the run id
  batch resume 3
  batch resume 3 --db nightly/comfybatch.db --instances http://gpu1:8188
  batch resume 3 --force            # the manifest changed; continue anyway`,
		Args:              exactArgs(1, "resume takes one run id, e.g. batch resume 3"),
		ValidArgsFunction: completeRunID(&db),
		RunE: func(c *cobra.Command, args []string) error {
			id, err := parseRunID(args[0])
			if err != nil {
				return err
			}
			m, err := runManifest(c.Context(), db, id)
			if err != nil {
				return err
			}
			instances, err := fleet.resolve(m, o.lookupEnv)
			if err != nil {
				return err
			}
			_, err = runWith(c.Context(), m, instances, exec, pipeline.Options{RunID: id, Force: force, RetryFailed: retryFailed}, o)
			return err
		},
	}
	fs := c.Flags()
	dbFlag(fs, &db)
	fleet.register(fs)
	fs.BoolVar(&force, "force", false, "continue the run even though its manifest changed since it started")
	fs.BoolVar(&retryFailed, "retry-failed", false, retryFailedHelp)
	exec.register(fs)
	renamed(c, "new-run", "resume continues a stored run; to start a new one use batch run --new-run MANIFEST")
	setExits(c, generateExits()...)
	return c
}

// runManifest loads the manifest that run id of database db was started
// from, with its output pointed at that database.
func runManifest(ctx context.Context, db string, id int64) (*manifests.Manifest, error) {
	st, err := openDB(ctx, db)
	if err != nil {
		return nil, err
	}
	run, err := st.Run(ctx, id)
	st.Close()
	if err != nil {
		return nil, notFound(err)
	}
	m, err := manifests.Load(run.ManifestPath)
	if err != nil {
		return nil, fmt.Errorf("run %d's manifest: %w", id, err)
	}
	m.Output.Database = db
	return m, nil
}
