// Package pgtest runs a PostgreSQL server of Debian's postgresql package
// for tests: initdb into a temporary directory, the server on 127.0.0.1 on
// a free port, stopped when the test ends.
package pgtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/weirstream/weir/internal/testserver"
)

// Start starts a PostgreSQL server of Debian's postgresql package
// on 127.0.0.1, on a free port, in a temporary directory, and returns the
// DSN of its database "weir" (user weir, no password). It is stopped when
// the test ends. Without the server's binaries the test is skipped, unless
// WEIR_REQUIRE_SERVERS is set (make test sets it): then it fails.
func Start(t testing.TB) string {
	t.Helper()
	bin := postgresBin()
	if bin == "" {
		testserver.Missing(t, "PostgreSQL's server (/usr/lib/postgresql/*/bin/postgres)", "make deps installs it")
	}
	// initdb and postgres refuse to run as root: as root, they run as the
	// postgres user the package creates, in a directory it owns.
	var cred *syscall.Credential
	dir, err := os.MkdirTemp("", "weir-postgres-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root, PostgreSQL needs the postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	command := func(name string, args ...string) *exec.Cmd {
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "LC_ALL=C")
		if cred != nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		}
		return cmd
	}
	data := filepath.Join(dir, "data")
	if out, err := command("initdb", "-D", data, "-U", "weir", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	port := testserver.FreePort(t)
	testserver.Start(t, testserver.Process{
		Name: "postgres",
		Cmd: command("postgres", "-D", data, "-p", strconv.Itoa(port), "-k", dir,
			"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_prepared_transactions=16", "-c", "log_min_messages=warning", "-c", "log_destination=stderr"),
		Ready:         "ready to accept connections",
		ReadyOnStderr: true,
		Stop:          syscall.SIGINT, // fast shutdown
	})
	admin := fmt.Sprintf("postgres://weir@127.0.0.1:%d/postgres?sslmode=disable", port)
	conn, err := pgx.Connect(context.Background(), admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "CREATE DATABASE weir"); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("postgres://weir@127.0.0.1:%d/weir?sslmode=disable", port)
}

// postgresBin is the directory of the newest installed PostgreSQL's
// server binaries, or "".
func postgresBin() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		a, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		b, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return a > b
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			return d
		}
	}
	return ""
}
