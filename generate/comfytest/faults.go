package comfytest

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
)

// isView reports a GET /view (or /api/view) request.
func isView(r *http.Request) bool {
	return r.Method == http.MethodGet && (r.URL.Path == "/view" || r.URL.Path == "/api/view")
}

// serveTruncated is Faults.ViewTruncateRate: the answer is produced in
// full, then sent as a 200 with the first half of its body and a
// Content-Length matching that half, as a proxy that lost the rest of the
// file would. Only the image's own structure shows the damage.
func serveTruncated(h http.Handler, w http.ResponseWriter, r *http.Request) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	if rec.Code == http.StatusOK && len(body) > 1 {
		body = body[:len(body)/2]
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(rec.Code)
	w.Write(body)
}

// authorized is Faults.AuthToken, an authenticating proxy in front of the
// server: without an Authorization header the request is answered 401
// with a WWW-Authenticate challenge, with another value 403 with a text
// body (ComfyUI's own origin-check 403 has an empty body, §1.1). It
// reports whether the request may go on.
func authorized(w http.ResponseWriter, r *http.Request, token string) bool {
	if token == "" {
		return true
	}
	got := r.Header.Get("Authorization")
	switch {
	case got == "":
		w.Header().Set("WWW-Authenticate", `Bearer realm="comfyui"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "authorization required"})
		return false
	case !strings.EqualFold(strings.TrimSpace(got), "Bearer "+token):
		http.Error(w, "403 Forbidden: invalid token", http.StatusForbidden)
		return false
	}
	return true
}
