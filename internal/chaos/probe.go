// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package chaos

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/weft-net/weft/internal/cluster"
	"github.com/weft-net/weft/internal/netns"
)

// probeBase is the first UDP port the probes use; pair i listens on
// probeBase+i.
const probeBase = 17000

// Pair is one probed direction: src's pod sends to dst's pod.
type Pair struct{ Src, Dst *cluster.Node }

// PickPairs chooses n pod pairs on distinct nodes from the members,
// deterministically from seed, each pair crossing nodes and no pair twice.
// With few nodes a node appears in several pairs.
func PickPairs(members []*cluster.Node, n int, seed int64) []Pair {
	r := rand.New(rand.NewPCG(uint64(seed), 0x6368616f73)) // "chaos"
	type key struct{ a, b int }
	seen := map[key]bool{}
	limit := len(members) * (len(members) - 1)
	var out []Pair
	for len(out) < min(n, limit) {
		a, b := r.IntN(len(members)), r.IntN(len(members))
		if a == b || seen[key{a, b}] {
			continue
		}
		seen[key{a, b}] = true
		out = append(out, Pair{Src: members[a], Dst: members[b]})
	}
	return out
}

// Interval is a run of lost packets, by their send times.
type Interval struct {
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
	Packets int       `json:"packets"`
}

// PairResult is what one probed pair saw.
type PairResult struct {
	Src         string     `json:"src"`
	Dst         string     `json:"dst"`
	Established bool       `json:"established"` // both nodes stayed up
	Sent        int        `json:"sent"`
	Received    int        `json:"received"`
	Lost        int        `json:"lost"`
	MaxGapMS    float64    `json:"maxGapMs"` // longest time between consecutive packets received
	Losses      []Interval `json:"losses,omitempty"`
	Err         string     `json:"error,omitempty"`
}

// probe is one running pair.
type probe struct {
	pair     Pair
	src, dst netip.Addr
	port     int
	send     net.PacketConn
	recv     net.PacketConn

	mu      sync.Mutex
	sentAt  []time.Time // by sequence number
	got     []bool      // by sequence number
	n       int
	last    time.Time
	maxGap  time.Duration
	sendErr error
}

// Prober sends UDP between the pods of each pair at a steady rate and
// records every packet's fate. Sockets are opened inside the pods'
// namespaces.
type Prober struct {
	probes []*probe
	rate   int
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// StartProber opens the pairs' sockets, waits until each pair delivers a
// first packet (ARP and the pod bridge settle; a pair that never does is
// an error: the fleet is not healthy to start a scenario on) and then
// sends rate packets per second per pair until Stop.
func (f *Fleet) StartProber(ctx context.Context, pairs []Pair) (*Prober, error) {
	pr := &Prober{rate: f.Cfg.Rate}
	for i, pr0 := range pairs {
		p, err := f.openProbe(pr0, probeBase+i)
		if err != nil {
			pr.close()
			return nil, err
		}
		pr.probes = append(pr.probes, p)
	}
	if err := pr.warmUp(ctx); err != nil {
		pr.close()
		return nil, err
	}
	pctx, cancel := context.WithCancel(ctx)
	pr.cancel = cancel
	for _, p := range pr.probes {
		pr.wg.Add(2)
		go func() { defer pr.wg.Done(); p.receive() }()
		go func() { defer pr.wg.Done(); p.run(pctx, pr.rate) }()
	}
	return pr, nil
}

func (f *Fleet) openProbe(pair Pair, port int) (*probe, error) {
	sp, dp := f.Pod(pair.Src), f.Pod(pair.Dst)
	if sp == nil || dp == nil {
		return nil, fmt.Errorf("probe %s -> %s: a node has no pod", pair.Src.Name, pair.Dst.Name)
	}
	p := &probe{pair: pair, src: sp.IP, dst: dp.IP, port: port}
	listen := func(ns string, addr netip.AddrPort) (c net.PacketConn, err error) {
		err = netns.Do(ns, func() error {
			c, err = net.ListenPacket("udp4", addr.String())
			return err
		})
		return c, err
	}
	var err error
	if p.recv, err = listen(dp.NS, netip.AddrPortFrom(dp.IP, uint16(port))); err != nil {
		return nil, fmt.Errorf("probe %s: listen in pod %s: %w", p.name(), dp, err)
	}
	if p.send, err = listen(sp.NS, netip.AddrPortFrom(sp.IP, 0)); err != nil {
		p.recv.Close()
		return nil, fmt.Errorf("probe %s: socket in pod %s: %w", p.name(), sp, err)
	}
	return p, nil
}

func (p *probe) name() string { return p.pair.Src.Name + "->" + p.pair.Dst.Name }

// warmUp sends sequence-less packets on every pair until each answers or
// 20 s pass.
func (pr *Prober) warmUp(ctx context.Context) error {
	deadline := time.Now().Add(20 * time.Second)
	buf := make([]byte, 64)
	for _, p := range pr.probes {
		ok := false
		for !ok && time.Now().Before(deadline) && ctx.Err() == nil {
			_, _ = p.send.WriteTo([]byte("warm"), net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.dst, uint16(p.port))))
			_ = p.recv.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			for {
				n, _, err := p.recv.ReadFrom(buf)
				if err != nil {
					break
				}
				if n == 4 {
					ok = true
				}
			}
		}
		if !ok {
			return fmt.Errorf("probe %s (%s -> %s): no packet through after 20 s", p.name(), p.src, p.dst)
		}
	}
	for _, p := range pr.probes {
		_ = p.recv.SetReadDeadline(time.Time{})
	}
	return nil
}

