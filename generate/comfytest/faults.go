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

// isSubmit reports a POST /prompt (or /api/prompt) request.
func isSubmit(r *http.Request) bool {
	return r.Method == http.MethodPost && (r.URL.Path == "/prompt" || r.URL.Path == "/api/prompt")
}

// serveLost is Faults.LostReplyRate: the request is handled in full, then
// the connection is closed without an answer. Where the connection cannot
// be taken over (HTTP/2), the answer is a 502 with an empty body, what a
// proxy sends when the server's answer did not reach it.
func serveLost(h http.Handler, w http.ResponseWriter, r *http.Request) {
	h.ServeHTTP(httptest.NewRecorder(), r)
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	conn.Close()
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
