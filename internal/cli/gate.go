package cli

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pulsegate/pulsegate/pkg/config"
	"github.com/pulsegate/pulsegate/pkg/policy"
	"github.com/pulsegate/pulsegate/pkg/report"
	"github.com/pulsegate/pulsegate/pkg/source/builtin"
	"github.com/pulsegate/pulsegate/tasks"
	"github.com/pulsegate/pulsegate/tasks/decide"
	"github.com/pulsegate/pulsegate/tasks/gate"
)

type gateFlags struct {
	config, release, inventory, policy, model string
	namespace, cluster, mode, output, now     string
	telemetry                                 []string
	maxAge                                    time.Duration
	environment, breakGlass, record           string
	store                                     string
	evidence                                  evidenceFlags
	remediation                               remediateGateFlags
}

func newGateCommand() *cobra.Command {
	var f gateFlags
	c := &cobra.Command{
		Use:   "gate --release PATH --inventory PATH [--telemetry TYPE=PATH ...]",
		Short: "Decide whether a release may proceed, once",
		Long: `gate reads the release's rendered manifests, the cluster inventory and the
telemetry files, maps the release to the resources it will touch, scores
the risk and applies the policy. It prints the decision and exits 0
(proceed), 1 (block), 2 (usage or configuration error) or 3 (runtime error).
In shadow mode it always exits 0 and reports what it would have done.`,
		Example: `  pulsegate gate --release deploy/ --inventory snapshot.json \
    --telemetry falco=/var/log/falco.jsonl --telemetry k8s-audit=audit.log
  pulsegate gate --config pulsegate.yaml -o json
  pulsegate gate --config pulsegate.yaml --store /var/lib/pulsegate/store.db`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, output, err := f.params(cmd)
			if err != nil {
				return err
			}
			w, err := report.Lookup(output)
			if err != nil {
				return tasks.Usage(err)
			}
			sign, err := f.evidence.check()
			if err != nil {
				return err
			}
			var in policy.Input
			d, err := f.remediation.run(cmd, p, gate.Env{Sources: builtin.Registry(), Rejects: cmd.ErrOrStderr(), ScoreAnomaly: gate.ScoreModel, Input: func(x policy.Input) { in = x }}, f.evidence.auditLog)
			if err != nil {
				return err
			}
			if f.record != "" {
				if err := decide.Record(f.record, p, in, d); err != nil {
					return err
				}
			}
			if err := w(cmd.OutOrStdout(), d); err != nil {
				return fmt.Errorf("write report: %w", err)
			}
			if err := f.evidence.write(cmd, d, sign); err != nil {
				return err
			}
			if d.Verdict == policy.Block && d.Enforced {
				return &ExitError{Code: ExitBlock, Silent: true}
			}
			return nil
		},
	}
	fl := c.Flags()
	fl.StringVar(&f.config, "config", "", "configuration file (strict YAML); flags override it")
	fl.StringVar(&f.release, "release", "", "rendered manifests: a file, a folder, or - for stdin")
	fl.StringVar(&f.inventory, "inventory", "", "cluster snapshot: a Kubernetes List in JSON or YAML")
	fl.StringArrayVar(&f.telemetry, "telemetry", nil, "telemetry as TYPE=PATH or TYPE:NAME=PATH (repeatable); see 'pulsegate sources'")
	fl.StringVar(&f.policy, "policy", "", "policy file (default: the built-in policy, see 'pulsegate policy show')")
	fl.StringVar(&f.model, "model", "", "anomaly model file (default: no anomaly scoring)")
	fl.StringVar(&f.namespace, "namespace", "", "namespace for manifests that name none (default \"default\")")
	fl.StringVar(&f.cluster, "cluster", "", "cluster the release goes to; signals naming another cluster are ignored")
	fl.StringVar(&f.mode, "mode", "", "enforce or shadow (default enforce)")
	f.evidence.register(fl)
	f.remediation.register(fl)
	fl.StringVarP(&f.output, "output", "o", "", "report format: text, json or markdown (default text)")
	fl.StringVar(&f.now, "now", "", "evaluate as of this RFC 3339 time (default: now)")
	fl.DurationVar(&f.maxAge, "max-age", 0, "maximum age of every source without its own (default 15m)")
	fl.StringVar(&f.environment, "environment", "", "one of the configuration's environments: its fail mode and mode apply")
	fl.StringVar(&f.breakGlass, "break-glass-file", "", "break-glass file (who, why, ticket, expires): turns a block into a proceed, on the record")
	fl.StringVar(&f.store, "store", "", "read every source from this store (written by 'pulsegate fetch --store') instead of its file or url")
	fl.StringVar(&f.record, "record", "", "copy every input read into this folder, for 'pulsegate replay' and 'pulsegate decide'")
	return c
}

