package prom

import (
	"strings"
	"testing"
)

// Without the binaries, Start skips with the reason (PULSEGATE_PROM_REQUIRE
// unset) instead of failing.
func TestMissingBinariesSkip(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv(EnvRequire, "")
	_, _, err := Binaries()
	if err == nil || !strings.Contains(err.Error(), "apt-get install prometheus") {
		t.Fatalf("Binaries() with an empty PATH: %v", err)
	}
	skipped := false
	t.Run("start", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		Start(t, Options{})
		t.Error("Start returned without the binaries")
	})
	if !skipped {
		t.Error("Start did not skip without the binaries")
	}
}

func TestAlertmanagerConfig(t *testing.T) {
	if c := alertmanagerConfig(Options{}); !strings.Contains(c, `receiver: "null"`) {
		t.Errorf("no webhook: %s", c)
	}
	c := alertmanagerConfig(Options{Webhook: "http://127.0.0.1:1/hook", WebhookToken: "tok"})
	for _, want := range []string{`url: "http://127.0.0.1:1/hook"`, `credentials: "tok"`, "send_resolved: true", "group_wait: 1s"} {
		if !strings.Contains(c, want) {
			t.Errorf("config lacks %q:\n%s", want, c)
		}
	}
}
