// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package daemon

import (
	"strings"

	"github.com/weft-net/weft/subnet"
)

// configDrift tracks a config in etcd that differs from the one weftd runs
// with in settings it reads only at start, so that the change is logged
// once, not on every resync, and shown on /readyz until weftd restarts or
// the config is put back.
type configDrift struct {
	running  *subnet.Config
	reported *subnet.Config // the changed config last logged; nil when none
}

// observe takes the config just read from etcd. It returns the changes
// when they are new (not yet logged: first seen, or the config changed
// again), and the /readyz note ("" when etcd matches the running config).
func (c *configDrift) observe(cfg *subnet.Config) (fresh []subnet.Change, note string) {
	changes := subnet.RestartChanges(c.running, cfg)
	if len(changes) == 0 {
		c.reported = nil
		return nil, ""
	}
	if c.reported == nil || len(subnet.RestartChanges(c.reported, cfg)) > 0 {
		fresh = changes
	}
	c.reported = cfg
	return fresh, "changed in etcd since weftd started (" + changeList(changes) + "): restart weftd to apply it"
}

func changeList(cs []subnet.Change) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = c.String()
	}
	return strings.Join(s, ", ")
}
