// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package etcd_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/weft-net/weft/subnet"
	"github.com/weft-net/weft/subnet/etcd"
	"github.com/weft-net/weft/subnet/etcd/etcdtest"
	"github.com/weft-net/weft/subnet/subnettest"
)

// flannelValue is a lease value exactly as flanneld writes it.
const flannelValue = `{"PublicIP":"198.18.0.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"2e:4f:6a:01:02:03"}}`

func put(t *testing.T, c *clientv3.Client, key, val string, opts ...clientv3.OpOption) {
	t.Helper()
	if _, err := c.Put(subnettest.Ctx(t), key, val, opts...); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

func grant(t *testing.T, c *clientv3.Client, ttl int64) clientv3.LeaseID {
	t.Helper()
	g, err := c.Grant(subnettest.Ctx(t), ttl)
	if err != nil {
		t.Fatal(err)
	}
	return g.ID
}

func getRaw(t *testing.T, c *clientv3.Client, key string) (string, int64) {
	t.Helper()
	r, err := c.Get(subnettest.Ctx(t), key)
	if err != nil || len(r.Kvs) != 1 {
		t.Fatalf("get %s: %v (%d keys)", key, err, len(r.Kvs))
	}
	return string(r.Kvs[0].Value), r.Kvs[0].Lease
}

// TestFlannelFormat reads a lease flanneld wrote and checks that what weft
// writes is byte for byte what flanneld writes, at flannel's default key.
func TestFlannelFormat(t *testing.T) {
	srv := etcdtest.Start(t)
	c := srv.Client(t)
	r := etcd.New(c, "", nullLog())
	if r.Prefix() != "/coreos.com/network" {
		t.Fatalf("default prefix %q", r.Prefix())
	}
	id := grant(t, c, 3600)
	put(t, c, "/coreos.com/network/subnets/10.244.3.0-24", flannelValue, clientv3.WithLease(id))
	ls, _ := subnettest.MustList(t, r)
	mac, _ := subnet.ParseMAC("2e:4f:6a:01:02:03")
	if len(ls) != 1 || ls[0].Subnet.String() != "10.244.3.0/24" || ls[0].LeaseID != int64(id) ||
		ls[0].Attrs.PublicIP.String() != "198.18.0.3" || ls[0].Attrs.PublicIPv6.IsValid() {
		t.Fatalf("flannel lease read as %+v", ls)
	}
	if d, err := subnet.DecodeVXLANData(ls[0].Attrs.BackendData); err != nil || d.VNI != 1 || d.VtepMAC != mac {
		t.Fatalf("flannel BackendData read as %+v, %v", d, err)
	}

	mine := ls[0]
	mine.Subnet = netip.MustParsePrefix("10.244.4.0/24")
	mine = subnettest.MustCreate(t, r, mine, time.Hour)
	val, lease := getRaw(t, c, "/coreos.com/network/subnets/10.244.4.0-24")
	if val != flannelValue || lease != mine.LeaseID || lease == 0 {
		t.Errorf("weft wrote %s (etcd lease %x)\nflannel writes %s", val, lease, flannelValue)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	srv := etcdtest.Start(t)
	c := srv.Client(t)
	r := etcd.New(c, "", nullLog())
	tests := []struct{ value, want string }{
		{`{"Network":"10.244.0.0/16","SubnetLen":31,"Backend":{"Type":"vxlan"}}`,
			"config /coreos.com/network/config: SubnetLen 31: must be between 18 and 30 for Network 10.244.0.0/16"},
		{`{"Network":`, "config /coreos.com/network/config: network config is not valid JSON"},
		{`{"Network":"10.244.0.0/16"}`, "config /coreos.com/network/config: Backend.Type missing"},
	}
	for _, tt := range tests {
		put(t, c, "/coreos.com/network/config", tt.value)
		_, err := r.GetConfig(subnettest.Ctx(t))
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("GetConfig of %s: %v\nwant %s…", tt.value, err, tt.want)
		}
	}
	if _, err := etcd.New(c, "/elsewhere/", nil).GetConfig(subnettest.Ctx(t)); !errors.Is(err, subnet.ErrConfigNotFound) ||
		!strings.Contains(err.Error(), "/elsewhere/config") {
		t.Errorf("absent config: %v", err)
	}
}

// TestMalformedSkipped: bad keys and values are skipped with a warning
// naming the key, in a list and in a watch, and never hide other leases.
func TestMalformedSkipped(t *testing.T) {
	srv := etcdtest.Start(t)
	c := srv.Client(t)
	log, hook := test.NewNullLogger()
	r := etcd.New(c, "/p", log)
	a := subnettest.MustCreate(t, r, subnettest.TestLease("10.244.3.0/24", "198.18.0.3"), time.Hour)
	b := subnettest.MustCreate(t, r, subnettest.TestLease("10.244.4.0/24", "198.18.0.4"), time.Hour)
	bad := map[string]string{
		"/p/subnets/garbage":        `{}`,
		"/p/subnets/10.244.5.0-24":  `{not json`,
		"/p/subnets/10.244.6.0-24":  `{"PublicIP":"nope"}`,
		"/p/subnets/10.244.7.77-24": flannelValue,
	}
	for k, v := range bad {
		put(t, c, k, v)
	}
	known, rev := subnettest.MustList(t, r)
	if d := cmp.Diff([]subnet.Lease{a, b}, known, subnettest.LeaseCmp); d != "" {
		t.Errorf("list (-want +got):\n%s", d)
	}
	for k := range bad {
		if !warnedAbout(hook, k) {
			t.Errorf("no warning naming %s", k)
		}
	}

	w := subnettest.StartWatch(t, r, known, rev)
	put(t, c, "/p/subnets/10.244.8.0-24", `[]`)
	put(t, c, r.LeaseKey(a), `{"PublicIP":`) // a's value goes bad: a is kept
	cl := subnettest.MustCreate(t, r, subnettest.TestLease("10.244.9.0/24", "198.18.0.9"), time.Hour)
	w.Expect(t, subnettest.Added(cl))
	if !warnedAbout(hook, "/p/subnets/10.244.8.0-24") || !warnedAbout(hook, r.LeaseKey(a)) {
		t.Error("watch did not warn about the malformed values")
	}
	// A resync (after compaction) keeps a's last good value too.
	w.Stop(t)
	known2 := []subnet.Lease{a, b, cl}
	srv.Compact(t)
	w2 := subnettest.StartWatch(t, r, known2, rev)
	d := subnettest.MustCreate(t, r, subnettest.TestLease("10.244.10.0/24", "198.18.0.10"), time.Hour)
	w2.Expect(t, subnettest.Added(d))
}

func warnedAbout(h *test.Hook, key string) bool {
	for _, e := range h.AllEntries() {
		if e.Level == logrus.WarnLevel && e.Data["key"] == key {
			return true
		}
	}
	return false
}

// TestWatchAcrossCompaction: changes made while no watch ran, then
// compacted away, arrive as the difference; watching then continues. The
// re-list is the same with serializable lists.
func TestWatchAcrossCompaction(t *testing.T) {
	for _, serializable := range []bool{false, true} {
		t.Run(fmt.Sprintf("serializable=%t", serializable), func(t *testing.T) { testWatchAcrossCompaction(t, serializable) })
	}
}

func testWatchAcrossCompaction(t *testing.T, serializable bool) {
	srv := etcdtest.Start(t)
	c := srv.Client(t)
	log, hook := test.NewNullLogger()
	r := etcd.New(c, "/p", log)
	r.SetSerializableLists(serializable)
	ctx := subnettest.Ctx(t)
	a := subnettest.MustCreate(t, r, subnettest.TestLease("10.244.3.0/24", "198.18.0.3"), time.Hour)
	b := subnettest.MustCreate(t, r, subnettest.TestLease("10.244.4.0/24", "198.18.0.4"), time.Hour)
	subnettest.MustCreate(t, r, subnettest.TestLease("10.244.5.0/24", "198.18.0.5"), time.Hour) // unchanged
	known, rev := subnettest.MustList(t, r)

	if err := r.DeleteLease(ctx, a); err != nil {
		t.Fatal(err)
	}
	b.Attrs = subnettest.TestLease("10.244.4.0/24", "198.18.0.44").Attrs
	b, err := r.UpdateLease(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	cl := subnettest.MustCreate(t, r, subnettest.TestLease("10.244.6.0/24", "198.18.0.6"), time.Hour)
	srv.Compact(t)

	w := subnettest.StartWatch(t, r, known, rev)
	w.Expect(t, subnettest.Removed(a), subnettest.Added(b), subnettest.Added(cl))
	d := subnettest.MustCreate(t, r, subnettest.TestLease("10.244.7.0/24", "198.18.0.7"), time.Hour)
	w.Expect(t, subnettest.Added(d))
	if n := countWarn(hook, "lease watch interrupted, re-listing with backoff"); n != 1 {
		t.Errorf("compaction logged %d warnings, want 1", n)
	}
	if n := r.WatchRestarts(); n != 1 {
		t.Errorf("WatchRestarts = %d after one compaction, want 1", n)
	}
}

func countWarn(h *test.Hook, msg string) int {
	n := 0
	for _, e := range h.AllEntries() {
		if e.Level == logrus.WarnLevel && e.Message == msg {
			n++
		}
	}
	return n
}

func hasInfo(h *test.Hook, msg string) bool {
	for _, e := range h.AllEntries() {
		if e.Level == logrus.InfoLevel && e.Message == msg {
			return true
		}
	}
	return false
}

// TestWatchAcrossRestart: a watch survives an etcd restart, a lease that
// ran out while etcd was down is reported Removed, and changes after the
// restart arrive; at most one warning is logged, and the watch resumes
// from its revision without re-listing (etcd kept the history).
func TestWatchAcrossRestart(t *testing.T) {
	srv := etcdtest.Start(t)
	c := srv.Client(t)
	log, hook := test.NewNullLogger()
	r := etcd.New(c, "/p", log)
	a := subnettest.MustCreate(t, r, subnettest.TestLease("10.244.3.0/24", "198.18.0.3"), time.Hour)
	short := subnettest.MustCreate(t, r, subnettest.TestLease("10.244.4.0/24", "198.18.0.4"), 2*time.Second)
	known, rev := subnettest.MustList(t, r)
	w := subnettest.StartWatch(t, r, known, rev)

	srv.Stop()
	time.Sleep(3 * time.Second) // longer than short's TTL
	srv.Restart(t)
	// etcd extends leases by their TTL when a leader is elected, so the
	// expired lease is revoked shortly after the restart.
	w.Expect(t, subnettest.Removed(short))
	b := subnettest.MustCreate(t, r, subnettest.TestLease("10.244.5.0/24", "198.18.0.5"), time.Hour)
	w.Expect(t, subnettest.Added(b))
	if err := r.DeleteLease(subnettest.Ctx(t), a); err != nil {
		t.Fatal(err)
	}
	w.Expect(t, subnettest.Removed(a))
	if n := countWarn(hook, "lease watch interrupted, resuming with backoff") +
		countWarn(hook, "lease watch interrupted, re-listing with backoff"); n > 1 {
		t.Errorf("restart logged %d warnings, want at most 1", n)
	}
	if n := r.WatchRestarts(); n != 0 {
		t.Errorf("WatchRestarts = %d: the watch re-listed after a restart that kept the history", n)
	}
}

// TestRegistryWhileDown: requests fail within their timeout while etcd is
// down (no hang), and work again after a restart.
func TestRegistryWhileDown(t *testing.T) {
	srv := etcdtest.Start(t)
	c := srv.Client(t)
	r := etcd.New(c, "/p", nullLog())
	a := subnettest.MustCreate(t, r, subnettest.TestLease("10.244.3.0/24", "198.18.0.3"), time.Hour)
	srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := r.RenewLease(ctx, a.LeaseID); err == nil || errors.Is(err, subnet.ErrLeaseExpired) {
		t.Fatalf("RenewLease with etcd down: %v, want a transient error", err)
	}
	srv.Restart(t)
	if _, err := r.RenewLease(subnettest.Ctx(t), a.LeaseID); err != nil {
		t.Fatalf("RenewLease after restart: %v", err)
	}
}