// run sends one packet per tick: its sequence number and send time.
func (p *probe) run(ctx context.Context, rate int) {
	to := net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.dst, uint16(p.port)))
	t := time.NewTicker(time.Second / time.Duration(rate))
	defer t.Stop()
	msg := make([]byte, 16)
	for seq := uint64(0); ; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		binary.BigEndian.PutUint64(msg, seq)
		binary.BigEndian.PutUint64(msg[8:], uint64(now.UnixNano()))
		p.mu.Lock()
		p.sentAt = append(p.sentAt, now)
		p.got = append(p.got, false)
		p.mu.Unlock()
		// A send error (no route while a node is down) is a lost packet.
		if _, err := p.send.WriteTo(msg, to); err != nil {
			p.mu.Lock()
			p.sendErr = err
			p.mu.Unlock()
		}
	}
}

// receive records every sequence number until the socket is closed.
func (p *probe) receive() {
	buf := make([]byte, 64)
	for {
		n, _, err := p.recv.ReadFrom(buf)
		if err != nil {
			return
		}
		if n != 16 {
			continue // a late warm-up packet
		}
		seq := binary.BigEndian.Uint64(buf)
		now := time.Now()
		p.mu.Lock()
		if seq < uint64(len(p.got)) && !p.got[seq] {
			p.got[seq] = true
			p.n++
			if !p.last.IsZero() {
				p.maxGap = max(p.maxGap, now.Sub(p.last))
			}
			p.last = now
		}
		p.mu.Unlock()
	}
}

// Stop ends the sending, gives the last packets half a second to arrive,
// closes the sockets and returns each pair's result. down names the nodes
// that did not stay up: their pairs are not established.
func (pr *Prober) Stop(down map[string]bool) []PairResult {
	pr.cancel()
	time.Sleep(500 * time.Millisecond)
	pr.close()
	pr.wg.Wait()
	out := make([]PairResult, 0, len(pr.probes))
	for _, p := range pr.probes {
		out = append(out, p.result(down))
	}
	return out
}

func (pr *Prober) close() {
	for _, p := range pr.probes {
		p.send.Close()
		p.recv.Close()
	}
}

func (p *probe) result(down map[string]bool) PairResult {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := PairResult{
		Src: p.pair.Src.Name, Dst: p.pair.Dst.Name,
		Established: !down[p.pair.Src.Name] && !down[p.pair.Dst.Name],
		Sent:        len(p.sentAt), Received: p.n, Lost: len(p.sentAt) - p.n,
		MaxGapMS: float64(p.maxGap.Microseconds()) / 1000,
	}
	if p.sendErr != nil && !errors.Is(p.sendErr, net.ErrClosed) {
		r.Err = p.sendErr.Error()
	}
	for i := 0; i < len(p.got); i++ {
		if p.got[i] {
			continue
		}
		j := i
		for j+1 < len(p.got) && !p.got[j+1] {
			j++
		}
		r.Losses = append(r.Losses, Interval{From: p.sentAt[i], To: p.sentAt[j], Packets: j - i + 1})
		i = j
	}
	return r
}
