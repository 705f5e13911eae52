package score

import (
	"fmt"
	"net/http"

	"github.com/comfybatch/comfybatch"
)

// StatusError is a non-2xx answer from a scoring server. Its class comes
// from the code: 429 and 5xx are comfybatch.ErrTransient (worth retrying),
// other 4xx are comfybatch.ErrInvalid (the request or configuration is
// wrong, retrying cannot help).
type StatusError struct {
	URL  string
	Code int
	Body string // the start of the response body, for people
}

// Error names the URL, the status and the start of the body.
func (e *StatusError) Error() string {
	return fmt.Sprintf("POST %s: %d %s: %s", e.URL, e.Code, http.StatusText(e.Code), e.Body)
}

// Is reports the error's class for errors.Is.
func (e *StatusError) Is(target error) bool {
	switch target {
	case comfybatch.ErrTransient:
		return e.Code == http.StatusTooManyRequests || e.Code >= 500
	case comfybatch.ErrInvalid:
		return e.Code >= 400 && e.Code < 500 && e.Code != http.StatusTooManyRequests
	}
	return false
}
