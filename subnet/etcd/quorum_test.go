// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package etcd_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/sirupsen/logrus/hooks/test"

	"github.com/weft-net/weft/internal/cluster"
	"github.com/weft-net/weft/internal/nstest"
	"github.com/weft-net/weft/internal/poll"
	"github.com/weft-net/weft/internal/testbin"
	"github.com/weft-net/weft/subnet"
	"github.com/weft-net/weft/subnet/etcd"
	"github.com/weft-net/weft/subnet/subnettest"
)

// TestWatchResumesAfterQuorumLoss: when a three-member etcd loses quorum,
// the surviving member ends every watch that requires a leader. Once
// quorum is back the watch resumes from its revision, without listing the
// leases again (a fleet re-listing at once is what a large cluster cannot
// afford), and still delivers every change.
func TestWatchResumesAfterQuorumLoss(t *testing.T) {
	nstest.RequireRoot(t)
	binDir := filepath.Dir(testbin.Path(t, "weft-demo"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := cluster.New(ctx, cluster.Options{Nodes: 1, EtcdMembers: 3, BinDir: binDir, NoWeftd: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	cl, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	log, hook := test.NewNullLogger()
	r := etcd.New(cl, "/p", log)
	r.SetSerializableLists(true)
	a := subnettest.MustCreate(t, r, subnettest.TestLease("10.244.3.0/24", "198.18.0.3"), time.Hour)
	// The list is serializable: a member that has not applied the put yet
	// answers without it (the watch would then deliver it as an event).
	// Wait until the list shows it, so that the test starts from one lease.
	var known []subnet.Lease
	var rev int64
	poll.Until(t, 10*time.Second, "a serializable list showing the lease", func() (bool, string) {
		known, rev, err = r.ListLeasesForWatch(ctx)
		return err == nil && len(known) == 1, fmt.Sprintf("%v (%d leases, want 1)", err, len(known))
	})
	w := subnettest.StartWatch(t, r, known, rev)

	c.Etcd[1].Kill()
	c.Etcd[2].Kill()
	// etcd ends require-leader watches after three election timeouts
	// without a leader (3 s at the default 1 s).
	deadline := time.Now().Add(30 * time.Second)
	for countWarn(hook, "lease watch interrupted, resuming with backoff") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the watch did not end within 30s of losing quorum")
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, m := range c.Etcd[1:] {
		if err := m.Start(); err != nil {
			t.Fatal(err)
		}
	}
	b := subnettest.MustCreate(t, r, subnettest.TestLease("10.244.5.0/24", "198.18.0.5"), time.Hour)
	w.Expect(t, subnettest.Added(b))
	if err := r.DeleteLease(subnettest.Ctx(t), a); err != nil {
		t.Fatal(err)
	}
	w.Expect(t, subnettest.Removed(a))
	if !hasInfo(hook, "lease watch resumed") {
		t.Error(`no "lease watch resumed" line after quorum came back`)
	}
	if n := r.WatchRestarts(); n != 0 {
		t.Errorf("WatchRestarts = %d: the watch re-listed after a quorum loss that kept the history", n)
	}
}
