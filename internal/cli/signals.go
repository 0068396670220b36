package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/store"
	"github.com/pulsegate/pulsegate/tasks"
	"github.com/pulsegate/pulsegate/tasks/gate"
)

// signalsReport is what `pulsegate signals -o json` prints.
type signalsReport struct {
	Store   string          `json:"store"`
	Now     time.Time       `json:"now"`
	Query   string          `json:"query"`
	Sources []sourceStatus  `json:"sources"`
	Count   int             `json:"count"`
	Signals []signal.Signal `json:"signals"`
}

type sourceStatus struct {
	store.SourceRecord
	Status     store.State `json:"status"`
	AgeSeconds *float64    `json:"age_seconds,omitempty"`
	Detail     string      `json:"detail"`
}

func newSignalsCommand() *cobra.Command {
	var storePath, asset, cluster, src, output, now string
	var since time.Duration
	var limit int
	c := &cobra.Command{
		Use:   "signals --store PATH [--asset KIND=VALUE] [--since 1h] [-o text|json]",
		Short: "List what the store holds and how fresh each source is",
		Long: `signals opens the store that 'pulsegate fetch --store' writes (read-only:
several can run beside each other, but not beside a running fetch) and
prints every source's freshness (fresh, stale or unavailable, with its age,
as the gate would judge it at --now against the source's configured maximum
age) and the Signals selected by --asset, --source and --since, oldest first.

--asset takes node=NAME, pod=NAMESPACE/NAME, namespace=NAME,
workload=NAMESPACE/KIND/NAME, image=DIGEST, cloud=ID or
resource=NAMESPACE/RESOURCE/NAME. A Signal about a pod is found by its node
too.`,
		Example: `  pulsegate signals --store store.db
  pulsegate signals --store store.db --asset node=ip-10-0-2-22 --since 1h -o json
  pulsegate signals --store store.db --asset pod=payments/api-7d9 --now 2026-11-30T10:00:00Z --since 2h`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if storePath == "" {
				return tasks.Usage(errors.New("--store is required"))
			}
			if output != "text" && output != "json" {
				return tasks.Usage(fmt.Errorf("-o %q: want text or json", output))
			}
			if since < 0 || limit < 0 {
				return tasks.Usage(errors.New("--since and --limit must not be negative"))
			}
			at := time.Now().UTC()
			if now != "" {
				t, err := time.Parse(time.RFC3339Nano, now)
				if err != nil {
					return tasks.Usage(fmt.Errorf("--now: %q is not an RFC 3339 time like 2026-12-04T10:00:00Z", now))
				}
				at = t.UTC()
			}
			q := store.Query{Source: src, Until: at, Limit: limit}
			if since > 0 {
				q.Since = at.Add(-since)
			}
			if asset != "" {
				a, err := store.ParseAsset(asset)
				if err != nil {
					return tasks.Usage(fmt.Errorf("--asset: %w", err))
				}
				a.Cluster = cluster
				q.Asset = a
			} else if cluster != "" {
				return tasks.Usage(errors.New("--cluster narrows --asset: give --asset too"))
			}
			if _, err := os.Stat(storePath); err != nil {
				return tasks.Usage(fmt.Errorf("--store: %w", err))
			}
			st, err := store.Open(storePath, store.ReadOnly())
			if err != nil {
				return err
			}
			defer st.Close()
			rep := signalsReport{Store: storePath, Now: at, Query: describe(q, since)}
			recs, err := st.Sources()
			if err != nil {
				return err
			}
			for _, r := range recs {
				h, _, err := st.Health(r.Name, at)
				if err != nil {
					return err
				}
				state, age, detail := h.Evaluate(at, r.MaxAge)
				ss := sourceStatus{SourceRecord: r, Status: state, Detail: detail}
				if state != store.Unavailable {
					a := age.Seconds()
					ss.AgeSeconds = &a
				}
				rep.Sources = append(rep.Sources, ss)
			}
			rep.Signals, err = st.Find(q)
			if err != nil {
				return err
			}
			rep.Count = len(rep.Signals)
			if rep.Signals == nil {
				rep.Signals = []signal.Signal{}
			}
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			return writeSignalsText(cmd.OutOrStdout(), rep)
		},
	}
	fl := c.Flags()
	fl.StringVar(&storePath, "store", "", "the store file 'pulsegate fetch --store' writes")
	fl.StringVar(&asset, "asset", "", "only Signals about this asset: node=NAME, pod=NS/NAME, namespace=NAME, workload=NS/KIND/NAME, image=DIGEST, cloud=ID")
	fl.StringVar(&cluster, "cluster", "", "with --asset: only in this cluster (default: any)")
	fl.StringVar(&src, "source", "", "only Signals of this configured source")
	fl.DurationVar(&since, "since", time.Hour, "only Signals at most this old at --now (0: all)")
	fl.StringVar(&now, "now", "", "list as of this RFC 3339 time (default: now)")
	fl.IntVar(&limit, "limit", 0, "print only the newest N Signals (0: all)")
	fl.StringVarP(&output, "output", "o", "text", "text or json")
	return c
}

