// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package netlinkdp

import (
	"context"
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/weft-net/weft/backend/dataplane"
)

// subscription holds the three netlink subscriptions of one Watch call.
// The library runs a reader goroutine per subscription that closes its
// channel once done is closed; stop waits for that, so no goroutine
// outlives Watch.
type subscription struct {
	done   chan struct{}
	errs   chan error
	links  chan netlink.LinkUpdate
	routes chan netlink.RouteUpdate
	neighs chan netlink.NeighUpdate
	opened []func() // drains of the subscriptions that started
}

func (d *Dataplane) subscribe() (*subscription, error) {
	s := &subscription{
		done: make(chan struct{}), errs: make(chan error, 4),
		links: make(chan netlink.LinkUpdate, 64), routes: make(chan netlink.RouteUpdate, 256),
		neighs: make(chan netlink.NeighUpdate, 256),
	}
	// The callback runs on the library's reader goroutine: never block it.
	cb := func(err error) {
		select {
		case s.errs <- err:
		default:
		}
	}
	ns := d.ns
	if err := netlink.LinkSubscribeWithOptions(s.links, s.done, netlink.LinkSubscribeOptions{
		Namespace: &ns, ErrorCallback: cb, ReceiveBufferSize: d.ReceiveBuffer, ReceiveBufferForceSize: true,
	}); err != nil {
		s.stop()
		return nil, fmt.Errorf("subscribe to link changes: %w", err)
	}
	s.opened = append(s.opened, func() { drain(s.links) })
	if err := netlink.RouteSubscribeWithOptions(s.routes, s.done, netlink.RouteSubscribeOptions{
		Namespace: &ns, ErrorCallback: cb, ReceiveBufferSize: d.ReceiveBuffer, ReceiveBufferForceSize: true,
	}); err != nil {
		s.stop()
		return nil, fmt.Errorf("subscribe to route changes: %w", err)
	}
	s.opened = append(s.opened, func() { drain(s.routes) })
	if err := netlink.NeighSubscribeWithOptions(s.neighs, s.done, netlink.NeighSubscribeOptions{
		Namespace: &ns, ErrorCallback: cb, ReceiveBufferSize: d.ReceiveBuffer, ReceiveBufferForceSize: true,
	}); err != nil {
		s.stop()
		return nil, fmt.Errorf("subscribe to neighbour changes: %w", err)
	}
	s.opened = append(s.opened, func() { drain(s.neighs) })
	return s, nil
}

func (s *subscription) stop() {
	close(s.done)
	for _, f := range s.opened {
		f()
	}
}

func drain[T any](ch <-chan T) {
	for range ch {
	}
}

// Watch forwards link, neighbour, FDB and route changes until ctx ends.
func (d *Dataplane) Watch(ctx context.Context, updates chan<- dataplane.Update) error {
	s, err := d.subscribe()
	if err != nil {
		return err
	}
	defer s.stop()
	for {
		var u dataplane.Update
		var ok, open bool
		select {
		case <-ctx.Done():
			return nil
		case err := <-s.errs:
			if isOverrun(err) {
				return fmt.Errorf("netlink subscription: %w: %w", dataplane.ErrOverrun, err)
			}
			return fmt.Errorf("netlink subscription: %w", err)
		case lu, o := <-s.links:
			open = o
			u, ok = linkUpdate(lu), true
		case ru, o := <-s.routes:
			open = o
			u, ok = routeUpdate(ru)
		case nu, o := <-s.neighs:
			open = o
			u, ok = neighUpdate(nu)
		}
		if !open {
			return errors.New("netlink subscription closed")
		}
		if !ok {
			continue
		}
		select {
		case updates <- u:
		case <-ctx.Done():
			return nil
		}
	}
}

func linkUpdate(lu netlink.LinkUpdate) dataplane.Update {
	u := dataplane.Update{Kind: dataplane.LinkUpdate, Deleted: lu.Header.Type == unix.RTM_DELLINK}
	if lu.Link != nil {
		u.Link = linkOf(lu.Link)
	} else {
		u.Link = dataplane.Link{Index: int(lu.Index)}
	}
	return u
}

func routeUpdate(ru netlink.RouteUpdate) (dataplane.Update, bool) {
	if ru.Table != unix.RT_TABLE_MAIN || len(ru.MultiPath) > 0 || ru.Dst == nil {
		return dataplane.Update{}, false
	}
	return dataplane.Update{Kind: dataplane.RouteUpdate, Deleted: ru.Type == unix.RTM_DELROUTE, Route: routeOf(&ru.Route)}, true
}

func neighUpdate(nu netlink.NeighUpdate) (dataplane.Update, bool) {
	del := nu.Type == unix.RTM_DELNEIGH
	switch {
	case nu.Family == unix.AF_BRIDGE && nu.IP != nil:
		return dataplane.Update{Kind: dataplane.FDBUpdate, Deleted: del, FDB: fdbOf(&nu.Neigh)}, true
	case (nu.Family == unix.AF_INET || nu.Family == unix.AF_INET6) && (del || nu.State&netlink.NUD_PERMANENT != 0):
		// A deleted entry is reported failed, not permanent: report every
		// deletion, and only permanent entries otherwise.
		return dataplane.Update{Kind: dataplane.NeighUpdate, Deleted: del, Neigh: neighOf(&nu.Neigh)}, true
	}
	return dataplane.Update{}, false
}
