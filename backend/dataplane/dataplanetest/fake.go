// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package dataplanetest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"sync"

	"github.com/weft-net/weft/backend/dataplane"
)

var _ dataplane.Dataplane = (*FakeDataplane)(nil)

// Errors the fake returns where the kernel returns an errno.
var (
	ErrExists      = errors.New("file exists")
	ErrNoDevice    = errors.New("no such device")
	ErrNetDown     = errors.New("network is down")
	ErrUnreachable = errors.New("network is unreachable")
)

type fakeLink struct {
	dataplane.Link
	addrs  []netip.Prefix
	txCsum bool
}

type fdbKey struct {
	link int
	mac  [6]byte
}

// routeKey identifies a route as the kernel does for replace: destination
// and metric (tos aside, which weft never sets).
type routeKey struct {
	dst    netip.Prefix
	metric uint32
}

type neighKey struct {
	link int
	ip   netip.Addr
}

// FakeDataplane is an in-memory Dataplane. The zero value is not usable;
// use NewFake. It is safe for concurrent use.
type FakeDataplane struct {
	mu       sync.Mutex
	next     int
	links    map[int]*fakeLink
	neighs   map[neighKey]dataplane.Neigh
	fdb      map[fdbKey]dataplane.FDBEntry
	routes   map[routeKey]dataplane.Route
	watchers map[*watcher]bool
	calls    []string
	fail     func(call string) error
}

// NewFake returns an empty fake with only "lo" (index 1).
func NewFake() *FakeDataplane {
	f := &FakeDataplane{
		next: 1, links: map[int]*fakeLink{}, neighs: map[neighKey]dataplane.Neigh{},
		fdb: map[fdbKey]dataplane.FDBEntry{}, routes: map[routeKey]dataplane.Route{}, watchers: map[*watcher]bool{},
	}
	f.addLink(dataplane.Link{Name: "lo", MTU: 65536, Up: true, Loopback: true})
	return f
}

// AddLink adds a link as an operator would (an underlay: "veth", "dummy"),
// with its addresses, and returns its index.
func (f *FakeDataplane) AddLink(l dataplane.Link) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addLink(l)
}

func (f *FakeDataplane) addLink(l dataplane.Link) int {
	l.Index = f.next
	f.next++
	fl := &fakeLink{Link: l, addrs: slices.Clone(l.Addrs), txCsum: true}
	fl.Addrs = nil
	f.links[l.Index] = fl
	f.notify(dataplane.Update{Kind: dataplane.LinkUpdate, Link: fl.Link})
	return l.Index
}

// FailOn installs a hook called before every mutating call with its
// canonical description (as in Calls); a non-nil error fails the call.
func (f *FakeDataplane) FailOn(hook func(call string) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = hook
}

// Calls returns the mutating calls made so far, in order, one canonical line each.
func (f *FakeDataplane) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// ResetCalls forgets the recorded calls.
func (f *FakeDataplane) ResetCalls() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = nil
}

// call records a mutating call and applies the failure hook. Callers hold mu.
func (f *FakeDataplane) call(format string, args ...any) error {
	c := fmt.Sprintf(format, args...)
	f.calls = append(f.calls, c)
	if f.fail != nil {
		if err := f.fail(c); err != nil {
			return fmt.Errorf("%s: %w", c, err)
		}
	}
	return nil
}

func (f *FakeDataplane) byName(name string) *fakeLink {
	for _, l := range f.links {
		if l.Name == name {
			return l
		}
	}
	return nil
}

func (f *FakeDataplane) name(index int) string {
	if l := f.links[index]; l != nil {
		return l.Name
	}
	return fmt.Sprintf("if%d", index)
}

// Links lists every link with its addresses, by index.
func (f *FakeDataplane) Links() ([]dataplane.Link, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]dataplane.Link, 0, len(f.links))
	for _, l := range f.links {
		dl := l.Link
		dl.Addrs = slices.Clone(l.addrs)
		out = append(out, dl)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out, nil
}

// LinkByName returns one link without addresses.
func (f *FakeDataplane) LinkByName(name string) (dataplane.Link, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if l := f.byName(name); l != nil {
		return l.Link, nil
	}
	return dataplane.Link{}, fmt.Errorf("link %q: %w", name, dataplane.ErrNotFound)
}

// CreateVXLAN creates a VXLAN device, up, refusing a duplicate name or a
// second device with the same VNI, port and local address, as the kernel does.
func (f *FakeDataplane) CreateVXLAN(spec dataplane.VXLANSpec) (dataplane.Link, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("create vxlan %s vni %d", spec.Name, spec.VNI); err != nil {
		return dataplane.Link{}, err
	}
	if f.byName(spec.Name) != nil {
		return dataplane.Link{}, fmt.Errorf("create vxlan link %q: %w", spec.Name, ErrExists)
	}
	if f.links[spec.UnderlayIndex] == nil {
		return dataplane.Link{}, fmt.Errorf("create vxlan link %q on link %d: %w", spec.Name, spec.UnderlayIndex, ErrNoDevice)
	}
	for _, l := range f.links {
		if v := l.VXLAN; v != nil && v.VNI == spec.VNI && v.Port == spec.Port && v.Local == spec.Local {
			return dataplane.Link{}, fmt.Errorf("create vxlan link %q: vni %d taken by %s: %w", spec.Name, spec.VNI, l.Name, ErrExists)
		}
	}
	mac := spec.MAC
	if mac.IsZero() {
		_, _ = rand.Read(mac[:])
		mac[0] = mac[0]&^1 | 2
	}
	attrs := spec.VXLANAttrs
	i := f.addLink(dataplane.Link{Name: spec.Name, Kind: "vxlan", MAC: mac, MTU: spec.MTU, Up: true, VXLAN: &attrs})
	return f.links[i].Link, nil
}

