package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/comfybatch/comfybatch/pipeline"
	"github.com/comfybatch/comfybatch/report"
)

func newReportCmd(o IO) *cobra.Command {
	var (
		db, outDir string
		cost       float64
	)
	c := &cobra.Command{
		Use:   "report [flags] RUN",
		Short: "write an HTML report with contact sheets of a run",
		Long: `report writes report.html for run RUN into --output (by default the run's
folder), with its thumbnails in report_files/ linking to the full-size images:
gate pass rates, instance utilization, cost per delivered image (with
--cost-per-gpu-hour) and a contact sheet per group. It prints the page's path.`,
		Example: `  batch report 3
  batch report 3 -o demo-report --cost-per-gpu-hour 1.20`,
		Args:              exactArgs(1, "report takes one run id, e.g. batch report 3"),
		ValidArgsFunction: completeRunID(&db),
		RunE: func(c *cobra.Command, args []string) error {
			id, err := parseRunID(args[0])
			if err != nil {
				return err
			}
			return writeReport(c.Context(), db, id, outDir, cost, o)
		},
	}
	fs := c.Flags()
	dbFlag(fs, &db)
	fs.StringVarP(&outDir, "output", "o", "", "`DIR` for report.html and its thumbnails (default: the run folder)")
	fs.Float64Var(&cost, "cost-per-gpu-hour", 0, "price of one instance-hour in dollars, for the cost per delivered image")
	completeFlag(c, "output", completeDirs)
	setExits(c, queryExits()...)
	return c
}

func writeReport(ctx context.Context, db string, id int64, outDir string, cost float64, o IO) error {
	run, err := loadRunData(ctx, db, id, cost)
	if err != nil {
		return err
	}
	if outDir == "" {
		outDir = run.OutputDir
	}
	path, err := report.WriteHTMLFile(ctx, outDir, run, report.HTMLOptions{})
	if err != nil {
		return err
	}
	fmt.Fprintln(o.Out, path)
	return nil
}

// loadRunData opens the database and reads run id for reports and exports.
func loadRunData(ctx context.Context, db string, id int64, cost float64) (report.Run, error) {
	st, err := openDB(ctx, db)
	if err != nil {
		return report.Run{}, err
	}
	defer st.Close()
	run, err := pipeline.RunData(ctx, st, id, cost)
	return run, notFound(err)
}
