package manifests

import (
	"encoding/json"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// splitmix64 advances state and returns the next value of Vigna's
// SplitMix64 generator: every uint64 is a possible seed, and the stream is
// the same on every platform and Go version (unlike math/rand).
func splitmix64(state *uint64) uint64 {
	*state += 0x9e3779b97f4a7c15
	z := *state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// randomSeeds draws n seeds for one group and parameter. Drawing more
// extends the list: the first n seeds do not depend on n.
func randomSeeds(master uint64, group, param string, n int, pos *yaml.Node) []value {
	state := groupStream(master, group, param)
	out := make([]value, n)
	for i := range out {
		s := splitmix64(&state)
		out[i] = value{v: s, raw: json.RawMessage(strconv.FormatUint(s, 10)), pos: pos}
	}
	return out
}
