// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package daemon

import (
	"strings"
	"testing"

	"github.com/weft-net/weft/subnet"
)

func mustConfig(t *testing.T, raw string) *subnet.Config {
	t.Helper()
	c, err := subnet.ParseConfig([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestConfigDriftLoggedOnce: a change is reported on the first resync that
// sees it, not on the following ones; a further change is reported again;
// putting the running config back clears the note.
func TestConfigDriftLoggedOnce(t *testing.T) {
	running := mustConfig(t, `{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","VNI":1}}`)
	vni2 := mustConfig(t, `{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","VNI":2}}`)
	vni3 := mustConfig(t, `{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","VNI":3}}`)
	allocOnly := mustConfig(t, `{"Network":"10.244.0.0/16","SubnetMax":"10.244.100.0","Backend":{"Type":"vxlan","VNI":1}}`)
	d := configDrift{running: running}
	steps := []struct {
		cfg       *subnet.Config
		wantFresh string // "" when nothing is to be logged
		wantNote  string
	}{
		{running, "", ""},
		{allocOnly, "", ""}, // SubnetMax needs no restart
		{vni2, "Backend.VNI 1 → 2", "Backend.VNI 1 → 2"},
		{vni2, "", "Backend.VNI 1 → 2"},
		{mustConfig(t, `{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","VNI":2}}`), "", "Backend.VNI 1 → 2"},
		{vni3, "Backend.VNI 1 → 3", "Backend.VNI 1 → 3"},
		{running, "", ""},
		{vni3, "Backend.VNI 1 → 3", "Backend.VNI 1 → 3"},
	}
	for i, s := range steps {
		fresh, note := d.observe(s.cfg)
		if got := changeList(fresh); got != s.wantFresh {
			t.Errorf("step %d: logged %q, want %q", i, got, s.wantFresh)
		}
		if (s.wantNote == "") != (note == "") || !strings.Contains(note, s.wantNote) || (note != "" && !strings.Contains(note, "restart weftd")) {
			t.Errorf("step %d: note %q, want one naming %q", i, note, s.wantNote)
		}
	}
}
