// Package report turns a stored run into pages and pictures people look
// at: an HTML report folder with contact sheets, and an X/Y/Z grid image.
//
// The input is a *runview.Run, the read view of a run; the package reads
// the run's images and thumbnails under Run.OutputDir and never imports
// store's writers, generate or pipeline.
//
// Entry points:
//
//   - Write fills a folder: report.html, thumbnails in thumbs/ (the ones
//     the run made while scoring, hard-linked) and the selected images,
//     all linked relatively, so the folder keeps working when it is moved
//     or zipped. Per group: the fixed prompt once, selected candidates
//     first, then the others, the rejected collapsed; thumbnails load
//     lazily and a group filter narrows the page. Each image of a prompt
//     is a card of its own, naming its seed and batch index (and output
//     node) when prompts save several.
//   - HTML writes one standalone page with data-URI thumbnails.
//   - Grid and WriteGridPNG draw an A1111/SwarmUI-style X/Y/Z plot in the
//     Go fonts; axes are params or the image fields batch_index and
//     output, and a cell that would mix settings, or images of one
//     prompt, is an error unless the caller picks the best of each cell.
//   - Summarize computes the run-level figures (gate pass rates,
//     utilization, cost per delivered image) the page shows.
//
// Everything here is safe for concurrent use: functions share no state.
// Each call reads images on up to GOMAXPROCS goroutines and returns only
// after all of them have.
package report
