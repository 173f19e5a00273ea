package platform

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/weirstream/weir/pipeline"
)

// confiner keeps the file paths of submitted pipelines inside the data
// directory, away from the server's own files. A relative path is relative
// to the data directory (the job processes run there); a path is judged by
// where it leads once its symbolic links are followed, so neither "..",
// nor an absolute path, nor a link out of the directory gets out.
type confiner struct {
	root string // the data directory, absolute and with its links resolved
}

// reserved are the server's own entries in the data directory, which no
// pipeline may read or write.
var reserved = []string{tokenFile, adminTokenFile, serverLockFile, jobsDir}

// check returns why the path p, which the pipeline names in what, is not
// allowed, or nil.
func (c confiner) check(what, p string) error {
	if p == "" {
		return fmt.Errorf("%s: empty path", what)
	}
	if strings.ContainsRune(p, 0) {
		return fmt.Errorf("%s: path %q holds a NUL byte", what, p)
	}
	abs := p
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(c.root, abs)
	}
	abs = filepath.Clean(abs)
	// A glob pattern is judged by the directory before its first pattern
	// character, and by every file it matches now.
	static, glob := abs, false
	if i := strings.IndexAny(abs, `*?[\`); i >= 0 {
		glob = true
		static = filepath.Dir(abs[:i+1])
	}
	if err := c.allowed(what, p, static); err != nil {
		return err
	}
	if glob {
		matches, err := filepath.Glob(abs)
		if err != nil {
			return fmt.Errorf("%s: bad pattern %q: %v", what, p, err)
		}
		for _, m := range matches {
			if err := c.allowed(what, p, m); err != nil {
				return err
			}
		}
		return nil
	}
	// A directory's files are read too: none may lead out by a link.
	if fi, err := os.Stat(static); err == nil && fi.IsDir() {
		entries, err := os.ReadDir(static)
		if err != nil {
			return fmt.Errorf("%s: %v", what, err)
		}
		for _, e := range entries {
			if e.Type()&fs.ModeSymlink != 0 {
				if err := c.allowed(what, p, filepath.Join(static, e.Name())); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// allowed checks one concrete path (abs, absolute and clean) that the
// pipeline's path p leads to.
func (c confiner) allowed(what, p, abs string) error {
	resolved, err := resolve(abs)
	if err != nil {
		return fmt.Errorf("%s: path %q: %v", what, p, err)
	}
	rel, err := filepath.Rel(c.root, resolved)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return fmt.Errorf("%s: path %q leads outside the data directory; a submitted pipeline may only use files under it", what, p)
	}
	if rel == "." {
		return fmt.Errorf("%s: path %q is the data directory itself; name a directory or file under it", what, p)
	}
	first, _, _ := strings.Cut(rel, string(filepath.Separator))
	for _, r := range reserved {
		if first == r {
			return fmt.Errorf("%s: path %q leads to the server's own %q in the data directory", what, p, r)
		}
	}
	return nil
}

// resolve follows the symbolic links of abs. Its longest part that exists
// is resolved and the rest, which does not exist yet (an output's
// directory, say), is appended.
func resolve(abs string) (string, error) {
	rest := ""
	cur := abs
	for {
		r, err := filepath.EvalSymlinks(cur)
		if err == nil {
			return filepath.Join(r, rest), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return "", err
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}

// readFile is the ${file:PATH} of submitted pipelines: confined like every
// other path.
func (c confiner) readFile(path string) ([]byte, error) {
	if err := c.check("${file:…}", path); err != nil {
		return nil, err
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(c.root, path)
	}
	return os.ReadFile(path)
}

// checkPipeline checks every file path of p.
func (c confiner) checkPipeline(p *pipeline.Pipeline) []error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	for _, in := range p.Inputs {
		if in.File != nil {
			for _, path := range in.File.Paths {
				add(c.check(fmt.Sprintf("input %s (line %d)", in.Name, in.Pos.Line), path))
			}
		}
	}
	for _, out := range p.Outputs {
		if out.File != nil {
			add(c.check(fmt.Sprintf("output %s (line %d)", out.Name, out.Pos.Line), out.File.Path))
		}
	}
	if p.DeadLetter != nil {
		add(c.check("dead_letter", p.DeadLetter.Path))
	}
	return errs
}

// noEnv is the ${env:NAME} of submitted pipelines: the server's environment
// is not theirs to read, so only a reference with a default resolves (to
// its default). The job processes start with an empty environment, so they
// resolve alike.
func noEnv(string) (string, bool) { return "", false }