// storedTelemetry lists every source the store at path has a record of, as
// the gate's telemetry: `pulsegate gate --store PATH` without a
// configuration judges each source the store knows, with the maximum age
// its fetch was configured with (else maxAge).
func storedTelemetry(path string, maxAge time.Duration) ([]gate.Telemetry, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, tasks.Usage(fmt.Errorf("--store: %w", err))
	}
	st, err := store.Open(path, store.ReadOnly())
	if err != nil {
		return nil, err
	}
	defer st.Close()
	recs, err := st.Sources()
	if err != nil {
		return nil, err
	}
	var out []gate.Telemetry
	for _, r := range recs {
		t := gate.Telemetry{Name: r.Name, Type: r.Type, MaxAge: r.MaxAge}
		if t.MaxAge == 0 {
			t.MaxAge = maxAge
		}
		out = append(out, t)
	}
	return out, nil
}

func describe(q store.Query, since time.Duration) string {
	var parts []string
	if q.Asset.Kind != 0 {
		a := q.Asset.String()
		if q.Asset.Cluster != "" {
			a += " in cluster " + q.Asset.Cluster
		}
		parts = append(parts, a)
	}
	if q.Source != "" {
		parts = append(parts, "source="+q.Source)
	}
	if since > 0 {
		parts = append(parts, "since "+since.String())
	} else {
		parts = append(parts, "all times")
	}
	return strings.Join(parts, ", ")
}

func writeSignalsText(w io.Writer, rep signalsReport) error {
	fmt.Fprintf(w, "store %s as of %s\n\n", rep.Store, rep.Now.Format(time.RFC3339))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tTYPE\tSTATUS\tAGE\tRECORDS\tREJECTED\tLAST READ\tDETAIL")
	if len(rep.Sources) == 0 {
		fmt.Fprintln(tw, "(none: run pulsegate fetch --store)\t\t\t\t\t\t\t")
	}
	for _, s := range rep.Sources {
		age := "-"
		if s.AgeSeconds != nil {
			age = (time.Duration(*s.AgeSeconds * float64(time.Second))).Round(time.Second).String()
		}
		last := s.LastSuccess
		if s.LastError.After(last) {
			last = s.LastError
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", s.Name, s.Type, s.Status, age, s.Records, s.Rejected, last.Format(time.RFC3339), s.Detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%d signals (%s)\n", rep.Count, rep.Query)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, s := range rep.Signals {
		what := s.Title
		if what == "" {
			what = s.Rule
		}
		if s.Heartbeat {
			what = "(heartbeat) " + what
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Time.UTC().Format(time.RFC3339Nano), s.Source.Name, s.Severity, s.Asset, what)
	}
	return tw.Flush()
}
