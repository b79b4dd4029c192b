// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/vishvananda/netns"

	"github.com/weft-net/weft/backend/dataplane"
	"github.com/weft-net/weft/backend/dataplane/netlinkdp"
	"github.com/weft-net/weft/backend/vxlan"
	"github.com/weft-net/weft/subnet"
)

// peerTables is the peer state of a node's kernel (or the state a set of
// leases asks for): weft's routes, the permanent neighbour entries and the
// FDB entries of flannel.1.
type peerTables struct {
	Routes map[netip.Prefix]netip.Addr // destination → gateway
	Neighs map[netip.Addr]subnet.MAC
	FDB    map[subnet.MAC]netip.Addr // VTEP MAC → public IP
}

func newPeerTables() peerTables {
	return peerTables{Routes: map[netip.Prefix]netip.Addr{}, Neighs: map[netip.Addr]subnet.MAC{}, FDB: map[subnet.MAC]netip.Addr{}}
}

// wantTables is what a node must hold for leases, skipping the node's own
// lease (its public IP is a node address, not a fake peer's).
func wantTables(b *testing.B, leases []subnet.Lease) peerTables {
	t := newPeerTables()
	for _, l := range leases {
		if !fakePublic.Contains(l.Attrs.PublicIP) {
			continue
		}
		d, err := subnet.DecodeVXLANData(l.Attrs.BackendData)
		if err != nil {
			b.Fatalf("lease %s: %v", l, err)
		}
		t.Routes[l.Subnet] = l.Subnet.Addr()
		t.Neighs[l.Subnet.Addr()] = d.VtepMAC
		t.FDB[d.VtepMAC] = l.Attrs.PublicIP
	}
	return t
}

func (t peerTables) equal(o peerTables) bool {
	return maps.Equal(t.Routes, o.Routes) && maps.Equal(t.Neighs, o.Neighs) && maps.Equal(t.FDB, o.FDB)
}

func (t peerTables) String() string {
	return fmt.Sprintf("%d routes, %d neighbours, %d FDB entries", len(t.Routes), len(t.Neighs), len(t.FDB))
}

// diffSummary names a few differences between got and want.
func diffSummary(got, want peerTables) string {
	var out []string
	note := func(format string, args ...any) {
		if len(out) < 6 {
			out = append(out, fmt.Sprintf(format, args...))
		}
	}
	for k, v := range want.Routes {
		if g, ok := got.Routes[k]; !ok || g != v {
			note("route %s: missing or wrong", k)
		}
	}
	for k := range got.Routes {
		if _, ok := want.Routes[k]; !ok {
			note("route %s: stale", k)
		}
	}
	for k, v := range want.FDB {
		if g, ok := got.FDB[k]; !ok || g != v {
			note("fdb %s: missing or wrong", k)
		}
	}
	for k := range got.FDB {
		if _, ok := want.FDB[k]; !ok {
			note("fdb %s: stale", k)
		}
	}
	return fmt.Sprintf("kernel has %s, etcd wants %s; e.g. %v", got, want, out)
}

// kernelView reads and watches one node namespace over netlink.
type kernelView struct {
	ns string
	dp *netlinkdp.Dataplane
}

func openKernel(b *testing.B, ns string) *kernelView {
	b.Helper()
	h, err := netns.GetFromName(ns)
	if err != nil {
		b.Fatalf("open netns %s: %v", ns, err)
	}
	defer func() { _ = h.Close() }()
	log := logrus.New()
	log.SetOutput(io.Discard)
	dp, err := netlinkdp.New(h, log)
	if err != nil {
		b.Fatal(err)
	}
	// Programming thousands of peers sends tens of thousands of notifications.
	dp.ReceiveBuffer = 64 << 20
	b.Cleanup(func() { _ = dp.Close() })
	return &kernelView{ns: ns, dp: dp}
}

