package score

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/comfybatch/comfybatch"
)

// StatusError is a non-2xx answer from a scoring server. Its class comes
// from the code (see the package doc): 400, 413, 415 and 422 are the
// server's verdict on what it was sent (comfybatch.ErrInvalid); every other
// code says something about the server or the scorer's configuration, not
// the image, and is comfybatch.ErrOutage. Of those, 408, 429 and 5xx are
// also comfybatch.ErrTransient: worth retrying soon.
type StatusError struct {
	Method string // "POST" when empty
	URL    string
	Code   int
	Body   string // the start of the response body, for people
	// RetryAfter is the server's Retry-After (429 and 503), 0 if none.
	RetryAfter time.Duration
	// TokenEnv names the environment variable the bearer token comes
	// from, so that 401 and 403 can say what to fix.
	TokenEnv string

	sentToken bool // a bearer token was sent
}

// Error names the request, the status and the start of the body, and for
// codes that are the scorer's configuration, what to fix.
func (e *StatusError) Error() string {
	method := e.Method
	if method == "" {
		method = http.MethodPost
	}
	msg := fmt.Sprintf("%s %s: %d %s", method, e.URL, e.Code, http.StatusText(e.Code))
	if e.Body != "" {
		msg += ": " + e.Body
	}
	if fix := e.fix(); fix != "" {
		msg += "; " + fix
	}
	return msg
}

// fix says what a person can do about the answer, when that is clear.
func (e *StatusError) fix() string {
	switch e.Code {
	case http.StatusUnauthorized, http.StatusForbidden:
		switch {
		case e.TokenEnv != "":
			return fmt.Sprintf("the server refuses the token from %s: set %s to a valid token", e.TokenEnv, e.TokenEnv)
		case e.sentToken:
			return "the server refuses the scorer's token"
		}
		return "the server wants credentials: set token_env on the scorer to the environment variable holding its token"
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		return "nothing takes this request at that path: check the scorer's url (and protocol)"
	case http.StatusTooManyRequests:
		return "the server is rate limiting"
	}
	return ""
}

// verdict reports whether code is the server's answer about the content it
// was sent rather than about itself.
func verdict(code int) bool {
	switch code {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity:
		return true
	}
	return false
}

// Is reports the error's class for errors.Is.
func (e *StatusError) Is(target error) bool {
	switch target {
	case comfybatch.ErrInvalid:
		return verdict(e.Code)
	case comfybatch.ErrOutage:
		return !verdict(e.Code)
	case comfybatch.ErrTransient:
		return e.Code == http.StatusRequestTimeout || e.Code == http.StatusTooManyRequests || e.Code >= 500
	}
	return false
}

// auth reports whether the server refused the credentials.
func (e *StatusError) auth() bool {
	return e.Code == http.StatusUnauthorized || e.Code == http.StatusForbidden
}

// retryAfter parses a Retry-After header: delay-seconds or an HTTP date.
func retryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(h); err == nil {
		return time.Duration(max(s, 0)) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// outage is a failure to get a usable answer from a scorer: it could not
// be reached, did not answer in time, or answered something that cannot be
// read. It says nothing about the image, so it is comfybatch.ErrOutage,
// and comfybatch.ErrTransient when trying again soon may help. The cause
// is kept as text only: wrapping a context.DeadlineExceeded from the
// per-request timeout would make the error read as the caller's own
// cancellation.
type outage struct {
	msg       string
	retry     bool
	malformed bool // the server answered, but not in the protocol
}

func (o *outage) Error() string { return o.msg }

func (o *outage) Is(target error) bool {
	return target == comfybatch.ErrOutage || (o.retry && target == comfybatch.ErrTransient)
}

// outagef returns an outage error; retry says whether trying again soon
// may help.
func outagef(retry bool, format string, args ...any) error {
	return &outage{msg: fmt.Sprintf(format, args...), retry: retry}
}

// transportError classifies a failure to get an answer: the caller's own
// cancellation is returned as is; anything else (refused connection, reset,
// DNS, the per-request timeout, a body cut short) is a retryable outage.
func transportError(ctx context.Context, method, url string, timeout time.Duration, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return outagef(true, "%s %s: no answer within %v", method, url, timeout)
	}
	return outagef(true, "%s %s: unreachable: %v", method, url, err)
}

// malformed is a 2xx answer that cannot be read as the protocol's answer:
// a proxy's error page, a body cut short, another protocol. It says
// nothing about the image, so it is a retryable outage. hint says which
// settings to check should it persist.
func malformed(url, hint, format string, args ...any) error {
	return &outage{msg: fmt.Sprintf("malformed answer from %s: %s; %s", url, fmt.Sprintf(format, args...), hint), retry: true, malformed: true}
}

// checkError classifies a failure of a scorer's Check, made before a run
// with a request of the scorer's own: a server that cannot be reached, is
// overloaded or too slow is an outage (comfybatch.ErrOutage: start it and
// run again); a server that answers but refuses the request (404, 401, a
// 4xx about the check's own input) or answers in another protocol means
// the scorer's configuration is wrong (comfybatch.ErrInvalid). The
// caller's cancellation is returned as is.
func checkError(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if o, ok := errors.AsType[*outage](err); (ok && o.malformed) || !errors.Is(err, comfybatch.ErrTransient) {
		return fmt.Errorf("%s: %v: %w", what, err, comfybatch.ErrInvalid)
	}
	return fmt.Errorf("%s: %w", what, err)
}
