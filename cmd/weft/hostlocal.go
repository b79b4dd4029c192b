// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// host-local (containernetworking/plugins v1.9.1) keeps one file per
// allocated address in <dataDir>/<network>/, named by the address and
// holding "<containerID>\r\n<ifname>" (older versions: the container ID
// alone), beside "last_reserved_ip.<n>" files and a "lock" file it flocks
// around every change. Its GC is not implemented at that version, so weft's
// GC releases what the runtime no longer holds.
const (
	hostLocalLineBreak = "\r\n"
	hostLocalLockFile  = "lock"
)

// hostLocalDir returns host-local's store directory for a delegate config.
func hostLocalDir(d delegateInfo, network string) string {
	dir := d.IPAM.DataDir
	if dir == "" {
		dir = hostLocalDefaultDataDir
	}
	return filepath.Join(dir, network)
}

// sweepHostLocal removes the address files in dir whose owner is not in
// valid, holding host-local's lock so no ADD or DEL runs meanwhile, and
// returns the released addresses.
func sweepHostLocal(dir string, valid map[attachment]bool) ([]netip.Addr, error) {
	unlock, err := lockHostLocal(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer unlock()

	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list host-local store %s: %w", dir, err)
	}
	validIDs := make(map[string]bool, len(valid))
	for a := range valid {
		validIDs[a.ContainerID] = true
	}
	var released []netip.Addr
	var errs []error
	for _, e := range entries {
		addr, err := netip.ParseAddr(e.Name())
		if err != nil || !e.Type().IsRegular() {
			continue // lock, last_reserved_ip.*
		}
		p := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("read host-local address file %s: %w", p, err))
			continue
		}
		cid, ifName, hasIf := strings.Cut(strings.TrimSpace(string(b)), hostLocalLineBreak)
		if hasIf && valid[attachment{cid, strings.TrimSpace(ifName)}] || !hasIf && validIDs[cid] {
			continue
		}
		if err := removeFile(p); err != nil {
			errs = append(errs, err)
			continue
		}
		released = append(released, addr)
	}
	return released, errors.Join(errs...)
}

// lockHostLocal takes host-local's own lock on its store directory.
func lockHostLocal(dir string) (unlock func(), err error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("open host-local store %s: %w", dir, err)
	}
	p := filepath.Join(dir, hostLocalLockFile)
	f, err := os.OpenFile(p, os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open host-local lock %s: %w", p, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock host-local store %s: %w", p, err)
	}
	return func() { f.Close() }, nil // closing releases the flock
}
