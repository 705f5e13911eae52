package manifests

import (
	"strings"
)

// didYouMean returns `; did you mean "x"?` for the candidate closest to
// got, or "" when none is close enough to be a plausible typo.
func didYouMean(got string, candidates []string) string {
	// A name that is the start of a longer one ("sampler", "ckpt") most
	// likely means it ("sampler_name", "ckpt_name").
	for _, c := range candidates {
		if got != "" && strings.HasPrefix(strings.ToLower(c), strings.ToLower(got)+"_") {
			return "; did you mean " + quote(c) + "?"
		}
	}
	best, bestD := "", -1
	for _, c := range candidates {
		d := levenshtein(strings.ToLower(got), strings.ToLower(c))
		if bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	// Allow about one edit in three characters, and at least one.
	if bestD < 0 || bestD > max(1, len(got)/3) {
		return ""
	}
	return "; did you mean " + quote(best) + "?"
}

// levenshtein is the edit distance between a and b, counted in bytes.
func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// quote renders s in double quotes the way messages show names.
func quote(s string) string { return `"` + s + `"` }

// article returns "a" or "an" for the word that follows.
func article(word string) string {
	if word != "" && strings.ContainsRune("aeiou", rune(word[0])) {
		return "an"
	}
	return "a"
}
