package model

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/pulsegate/pulsegate/model/iforest"
)

// PrevSuffix and CandidateSuffix name the files kept beside a model: the
// model it replaced (for rollback) and a rejected candidate (for review).
const (
	PrevSuffix      = ".prev"
	CandidateSuffix = ".candidate"
)

// Install writes f to path. When path holds a model already, that model
// is first moved to path+PrevSuffix (replacing an older one there), so that
// Rollback can bring it back. The new file appears at path by a rename: a
// reader sees the old model or the new one, never half of either. It
// returns the file the old model went to ("" when there was none).
func Install(f *iforest.Forest, path string) (prev string, err error) {
	tmp, err := writeTemp(f, path)
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp) // after a successful rename, a no-op
	if _, err := os.Stat(path); err == nil {
		prev = path + PrevSuffix
		if err := os.Rename(path, prev); err != nil {
			return "", fmt.Errorf("keep the previous model: %w", err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	if err := os.Rename(tmp, path); err != nil {
		return prev, fmt.Errorf("install the model: %w", err)
	}
	return prev, nil
}

// WriteFile writes f to path by a rename, without keeping what was there.
func WriteFile(f *iforest.Forest, path string) error {
	tmp, err := writeTemp(f, path)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write the model: %w", err)
	}
	return nil
}

func writeTemp(f *iforest.Forest, path string) (string, error) {
	out, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return "", fmt.Errorf("write the model: %w", err)
	}
	err = f.Save(out)
	if err2 := out.Close(); err == nil {
		err = err2
	}
	if err != nil {
		os.Remove(out.Name())
		return "", fmt.Errorf("write the model: %w", err)
	}
	return out.Name(), nil
}

// LoadFile reads the model saved at path.
func LoadFile(path string) (*iforest.Forest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m, err := iforest.Load(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// Rollback swaps the model at path with the one Install kept at
// path+PrevSuffix, after checking that the kept one loads: a second
// Rollback undoes the first.
func Rollback(path string) error {
	prev := path + PrevSuffix
	if _, err := LoadFile(prev); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("no previous model to roll back to: %s does not exist", prev)
		}
		return fmt.Errorf("the previous model cannot be used: %w", err)
	}
	tmp := path + ".rollback"
	if err := os.Rename(path, tmp); err != nil {
		return fmt.Errorf("roll back: %w", err)
	}
	if err := os.Rename(prev, path); err != nil {
		_ = os.Rename(tmp, path)
		return fmt.Errorf("roll back: %w", err)
	}
	if err := os.Rename(tmp, prev); err != nil {
		return fmt.Errorf("roll back: the previous model is in place, but keeping the replaced one failed: %w", err)
	}
	return nil
}
