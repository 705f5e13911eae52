// Package runviewtest records a small synthetic run through the store's
// public API, the way the pipeline records one, with real PNG images and
// thumbnails in its run folder and a manifest that parses, and opens it
// as a *runview.Run: the fixture of the tests of runview, report, export
// and the commands that present runs. It is safe for concurrent use.
package runviewtest
