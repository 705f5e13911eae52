package comfytest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// The jobs API of newer servers (Version080; comfyui-protocol.md §5.4):
// GET /api/jobs lists queue and history as jobs, GET /api/jobs/{id} shows
// one. Shapes and error texts follow testdata/transcripts/0.8.0/jobs_*.json.

// jobStatuses are the valid values of the status filter, in the order the
// error text lists them.
var jobStatuses = []string{"pending", "in_progress", "completed", "failed"}

func jobsError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]any{"error": msg})
}

func (s *Server) getJobs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	statuses := jobStatuses
	if v := q.Get("status"); v != "" {
		statuses = nil
		var bad []string
		for _, st := range strings.Split(v, ",") {
			st = strings.TrimSpace(st)
			switch {
			case st == "":
			case slices.Contains(jobStatuses, st):
				statuses = append(statuses, st)
			default:
				bad = append(bad, st)
			}
		}
		if len(bad) > 0 {
			jobsError(w, 400, fmt.Sprintf("Invalid status value(s): %s. Valid values: %s", strings.Join(bad, ", "), strings.Join(jobStatuses, ", ")))
			return
		}
	}
	sortBy := q.Get("sort_by")
	switch sortBy {
	case "":
		sortBy = "created_at"
	case "created_at", "execution_duration":
	default:
		jobsError(w, 400, "sort_by must be 'created_at' or 'execution_duration'")
		return
	}
	desc := true
	switch q.Get("sort_order") {
	case "", "desc":
	case "asc":
		desc = false
	default:
		jobsError(w, 400, "sort_order must be 'asc' or 'desc'")
		return
	}
	limit := -1 // none
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			jobsError(w, 400, "limit must be an integer")
			return
		}
		if n <= 0 {
			jobsError(w, 400, "limit must be a positive integer")
			return
		}
		limit = n
	}
	offset := 0
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			jobsError(w, 400, "offset must be an integer")
			return
		}
		offset = max(n, 0)
	}
	workflowID := q.Get("workflow_id")

	s.mu.Lock()
	var jobs []orderedObject
	if slices.Contains(statuses, "in_progress") && s.running != nil {
		jobs = append(jobs, queueJob(s.running, "in_progress"))
	}
	if slices.Contains(statuses, "pending") {
		for _, t := range s.queue { // heap order, as the queue list is
			jobs = append(jobs, queueJob(t, "pending"))
		}
	}
	for _, id := range s.histOrder {
		e := s.history[id]
		failed := e["status"].(map[string]any)["status_str"] == "error"
		if failed && slices.Contains(statuses, "failed") || !failed && slices.Contains(statuses, "completed") {
			jobs = append(jobs, historyJob(id, e, false))
		}
	}
	s.mu.Unlock()
	if workflowID != "" {
		jobs = slices.DeleteFunc(jobs, func(j orderedObject) bool { return j.get("workflow_id") != workflowID })
	}
	key := func(j orderedObject) int64 { return jsonInt(j.get("create_time")) }
	if sortBy == "execution_duration" {
		key = func(j orderedObject) int64 {
			start, end := jsonInt(j.get("execution_start_time")), jsonInt(j.get("execution_end_time"))
			if start == 0 || end == 0 {
				return 0
			}
			return end - start
		}
	}
	// A stable sort, descending by default, as Python's sorted(reverse=True).
	sort.SliceStable(jobs, func(a, b int) bool {
		if desc {
			return key(jobs[a]) > key(jobs[b])
		}
		return key(jobs[a]) < key(jobs[b])
	})
	total := len(jobs)
	jobs = jobs[min(offset, total):]
	if limit >= 0 && len(jobs) > limit {
		jobs = jobs[:limit]
	}
	var lim any
	if limit >= 0 {
		lim = limit
	}
	writeJSON(w, 200, orderedObject{
		{"jobs", nonNil(jobs)},
		{"pagination", orderedObject{{"offset", offset}, {"limit", lim}, {"total", total}, {"has_more", offset+len(jobs) < total}}},
	})
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	var job orderedObject
	switch {
	case s.history[id] != nil:
		job = historyJob(id, s.history[id], true)
	case s.running != nil && s.running.id == id:
		job = queueJob(s.running, "in_progress")
	default:
		for _, t := range s.queue {
			if t.id == id {
				job = queueJob(t, "pending")
				break
			}
		}
	}
	s.mu.Unlock()
	if job == nil {
		jobsError(w, 404, "Job not found")
		return
	}
	writeJSON(w, 200, job)
}

