package generate

import (
	"errors"
	"sort"
	"strconv"
)

// errBadAnswer marks a 200 whose body is not what the protocol promises.
var errBadAnswer = errors.New("unexpected answer")

// sortQueue orders pending items by queue number (the server sends its
// heap unsorted, §3.3); ties by prompt id as the server breaks them.
func sortQueue(items []QueueItem) {
	num := func(n string) float64 {
		f, _ := strconv.ParseFloat(n, 64)
		return f
	}
	sort.SliceStable(items, func(i, j int) bool {
		a, b := num(string(items[i].Number)), num(string(items[j].Number))
		if a != b {
			return a < b
		}
		return items[i].PromptID < items[j].PromptID
	})
}