// DelLink deletes a link with everything on it; deleting an underlay also
// deletes the VXLAN devices bound to it, as the kernel does.
func (f *FakeDataplane) DelLink(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("delete link %s", name); err != nil {
		return err
	}
	if l := f.byName(name); l != nil {
		f.delLink(l.Index)
	}
	return nil
}

// RemoveLink deletes a link as an operator would (`ip link del`), bypassing
// FailOn and Calls.
func (f *FakeDataplane) RemoveLink(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if l := f.byName(name); l != nil {
		f.delLink(l.Index)
	}
}

func (f *FakeDataplane) delLink(index int) {
	for _, l := range f.links {
		if l.VXLAN != nil && l.VXLAN.UnderlayIndex == index {
			f.delLink(l.Index)
		}
	}
	l := f.links[index]
	if l == nil {
		return
	}
	for k, n := range f.neighs {
		if k.link == index {
			delete(f.neighs, k)
			f.notify(dataplane.Update{Kind: dataplane.NeighUpdate, Deleted: true, Neigh: n})
		}
	}
	for k, e := range f.fdb {
		if e.LinkIndex == index {
			delete(f.fdb, k)
			f.notify(dataplane.Update{Kind: dataplane.FDBUpdate, Deleted: true, FDB: e})
		}
	}
	f.dropRoutes(index)
	delete(f.links, index)
	f.notify(dataplane.Update{Kind: dataplane.LinkUpdate, Deleted: true, Link: l.Link})
}

// dropRoutes removes the routes over a link silently, as IPv4 does when a
// link goes down or away.
func (f *FakeDataplane) dropRoutes(index int) {
	for k, r := range f.routes {
		if r.LinkIndex == index {
			delete(f.routes, k)
		}
	}
}

// SetLinkUp sets a link up.
func (f *FakeDataplane) SetLinkUp(index int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("set link %s up", f.name(index)); err != nil {
		return err
	}
	l := f.links[index]
	if l == nil {
		return fmt.Errorf("set link %d up: %w", index, ErrNoDevice)
	}
	l.Up = true
	f.notify(dataplane.Update{Kind: dataplane.LinkUpdate, Link: l.Link})
	return nil
}

// SetLinkDown sets a link down as an operator would; its routes vanish
// without notification, as IPv4 routes do.
func (f *FakeDataplane) SetLinkDown(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if l := f.byName(name); l != nil {
		l.Up = false
		f.dropRoutes(l.Index)
		f.notify(dataplane.Update{Kind: dataplane.LinkUpdate, Link: l.Link})
	}
}

// SetLinkMTU sets a link's MTU.
func (f *FakeDataplane) SetLinkMTU(index, mtu int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("set link %s mtu %d", f.name(index), mtu); err != nil {
		return err
	}
	l := f.links[index]
	if l == nil {
		return fmt.Errorf("set link %d mtu: %w", index, ErrNoDevice)
	}
	l.MTU = mtu
	f.notify(dataplane.Update{Kind: dataplane.LinkUpdate, Link: l.Link})
	return nil
}

// TxChecksum reports a link's tx checksum offload (on when created).
func (f *FakeDataplane) TxChecksum(name string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.byName(name)
	if l == nil {
		return false, fmt.Errorf("get tx checksum of %q: %w", name, ErrNoDevice)
	}
	return l.txCsum, nil
}

// SetTxChecksum sets a link's tx checksum offload.
func (f *FakeDataplane) SetTxChecksum(name string, on bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("set link %s tx-checksum %t", name, on); err != nil {
		return err
	}
	l := f.byName(name)
	if l == nil {
		return fmt.Errorf("set tx checksum of %q: %w", name, ErrNoDevice)
	}
	l.txCsum = on
	return nil
}

// Watch forwards changes until ctx ends; it returns an error wrapping
// dataplane.ErrOverrun when more than 4096 updates were pending or after
// Overrun.
func (f *FakeDataplane) Watch(ctx context.Context, updates chan<- dataplane.Update) error {
	w := &watcher{ch: make(chan dataplane.Update, 4096), overrun: make(chan struct{})}
	f.mu.Lock()
	f.watchers[w] = true
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.watchers, w)
		f.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.overrun:
			return fmt.Errorf("fake subscription: %w", dataplane.ErrOverrun)
		case u := <-w.ch:
			select {
			case updates <- u:
			case <-ctx.Done():
				return nil
			}
		}
	}
}

// Overrun makes every running Watch fail with ErrOverrun, as a netlink
// ENOBUFS would.
func (f *FakeDataplane) Overrun() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for w := range f.watchers {
		w.markOverrun()
	}
}

// Watching returns how many Watch calls are subscribed: a test waits for
// one before a change whose notification it relies on (Watch subscribes
// in its caller's goroutine, which may not have run yet).
func (f *FakeDataplane) Watching() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.watchers)
}

type watcher struct {
	ch      chan dataplane.Update
	overrun chan struct{}
	closed  bool
}

func (w *watcher) markOverrun() {
	if !w.closed {
		w.closed = true
		close(w.overrun)
	}
}

// notify queues an update for every watcher. Callers hold mu.
func (f *FakeDataplane) notify(u dataplane.Update) {
	for w := range f.watchers {
		select {
		case w.ch <- u:
		default:
			w.markOverrun()
		}
	}
}
