// Package redis connects Weir jobs to Redis: a sink keeping a
// materialized view — upserts of keyed values (SET, or HSET of fields),
// pipelined, where the write of the highest version wins so that a
// restored job's replay cannot move a key back — and a Lookup for
// enrichment. See docs/redis.md.
package redis
