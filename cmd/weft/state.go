// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// stateStore keeps the exact delegate config of each attachment, so that
// DEL and CHECK talk to the delegate with what ADD used even after
// subnet.env changed or vanished. Layout: <dataDir>/<network>/<containerID>:<ifname>.
// Neither a container ID nor an interface name may contain ':' (the CNI
// library validates both), so a name splits back without ambiguity and GC
// needs no file contents, even of a corrupt file.
type stateStore struct {
	dir string
}

func newStateStore(dataDir, network string) stateStore {
	return stateStore{dir: filepath.Join(dataDir, network)}
}

const (
	stateSep = ":"
	// staleTempAge is when GC takes a temporary file for a leftover of a
	// write that died, not one in progress.
	staleTempAge = 10 * time.Minute
)

func (s stateStore) path(a attachment) string {
	return filepath.Join(s.dir, a.ContainerID+stateSep+a.IfName)
}

// Save writes conf atomically: a temporary file in the same directory,
// synced, then renamed over the old one, so DEL never reads half a file.
func (s stateStore) Save(a attachment, conf []byte) error {
	p := s.path(a)
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("store delegate config %s: %w", p, err)
	}
	f, err := os.CreateTemp(s.dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("store delegate config %s: %w", p, err)
	}
	tmp := f.Name()
	_, werr := f.Write(conf)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, p)
	}
	if werr != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("store delegate config %s: %w", p, werr)
	}
	return nil
}

// Load returns the stored config; an error wrapping fs.ErrNotExist when
// there is none.
func (s stateStore) Load(a attachment) ([]byte, error) {
	p := s.path(a)
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("read delegate config %s: %w", p, err)
	}
	return b, nil
}

// Remove deletes the stored config; a missing one is not an error.
func (s stateStore) Remove(a attachment) error {
	p := s.path(a)
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove delegate config %s: %w", p, err)
	}
	return nil
}

// Sweep removes the stored config of every attachment not in valid, and
// leftovers of interrupted writes, and returns what it removed.
func (s stateStore) Sweep(valid map[attachment]bool) ([]attachment, error) {
	entries, err := os.ReadDir(s.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list delegate configs in %s: %w", s.dir, err)
	}
	var removed []attachment
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".tmp-") {
			// Only an old one: a young one may be an ADD writing now.
			if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > staleTempAge {
				errs = append(errs, removeFile(filepath.Join(s.dir, name)))
			}
			continue
		}
		cid, ifName, ok := strings.Cut(name, stateSep)
		if !ok || e.IsDir() {
			continue // not ours
		}
		a := attachment{cid, ifName}
		if valid[a] {
			continue
		}
		if err := removeFile(filepath.Join(s.dir, name)); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, a)
	}
	return removed, errors.Join(errs...)
}

func removeFile(p string) error {
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", p, err)
	}
	return nil
}
