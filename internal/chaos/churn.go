// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package chaos

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/weft-net/weft/internal/cluster"
	"github.com/weft-net/weft/subnet"
)

// churnPool is how many fake peers the churn cycles through.
const churnPool = 32

// churn writes and deletes fake peer leases at Config.ChurnRate events a
// second: each event puts a pool subnet that is absent (with a new VTEP
// MAC each time) or deletes one that is present, round-robin.
type churn struct {
	w      *cluster.LeaseWriter
	cancel context.CancelFunc
	done   chan struct{}
	pool   []subnet.Lease
	live   []bool
	events int
	err    error
}

// freeSubnets returns up to k /24s of the network that no lease holds,
// from the top of 10.244.0.0/16 down.
func (f *Fleet) freeSubnets(ctx context.Context, k int) ([]netip.Prefix, error) {
	v, err := f.readEtcd(ctx)
	if err != nil {
		return nil, err
	}
	taken := map[netip.Prefix]bool{}
	for _, l := range v.leases {
		taken[l.Subnet] = true
	}
	var out []netip.Prefix
	for i := 255; i > 0 && len(out) < k; i-- {
		sn := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 244, byte(i), 0}), 24)
		if !taken[sn] {
			out = append(out, sn)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no free subnet in 10.244.0.0/16")
	}
	return out, nil
}

// fakePeer is a peer lease no node holds: its public address is in
// 198.19.0.0/16, where nothing answers, and gen makes its MAC new.
func fakePeer(sn netip.Prefix, i, gen int) subnet.Lease {
	mac := subnet.MAC{0x0e, 0x57, 0xc4, byte(gen >> 8), byte(gen), byte(i)}
	return subnet.Lease{Subnet: sn, Attrs: subnet.LeaseAttrs{
		PublicIP:    netip.AddrFrom4([4]byte{198, 19, byte(i / 250), byte(i%250 + 1)}),
		BackendType: "vxlan",
		BackendData: []byte(fmt.Sprintf(`{"VNI":1,"VtepMAC":%q}`, mac.String())),
	}}
}

// startChurn begins the churn; limit > 0 stops it after that many events
// (done is closed then), 0 runs it until stop.
func (f *Fleet) startChurn(ctx context.Context, limit int) (*churn, error) {
	sns, err := f.freeSubnets(ctx, churnPool)
	if err != nil {
		return nil, err
	}
	w, err := f.C.NewLeaseWriter(ctx, 10*time.Minute)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithCancel(ctx)
	ch := &churn{w: w, cancel: cancel, done: make(chan struct{}), live: make([]bool, len(sns))}
	for i, sn := range sns {
		ch.pool = append(ch.pool, fakePeer(sn, i, 0))
	}
	go ch.run(cctx, max(f.Cfg.ChurnRate, 1), limit)
	return ch, nil
}

func (ch *churn) run(ctx context.Context, rate, limit int) {
	defer close(ch.done)
	t := time.NewTicker(time.Second / time.Duration(rate))
	defer t.Stop()
	for limit == 0 || ch.events < limit {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		i := ch.events % len(ch.pool)
		gen := ch.events / len(ch.pool)
		var err error
		if ch.live[i] {
			err = ch.w.Delete(ctx, ch.pool[i])
		} else {
			ch.pool[i] = fakePeer(ch.pool[i].Subnet, i, gen)
			err = ch.w.Put(ctx, ch.pool[i])
		}
		if err != nil {
			if ctx.Err() == nil {
				ch.err = err
			}
			return
		}
		ch.live[i] = !ch.live[i]
		ch.events++
	}
}

// stop ends the churn, deletes the fake leases still present and returns
// how many events were written.
func (ch *churn) stop(ctx context.Context) (int, error) {
	ch.cancel()
	<-ch.done
	errs := []error{ch.err}
	for i, live := range ch.live {
		if live {
			errs = append(errs, ch.w.Delete(ctx, ch.pool[i]))
		}
	}
	errs = append(errs, ch.w.Close())
	return ch.events, errors.Join(errs...)
}
