package comfytest

import (
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"strconv"
)

// Fleet is several Servers, each on its own loopback listener. Safe for
// concurrent use.
type Fleet struct {
	servers []*Server
	https   []*httptest.Server
}

// StartFleet starts n Servers with the same Options on random 127.0.0.1 ports.
func StartFleet(n int, opts Options) (*Fleet, error) {
	all := make([]Options, n)
	for i := range all {
		all[i] = opts
	}
	return StartFleetEach(all...)
}

// StartFleetEach starts one Server per Options (e.g. mixed speeds) on random
// 127.0.0.1 ports.
func StartFleetEach(opts ...Options) (*Fleet, error) {
	return startFleet(opts, func(int) (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") })
}

// ListenFleet starts n Servers on host at ports basePort..basePort+n-1, for
// `batch sim`.
func ListenFleet(host string, basePort, n int, opts Options) (*Fleet, error) {
	all := make([]Options, n)
	for i := range all {
		all[i] = opts
	}
	return startFleet(all, func(i int) (net.Listener, error) {
		return net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(basePort+i)))
	})
}

func startFleet(opts []Options, listen func(i int) (net.Listener, error)) (*Fleet, error) {
	f := &Fleet{}
	for i, o := range opts {
		l, err := listen(i)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("listen for simulated instance %d: %w", i, err)
		}
		s, err := New(o)
		if err != nil {
			l.Close()
			f.Close()
			return nil, fmt.Errorf("simulated instance %d: %w", i, err)
		}
		hs := httptest.NewUnstartedServer(s)
		hs.Listener.Close()
		hs.Listener = l
		hs.Start()
		f.servers = append(f.servers, s)
		f.https = append(f.https, hs)
	}
	return f, nil
}

// URLs returns the base URLs, "http://127.0.0.1:PORT", in Servers order.
func (f *Fleet) URLs() []string {
	out := make([]string, len(f.https))
	for i, hs := range f.https {
		out[i] = hs.URL
	}
	return out
}

// Servers returns the simulated instances.
func (f *Fleet) Servers() []*Server { return f.servers }

// Close closes every Server first (its websockets: httptest.Server.Close
// forgets hijacked connections), then every listener.
func (f *Fleet) Close() error {
	var errs []error
	for _, s := range f.servers {
		errs = append(errs, s.Close())
	}
	for _, hs := range f.https {
		hs.Close()
	}
	return errors.Join(errs...)
}
