package httpingest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// ServerConfig configures the collector's HTTP server. The defaults bind
// the loopback interface and cut off slow clients.
type ServerConfig struct {
	// Addr is the address to listen on (default "127.0.0.1:8080"; port 0
	// picks a free one, see Server.Addr). Serving other hosts is a choice:
	// "0.0.0.0:8080" or ":8080".
	Addr string
	// ReadHeaderTimeout bounds the time to read a request's headers
	// (default 5s): a client sending them slowly (slowloris) is cut off.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds the time to read a whole request, body included
	// (default 30s).
	ReadTimeout time.Duration
	// WriteTimeout bounds the time from the end of the request's headers
	// to the end of the answer, the journal's commit included (default
	// 30s).
	WriteTimeout time.Duration
	// IdleTimeout bounds how long a kept-alive connection waits for the
	// next request (default 60s).
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's headers (default 16 KiB).
	MaxHeaderBytes int
	// ShutdownTimeout is how long Serve waits, once its context is done,
	// for requests in flight to be answered (default 10s).
	ShutdownTimeout time.Duration
}

// Validate checks the configuration and names the field that is wrong.
func (c ServerConfig) Validate() error {
	if c.ReadHeaderTimeout < 0 || c.ReadTimeout < 0 || c.WriteTimeout < 0 || c.IdleTimeout < 0 || c.ShutdownTimeout < 0 || c.MaxHeaderBytes < 0 {
		return fmt.Errorf("httpingest.ServerConfig %+v: timeouts and MaxHeaderBytes must not be negative", c)
	}
	return nil
}

func (c ServerConfig) withDefaults() ServerConfig {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8080"
	}
	def(&c.ReadHeaderTimeout, 5*time.Second)
	def(&c.ReadTimeout, 30*time.Second)
	def(&c.WriteTimeout, 30*time.Second)
	def(&c.IdleTimeout, 60*time.Second)
	def(&c.ShutdownTimeout, 10*time.Second)
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = 16 << 10
	}
	return c
}

// Server serves a handler (a collector's, usually) over HTTP.
type Server struct {
	cfg ServerConfig
	ln  net.Listener
	srv *http.Server
}

// Listen binds cfg.Addr for h; Serve then serves it.
func Listen(h http.Handler, cfg ServerConfig) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("httpingest: listen on %s: %w", cfg.Addr, err)
	}
	return &Server{cfg: cfg, ln: ln, srv: &http.Server{
		Handler:           h,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
	}}, nil
}

// Addr returns the address the server listens on, such as
// "127.0.0.1:41234".
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Serve serves until ctx is done, then stops accepting, waits up to
// ShutdownTimeout for the requests in flight and returns. It returns nil
// after a clean shutdown.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("httpingest: serve on %s: %w", s.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	err := s.srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		s.srv.Close()
		return fmt.Errorf("httpingest: shut down %s: %w", s.Addr(), err)
	}
	return nil
}
