package fleet

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/stetconform/stetconform/internal/report"
	"github.com/stetconform/stetconform/internal/runner"
)

// Merge builds in out the index of the fleet whose shards' output folders are dirs, as
// one unsharded fleet run would have written it: each bank's folder is copied into out,
// and fleet.json, junit.xml and index.html are written from the shards' fleet.json. A
// shard of the split missing from dirs is said in a notice and makes the outcome COULD
// NOT FINISH (banks were not checked). The error is for what stops the merge: a folder
// that is not a fleet's, a bank in two shards, shards of different splits (exit 2), an
// output that cannot be written (exit 3).
func Merge(out string, dirs []string) (*Index, error) {
	x, err := merge(out, dirs)
	var re *runner.Error
	if err != nil && !errors.As(err, &re) {
		err = setupError(err)
	}
	return x, err
}

func merge(out string, dirs []string) (*Index, error) {
	if len(dirs) == 0 {
		return nil, errors.New("no shard folder given: name the output folders of the shards (fleet --shard i/n --out DIR)")
	}
	absOut, err := filepath.Abs(out)
	if err != nil {
		return nil, err
	}
	var (
		merged   *Index
		from     = map[string]string{} // bank ID -> shard folder
		shards   = map[int]string{}    // shard index -> folder
		count    int
		notices  []string
		tagNotes = map[string]bool{}
	)
	for _, dir := range dirs {
		if abs, err := filepath.Abs(dir); err == nil && abs == absOut {
			return nil, fmt.Errorf("--out %s is also a shard folder: merge into another folder", out)
		}
		x, err := ReadIndex(dir)
		if err != nil {
			return nil, err
		}
		if s := x.Shard; s != nil {
			switch {
			case count != 0 && s.Count != count:
				return nil, fmt.Errorf("%s is shard %s, and other folders are shards of %d: merge the shards of one split", dir, s, count)
			case shards[s.Index] != "":
				return nil, fmt.Errorf("%s and %s are both shard %s", shards[s.Index], dir, s)
			}
			count, shards[s.Index] = s.Count, dir
		}
		if merged == nil {
			merged = &Index{Tool: x.Tool, Started: x.Started, Finished: x.Finished, TagFilter: x.TagFilter}
		}
		if x.TagFilter != merged.TagFilter && !tagNotes[x.TagFilter] {
			tagNotes[x.TagFilter] = true
			notices = append(notices, fmt.Sprintf("%s ran with the tag filter %q, and %s with %q: their banks were not checked alike.", dir, x.TagFilter, dirs[0], merged.TagFilter))
		}
		if x.Started.Before(merged.Started) {
			merged.Started = x.Started
		}
		if x.Finished.After(merged.Finished) {
			merged.Finished = x.Finished
		}
		merged.Requirements = unionRequirements(merged.Requirements, x.Requirements)
		merged.Notices = append(merged.Notices, x.Notices...)
		for _, b := range x.Banks {
			if other, ok := from[b.ID]; ok {
				return nil, fmt.Errorf("bank %s is in both %s and %s: merge the shards of one split, each once", b.ID, other, dir)
			}
			from[b.ID] = dir
			merged.Banks = append(merged.Banks, b)
		}
	}
	var missing []string
	for i := 0; i < count; i++ {
		if shards[i] == "" {
			missing = append(missing, Shard{Index: i, Count: count}.String())
		}
	}
	if len(missing) > 0 {
		notices = append(notices, fmt.Sprintf("Shard(s) %s missing: their banks were not checked, so the fleet could not finish.", strings.Join(missing, ", ")))
	}
	merged.Notices = append(merged.Notices, notices...)
	merged.Summarize()
	if len(missing) > 0 {
		merged.Outcome, merged.ExitCode = report.CouldNotFinish, report.ExitCouldNotFinish
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, couldNotFinish(err)
	}
	ids := make([]string, 0, len(from))
	for id := range from {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		src := filepath.Join(from[id], id)
		if _, err := os.Stat(src); errors.Is(err, fs.ErrNotExist) {
			continue // a bank whose folder could not be made: its row says why
		}
		if err := copyDir(src, filepath.Join(out, id)); err != nil {
			return nil, couldNotFinish(err)
		}
	}
	if err := merged.WriteAll(out); err != nil {
		return nil, couldNotFinish(err)
	}
	return merged, nil
}

// unionRequirements adds to a the requirements of b it does not have, in b's order.
func unionRequirements(a, b []report.Requirement) []report.Requirement {
	have := map[string]bool{}
	for _, r := range a {
		have[r.ID] = true
	}
	for _, r := range b {
		if !have[r.ID] {
			a = append(a, r)
			have[r.ID] = true
		}
	}
	return a
}

// copyDir copies the regular files under src into dst.
func copyDir(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		o, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		if _, err := io.Copy(o, in); err != nil {
			o.Close()
			return err
		}
		return o.Close()
	})
}