func (f *gateFlags) params(cmd *cobra.Command) (gate.Params, string, error) {
	var cfg config.Config
	if f.config != "" {
		c, err := config.Load(f.config)
		if err != nil {
			return gate.Params{}, "", tasks.Usage(err)
		}
		cfg = *c
	}
	// A flag given with an empty value (as pipelines pass unset params)
	// leaves the configuration's value in place.
	pick := func(flag, fromFile string) string {
		if v, _ := cmd.Flags().GetString(flag); cmd.Flags().Changed(flag) && v != "" {
			return v
		}
		return fromFile
	}
	p := gate.Params{
		Release:   pick("release", cfg.Release),
		Inventory: pick("inventory", cfg.Inventory),
		Policy:    pick("policy", cfg.Policy),
		Model:     pick("model", cfg.Model),
		Namespace: pick("namespace", cfg.Namespace),
		Cluster:   pick("cluster", cfg.Cluster),
		Mode:      pick("mode", cfg.Mode),
	}
	output := pick("output", cfg.Output)
	if output == "" {
		output = "text"
	}
	if now := pick("now", cfg.Now); now != "" {
		t, err := time.Parse(time.RFC3339Nano, now)
		if err != nil {
			return p, "", tasks.Usage(fmt.Errorf("--now: %q is not an RFC 3339 time like 2026-12-04T10:00:00Z", now))
		}
		p.Now = t
	}
	var errs []error
	for _, t := range cfg.Telemetry {
		ma, _ := t.MaxAgeDuration() // checked by config.Load
		p.Telemetry = append(p.Telemetry, gate.Telemetry{Name: t.Name, Type: t.Type, Path: t.Path, MaxAge: ma, FailMode: t.FailMode, Cluster: t.Cluster, Pull: t.Pull})
	}
	for _, v := range f.telemetry {
		typ, path, ok := strings.Cut(v, "=")
		if !ok || typ == "" || path == "" {
			errs = append(errs, fmt.Errorf("--telemetry %q: want TYPE=PATH, e.g. falco=/var/log/falco.jsonl", v))
			continue
		}
		typ, name, _ := strings.Cut(typ, ":")
		p.Telemetry = append(p.Telemetry, gate.Telemetry{Type: typ, Name: name, Path: path})
	}
	if f.maxAge < 0 {
		errs = append(errs, errors.New("--max-age must be positive"))
	}
	for i := range p.Telemetry {
		if p.Telemetry[i].MaxAge == 0 {
			p.Telemetry[i].MaxAge = f.maxAge
		}
	}
	if err := errors.Join(errs...); err != nil {
		return p, "", tasks.Usage(err)
	}
	if envName := pick("environment", cfg.Environment); envName != "" {
		e, ok := cfg.Environments[envName]
		if !ok {
			names := make([]string, 0, len(cfg.Environments))
			for n := range cfg.Environments {
				names = append(names, n)
			}
			sort.Strings(names)
			return p, "", tasks.Usage(fmt.Errorf("--environment %q: not one of the configuration's environments (%s)", envName, strings.Join(names, ", ")))
		}
		p.Environment, p.FailMode = envName, e.FailMode
		if !cmd.Flags().Changed("mode") && e.Mode != "" {
			p.Mode = e.Mode
		}
	}
	p.BreakGlass = pick("break-glass-file", cfg.BreakGlass)
	p.Config = f.config
	p.Store = f.store
	if p.Store != "" && len(p.Telemetry) == 0 {
		tel, err := storedTelemetry(p.Store, f.maxAge)
		if err != nil {
			return p, "", err
		}
		p.Telemetry = tel
	}
	return p, output, nil
}
