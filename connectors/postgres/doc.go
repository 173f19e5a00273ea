// Package postgres writes Weir jobs' records to PostgreSQL: an upsert sink
// (INSERT … ON CONFLICT by key, batched) whose replay after a restore
// rewrites the same rows, so the table ends as an uninterrupted run leaves
// it — and an exactly-once sink, which writes each checkpoint's rows in
// one transaction with the checkpoint's ID in a commits table. See
// docs/postgres.md.
package postgres
