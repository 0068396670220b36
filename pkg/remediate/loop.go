package remediate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pulsegate/pulsegate/pkg/policy"
)

// Loop is block, heal, check again: it runs the actions on an enforced
// block, waits for their outcome and for fresh data, evaluates again, and
// repeats within the budget.
type Loop struct {
	Runner  *Runner
	Actions []Action
	Budget  Budget // zero fields: the defaults
	// Evaluate decides again (reading every input afresh).
	Evaluate func(ctx context.Context) (*policy.Decision, error)
	// WaitFresh returns when every source that d's block rests on has data
	// from after `after`, or an error when ctx ends first. Nil: no wait.
	WaitFresh func(ctx context.Context, d *policy.Decision, after time.Time) error
	// Record receives every record and every decision as it happens (the
	// audit log); an error stops the loop. Nil: nothing.
	Record func(Record) error
	// Decided receives every decision after the first. Nil: nothing.
	Decided func(*policy.Decision) error
	// Sleep waits between attempts (nil: a timer that ctx cancels);
	// Now is the wall clock for deadlines (nil: time.Now).
	Sleep func(ctx context.Context, d time.Duration) error
	Now   func() time.Time
}

// History is what the loop did.
type History struct {
	// DecisionID is the first block's id, the key of every name.
	DecisionID string   `json:"decision_id"`
	Records    []Record `json:"records"`
	// Decisions are the ids and verdicts of the evaluations after the first.
	Decisions []Evaluation `json:"decisions,omitempty"`
	// Result says how the loop ended, for a person.
	Result string `json:"result"`
}

// Evaluation is one re-check.
type Evaluation struct {
	Attempt    int            `json:"attempt"`
	DecisionID string         `json:"decision_id"`
	Verdict    policy.Verdict `json:"verdict"`
	Summary    string         `json:"summary"`
}

func (l *Loop) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func (l *Loop) sleep(ctx context.Context, d time.Duration) error {
	if l.Sleep != nil {
		return l.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run starts from first. A proceed, a shadow-mode block, or a dry run
// returns after at most one pass; otherwise it runs until a re-check
// proceeds or the budget is spent, and returns the last decision, which
// is a block unless remediation cleared it. The error is for what no
// verdict covers: an evaluation that fails, an audit log that cannot be
// written.
func (l *Loop) Run(ctx context.Context, first *policy.Decision) (*policy.Decision, History, error) {
	h := History{DecisionID: first.DecisionID}
	if first.Verdict != policy.Block {
		h.Result = "no remediation: the verdict is " + string(first.Verdict)
		return first, h, nil
	}
	if !first.Enforced {
		h.Result = "no remediation: shadow mode records the block without acting on it"
		return first, h, nil
	}
	if len(l.Actions) == 0 {
		return first, h, errors.New("remediate: no actions")
	}
	b := l.Budget.WithDefaults()
	ctx, cancel := context.WithDeadline(ctx, l.now().Add(time.Duration(b.Deadline)))
	defer cancel()
	d := first
	backoff := time.Duration(b.Backoff)
	for attempt := 1; attempt <= b.Attempts; attempt++ {
		if attempt > 1 {
			if err := l.sleep(ctx, backoff); err != nil {
				h.Result = fmt.Sprintf("block: the deadline (%s) passed before attempt %d", time.Duration(b.Deadline), attempt)
				return d, h, nil
			}
			backoff *= 2
		}
		ok, acted, err := l.attempt(ctx, b, attempt, d, &h)
		if err != nil {
			return d, h, err
		}
		if !l.Runner.Apply {
			h.Result = "block: dry run, nothing was changed (give --apply to act)"
			return d, h, nil
		}
		if !acted {
			h.Result = fmt.Sprintf("block: attempt %d found nothing to act on among the block's targets", attempt)
			return d, h, nil
		}
		if !ok {
			if ctx.Err() != nil {
				h.Result = fmt.Sprintf("block: the deadline (%s) passed during attempt %d", time.Duration(b.Deadline), attempt)
				return d, h, nil
			}
			continue // the next attempt starts new workflows
		}
		finished := l.now()
		for _, r := range h.Records {
			if r.Attempt == attempt && r.Finished.After(finished) {
				finished = r.Finished
			}
		}
		if l.WaitFresh != nil {
			fctx, fcancel := context.WithTimeout(ctx, time.Duration(b.FreshTimeout))
			err := l.WaitFresh(fctx, d, finished)
			fcancel()
			if err != nil {
				h.Result = fmt.Sprintf("block: after attempt %d, no fresh data: %v", attempt, err)
				if ctx.Err() == nil && attempt < b.Attempts {
					continue
				}
				return d, h, nil
			}
		}
		nd, err := l.Evaluate(ctx)
		if err != nil {
			return d, h, fmt.Errorf("re-check after attempt %d: %w", attempt, err)
		}
		d = nd
		h.Decisions = append(h.Decisions, Evaluation{Attempt: attempt, DecisionID: d.DecisionID, Verdict: d.Verdict, Summary: d.Summary})
		if l.Decided != nil {
			if err := l.Decided(d); err != nil {
				return d, h, err
			}
		}
		if d.Verdict != policy.Block || !d.Enforced {
			h.Result = fmt.Sprintf("%s after %d attempt(s): remediation cleared the block", d.Verdict, attempt)
			return d, h, nil
		}
	}
	h.Result = fmt.Sprintf("block: the retry budget (%d attempts) is spent", b.Attempts)
	return d, h, nil
}

// attempt runs every action once. ok: all succeeded (or were dry runs);
// acted: at least one did something.
func (l *Loop) attempt(ctx context.Context, b Budget, attempt int, d *policy.Decision, h *History) (ok, acted bool, err error) {
	ok = true
	for _, a := range l.Actions {
		wait := time.Duration(a.Timeout)
		if wait == 0 {
			wait = time.Duration(b.ActionTimeout)
		}
		recs, err := l.Runner.Do(ctx, Step{DecisionID: h.DecisionID, Attempt: attempt, Action: a, Decision: d}, wait)
		if err != nil {
			return false, acted, err
		}
		for _, r := range recs {
			h.Records = append(h.Records, r)
			if l.Record != nil {
				if err := l.Record(r); err != nil {
					return false, acted, fmt.Errorf("record remediation: %w", err)
				}
			}
			switch r.Outcome {
			case Succeeded, DryRun:
				acted = true
			case Skipped:
			default:
				acted = true
				ok = false
			}
		}
		if !ok {
			return false, acted, nil // later actions wait for the next attempt
		}
	}
	return ok, acted, nil
}
