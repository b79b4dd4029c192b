// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package daemon

import (
	"bytes"
	"context"
	"errors"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/weft-net/weft/subnet/subnetenv"
)

// nodeCheckInterval is how often the node state weftd relies on is checked:
// a file read and one or two sysctl reads, cheap enough to do often, and a
// pod ADD fails for as long as subnet.env is wrong.
const nodeCheckInterval = 2 * time.Second

// forwarder turns IP forwarding on; *masq.Manager is one.
type forwarder interface {
	EnsureIPForwarding() (restored []string, err error)
}

// nodeState is what weftd keeps true on the node besides the overlay:
// forwarding on, subnet.env as written. Its methods run on one goroutine,
// except setEnv.
type nodeState struct {
	d   *daemon
	fwd forwarder

	mu  sync.Mutex
	env []byte // what we wrote to the subnet file; nil before the first write

	fwdFailing, fileFailing bool // an incident was logged
	fwdChecked              bool // the first check (weftd turning forwarding on at start) is no repair
}

func (s *nodeState) setEnv(b []byte) {
	s.mu.Lock()
	s.env = b
	s.mu.Unlock()
}

func (s *nodeState) run(ctx context.Context) {
	t := time.NewTicker(min(nodeCheckInterval, s.d.opts.ResyncInterval))
	defer t.Stop()
	for {
		s.checkForwarding()
		s.checkSubnetFile()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// checkForwarding restores the forwarding sysctls when someone turned them
// off: with them off nothing crosses the overlay, whatever else is right.
func (s *nodeState) checkForwarding() {
	restored, err := s.fwd.EnsureIPForwarding()
	if err != nil {
		why := "forwarding off: " + err.Error()
		if errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) {
			why = "forwarding off, /proc/sys read-only"
		}
		s.d.ready.fail("forwarding", why)
		if !s.fwdFailing {
			s.d.log.WithError(err).Error("IP forwarding is off and cannot be turned on; pods cannot reach other nodes")
			s.fwdFailing = true
		}
		return
	}
	if s.fwdFailing {
		s.d.log.Info("IP forwarding is on again")
		s.fwdFailing = false
	}
	for _, name := range restored {
		if !s.fwdChecked {
			s.d.log.WithField("sysctl", name).Info("IP forwarding turned on")
			continue
		}
		s.d.metrics.nodeRepairs.WithLabelValues(name).Inc()
		s.d.log.WithField("sysctl", name).Warn("IP forwarding was turned off; turned it back on")
	}
	s.fwdChecked = true
	s.d.ready.fail("forwarding", "")
}

// checkSubnetFile rewrites subnet.env, atomically, when it is gone or not
// what weftd wrote: every pod ADD on the node reads it.
func (s *nodeState) checkSubnetFile() {
	s.mu.Lock()
	want := s.env
	s.mu.Unlock()
	if want == nil {
		return
	}
	path := s.d.opts.SubnetFile
	have, err := os.ReadFile(path)
	if err == nil && bytes.Equal(have, want) {
		return
	}
	what := "changed"
	if errors.Is(err, os.ErrNotExist) {
		what = "removed"
	}
	env, perr := subnetenv.Parse(want)
	if perr == nil {
		err = subnetenv.Write(path, env)
	} else {
		err = perr
	}
	log := s.d.log.WithFields(logrus.Fields{"path": path, "found": what})
	if err != nil {
		s.d.ready.fail("subnet-file", "subnet file "+what+" and not rewritten: "+err.Error())
		if !s.fileFailing {
			log.WithError(err).Error("rewrite the subnet file")
			s.fileFailing = true
		}
		return
	}
	s.fileFailing = false
	s.d.metrics.nodeRepairs.WithLabelValues("subnet-file").Inc()
	s.d.ready.fail("subnet-file", "")
	log.Warn("subnet file was not what weftd wrote; rewrote it")
}