// tables dumps the node's peer state.
func (k *kernelView) tables() (peerTables, error) {
	t := newPeerTables()
	routes, err := k.dp.Routes(dataplane.IPv4)
	if err != nil {
		return t, err
	}
	for _, r := range routes {
		if r.Protocol == vxlan.RouteProtocol {
			t.Routes[r.Dst] = r.Gw
		}
	}
	link, err := k.dp.LinkByName("flannel.1")
	if errors.Is(err, dataplane.ErrNotFound) {
		return t, nil
	} else if err != nil {
		return t, err
	}
	neighs, err := k.dp.Neighs(link.Index)
	if err != nil {
		return t, err
	}
	for _, n := range neighs {
		t.Neighs[n.IP] = n.MAC
	}
	fdb, err := k.dp.FDB(link.Index)
	if err != nil {
		return t, err
	}
	for _, e := range fdb {
		t.FDB[e.MAC] = e.Dst
	}
	return t, nil
}

// waitTables polls (every 10 ms) until the kernel holds want, and returns
// when it saw it; it fails the benchmark after timeout.
func (k *kernelView) waitTables(b *testing.B, want peerTables, timeout time.Duration) time.Time {
	b.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got, err := k.tables()
		now := time.Now()
		if err == nil && got.equal(want) {
			return now
		}
		if now.After(deadline) {
			if err != nil {
				b.Fatalf("%s: kernel never matched etcd within %s: %v", k.ns, timeout, err)
			}
			b.Fatalf("%s: kernel never matched etcd within %s: %s", k.ns, timeout, diffSummary(got, want))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// tracker follows the node's peer entries through netlink notifications,
// time-stamping each change as it arrives, so that a benchmark learns when
// an entry appeared without polling the kernel.
type tracker struct {
	mu      sync.Mutex
	wake    chan struct{} // closed and replaced on every change
	t       peerTables
	routeAt map[netip.Prefix]time.Time
	neighAt map[netip.Addr]time.Time
	fdbAt   map[subnet.MAC]time.Time
	links   map[string]bool // names of links seen, for the start probe
	last    time.Time       // when the last peer entry changed
	err     error           // why the subscription ended early (ErrOverrun: changes lost)
}

// track subscribes to the namespace's changes. It returns once the
// subscription is known to be live: it creates and deletes a bridge in
// the namespace and waits to be told.
func (k *kernelView) track(b *testing.B) *tracker {
	b.Helper()
	tr := &tracker{
		wake: make(chan struct{}), t: newPeerTables(), links: map[string]bool{},
		routeAt: map[netip.Prefix]time.Time{}, neighAt: map[netip.Addr]time.Time{}, fdbAt: map[subnet.MAC]time.Time{},
	}
	ctx, cancel := context.WithCancel(context.Background())
	updates := make(chan dataplane.Update, 4096)
	watchErr := make(chan error, 1)
	done := make(chan struct{})
	go func() { watchErr <- k.dp.Watch(ctx, updates) }()
	go func() {
		defer close(done)
		for {
			select {
			case u := <-updates:
				tr.apply(u, time.Now())
			case err := <-watchErr:
				if ctx.Err() == nil {
					tr.fail(err)
				}
				return
			}
		}
	}()
	b.Cleanup(func() { cancel(); <-done })
	for _, args := range [][]string{
		{"ip", "-n", k.ns, "link", "add", "wbprobe0", "type", "bridge"},
		{"ip", "-n", k.ns, "link", "del", "wbprobe0"},
	} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			b.Fatalf("%v: %v: %s", args, err, out)
		}
	}
	if _, err := tr.wait(benchCtx(b, 30*time.Second), func() bool { return tr.links["wbprobe0"] }); err != nil {
		b.Fatalf("netlink subscription in %s: %v", k.ns, err)
	}
	return tr
}

