package gate

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pulsegate/pulsegate/pkg/config"
	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/source"
	"github.com/pulsegate/pulsegate/pkg/store"
	"github.com/pulsegate/pulsegate/tasks"
	"github.com/pulsegate/pulsegate/tasks/fetch"
)

// PollTimeout bounds the direct polls of url sources when there is no
// store (each source's own timeout bounds each HTTP attempt).
const PollTimeout = 2 * time.Minute

// reader reads each configured source one of three ways: from the store
// (Params.Store: its stored Signals within the policy window and its
// stored health as of now), by polling it once (a url and no store), or
// from its file.
type reader struct {
	st     *store.Store
	now    time.Time
	window time.Duration
	polled []polled // by telemetry index; set for url sources without a store
}

type polled struct {
	b   *source.Batch
	err error
}

// newReader checks that every source can be read somehow, opens the store
// and polls the url sources. Configuration problems are usage errors that
// name the source.
func newReader(p Params, env Env, now time.Time, window time.Duration) (*reader, error) {
	r := &reader{now: now, window: window, polled: make([]polled, len(p.Telemetry))}
	var errs []error
	for i, t := range p.Telemetry {
		if p.Store == "" && t.Path == "" && !t.Pull.Pulled() {
			errs = append(errs, fmt.Errorf("telemetry[%d] (%s): no path, no url and no --store: nothing to read it from", i, nameOf(t)))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, tasks.Usage(err)
	}
	if p.Store != "" {
		st, err := store.Open(p.Store, store.ReadOnly())
		if err != nil {
			return nil, err
		}
		r.st = st
		return r, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), PollTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for i, t := range p.Telemetry {
		if !t.Pull.Pulled() {
			continue
		}
		wg.Go(func() {
			ct := config.Telemetry{Name: t.Name, Type: t.Type, Cluster: cmp.Or(t.Cluster, p.Cluster), Pull: t.Pull}
			b, _, err := fetch.Poll(ctx, ct, nameOf(t), now, env.Sources, nil)
			r.polled[i] = polled{b, err}
		})
	}
	wg.Wait()
	for i, pl := range r.polled {
		if pl.err != nil && tasks.IsUsage(pl.err) {
			errs = append(errs, fmt.Errorf("telemetry[%d]: %w", i, pl.err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, tasks.Usage(err)
	}
	return r, nil
}

func (r *reader) close() {
	if r.st != nil {
		_ = r.st.Close()
	}
}

// read returns the source's batch and what is known of its health. fileErr
// is set only for a file that could not be read (the caller words it);
// other failures are in h.Err.
func (r *reader) read(i int, t Telemetry, spec source.Spec, ref signal.SourceRef, env Env) (b *source.Batch, h store.Health, fileErr error) {
	switch {
	case r.st != nil:
		sh, rec, err := r.st.Health(ref.Name, r.now)
		if err != nil {
			return nil, store.Health{Err: err}, nil
		}
		sigs, err := r.st.Find(store.Query{Source: ref.Name, Since: r.now.Add(-r.window), Until: r.now.Add(FutureSkew)})
		if err != nil {
			return nil, store.Health{Err: err}, nil
		}
		for k := range sigs {
			sigs[k].Source = ref // as configured now
		}
		b = &source.Batch{Source: ref, Signals: sigs, Records: rec.Records, Rejected: rec.Rejected, Written: sh.Written}
		return b, sh, nil
	case t.Pull.Pulled():
		pl := r.polled[i]
		if pl.err != nil {
			return nil, store.Health{Err: pl.err}, nil
		}
		for k := range pl.b.Signals {
			pl.b.Signals[k].Source = ref
		}
		return pl.b, store.Health{}, nil
	}
	b, err := source.ReadFile(t.Path, spec, ref, func(x source.Reject) {
		if env.Rejects != nil {
			fmt.Fprintln(env.Rejects, x.Error())
		}
	})
	return b, store.Health{Err: err}, err
}

// digest is the input digest of one source: its file's, or for stored and
// polled Signals the digest of the Signals used.
func (r *reader) digest(t Telemetry, b *source.Batch) string {
	if r.st == nil && !t.Pull.Pulled() {
		return digestPath(t.Path)
	}
	j, err := json.Marshal(b.Signals)
	if err != nil {
		return ""
	}
	return digest(j)
}

func nameOf(t Telemetry) string {
	if t.Name != "" {
		return t.Name
	}
	return t.Type
}
