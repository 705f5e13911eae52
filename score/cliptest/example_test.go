package cliptest_test

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/comfybatch/comfybatch/score/cliptest"
	"github.com/comfybatch/comfybatch/score/scoretest"
)

// A CLIP server that dies after two images and comes back later: the
// shape of a test of a run that loses its scorer mid-way.
func ExampleServer_SetFaults() {
	fake := cliptest.New(cliptest.Options{})
	ts, url := fake.Start()
	defer ts.Close()
	fake.SetFaults(scoretest.Faults{Down: scoretest.Unavailable, DownAfter: 2, RetryAfter: 5 * time.Second})

	img := `data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNoAAAAggCBd81ytgAAAABJRU5ErkJggg==`
	embed := func() string {
		resp, err := http.Post(url+"/v1/embeddings", "application/json",
			strings.NewReader(`{"input":["`+img+`"],"modality":"image"}`))
		if err != nil {
			return err.Error()
		}
		resp.Body.Close()
		return fmt.Sprint(resp.StatusCode, " ", resp.Header.Get("Retry-After"))
	}
	fmt.Println(embed(), "|", embed(), "|", embed())
	fake.SetFaults(scoretest.Faults{}) // back up
	fmt.Println(embed())
	// Output:
	// 200  | 200  | 503 5
	// 200
}
