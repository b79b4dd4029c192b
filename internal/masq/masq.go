// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package masq

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/google/nftables"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// Manager installs and keeps weft's masquerade and forwarding rules in one
// network namespace. Its methods are safe for concurrent use; they are
// serialised, so a check never sees a half-applied state of its own.
type Manager struct {
	cfg     Config
	log     logrus.FieldLogger
	netnsFd int
	nft     *nftables.Conn // not lasting: each call opens its own socket

	mu          sync.Mutex // serialises every check and change below
	fullyRandom bool       // cleared once the kernel refuses fully-random
	legacyOK    bool       // the last check with legacy iptables succeeded
	legacyWarn  string     // last warning about legacy iptables, logged once

	installed atomic.Bool
	stats     stats
}

// Option changes how New builds a Manager.
type Option func(*Manager)

// WithNetNSFd makes the Manager work in the network namespace fd refers to
// instead of the caller's. The caller keeps fd open for the Manager's life.
func WithNetNSFd(fd int) Option {
	return func(m *Manager) { m.netnsFd = fd }
}

// New validates cfg and returns a Manager for it. It changes nothing in the
// kernel: call Apply or Run.
func New(cfg Config, opts ...Option) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("masq: %w", err)
	}
	cfg = cfg.withDefaults()
	m := &Manager{cfg: cfg, fullyRandom: true}
	for _, o := range opts {
		o(m)
	}
	m.log = cfg.Log.WithField("component", "masq")
	nft, err := nftables.New(nftables.WithNetNSFd(m.netnsFd))
	if err != nil {
		return nil, fmt.Errorf("open nftables: %w", err)
	}
	m.nft = nft
	return m, nil
}

// Apply brings the rules to the desired state and changes only what
// differs, so calling it again on a converged node changes nothing. Weft's
// table is replaced in one atomic batch. It returns the joined errors of the
// parts it could not bring in line; the other parts are still applied.
func (m *Manager) Apply() error {
	changed, err := m.ensure(true)
	if len(changed) > 0 {
		m.log.WithField("changed", strings.Join(changed, ", ")).Info("masquerade and forward rules applied")
	}
	return err
}

// Installed reports whether the last Apply, Run check or Remove left the
// rules in the desired state (false after Remove), for /readyz.
func (m *Manager) Installed() bool { return m.installed.Load() }

// Remove deletes weft's table and weft's rules in the iptables FORWARD
// chains, for --release-on-exit and clean-up. Idempotent: what is missing is
// not an error. Stop Run first, or it reinstalls them.
func (m *Manager) Remove() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.installed.Store(false)
	var errs []error
	if _, err := m.ensureTable(nil); err != nil {
		errs = append(errs, err)
	}
	for _, v4 := range []bool{true, false} {
		if _, err := m.ensureNFTForward(v4, nil); err != nil {
			errs = append(errs, err)
		}
		if _, err := m.ensureLegacyForward(v4, netip.Prefix{}); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove masquerade and forward rules: %w", err)
	}
	m.log.Info("masquerade and forward rules removed")
	return nil
}

// ensure checks every part and repairs what differs, legacy iptables only
// if withLegacy (it costs a process and nftables events say nothing about
// it). It returns what it changed, for logs and the repair count.
func (m *Manager) ensure(withLegacy bool) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stats.checks.Add(1)
	var changed []string
	var errs []error
	note := func(what string, did bool, err error) {
		if did {
			changed = append(changed, what)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	did, err := m.ensureMasq()
	note("table inet "+TableName, did, err)
	for _, v4 := range []bool{true, false} {
		did, err := m.ensureNFTForward(v4, forwardSpecs(m.cfg, v4))
		note(familyName(v4)+" filter FORWARD", did, err)
		if !withLegacy {
			continue
		}
		var pod netip.Prefix
		if m.cfg.ForwardRules {
			pod, _ = prefixOf(m.cfg.PodNetworks, v4)
		}
		did, err = m.ensureLegacyForward(v4, pod)
		note(legacyBinary(v4)+" FORWARD", did, err)
	}
	err = errors.Join(errs...)
	if withLegacy {
		m.legacyOK = err == nil
	}
	if err != nil {
		m.stats.failures.Add(1)
	} else if len(changed) > 0 && m.installed.Load() {
		m.stats.repairs.Add(1)
	}
	// A check without legacy iptables must not hide a legacy failure.
	m.installed.Store(err == nil && m.legacyOK)
	return changed, err
}

// ensureMasq ensures weft's table, falling back to plain masquerade for
// good if the kernel refuses fully-random (old kernels reject the flag).
func (m *Manager) ensureMasq() (bool, error) {
	did, err := m.ensureTable(tableSpecs(m.cfg, m.fullyRandom))
	if err == nil || !m.fullyRandom || !m.cfg.Masquerade ||
		(!errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EOPNOTSUPP)) {
		return did, err
	}
	did, plainErr := m.ensureTable(tableSpecs(m.cfg, false))
	if plainErr != nil {
		return did, err
	}
	m.fullyRandom = false
	m.log.WithError(err).Warn("kernel refused fully-random masquerade, using plain masquerade")
	return did, nil
}

func familyName(v4 bool) string {
	if v4 {
		return "ip"
	}
	return "ip6"
}

// Stats counts the Manager's checks since New, for metrics.
type Stats struct {
	// Checks counts Apply calls and Run checks.
	Checks uint64
	// Repairs counts checks that found installed rules changed or missing
	// and put them back (the first install is not a repair).
	Repairs uint64
	// Failures counts checks that ended with an error.
	Failures uint64
}

type stats struct{ checks, repairs, failures atomic.Uint64 }

// Stats returns the counters. Safe for concurrent use.
func (m *Manager) Stats() Stats {
	return Stats{Checks: m.stats.checks.Load(), Repairs: m.stats.repairs.Load(), Failures: m.stats.failures.Load()}
}
