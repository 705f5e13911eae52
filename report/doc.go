// Package report turns a finished run into pages and pictures people look
// at: an HTML report with contact sheets and an X/Y grid image.
//
// The input is a Run, plain data the caller fills (usually from the
// store); the package reads nothing but the candidate images under
// Run.OutputDir, and never imports store, generate or pipeline.
//
// Entry points:
//
//   - HTML writes a self-contained page to an io.Writer; by default the
//     thumbnails are JPEG data URIs inside the page.
//   - WriteHTMLFile writes dir/report.html with its thumbnails as files in
//     dir/report_files/, linking each thumbnail to its full-size image.
//   - Grid and WriteGridPNG draw an A1111-style X/Y plot of two parameters.
//   - Summarize computes the run-level figures (gate pass rates,
//     utilization, cost per delivered image) the page shows.
//
// Everything here is safe for concurrent use: functions share no state.
// Each call decodes images on up to GOMAXPROCS goroutines and returns only
// after all of them have.
package report
