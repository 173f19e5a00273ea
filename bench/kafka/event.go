package main

import (
	"fmt"
	"strconv"
)

// event is the record the Kafka benchmarks pass through: a page view of
// about 300 bytes of JSON, keyed by its user.
type event struct {
	ID        int64  `json:"id"`
	User      string `json:"user"`
	Page      string `json:"page"`
	Referrer  string `json:"referrer"`
	Agent     string `json:"agent"`
	Country   string `json:"country"`
	Timestamp int64  `json:"ts"`
	Duration  int64  `json:"durationMs"`
	Bytes     int64  `json:"bytes"`
	Session   string `json:"session"`
}

// userKey is the key of event i among keys users.
func userKey(i int64, keys int64) string { return "user-" + strconv.FormatInt(i%keys, 10) }

// makeEvent returns event i; its JSON is 290–310 bytes.
func makeEvent(i, keys int64) event {
	return event{
		ID:        i,
		User:      userKey(i, keys),
		Page:      fmt.Sprintf("/catalog/category-%03d/product-%06d?ref=home&variant=%02d", i%997, i%100003, i%13),
		Referrer:  "https://www.example.com/search?q=stream+processing+engine",
		Agent:     "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0",
		Country:   []string{"DE", "US", "FR", "BR", "JP", "IN"}[i%6],
		Timestamp: 1_700_000_000_000 + i,
		Duration:  i % 30_000,
		Bytes:     1000 + i%65_536,
		Session:   fmt.Sprintf("s-%012x", i*2654435761%(1<<40)),
	}
}
