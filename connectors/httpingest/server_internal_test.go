package httpingest

import (
	"testing"
	"time"
)

// The server binds the loopback interface and bounds slow clients by
// default.
func TestServerDefaults(t *testing.T) {
	c := ServerConfig{}.withDefaults()
	if c.Addr != "127.0.0.1:8080" || c.ReadHeaderTimeout != 5*time.Second || c.ReadTimeout != 30*time.Second ||
		c.IdleTimeout != time.Minute || c.MaxHeaderBytes != 16<<10 {
		t.Fatalf("defaults %+v", c)
	}
	if err := (ServerConfig{ReadTimeout: -1}).Validate(); err == nil {
		t.Fatal("a negative ReadTimeout was accepted")
	}
}