// queueJob is a pending or running prompt as a job. Callers hold s.mu.
func queueJob(t *task, status string) orderedObject {
	j := orderedObject{{"id", t.id}, {"status", status}, {"priority", t.number}}
	j = j.addIf("create_time", t.extra["create_time"])
	j = append(j, kv{"outputs_count", 0})
	return j.addIf("workflow_id", workflowIDOf(t.extra))
}

// historyJob is a finished prompt as a job; full adds its outputs, status
// and workflow, as GET /api/jobs/{id} does. Callers hold s.mu.
func historyJob(id string, e map[string]any, full bool) orderedObject {
	tuple := e["prompt"].([]any)
	extra, _ := tuple[3].(map[string]any)
	status := e["status"].(map[string]any)
	state := "completed"
	if status["status_str"] == "error" {
		state = "failed"
	}
	var start, end, execErr any
	messages, _ := status["messages"].([]any)
	for _, m := range messages {
		pair, _ := m.([]any)
		if len(pair) < 2 {
			continue
		}
		data, _ := pair[1].(map[string]any)
		switch pair[0] {
		case "execution_start":
			start = data["timestamp"]
		case "execution_success", "execution_interrupted":
			end = data["timestamp"]
		case "execution_error":
			end, execErr = data["timestamp"], data
		}
	}
	outputs, _ := e["outputs"].(map[string]any)
	count, preview := outputsSummary(outputs)
	j := orderedObject{{"id", id}, {"status", state}, {"priority", tuple[0]}}
	j = j.addIf("create_time", extra["create_time"])
	j = j.addIf("execution_start_time", start)
	j = j.addIf("execution_end_time", end)
	j = j.addIf("execution_error", execErr)
	j = append(j, kv{"outputs_count", count})
	j = j.addIf("preview_output", preview)
	j = j.addIf("workflow_id", workflowIDOf(extra))
	if full {
		j = append(j, kv{"outputs", outputs}, kv{"execution_status", status},
			kv{"workflow", orderedObject{{"prompt", tuple[2]}, {"extra_data", extra}}})
	}
	return j
}

// outputsSummary counts the output items of a history entry and picks the
// one to preview: the first image, video or audio of type "output", else
// the first of any type. Nodes are visited in node id order.
func outputsSummary(outputs map[string]any) (int, any) {
	ids := make([]string, 0, len(outputs))
	for id := range outputs {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(a, b int) bool { return nodeIDLess(ids[a], ids[b]) })
	count := 0
	var preview, fallback orderedObject
	for _, id := range ids {
		ui, _ := outputs[id].(map[string]any)
		kinds := make([]string, 0, len(ui))
		for k := range ui {
			kinds = append(kinds, k)
		}
		slices.Sort(kinds)
		for _, kind := range kinds {
			items, ok := ui[kind].([]any)
			if kind == "animated" || !ok {
				continue
			}
			for _, it := range items {
				item, ok := it.(map[string]any)
				if !ok {
					continue
				}
				count++
				if preview != nil || (kind != "images" && kind != "video" && kind != "audio") {
					continue
				}
				p := orderedObject{{"filename", item["filename"]}, {"subfolder", item["subfolder"]}, {"type", item["type"]},
					{"nodeId", id}, {"mediaType", kind}}
				if item["type"] == "output" {
					preview = p
				} else if fallback == nil {
					fallback = p
				}
			}
		}
	}
	switch {
	case preview != nil:
		return count, preview
	case fallback != nil:
		return count, fallback
	}
	return count, nil
}

// workflowIDOf is extra_data.extra_pnginfo.workflow.id, or nil.
func workflowIDOf(extra map[string]any) any {
	pnginfo, _ := extra["extra_pnginfo"].(map[string]any)
	wf, _ := pnginfo["workflow"].(map[string]any)
	return wf["id"]
}

// jsonInt reads an integer that may be an int64 or a json.Number; 0 if neither.
func jsonInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case int:
		return int64(x)
	case json.Number:
		n, _ := x.Int64()
		return n
	}
	return 0
}

// get returns the value of key k, or nil.
func (o orderedObject) get(k string) any {
	for _, p := range o {
		if p.k == k {
			return p.v
		}
	}
	return nil
}

// addIf appends k unless v is nil, as ComfyUI's prune_dict drops None.
func (o orderedObject) addIf(k string, v any) orderedObject {
	if v == nil {
		return o
	}
	if ob, ok := v.(orderedObject); ok && ob == nil {
		return o
	}
	return append(o, kv{k, v})
}

// nodeIDLess orders numeric node ids numerically, before other ids.
func nodeIDLess(a, b string) bool {
	ai, aerr := strconv.Atoi(a)
	bi, berr := strconv.Atoi(b)
	switch {
	case aerr == nil && berr == nil:
		return ai < bi
	case aerr == nil || berr == nil:
		return aerr == nil
	}
	return a < b
}
