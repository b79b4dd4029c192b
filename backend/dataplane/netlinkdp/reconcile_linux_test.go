// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package netlinkdp_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus/hooks/test"
	"github.com/vishvananda/netlink"

	"github.com/weft-net/weft/backend"
	"github.com/weft-net/weft/backend/dataplane"
	"github.com/weft-net/weft/backend/dataplane/dataplanetest"
	"github.com/weft-net/weft/backend/dataplane/netlinkdp"
	"github.com/weft-net/weft/backend/vxlan"
	"github.com/weft-net/weft/internal/nstest"
	"github.com/weft-net/weft/subnet"
)

// TestConformanceInterruptedDumps runs the dataplane conformance suite
// with every dump interrupted MaxDumpAttempts-1 times in a row (each
// interrupted attempt returning half the table and a stale entry): the
// results are those of uninterrupted dumps.
func TestConformanceInterruptedDumps(t *testing.T) {
	dataplanetest.RunConformance(t, func(t *testing.T) dataplanetest.Harness {
		h := newHarness(t)
		netlinkdp.InterruptDumps(h.DP.(*netlinkdp.Dataplane))(netlinkdp.MaxDumpAttempts - 1)
		return h
	})
}

// reconcileLog records the results of the backend's full reconciles.
type reconcileLog struct {
	mu   sync.Mutex
	errs []error
}

func (l *reconcileLog) add(_ time.Duration, _ int, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errs = append(l.errs, err)
}

// since returns the results recorded after the first n.
func (l *reconcileLog) since(n int) []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]error(nil), l.errs[min(n, len(l.errs)):]...)
}

func peerLeases(n int) []subnet.Lease {
	out := make([]subnet.Lease, n)
	for i := range out {
		data, _ := json.Marshal(map[string]any{"VNI": 1, "VtepMAC": fmt.Sprintf("02:00:00:00:01:%02x", i+2)})
		out[i] = subnet.Lease{
			Subnet: netip.MustParsePrefix(fmt.Sprintf("10.244.%d.0/24", i+2)),
			Attrs: subnet.LeaseAttrs{PublicIP: netip.MustParseAddr(fmt.Sprintf("198.19.0.%d", i+2)),
				BackendType: "vxlan", BackendData: data},
			LeaseID: 1,
		}
	}
	return out
}

// eventually polls cond for up to 30 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestReconcileInterruptedDumps runs the VXLAN backend on a real namespace
// whose dumps are interrupted. With MaxDumpAttempts-1 interruptions per
// dump, set-up and the full reconcile succeed and program every peer; with
// MaxDumpAttempts, a full reconcile fails with an error wrapping
// ErrDumpInterrupted and the backend is not ready; once the dumps complete
// again, the next retry succeeds.
func TestReconcileInterruptedDumps(t *testing.T) {
	h, ns := newHarnessNS(t)
	dp := h.DP.(*netlinkdp.Dataplane)
	interrupt := netlinkdp.InterruptDumps(dp)
	interrupt(netlinkdp.MaxDumpAttempts - 1)

	var rl reconcileLog
	log, _ := test.NewNullLogger()
	b, err := vxlan.New(subnet.BackendConfig{Type: "vxlan", VNI: 1, Port: 8472, TxChecksumOffload: "auto"}, dp,
		vxlan.Options{Log: log, ResyncInterval: time.Hour, RetryInterval: 20 * time.Millisecond, OnReconcile: rl.add})
	if err != nil {
		t.Fatal(err)
	}
	u := dataplanetest.UnderlayAddr.Addr()
	ext := backend.ExternalInterface{Name: h.Underlay.Name, Index: h.Underlay.Index, MTU: h.Underlay.MTU,
		IfaceAddr: u, PublicIP: u}
	attrs, err := b.Setup(context.Background(), ext, nil)
	if err != nil {
		t.Fatalf("setup with interrupted dumps: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx, subnet.Lease{Subnet: netip.MustParsePrefix("10.244.1.0/24"), Attrs: attrs}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	const peers = 20
	b.SetPeers(peerLeases(peers))
	eventually(t, "20 peers programmed", func() bool { st := b.Status(); return st.Ready && st.Peers == peers })
	for _, err := range rl.since(0) {
		if err != nil {
			t.Errorf("reconcile with %d interruptions per dump failed: %v", netlinkdp.MaxDumpAttempts-1, err)
		}
	}
	checkTables(t, ns, peers)
	t.Logf("%d dump interruptions injected and retried", dp.DumpInterruptions())

	interrupt(netlinkdp.MaxDumpAttempts)
	seen := len(rl.since(0))
	b.SetPeers(peerLeases(peers - 1))
	eventually(t, "a failed reconcile", func() bool { return len(rl.since(seen)) > 0 })
	if err := rl.since(seen)[0]; !errors.Is(err, netlink.ErrDumpInterrupted) {
		t.Fatalf("reconcile with %d interruptions per dump: %v, want ErrDumpInterrupted", netlinkdp.MaxDumpAttempts, err)
	} else {
		t.Logf("reconcile error: %v", err)
	}
	if st := b.Status(); st.Ready || !errors.Is(st.LastError, netlink.ErrDumpInterrupted) {
		t.Errorf("status after failed reconcile: ready %t, last error %v", st.Ready, st.LastError)
	}

	interrupt(0)
	eventually(t, "recovery", func() bool { st := b.Status(); return st.Ready && st.Peers == peers-1 })
	checkTables(t, ns, peers-1)
}

// checkTables reads flannel.1's tables through a second Dataplane, whose
// dumps are not interrupted: the backend programmed want peers.
func checkTables(t testing.TB, ns *nstest.NS, want int) {
	t.Helper()
	log, _ := test.NewNullLogger()
	dp, err := netlinkdp.New(ns.Handle, log)
	if err != nil {
		t.Fatal(err)
	}
	defer dp.Close()
	l, err := dp.LinkByName(vxlan.DeviceName(1))
	if err != nil {
		t.Fatal(err)
	}
	neighs, err := dp.Neighs(l.Index)
	if err != nil {
		t.Fatal(err)
	}
	fdb, err := dp.FDB(l.Index)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := dp.Routes(dataplane.IPv4)
	if err != nil {
		t.Fatal(err)
	}
	routes := 0
	for _, r := range rs {
		if r.LinkIndex == l.Index && r.Gw.IsValid() {
			routes++
		}
	}
	if len(neighs) != want || len(fdb) != want || routes != want {
		t.Errorf("flannel.1 has %d neighbours, %d fdb entries, %d routes via peers; want %d each",
			len(neighs), len(fdb), routes, want)
	}
}
