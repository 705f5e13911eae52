// Package jsonnum finds where a JSON number ends, for the project's two
// hand-written JSON readers (the WebSocket message decoder in generate and
// the scores column decoder in store), which skip or parse numbers in
// place and fall back to encoding/json for anything else.
package jsonnum
