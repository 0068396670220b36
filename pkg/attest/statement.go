package attest

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/pulsegate/pulsegate/pkg/policy"
)

// Identifiers from the specifications, and pulsegate's own predicate type.
const (
	// StatementType is the in-toto Statement v1 _type.
	StatementType = "https://in-toto.io/Statement/v1"
	// PayloadType is the DSSE payloadType of an in-toto statement.
	PayloadType = "application/vnd.in-toto+json"
	// PredicateType names pulsegate's decision predicate: the decision
	// record of `pulsegate gate -o json`, plus unpinned_images.
	PredicateType = "https://pulsegate.dev/decision/v1"
)

// Statement is an in-toto Statement v1.
type Statement struct {
	Type          string          `json:"_type"`
	Subject       []Subject       `json:"subject"`
	PredicateType string          `json:"predicateType"`
	Predicate     json.RawMessage `json:"predicate"`
}

// Subject is one artifact the statement is about: an image repository and
// its manifest digest.
type Subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"` // algorithm -> lower-case hex
}

// Predicate is the part of the decision predicate that verification reads.
// The predicate holds the whole decision; unknown fields are kept in the
// statement, not here.
type Predicate struct {
	DecisionID string         `json:"decision_id"`
	Time       string         `json:"time"`
	Verdict    policy.Verdict `json:"verdict"`
	Mode       policy.Mode    `json:"mode"`
	Enforced   bool           `json:"enforced"`
	Summary    string         `json:"summary"`
	// Unpinned lists the release's image references without a digest: they
	// cannot be subjects, so the statement does not cover them.
	Unpinned []string `json:"unpinned_images,omitempty"`
}

// ErrNoSubject means no image of the release is pinned by digest, so there
// is nothing to attest.
var ErrNoSubject = errors.New("no image of the release is pinned by digest (repo@sha256:...), so the attestation would have no subject")

// NewStatement builds the statement for a decision record as written by
// `pulsegate gate -o json`. The predicate is the record with the key
// unpinned_images added; every other key is kept byte for byte. It returns
// the image references that are not pinned by digest (they are listed in the
// predicate), and ErrNoSubject when none is pinned.
func NewStatement(decisionJSON []byte) (*Statement, []string, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(decisionJSON, &obj); err != nil {
		return nil, nil, fmt.Errorf("decision is not a JSON object: %w", err)
	}
	var rel struct {
		Release struct {
			Images []struct {
				Ref    string `json:"ref"`
				Repo   string `json:"repo"`
				Digest string `json:"digest"`
			} `json:"images"`
		} `json:"release"`
		Verdict policy.Verdict `json:"verdict"`
		Time    string         `json:"time"`
	}
	if err := json.Unmarshal(decisionJSON, &rel); err != nil {
		return nil, nil, fmt.Errorf("decision: %w", err)
	}
	if rel.Verdict != policy.Proceed && rel.Verdict != policy.Block {
		return nil, nil, fmt.Errorf("decision: field verdict: %q is neither proceed nor block", rel.Verdict)
	}
	if rel.Time == "" {
		return nil, nil, errors.New("decision: field time is missing")
	}
	st := &Statement{Type: StatementType, PredicateType: PredicateType, Subject: []Subject{}}
	var unpinned []string
	seen := map[string]bool{}
	for i, im := range rel.Release.Images {
		if im.Digest == "" {
			unpinned = append(unpinned, im.Ref)
			continue
		}
		alg, hexd, err := splitDigest(im.Digest)
		if err != nil {
			return nil, nil, fmt.Errorf("decision: field release.images[%d].digest: %w", i, err)
		}
		name := im.Repo
		if name == "" {
			name, _, _ = strings.Cut(im.Ref, "@")
		}
		if key := name + "@" + im.Digest; !seen[key] {
			seen[key] = true
			st.Subject = append(st.Subject, Subject{Name: name, Digest: map[string]string{alg: hexd}})
		}
	}
	if len(st.Subject) == 0 {
		return nil, unpinned, ErrNoSubject
	}
	if len(unpinned) > 0 {
		u, _ := json.Marshal(unpinned)
		obj["unpinned_images"] = u
	}
	pred, err := json.Marshal(obj)
	if err != nil {
		return nil, nil, fmt.Errorf("decision: %w", err)
	}
	st.Predicate = pred
	return st, unpinned, nil
}

// StatementFor builds the statement for a decision value; see NewStatement.
func StatementFor(d *policy.Decision) (*Statement, []string, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return nil, nil, fmt.Errorf("encode decision: %w", err)
	}
	return NewStatement(b)
}

// splitDigest checks "sha256:<64 lower-case hex>" and splits it.
func splitDigest(d string) (alg, hexd string, err error) {
	alg, hexd, ok := strings.Cut(d, ":")
	if !ok || alg != "sha256" {
		return "", "", fmt.Errorf("%q is not a sha256 digest (want sha256:<64 hex digits>)", d)
	}
	if len(hexd) != 64 || strings.ToLower(hexd) != hexd {
		return "", "", fmt.Errorf("%q: want 64 lower-case hex digits after sha256:", d)
	}
	if _, err := hex.DecodeString(hexd); err != nil {
		return "", "", fmt.Errorf("%q: want 64 lower-case hex digits after sha256:", d)
	}
	return alg, hexd, nil
}