func (tr *tracker) apply(u dataplane.Update, at time.Time) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	switch u.Kind {
	case dataplane.LinkUpdate:
		tr.links[u.Link.Name] = true
	case dataplane.RouteUpdate:
		r := u.Route
		if r.Protocol != vxlan.RouteProtocol {
			return
		}
		if u.Deleted {
			delete(tr.t.Routes, r.Dst)
		} else {
			tr.t.Routes[r.Dst] = r.Gw
		}
		tr.routeAt[r.Dst], tr.last = at, at
	case dataplane.NeighUpdate:
		n := u.Neigh
		if !benchNetwork.Contains(n.IP) {
			return
		}
		if u.Deleted {
			delete(tr.t.Neighs, n.IP)
		} else {
			tr.t.Neighs[n.IP] = n.MAC
		}
		tr.neighAt[n.IP], tr.last = at, at
	case dataplane.FDBUpdate:
		e := u.FDB
		if !fakePublic.Contains(e.Dst) {
			return
		}
		if !u.Deleted {
			tr.t.FDB[e.MAC] = e.Dst
		} else if tr.t.FDB[e.MAC] == e.Dst {
			delete(tr.t.FDB, e.MAC)
		}
		tr.fdbAt[e.MAC], tr.last = at, at
	}
	close(tr.wake)
	tr.wake = make(chan struct{})
}

func (tr *tracker) fail(err error) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if err == nil {
		err = errors.New("netlink subscription ended")
	}
	tr.err = err
	close(tr.wake)
	tr.wake = make(chan struct{})
}

// seed sets the entries present before the tracker's first notification.
func (tr *tracker) seed(t peerTables) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	maps.Copy(tr.t.Routes, t.Routes)
	maps.Copy(tr.t.Neighs, t.Neighs)
	maps.Copy(tr.t.FDB, t.FDB)
}

// wait blocks until cond (called with tr.mu held) holds, and returns the
// time of the last change. It fails when the subscription lost changes.
func (tr *tracker) wait(ctx context.Context, cond func() bool) (time.Time, error) {
	for {
		tr.mu.Lock()
		ok, last, err, wake := cond(), tr.last, tr.err, tr.wake
		tr.mu.Unlock()
		switch {
		case ok:
			return last, nil
		case err != nil:
			return time.Time{}, err
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
}

// waitCount waits until the node holds n routes, neighbour and FDB entries.
func (tr *tracker) waitCount(ctx context.Context, n int) (time.Time, error) {
	return tr.wait(ctx, func() bool {
		return len(tr.t.Routes) == n && len(tr.t.Neighs) == n && len(tr.t.FDB) == n
	})
}

// waitPeer waits until l's three entries are all in the kernel (present)
// or all gone, and returns when the last of them changed.
func (tr *tracker) waitPeer(ctx context.Context, l subnet.Lease, present bool) (time.Time, error) {
	d, err := subnet.DecodeVXLANData(l.Attrs.BackendData)
	if err != nil {
		return time.Time{}, err
	}
	a := l.Subnet.Addr()
	var at time.Time
	_, err = tr.wait(ctx, func() bool {
		gw, okR := tr.t.Routes[l.Subnet]
		mac, okN := tr.t.Neighs[a]
		dst, okF := tr.t.FDB[d.VtepMAC]
		complete := okR && gw == a && okN && mac == d.VtepMAC && okF && dst == l.Attrs.PublicIP
		if present && !complete {
			return false
		}
		if !present && (okR || okN || okF) {
			return false
		}
		at = latest(tr.routeAt[l.Subnet], tr.neighAt[a], tr.fdbAt[d.VtepMAC])
		return true
	})
	return at, err
}

// firstChange is when the first peer entry appeared (zero if none yet).
func (tr *tracker) firstChange() time.Time {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var first time.Time
	note := func(t time.Time) {
		if first.IsZero() || t.Before(first) {
			first = t
		}
	}
	for _, t := range tr.routeAt {
		note(t)
	}
	for _, t := range tr.neighAt {
		note(t)
	}
	for _, t := range tr.fdbAt {
		note(t)
	}
	return first
}

// lastChange is when the last peer entry changed, and whether the
// subscription has lost none.
func (tr *tracker) lastChange() (time.Time, bool) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.last, tr.err == nil
}

func latest(ts ...time.Time) time.Time {
	var out time.Time
	for _, t := range ts {
		if t.After(out) {
			out = t
		}
	}
	return out
}
