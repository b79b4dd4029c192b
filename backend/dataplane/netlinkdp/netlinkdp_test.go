// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package netlinkdp_test

import (
	"testing"

	"github.com/sirupsen/logrus/hooks/test"

	"github.com/weft-net/weft/backend/dataplane/dataplanetest"
	"github.com/weft-net/weft/backend/dataplane/netlinkdp"
	"github.com/weft-net/weft/internal/nstest"
)

// newHarness builds a namespace with an up veth "eth0" carrying the
// suite's underlay addresses, and a Dataplane for it.
func newHarness(t *testing.T) dataplanetest.Harness {
	h, _ := newHarnessNS(t)
	return h
}

// newHarnessNS is newHarness that also returns the namespace.
func newHarnessNS(t testing.TB) (dataplanetest.Harness, *nstest.NS) {
	n := nstest.New(t)
	n.MustRun(t, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p")
	n.MustRun(t, "ip", "addr", "add", dataplanetest.UnderlayAddr.String(), "dev", "eth0")
	n.MustRun(t, "ip", "addr", "add", dataplanetest.UnderlayAddr6.String(), "dev", "eth0", "nodad")
	n.MustRun(t, "ip", "link", "set", "eth0p", "up")
	n.MustRun(t, "ip", "link", "set", "eth0", "up")
	log, _ := test.NewNullLogger()
	dp, err := netlinkdp.New(n.Handle, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dp.Close() })
	l, err := dp.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	return dataplanetest.Harness{DP: dp, Underlay: l}, n
}

func TestConformance(t *testing.T) {
	dataplanetest.RunConformance(t, newHarness)
}
