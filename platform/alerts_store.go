package platform

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"time"

	"github.com/weirstream/weir/normal"
)

// The alerter's state survives a restart of the server: the open alerts,
// the closed ones it lists, and the normal rules' models are saved to
// alertsStateFile in the data directory after every evaluation that opens
// or closes an alert, at least every saveEvery otherwise, and when the
// server stops; the next server reads them back before its first
// evaluation. An open alert then goes on where it was: it closes when its
// group's values come back (after close_for), or when its rule is gone.
// A model goes on learning from where it was saved: the steps the server
// was down for are missing values, which a model takes in its stride.

const (
	alertsStateFile = "alerts.json"
	// alertsStateVersion is the version of the file's layout.
	alertsStateVersion = 1
	// saveEvery is how often the state is saved when nothing opens or
	// closes: what a crash may lose of the models' learning.
	saveEvery = time.Minute
)

// alertsState is the saved state, as JSON.
type alertsState struct {
	Version int       `json:"version"`
	SavedAt time.Time `json:"saved_at"`
	// Open are the open alerts; Closed the closed ones listed, oldest
	// first.
	Open   []Alert      `json:"open"`
	Closed []Alert      `json:"closed"`
	Models []savedModel `json:"models"`
}

// savedModel is a normal rule's model of one series.
type savedModel struct {
	Rule   string            `json:"rule"`
	Labels map[string]string `json:"labels"`
	Fed    time.Time         `json:"fed"`
	Last   time.Time         `json:"last"`
	// State is normal.Model.MarshalBinary's encoding.
	State []byte `json:"state"`
	Bands []band `json:"bands,omitempty"`
}

// save writes the state to a.path, atomically; a failure is logged, and
// the next evaluation tries again.
func (a *alerter) save(now time.Time) {
	if a.path == "" {
		return
	}
	a.saved = now
	a.mu.Lock()
	st := alertsState{Version: alertsStateVersion, SavedAt: now.UTC(), Open: []Alert{}, Closed: slices.Clone(a.mu.closed), Models: []savedModel{}}
	for _, g := range a.mu.groups {
		if g.alert != nil {
			st.Open = append(st.Open, *g.alert)
		}
	}
	var err error
	for _, nm := range a.mu.models {
		var b []byte
		if b, err = nm.m.MarshalBinary(); err != nil {
			break
		}
		st.Models = append(st.Models, savedModel{Rule: nm.rule, Labels: nm.labels, Fed: nm.fed, Last: nm.last, State: b, Bands: slices.Clone(nm.bands)})
	}
	a.mu.Unlock()
	var data []byte
	if err == nil {
		data, err = json.Marshal(st)
	}
	if err == nil {
		err = writeFileAtomic(a.path, data)
	}
	if err != nil {
		a.log.Error("alerts: cannot save the open alerts and the models", "file", a.path, "error", err)
	}
}

// load reads the state a.path holds, if any. A file that cannot be read
// is logged and set aside (renamed with the suffix .bad), so that the
// server starts — without the alerts and models it held.
func (a *alerter) load() {
	if a.path == "" {
		return
	}
	data, err := os.ReadFile(a.path)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err == nil {
		err = a.restore(data)
	}
	if err != nil {
		a.log.Error("alerts: cannot read the saved alerts and models; starting without them", "file", a.path, "error", err)
		if rerr := os.Rename(a.path, a.path+".bad"); rerr != nil {
			a.log.Error("alerts: cannot set the unreadable file aside", "file", a.path, "error", rerr)
		}
	}
}

// restore replaces the alerter's state with the saved data.
func (a *alerter) restore(data []byte) error {
	var st alertsState
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("%s: %w", alertsStateFile, err)
	}
	if st.Version != alertsStateVersion {
		return fmt.Errorf("%s: version %d, want %d", alertsStateFile, st.Version, alertsStateVersion)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, al := range st.Open {
		if al.State != "open" || al.Rule == "" {
			return fmt.Errorf("%s: alert %q is in the open list with state %q", alertsStateFile, al.ID, al.State)
		}
		al := al
		a.mu.groups[al.Rule+"\x00"+labelKey(al.Labels)] = &trackState{alert: &al}
	}
	a.mu.closed = st.Closed
	if over := len(a.mu.closed) - a.cfg.Keep; over > 0 {
		a.mu.closed = slices.Delete(a.mu.closed, 0, over)
	}
	normalRules := map[string]AlertRule{}
	for _, r := range a.cfg.Rules {
		if r.Kind == "normal" {
			normalRules[r.Name] = r
		}
	}
	for _, sm := range st.Models {
		r, ok := normalRules[sm.Rule]
		if !ok {
			continue // the rule is gone
		}
		m, err := normal.New(modelConfig(r))
		if err != nil {
			return err
		}
		if err := m.UnmarshalBinary(sm.State); err != nil {
			// A model of another version of Weir: it learns again.
			a.log.Warn("alerts: a saved model cannot be read; it learns again", "rule", sm.Rule, "labels", labelKey(sm.Labels), "error", err)
			continue
		}
		a.mu.models[sm.Rule+"\x00"+labelKey(sm.Labels)] = &normalModel{rule: sm.Rule, labels: sm.Labels, m: m, fed: sm.Fed, last: sm.Last, bands: sm.Bands}
	}
	return nil
}
