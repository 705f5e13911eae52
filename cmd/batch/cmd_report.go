package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/comfybatch/comfybatch/report"
)

func newReportCmd(o IO) *cobra.Command {
	var (
		db, outDir, full string
		cost             float64
	)
	c := &cobra.Command{
		Use:   "report [flags] RUN",
		Short: "write an HTML report folder with contact sheets of a run",
		Long: `report writes a folder for run RUN into --output (by default report/ in the
run's folder): report.html, the thumbnails the run made while scoring, and the
full-size images --full names (selected, all or none). Every link is relative,
so the folder keeps working when it is moved or zipped. The page has gate pass
rates, instance utilization, cost per delivered image (with
--cost-per-gpu-hour) and a contact sheet per group: its fixed prompt once,
selected candidates first, rejected ones collapsed, a group filter. It prints
the page's path.`,
		Example: `  batch report 3
  batch report 3 -o demo-report --cost-per-gpu-hour 1.20
  batch report 3 -o everything --full all`,
		Args:              exactArgs(1, "report takes one run id, e.g. batch report 3"),
		ValidArgsFunction: completeRunID(&db),
		RunE: func(c *cobra.Command, args []string) error {
			id, err := parseRunID(args[0])
			if err != nil {
				return err
			}
			return writeReport(c.Context(), db, id, outDir, report.Options{CostPerGPUHour: cost, Full: full, Logger: logger(o.Err, false)}, o)
		},
	}
	fs := c.Flags()
	dbFlag(fs, &db)
	fs.StringVarP(&outDir, "output", "o", "", "`DIR` for report.html, its thumbnails and images (default: report/ in the run folder)")
	fs.Float64Var(&cost, "cost-per-gpu-hour", 0, "price of one instance-hour in dollars, for the cost per delivered image")
	fs.StringVar(&full, "full", report.FullSelected, "full-size images to put in the folder: selected, all or none")
	completeFlag(c, "output", completeDirs)
	completeFlag(c, "full", fixedCompletions("selected\tthe selected images", "all\tevery candidate", "none\tthumbnails only"))
	setExits(c, queryExits()...)
	return c
}

func writeReport(ctx context.Context, db string, id int64, outDir string, opts report.Options, o IO) error {
	st, run, err := openRun(ctx, db, id)
	if err != nil {
		return err
	}
	defer st.Close()
	if outDir == "" {
		outDir = filepath.Join(run.OutputDir, "report")
	}
	path, err := report.Write(ctx, outDir, run, opts)
	if err != nil {
		return err
	}
	fmt.Fprintln(o.Out, path)
	return nil
}
