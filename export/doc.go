// Package export writes a run's candidates as a dataset other tools read:
// a Hugging Face imagefolder (images and metadata.jsonl), WebDataset tar
// shards (key.png and key.json members), or one JSON line per candidate
// pointing at the image in the run folder. Every format also writes
// _stats.json, a summary in the spirit of img2dataset's.
//
// The entry point is Export, which takes a *runview.Run (the read view of
// a stored run) and Options, and streams the run's candidates, so memory
// does not grow with the run. Output is deterministic: the same run gives
// byte-identical files. Samples are ordered by group (in the run's order),
// then selected candidates by rank, then the rest by job index; a sample's
// key is "<group>-<job index>" ("-<output node>-<batch index>" after it
// when the job yielded several images), never a server file name. Every
// sample records the seed, output node, batch index and batch size that
// render its image again.
//
// Export shares no state between calls and is safe for concurrent use on
// different destination directories.
package export
