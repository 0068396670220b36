package train

import (
	"fmt"
	"io"
	"os"
	"time"
)

// Progress reports windows built on w, at most once per Every: "train:
// 12288/50000 windows (24.6%), 8123 windows/s, ETA 5s". On a terminal the
// line rewrites itself (a carriage return, and a newline at the end);
// elsewhere each report is a line of its own.
type Progress struct {
	W     io.Writer
	TTY   bool
	Every time.Duration // 0: one second
	Now   func() time.Time

	start, last time.Time
	startDone   int
	wrote       bool
}

// IsTerminal reports whether f is a character device (a terminal), where a
// progress line is shown by default.
func IsTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Update is an Env.Progress function.
func (p *Progress) Update(done, total int) {
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	t := now()
	if p.start.IsZero() {
		p.start, p.last, p.startDone = t, t, done
	}
	every := p.Every
	if every == 0 {
		every = time.Second
	}
	final := done >= total
	if !final && t.Sub(p.last) < every {
		return
	}
	if final && !p.wrote {
		return // short runs stay quiet
	}
	p.last = t
	el := t.Sub(p.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(done-p.startDone) / el
	}
	eta := "?"
	if rate > 0 {
		eta = time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	pct := 100.0
	if total > 0 {
		pct = 100 * float64(done) / float64(total)
	}
	line := fmt.Sprintf("train: %d/%d windows (%.1f%%), %.0f windows/s, ETA %s", done, total, pct, rate, eta)
	switch {
	case p.TTY && final:
		fmt.Fprintf(p.W, "\r%s\033[K\n", line)
	case p.TTY:
		fmt.Fprintf(p.W, "\r%s\033[K", line)
	default:
		fmt.Fprintln(p.W, line)
	}
	p.wrote = true
}
